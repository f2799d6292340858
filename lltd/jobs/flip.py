"""flip: a flipped copy ``<stem>_f<ext>`` of each image, as the original flip script wrote."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image, JpegImagePlugin

from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import IMAGE_EXTENSIONS, Task
from lltd.common.errors import ImageError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.fs.tree import Input
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS, apply_orientation, open_image
from lltd.jobs.common import Declared, reader_path, stamper
from lltd.transforms import Direction, flip


@dataclass(frozen=True)
class FlipJob(Declared):
    """Write ``flip(decode(input))`` losslessly where the format allows (JPEG: same tables)."""

    direction: Direction = "horizontal"
    suffix: str = "_f"
    output_dir: Path | None = None  # None: beside the input, like the original script
    format: str = "same"
    force: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # pragma: no mutate (annotation only)
    max_bytes: int | None = DEFAULT_MAX_BYTES  # pragma: no mutate (annotation only)
    auto_orient: bool = False  # flip the upright picture (EXIF orientation applied, tag dropped)

    command = "flip"
    extensions = IMAGE_EXTENSIONS

    def _extension(self, relative: PurePosixPath) -> str:
        return ".png" if self.format == "png" else relative.suffix

    def output_name(self, relative: PurePosixPath) -> PurePosixPath:
        return relative.with_name(f"{relative.stem}{self.suffix}{self._extension(relative)}")

    def alternate_name(self, relative: PurePosixPath, attempt: int) -> PurePosixPath:
        """``x.png`` beside ``x.jpg`` with ``--format png``: ``x.png_f.png``, still ``_f``."""
        count = f".{attempt}" if attempt else ""
        ext = self._extension(relative)
        return relative.with_name(f"{relative.name}{self.suffix}{count}{ext}")

    def accepts(
        self, relative: PurePosixPath, exists: Callable[[PurePosixPath], bool] = lambda _: False
    ) -> bool:
        return not self.is_flip_of_sibling(relative, exists)

    def is_flip_of_sibling(
        self, relative: PurePosixPath, exists: Callable[[PurePosixPath], bool]
    ) -> bool:
        """``x_f.png`` beside an ``x.*`` image is an earlier flip, even one written before flips
        carried a provenance record: never flip it again."""
        stem = relative.stem
        if not self.suffix or not stem.endswith(self.suffix) or stem == self.suffix:
            return False
        original = stem[: -len(self.suffix)]
        parent = relative.parent
        if PurePosixPath(original).suffix.lower() in IMAGE_EXTENSIONS and exists(parent / original):
            return True  # the alternate name x.png_f.png
        return any(
            exists(parent / f"{original}{ext}") or exists(parent / f"{original}{ext.upper()}")
            for ext in IMAGE_EXTENSIONS
        )

    def report_fields(self) -> dict[str, object]:
        return {"direction": self.direction, "suffix": self.suffix, "format": self.format}

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        begun = self.begin(task, output)
        if isinstance(begun, FileResult):
            return begun
        with begun.input as opened:
            if begun.done is not None:
                return begun.done
            try:
                image = open_image(reader_path(opened, task.source), self.max_pixels)
                _check_depth(opened, image)
            except ImageError as exc:
                return self.fail(task, str(exc), self.command, opened)
            # The original keeps its format and JPEG tables for save_like; the pixels turn.
            flipped = flip(apply_orientation(image) if self.auto_orient else image, self.direction)
            with self.writing(task, output, stamper(self.command, begun.source)) as target:
                with os.fdopen(os.dup(target.fd), "wb") as handle:
                    save_like(flipped, image, handle, "PNG" if self.format == "png" else None)
                after = target.size()
            return FileResult(
                str(task.source), str(output), Outcome.CONVERTED, begun.source.size, after
            )


def _check_depth(opened: Input, image: Image.Image) -> None:
    """Pillow reads a 16-bit colour PNG as 8 bits per channel (16-bit grey stays ``I;16``):
    refuse it rather than write a flip that lost half of every sample."""
    if image.format != "PNG":
        return
    header = os.pread(opened.fd, 26, 0)
    depth, colour = header[24], header[25]
    if depth == 16 and colour in (2, 6):  # truecolour, truecolour with alpha
        raise ImageError(
            "16-bit colour PNG: Pillow can only read it as 8 bits per channel; not flipped "
            "(the original is kept)"
        )


def save_like(
    image: Image.Image, original: Image.Image, path: Path | BinaryIO, fmt: str | None
) -> None:
    """Save ``image`` in ``fmt`` (default: the original's) with the least loss Pillow offers."""
    fmt = fmt or original.format or "PNG"
    params: dict[str, object] = {}
    if original.info.get("icc_profile"):
        params["icc_profile"] = original.info["icc_profile"]
    if fmt == "JPEG" and isinstance(original, JpegImagePlugin.JpegImageFile):
        # Pillow's quality="keep" only works on the JpegImageFile itself; pass what it would use.
        params["qtables"] = original.quantization
        params["subsampling"] = JpegImagePlugin.get_sampling(original)
    elif fmt == "WEBP":
        params.update(lossless=True, exact=True, quality=100)
    # A PNG's tRNS key needs nothing here: it is in ``image.info``, which the flip (a transpose)
    # copies, and Pillow's PNG writer takes it from there.
    image.save(path, format=fmt, **params)


def plan_flip(root: Path, job: FlipJob):  # type: ignore[no-untyped-def]
    """Plan flip over a local folder (the one planner; kept for the library's callers)."""
    from lltd.batch.plan import plan_local

    return plan_local(root, job)
