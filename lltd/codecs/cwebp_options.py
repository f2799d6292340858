"""Every option of cwebp 1.2.4 (``cwebp -longhelp``), and what each lltd backend does with it.

This table is the one source for the grammar parser (:mod:`lltd.codecs.grammar`), for the option
routing of ``compress`` and ``defend`` (:func:`lltd.cli.normalize_argv`), for the refusals of the
pillow backend, for the test that walks the installed ``cwebp -longhelp``, and for the option
table generated into the docs' cwebp reference (``lltd.codecs.option_table``).
"""

from __future__ import annotations

# What a backend does with an option.
HONOURED = "honoured"
NO_EFFECT = "accepted, no effect on the output"
REFUSED = "refused (exit 2)"

# Kinds of option: how lltd uses the value.
CORE = "core"  # an EncodeOptions field both backends know (-q, -m, ...)
PIXELS = "pixels"  # changes the pixels before encoding (-crop, -resize, -noalpha, ...)
TUNING = "tuning"  # libwebp encoder settings Pillow does not expose: cwebp backend only
OUTPUT = "output"  # changes only what cwebp prints, or where it writes
INFO = "info"  # prints something and exits (-h, -version)
INPUT = "input"  # changes how the input is read (-s: raw YUV)


class CwebpOption:
    """One cwebp option: its name(s), its arguments (metavars), its meaning and lltd's support.

    A plain class, not a dataclass: this table is read on the lean path of ``lltd cwebp``, and
    importing ``dataclasses`` (it imports ``inspect``) would cost more than the table itself.
    """

    __slots__ = ("aliases", "args", "batch", "kind", "limits", "meaning", "name", "note", "pillow")

    def __init__(
        self,
        name: str,
        args: tuple[str, ...],
        kind: str,
        meaning: str,
        pillow: str,
        batch: bool,  # accepted by compress/defend (a batch of many files)
        aliases: tuple[str, ...] = (),
        note: str = "",
        #: Inclusive range of an int/float argument, or the choices of a string argument.
        limits: tuple[float, float] | tuple[str, ...] | None = None,
    ) -> None:
        self.name, self.args, self.kind, self.meaning = name, args, kind, meaning
        self.pillow, self.batch, self.aliases, self.note = pillow, batch, aliases, note
        self.limits = limits

    def __repr__(self) -> str:
        return f"CwebpOption({self.name!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _o(name: str, args: str, kind: str, meaning: str, pillow: str, batch: bool = True, **kw):  # type: ignore[no-untyped-def]
    return CwebpOption(name, tuple(args.split()), kind, meaning, pillow, batch, **kw)


_RESAMPLER = (
    "Pillow resamples with a box filter when shrinking and bilinear when enlarging; libwebp's "
    "own rescaler is also area-averaging/bilinear but rounds differently, so pixels differ "
    "by a few levels"
)
_BLEND = "Pillow blends in RGB; cwebp blends in YUV for lossy output, so pixels differ slightly"
_PRINTS = "lltd prints no encoder statistics"

OPTIONS: tuple[CwebpOption, ...] = (
    _o("-h", "", INFO, "short help", HONOURED, aliases=("-help",)),
    _o("-H", "", INFO, "long help", HONOURED, batch=False, aliases=("-longhelp",)),
    _o("-q", "float", CORE, "quality factor (0:small..100:big)", HONOURED, limits=(0, 100)),
    _o("-alpha_q", "int", CORE, "transparency-compression quality", HONOURED, limits=(0, 100)),
    _o(
        "-preset",
        "string",
        CORE,
        "preset setting (applied first)",
        REFUSED,
        limits=("default", "photo", "picture", "drawing", "icon", "text"),
    ),
    _o(
        "-z",
        "int",
        PIXELS,
        "lossless preset of given level (0:fast..9:slowest)",
        HONOURED,
        limits=(0, 9),
        note="sets lossless, -m and -q as libwebp's WebPConfigLosslessPreset does",
    ),
    _o("-m", "int", CORE, "compression method (0=fast, 6=slowest)", HONOURED, limits=(0, 6)),
    _o("-segments", "int", TUNING, "number of segments (1..4)", REFUSED, limits=(1, 4)),
    _o("-size", "int", TUNING, "target size (in bytes)", REFUSED, limits=(0, 2**31 - 1)),
    _o("-psnr", "float", TUNING, "target PSNR (in dB)", REFUSED, limits=(0, 99)),
    _o(
        "-s",
        "int int",
        INPUT,
        "input is raw YUV 4:2:0 of this width and height",
        REFUSED,
        batch=False,
        limits=(1, 16383),
    ),
    _o("-sns", "int", TUNING, "spatial noise shaping (0:off, 100:max)", REFUSED, limits=(0, 100)),
    _o("-f", "int", TUNING, "filter strength (0=off..100)", REFUSED, limits=(0, 100)),
    _o("-sharpness", "int", TUNING, "filter sharpness (0:most .. 7:least)", REFUSED, limits=(0, 7)),
    _o("-strong", "", TUNING, "use strong filter instead of simple", REFUSED),
    _o("-nostrong", "", TUNING, "use simple filter instead of strong", REFUSED),
    _o("-sharp_yuv", "", CORE, "sharper (and slower) RGB->YUV conversion", REFUSED),
    _o(
        "-partition_limit",
        "int",
        TUNING,
        "limit quality to fit the 512k first partition",
        REFUSED,
        limits=(0, 100),
    ),
    _o("-pass", "int", TUNING, "analysis pass number (1..10)", REFUSED, limits=(1, 10)),
    _o("-qrange", "min max", TUNING, "permissible quality range", REFUSED, limits=(0, 100)),
    _o(
        "-crop",
        "x y w h",
        PIXELS,
        "crop picture with the given rectangle",
        HONOURED,
        limits=(0, 2**31 - 1),
    ),
    _o(
        "-resize",
        "w h",
        PIXELS,
        "resize picture (after any cropping); 0 keeps the aspect ratio",
        HONOURED,
        limits=(0, 16383),
        note=_RESAMPLER,
    ),
    _o(
        "-mt",
        "",
        TUNING,
        "use multi-threading if available",
        NO_EFFECT,
        note="speed only: cwebp's output is the same with and without it",
    ),
    _o("-low_memory", "", TUNING, "reduce memory usage (slower encoding)", REFUSED),
    _o("-map", "int", OUTPUT, "print map of extra info", REFUSED, batch=False, limits=(0, 9)),
    _o("-print_psnr", "", OUTPUT, "print averaged PSNR distortion", REFUSED, batch=False),
    _o("-print_ssim", "", OUTPUT, "print averaged SSIM distortion", REFUSED, batch=False),
    _o("-print_lsim", "", OUTPUT, "print local-similarity distortion", REFUSED, batch=False),
    _o("-d", "file.pgm", OUTPUT, "dump the compressed output (PGM file)", REFUSED, batch=False),
    _o(
        "-alpha_method",
        "int",
        TUNING,
        "transparency-compression method (0..1)",
        REFUSED,
        limits=(0, 1),
    ),
    _o(
        "-alpha_filter",
        "string",
        TUNING,
        "predictive filtering for alpha plane",
        REFUSED,
        limits=("none", "fast", "best"),
    ),
    _o("-exact", "", CORE, "preserve RGB values in transparent area", HONOURED),
    _o(
        "-blend_alpha",
        "hex",
        PIXELS,
        "blend colors against background color (0xRRGGBB)",
        HONOURED,
        note=_BLEND,
    ),
    _o("-noalpha", "", PIXELS, "discard any transparency information", HONOURED),
    _o("-lossless", "", CORE, "encode image losslessly", HONOURED),
    _o(
        "-near_lossless",
        "int",
        TUNING,
        "near-lossless image preprocessing (0..100=off)",
        REFUSED,
        limits=(0, 100),
    ),
    _o(
        "-hint",
        "string",
        TUNING,
        "image characteristics hint",
        REFUSED,
        limits=("photo", "picture", "graph"),
    ),
    _o("-metadata", "string", CORE, "metadata to copy: all, none, exif, icc, xmp", HONOURED),
    _o("-short", "", OUTPUT, "condense printed message", NO_EFFECT, note=_PRINTS),
    _o("-quiet", "", OUTPUT, "don't print anything", NO_EFFECT, note=_PRINTS),
    _o("-version", "", INFO, "print version number and exit", HONOURED, batch=False),
    _o(
        "-noasm",
        "",
        TUNING,
        "disable all assembly optimizations",
        NO_EFFECT,
        note="speed only: libwebp's C and SIMD paths give the same output",
    ),
    _o("-v", "", OUTPUT, "verbose, e.g. print encoding/decoding times", NO_EFFECT, note=_PRINTS),
    _o("-progress", "", OUTPUT, "report encoding progress", NO_EFFECT, note=_PRINTS),
    _o("-jpeg_like", "", TUNING, "roughly match expected JPEG size", REFUSED),
    _o("-af", "", TUNING, "auto-adjust filter strength", REFUSED),
    _o("-pre", "int", TUNING, "pre-processing filter", REFUSED, limits=(0, 7)),
)

BY_NAME: dict[str, CwebpOption] = {name: spec for spec in OPTIONS for name in spec.names}

#: cwebp options that ``compress``/``defend`` declare themselves, with webp-converter's meaning
#: where it differs (-q 100 is lossless there, -o is the output folder).
NATIVE_IN_COMPRESS = frozenset(
    {"-q", "-o", "-m", "-lossless", "-alpha_q", "-exact", "-metadata", "-sharp_yuv", "-preset"}
)
NATIVE_IN_COMPRESS |= {"-h", "-help"}

#: -z level -> (method, quality), libwebp's WebPConfigLosslessPreset (src/enc/config_enc.c).
LOSSLESS_PRESETS = (
    (0, 0),
    (1, 20),
    (2, 25),
    (3, 30),
    (3, 50),
    (4, 50),
    (4, 75),
    (4, 90),
    (5, 90),
    (6, 100),
)
