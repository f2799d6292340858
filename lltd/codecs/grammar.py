"""cwebp's own command-line grammar (``cwebp [options] input -o output``), for ``lltd cwebp``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lltd.codecs.options import EncodeOptions, parse_metadata
from lltd.errors import UsageError

# flag -> (EncodeOptions field, value type); None means a boolean flag.
_VALUED = {
    "-q": ("quality", float),
    "-m": ("method", int),
    "-alpha_q": ("alpha_q", int),
    "-metadata": ("metadata", parse_metadata),
    "-preset": ("preset", str),
}
_FLAGS = {"-lossless": "lossless", "-exact": "exact", "-sharp_yuv": "sharp_yuv"}
_IGNORED = {"-quiet", "-v", "-progress", "-short"}  # change only what cwebp prints


@dataclass
class CwebpCall:
    source: Path
    output: Path | None  # None: cwebp's behaviour without -o (encode, write nothing)
    options: EncodeOptions = field(default_factory=EncodeOptions)


def parse_cwebp_args(argv: list[str]) -> CwebpCall:
    """Parse cwebp arguments; unsupported options are refused by name, never ignored."""
    values: dict[str, object] = {}
    preset: str | None = None
    output: Path | None = None
    inputs: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            inputs.extend(args)
            break
        if arg == "-o":
            output = Path(_value_of(arg, args))
        elif arg in _VALUED:
            name, kind = _VALUED[arg]
            raw = _value_of(arg, args)
            try:
                value = kind(raw)
            except ValueError:
                raise UsageError(f"{arg} takes a {kind.__name__}, got {raw!r}") from None
            if name == "preset":
                preset = str(value)
            else:
                values[name] = value
        elif arg in _FLAGS:
            values[_FLAGS[arg]] = True
        elif arg in _IGNORED:
            continue
        elif arg.startswith("-") and arg != "-":
            supported = ", ".join(sorted([*_VALUED, *_FLAGS, "-o"]))
            raise UsageError(f"cwebp option {arg} is not supported by lltd cwebp ({supported})")
        else:
            inputs.append(arg)
    if len(inputs) != 1:
        raise UsageError(f"expected exactly one input file, got {len(inputs)}: {inputs}")
    # cwebp applies -preset first, whatever its position, and later flags override it.
    return CwebpCall(Path(inputs[0]), output, EncodeOptions(preset=preset, **values))  # type: ignore[arg-type]


def _value_of(flag: str, args: object) -> str:
    try:
        return next(args)  # type: ignore[call-overload]
    except StopIteration:
        raise UsageError(f"{flag} needs a value") from None
