"""lltd/cli/failures.py: a storage library's exception is one line naming the URL; any other
exception is not this module's (None). In-process, with exception classes made to come from
each library (a class's ``__module__`` is all the module reads)."""

from __future__ import annotations

import pytest

from lltd.cli.failures import STORAGE_LIBRARIES, storage_failure

LIBRARIES = ["botocore", "aiobotocore", "s3fs", "gcsfs", "adlfs", "fsspec", "aiohttp", "azure"]
LIBRARIES += ["google"]


def _error_from(module: str, base: type[BaseException] = Exception) -> type[BaseException]:
    return type("StoreError", (base,), {"__module__": module})


def test_the_storage_libraries_are_exactly_those_behind_fsspec_urls() -> None:
    assert sorted(STORAGE_LIBRARIES) == sorted(LIBRARIES)


@pytest.mark.parametrize("library", LIBRARIES)
def test_each_librarys_exception_is_one_line_naming_the_url(library: str) -> None:
    exc = _error_from(f"{library}.exceptions")("Access Denied")
    line = storage_failure(exc, ["-q", "60", "s3://bucket/in", "out"])
    assert line == "lltd: error: s3://bucket/in: storage refused or unreachable: Access Denied"


def test_a_top_level_library_module_counts_as_the_library() -> None:
    exc = _error_from("fsspec")("gone")
    assert storage_failure(exc, []) == "lltd: error: storage refused or unreachable: gone"


def test_an_exception_derived_from_a_librarys_class_is_the_librarys() -> None:
    derived = _error_from("mypackage.errors", _error_from("botocore.exceptions"))
    line = storage_failure(derived("no such bucket"), ["gs://b"])
    assert line == "lltd: error: gs://b: storage refused or unreachable: no such bucket"


@pytest.mark.parametrize(
    "module", ["mypackage.botocore", "botocorex.errors", "builtins", "json.decoder"]
)
def test_other_exceptions_are_not_storage_failures(module: str) -> None:
    assert storage_failure(_error_from(module)("Access Denied"), ["s3://bucket/in"]) is None


def test_oserror_is_not_a_storage_failure() -> None:
    assert storage_failure(FileNotFoundError(2, "No such file"), ["s3://b/in"]) is None


def test_the_first_url_is_named_and_without_a_url_none_is() -> None:
    exc = _error_from("s3fs.core")("denied")
    line = storage_failure(exc, ["in", "s3://first/x", "gs://second/y"])
    assert line == "lltd: error: s3://first/x: storage refused or unreachable: denied"
    line = storage_failure(exc, ["in", "out:dir", "-o", "x"])
    assert line == "lltd: error: storage refused or unreachable: denied"


def test_the_url_and_the_message_are_escaped_into_one_line() -> None:
    exc = _error_from("aiohttp.client_exceptions")("refused\nforged line")
    line = storage_failure(exc, ["s3://b/a\nb"])
    assert line == (
        "lltd: error: s3://b/a\\nb: storage refused or unreachable: refused\\nforged line"
    )
