"""lltd.common.urls.is_url: a storage URL (``scheme://``) against a local path, which decides
whether the cluster path and watch read through fsspec or the file layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.common.urls import is_url


@pytest.mark.parametrize(
    "location", ["s3://bucket/in", "gs://b", "file:///tmp/x", "memory://x", "s3a+x.y-z://b"]
)
def test_a_scheme_and_two_slashes_make_a_url(location: str) -> None:
    assert is_url(location) is True


@pytest.mark.parametrize(
    "location",
    ["/tmp/in", "in", "./s3://x", "3s://b", "s3:/b", "s3:b", " s3://b", "", "sample data/it's"],
)
def test_a_local_path_is_not_a_url(location: str) -> None:
    assert is_url(location) is False


@pytest.mark.parametrize("location", [Path("s3://bucket"), b"s3://bucket", None, 3])
def test_only_a_string_can_be_a_url(location: object) -> None:
    assert is_url(location) is False
