"""lltd.codecs.registry.get_codec: Pillow by default, each backend by its name, one codec per
(backend, cwebp) in a process (a worker locates cwebp once), and an unknown name refused in one
line that lists the choices."""

from __future__ import annotations

import shutil

import pytest

from lltd.codecs.registry import BACKENDS, get_codec
from lltd.common.errors import UsageError


def test_pillow_is_the_default_and_each_backend_answers_to_its_name() -> None:
    assert BACKENDS == ("pillow", "cwebp")
    assert get_codec().name == get_codec("pillow").name == "pillow"


@pytest.mark.skipif(shutil.which("cwebp") is None, reason="needs cwebp on PATH")
def test_the_cwebp_backend_is_located_once_per_process() -> None:
    codec = get_codec("cwebp", shutil.which("cwebp"))
    assert codec.name == "cwebp"
    assert get_codec("cwebp", shutil.which("cwebp")) is codec
    assert get_codec() is get_codec()


@pytest.mark.parametrize("name", ["webp", "PILLOW", ""])
def test_an_unknown_backend_is_refused_listing_the_choices(name: str) -> None:
    with pytest.raises(UsageError) as refused:
        get_codec(name)
    assert str(refused.value) == f"unknown backend {name!r}; choose from pillow, cwebp"
