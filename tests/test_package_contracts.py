"""``import lltd``: the public names resolve lazily (the command line imports lltd.* modules and
must not pay for Pillow or the transforms at start-up), each to the object its module defines."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lltd
from lltd import transforms
from lltd.common.version import version
from lltd.defense.settings import DefenseSettings


def test_every_public_name_resolves_to_the_object_its_module_defines() -> None:
    assert sorted(lltd.__all__) == sorted(
        ["Defend", "DefenseSettings", "Flip", "WebPRoundTrip", "__version__", "defend", "flip",
         "webp_roundtrip"]
    )  # fmt: skip
    assert lltd.DefenseSettings is DefenseSettings
    for name in ("Defend", "Flip", "WebPRoundTrip", "defend", "flip", "webp_roundtrip"):
        assert getattr(lltd, name) is getattr(transforms, name)
    assert lltd.__version__ == version()


def test_an_unknown_name_is_the_usual_attribute_error() -> None:
    with pytest.raises(AttributeError) as raised:
        lltd.no_such_thing  # noqa: B018
    assert str(raised.value) == "module 'lltd' has no attribute 'no_such_thing'"
    assert not hasattr(lltd, "transforms_") and getattr(lltd, "x", 5) == 5


def test_importing_lltd_imports_neither_pillow_nor_the_transforms() -> None:
    code = (
        "import sys, lltd; "
        "print(sorted(m for m in ('PIL', 'lltd.transforms', 'lltd.defense.settings') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_lltd_defense_settings_loads_the_settings_alone_not_the_transforms() -> None:
    code = (
        "import sys, lltd; lltd.DefenseSettings; "
        "print(sorted(m for m in ('PIL', 'lltd.transforms') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
