"""cwebp as a subprocess: argument vectors only (file names may hold spaces and quotes)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from lltd.codecs.cwebp_locate import cwebp_on_path, explicit_cwebp, failure_reason
from lltd.codecs.options import EncodeOptions
from lltd.common.errors import CodecError, UsageError
from lltd.fs.paths import cache_dir

# Files cwebp can read itself with the same meaning as Pillow gives them; anything else is first
# normalised by Pillow to an 8-bit PNG so both backends agree on unusual modes.
_CWEBP_NATIVE = {
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("PNG", "L"),
    ("PNG", "P"),
    ("PNG", "LA"),
    ("JPEG", "RGB"),
    ("JPEG", "L"),
}


def cwebp_argv(options: EncodeOptions) -> list[str]:
    """Options as cwebp flags; ``-preset`` first, since cwebp lets it overwrite what precedes it."""
    argv: list[str] = []
    if options.preset is not None:
        argv += ["-preset", options.preset]
    if options.lossless:
        argv.append("-lossless")
    if options.lossless_preset is not None:
        # cwebp drops -z when -q or -m is given, whatever the order; lltd lets -z win.
        argv += ["-z", str(options.lossless_preset)]
    else:
        argv += ["-q", _exact(options.quality)]
        if options.method != 4:
            argv += ["-m", str(options.method)]
    if options.alpha_q != 100:
        argv += ["-alpha_q", str(options.alpha_q)]
    if options.exact:
        argv.append("-exact")
    if options.metadata != ("none",):
        argv += ["-metadata", ",".join(options.metadata)]
    if options.sharp_yuv:
        argv.append("-sharp_yuv")
    if options.crop is not None:
        argv += ["-crop", *map(str, options.crop)]
    if options.resize is not None:
        argv += ["-resize", *map(str, options.resize)]
    if options.noalpha:
        argv.append("-noalpha")
    if options.blend_alpha is not None:
        argv += ["-blend_alpha", f"0x{options.blend_alpha:06x}"]
    for tokens in options.tuning:
        argv += tokens
    return argv


def _exact(number: float) -> str:
    """``number`` as cwebp reads it back exactly: ``75``, ``75.5``, ``75.123456789`` (``:g`` alone
    keeps 6 digits and would pass 75.1235)."""
    short = f"{number:g}"
    return short if float(short) == number else repr(float(number))


NOT_FOUND = (
    "install it (e.g. apt-get install webp), put it on PATH, set LLTD_CWEBP, or pass --cwebp PATH"
)


def find_cwebp(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find cwebp: ``explicit``, ``$LLTD_CWEBP``, ``cwebp`` on PATH, then webptools' bundled one."""
    found = explicit_cwebp(explicit) or cwebp_on_path()
    if found:
        return Path(found)
    bundled = _bundled_cwebp()
    if bundled is None:
        raise UsageError(f"cwebp not found: {NOT_FOUND}")
    return bundled


def cwebp_available(explicit: str | os.PathLike[str] | None = None) -> bool:
    """Whether :func:`find_cwebp` finds a binary (a bad ``explicit`` is still an error)."""
    return bool(explicit_cwebp(explicit) or cwebp_on_path() or _bundled_cwebp())


def _bundled_cwebp() -> Path | None:
    try:
        from webptools.webpbin import getcwebp
    except ImportError:
        return None
    path = Path(getcwebp(bin_path=None) or "")
    if not path.is_file():
        return None
    if os.access(path, os.X_OK):
        return path
    # webptools ships the binary without its execute bit; site-packages may be read-only, so
    # run a private copy, keyed by content so an upgraded webptools gets a fresh copy.
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    copy = cache_dir() / "bin" / f"cwebp-{digest}"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=copy.parent)
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.chmod(tmp, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        os.replace(tmp, copy)
    return copy


class CwebpCodec:
    name = "cwebp"

    def __init__(self, binary: str | os.PathLike[str] | None = None) -> None:
        self.binary = find_cwebp(binary)

    def check(self, options: EncodeOptions) -> None:
        """cwebp honours every option lltd exposes."""

    def version(self) -> str:
        """``cwebp -version`` (e.g. ``1.2.4``)."""
        result = subprocess.run(
            [str(self.binary), "-version"], capture_output=True, text=True, check=False
        )
        return result.stdout.strip() or f"unknown ({self.binary} -version failed)"

    def _run(
        self,
        source: Path,
        target: Path,
        options: EncodeOptions,
        extra: Sequence[str] = ("-quiet",),
        capture: bool = True,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """Run cwebp; ``extra`` holds the printing options of ``lltd cwebp`` (default: quiet),
        whose output reaches stderr when ``capture`` is false, with ``names`` (temporaries)
        replaced by what they stand for."""
        # "--" ends cwebp's options: a file named "-x.png" is read as a file.
        argv = [
            str(self.binary),
            *cwebp_argv(options),
            *extra,
            "-o",
            str(target),
            "--",
            str(source),
        ]
        if not capture:
            from lltd.common.relay import relay

            sys.stderr.flush()
            with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as child:
                assert child.stdout is not None
                printed = relay(child.stdout.fileno(), names or {}).decode(errors="replace")
            code = child.returncode
        else:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            printed, code = result.stderr or "", result.returncode
        if code != 0:
            reason = failure_reason(printed, code)
            raise CodecError(f"cwebp failed: {reason}")

    def encode_file(
        self,
        source: Path,
        target: Path,
        options: EncodeOptions,
        image: Image.Image | None,
        extra: Sequence[str] = ("-quiet",),
        capture: bool = True,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """``image`` None: hand ``source`` to cwebp as it is (raw YUV with ``-s``). ``names``:
        what to print in place of the paths cwebp sees (see :meth:`_run`)."""
        if image is None or (image.format, image.mode) in _CWEBP_NATIVE:
            self._run(source, target, options, extra, capture, names)
            return
        with tempfile.TemporaryDirectory(prefix="lltd-cwebp-") as scratch:
            png = Path(scratch) / "input.png"
            _save_png(image, png)
            self._run(
                png, target, options, extra, capture, {**(names or {}), str(png): str(source)}
            )

    def encode(self, image: Image.Image, options: EncodeOptions) -> bytes:
        with tempfile.TemporaryDirectory(prefix="lltd-cwebp-") as scratch:
            png, out = Path(scratch) / "input.png", Path(scratch) / "output.webp"
            _save_png(image, png)
            self._run(png, out, options)
            return out.read_bytes()


def _save_png(image: Image.Image, path: Path) -> None:
    from lltd.imaging.imageio import to_8bit_rgb

    # compress_level=0: the PNG only carries pixels to cwebp, so don't spend time deflating.
    to_8bit_rgb(image).save(path, format="PNG", compress_level=0)
