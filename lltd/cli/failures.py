"""Failures a user can expect, and their one line: the storage behind a URL that cannot be
reached or refuses us. (Usage errors are :mod:`lltd.cli.voice`'s; lltd's own errors and
``OSError`` are read in :func:`lltd.cli._guarded`.) Typer-free: the lean paths use it."""

from __future__ import annotations

from collections.abc import Sequence

from lltd.common.text import one_line, printable

#: Libraries behind fsspec URLs whose exceptions mean "the store did not answer as asked".
STORAGE_LIBRARIES = frozenset(
    {"botocore", "aiobotocore", "s3fs", "gcsfs", "adlfs", "fsspec", "aiohttp", "azure", "google"}
)


def _library(exc: BaseException) -> str | None:
    """The storage library ``exc`` (or a class it derives from) comes from, if any."""
    for cls in type(exc).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in STORAGE_LIBRARIES:
            return root
    return None


def storage_failure(exc: BaseException, args: Sequence[str]) -> str | None:
    """The one line for a storage library's exception, naming the URL on the command line;
    None when ``exc`` is no storage library's."""
    if _library(exc) is None:
        return None
    url = next((arg for arg in args if "://" in arg), None)
    where = f"{printable(url)}: " if url else ""
    return f"lltd: error: {where}storage refused or unreachable: {one_line(exc)}"
