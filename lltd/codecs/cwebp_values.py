"""The values of cwebp's options, checked as cwebp (or libwebp's config check) checks them.

Shared by the grammar (:mod:`lltd.codecs.grammar`) and the lean path of ``lltd cwebp``
(:mod:`lltd.cli.lean.cwebp_spawn`), so both refuse exactly the same values with the same words.
Imports nothing but the option table: the lean path pays for every module.
"""

from __future__ import annotations

from lltd.codecs.cwebp_options import CwebpOption
from lltd.common.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

METADATA_KINDS = ("all", "none", "exif", "icc", "xmp")


def _number(spec: CwebpOption, raw: str, kind: type) -> float:
    try:
        value = int(raw, 16) if spec.args == ("hex",) else kind(raw)
    except ValueError:
        what = {int: "an integer", float: "a float"}[kind]
        if spec.args == ("hex",):
            what = "a hexadecimal colour like 0xc0e0d0"
        raise UsageError(f"{spec.name} takes {what}, got {raw!r}") from None
    limits = spec.limits
    if limits is not None and isinstance(limits[0], (int, float)):
        lo, hi = limits
        if not lo <= value <= hi:  # type: ignore[operator]
            raise UsageError(f"{spec.name} must be between {lo:g} and {hi:g}, got {raw}")
    return value


def take_values(spec: CwebpOption, args: Iterator[str]) -> list[str]:
    """The raw values that follow ``spec`` on the command line."""
    raw: list[str] = []
    for _ in spec.args:
        try:
            raw.append(next(args))
        except StopIteration:
            needs = f"{len(spec.args)} value(s): {' '.join(spec.args)}"
            raise UsageError(f"{spec.name} needs {needs}") from None
    return raw


def check_values(spec: CwebpOption, raw: list[str]) -> list[object]:
    """Typed values of ``raw``; choices and ranges as cwebp (or libwebp's config check) has them."""
    kind = spec.args[0] if spec.args else ""
    if kind == "string" and spec.name != "-metadata":
        assert spec.limits is not None
        if raw[0] not in spec.limits:
            raise UsageError(
                f"unknown {spec.name} {raw[0]!r}; choose from {', '.join(map(str, spec.limits))}"
            )
        return raw
    if spec.name == "-metadata":
        check_metadata(parse_metadata(raw[0]))
    if kind in ("string", "file.pgm"):
        return raw
    if kind == "float":
        return [_number(spec, value, float) for value in raw]
    values = [_number(spec, value, int) for value in raw]
    if spec.name == "-qrange" and values[0] > values[1]:
        raise UsageError(f"-qrange: min {raw[0]} is above max {raw[1]}")
    return values


def parse_metadata(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip()) or ("none",)


def check_metadata(kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        if kind not in METADATA_KINDS:
            raise UsageError(f"unknown -metadata {kind!r}; choose from {', '.join(METADATA_KINDS)}")
