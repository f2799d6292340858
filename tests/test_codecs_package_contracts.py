"""``import lltd.codecs``: the public names resolve lazily (the lean ``lltd cwebp`` reads the
option table through this package and must not pay for Pillow), each to the object its module
defines (issue 27)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lltd.codecs
from lltd.codecs import options, registry


def test_every_public_name_resolves_to_the_object_its_module_defines() -> None:
    assert lltd.codecs.__all__ == [
        "BACKENDS",
        "Codec",
        "EncodeOptions",
        "get_codec",
        "parse_metadata",
        "webp_converter_options",
    ]
    for name in ("EncodeOptions", "parse_metadata", "webp_converter_options"):
        assert getattr(lltd.codecs, name) is getattr(options, name)
    for name in ("BACKENDS", "Codec", "get_codec"):
        assert getattr(lltd.codecs, name) is getattr(registry, name)


def test_star_import_gives_the_public_names() -> None:
    names: dict[str, object] = {}
    exec("from lltd.codecs import *", names)
    assert sorted(set(names) - {"__builtins__"}) == sorted(lltd.codecs.__all__)


def test_an_unknown_name_is_the_usual_attribute_error() -> None:
    with pytest.raises(AttributeError) as raised:
        lltd.codecs.no_such_codec  # noqa: B018
    assert str(raised.value) == "module 'lltd.codecs' has no attribute 'no_such_codec'"
    assert getattr(lltd.codecs, "options_", 5) == 5


def test_importing_the_package_and_its_option_table_loads_neither_pillow_nor_the_backends() -> None:
    code = (
        "import sys, lltd.codecs, lltd.codecs.cwebp_options; "
        "print(sorted(m for m in ('PIL', 'lltd.codecs.options', 'lltd.codecs.registry') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
