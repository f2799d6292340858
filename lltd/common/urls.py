"""Telling a storage URL from a local path: re only, so local runs need not import the storage
layer (:mod:`lltd.cluster.storage`, with datetime and fsspec's plumbing) to ask."""

from __future__ import annotations

import re

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(location: object) -> bool:
    """``scheme://...``: an fsspec URL rather than a local path."""
    return isinstance(location, str) and bool(_URL.match(location))
