"""cwebp's own command-line grammar (``cwebp [options] input -o output``), for ``lltd cwebp`` and
for the cwebp options ``compress`` takes beyond webp-converter's. Driven by the option table in
:mod:`lltd.codecs.cwebp_options`: an option is honoured or refused by name, never ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lltd.codecs.cwebp_options import (
    BY_NAME,
    CORE,
    INFO,
    INPUT,
    OUTPUT,
    PIXELS,
    TUNING,
    CwebpOption,
)
from lltd.codecs.cwebp_values import check_values, parse_metadata, take_values
from lltd.codecs.options import EncodeOptions
from lltd.common.errors import UsageError

# EncodeOptions field of each core option.
_CORE_FIELDS = {
    "-q": "quality",
    "-m": "method",
    "-alpha_q": "alpha_q",
    "-metadata": "metadata",
    "-preset": "preset",
    "-lossless": "lossless",
    "-exact": "exact",
    "-sharp_yuv": "sharp_yuv",
}


@dataclass
class CwebpCall:
    """One ``lltd cwebp`` call. Only :func:`parse_cwebp_args` makes one: no field has a default."""

    source: Path | None  # None only with an INFO option (-h, -version)
    output: Path | None  # None: cwebp's behaviour without -o (encode, write nothing)
    options: EncodeOptions
    info: str | None  # "-h", "-H" or "-version": print and exit
    #: Options that change only what cwebp prints or dumps (-v, -print_psnr, -d f.pgm ...), as
    #: cwebp tokens: the cwebp backend passes them on; the pillow backend refuses those it can't.
    printing: tuple[tuple[str, ...], ...]
    quiet: bool
    yuv_size: tuple[int, int] | None  # -s w h: the input is raw YUV 4:2:0


@dataclass
class _Collected:
    fields: dict[str, object] = field(default_factory=dict)
    tuning: list[tuple[str, ...]] = field(default_factory=list)
    printing: list[tuple[str, ...]] = field(default_factory=list)
    info: str | None = None
    quiet: bool = False
    yuv_size: tuple[int, int] | None = None
    quality_or_method: bool = False  # cwebp: -q or -m anywhere switches -z off


def _collect(spec: CwebpOption, raw: list[str], out: _Collected) -> None:
    values = check_values(spec, raw)
    name = spec.name
    if spec.kind == CORE:
        out.quality_or_method |= name in ("-q", "-m")
        key = _CORE_FIELDS[name]
        if not spec.args:
            out.fields[key] = True
        elif name == "-metadata":
            out.fields[key] = parse_metadata(raw[0])
        else:
            out.fields[key] = values[0]
    elif spec.kind == PIXELS:
        if name == "-crop":
            out.fields["crop"] = tuple(values)
        elif name == "-resize":
            out.fields["resize"] = tuple(values)
        elif name == "-noalpha":
            out.fields["noalpha"] = True
        elif name == "-blend_alpha":
            out.fields["blend_alpha"] = values[0]
        elif name == "-z":
            out.fields["lossless_preset"] = values[0]
    elif spec.kind == TUNING:
        out.tuning.append((name, *raw))
    elif spec.kind == OUTPUT:
        if name == "-quiet":
            out.quiet = True
        else:
            out.printing.append((name, *raw))
    elif spec.kind == INFO:
        out.info = out.info or name  # an alias (-help, -longhelp) comes as its spec's name
    elif spec.kind == INPUT:
        out.yuv_size = (int(values[0]), int(values[1]))  # type: ignore[call-overload]


def _options(base: EncodeOptions | None, out: _Collected) -> EncodeOptions:
    fields = dict(out.fields)
    if out.quality_or_method:
        fields.pop("lossless_preset", None)
    if out.tuning:
        fields["tuning"] = (*(base.tuning if base else ()), *out.tuning)
    return base.with_(**fields) if base is not None else EncodeOptions(**fields)  # type: ignore[arg-type]


def parse_cwebp_args(argv: list[str]) -> CwebpCall:
    """Parse cwebp arguments; unknown options are refused by name, never ignored."""
    out = _Collected()
    output: Path | None = None
    inputs: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            inputs.extend(args)
            break
        if arg == "-o":
            try:
                output = Path(next(args))
            except StopIteration:
                raise UsageError("-o needs a value: the output file, or - for stdout") from None
        elif arg in BY_NAME:
            spec = BY_NAME[arg]
            _collect(spec, take_values(spec, args), out)
        elif arg.startswith("-") and arg != "-":
            raise UsageError(f"{arg} is not a cwebp option (see lltd cwebp -longhelp)")
        else:
            inputs.append(arg)
    call = CwebpCall(
        None,
        output,
        _options(None, out),
        info=out.info,
        printing=tuple(out.printing),
        quiet=out.quiet,
        yuv_size=out.yuv_size,
    )
    if out.info:
        return call
    if len(inputs) != 1:
        raise UsageError(f"expected exactly one input file, got {len(inputs)}: {inputs}")
    # cwebp applies -preset first, whatever its position, and later flags override it.
    call.source = Path(inputs[0])
    return call


def parse_batch_options(tokens: list[str], base: EncodeOptions) -> EncodeOptions:
    """The cwebp options of a batch command (``compress``), applied over ``base``."""
    out = _Collected()
    args = iter(tokens)
    for arg in args:
        spec = BY_NAME.get(arg)
        if spec is None:
            raise UsageError(f"{arg} is not a cwebp option")
        if not spec.batch:
            raise UsageError(f"cwebp option {arg} applies to one file; use lltd cwebp")
        _collect(spec, take_values(spec, args), out)
    return _options(base, out)
