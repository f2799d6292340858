"""flip: a flipped copy ``<stem>_f<ext>`` of each image, as the original flip script wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, JpegImagePlugin

from lltd.atomic import atomic_output
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun
from lltd.batch.scan import IMAGE_EXTENSIONS, Task, assign_outputs, scan
from lltd.errors import ImageError
from lltd.imageio import DEFAULT_MAX_PIXELS, apply_orientation, open_image
from lltd.jobs.common import file_size, quarantine
from lltd.transforms import Direction, flip

FORMATS = ("same", "png")


@dataclass(frozen=True)
class FlipJob:
    """Write ``flip(decode(input))`` losslessly where the format allows (JPEG: same tables)."""

    direction: Direction = "horizontal"
    suffix: str = "_f"
    output_dir: Path | None = None  # None: beside the input, like the original script
    format: str = "same"
    force: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    auto_orient: bool = False  # flip the upright picture (EXIF orientation applied, tag dropped)

    def output_for(self, task: Task) -> Path:
        folder = (
            task.source.parent
            if self.output_dir is None
            else self.output_dir / task.relative.parent
        )
        suffix = ".png" if self.format == "png" else task.source.suffix
        return folder / f"{task.source.stem}{self.suffix}{suffix}"

    def is_flip_of_sibling(self, task: Task, exists: Callable[[Path], bool] = Path.exists) -> bool:
        """``x_f.png`` beside an ``x.*`` image is our own earlier output: never flip it again.

        ``exists`` lets a planner over object storage answer from its listing."""
        stem = task.source.stem
        if (
            self.format == "png"
            and Path(stem).suffix.lower() in IMAGE_EXTENSIONS
            and exists(task.source.parent / stem)
        ):
            # --format png: x.png and x.jpg both map to x_f.png, so assign_outputs names the
            # later one x.png.png; that file is ours too.
            return True
        if not self.suffix or not stem.endswith(self.suffix) or stem == self.suffix:
            return False
        original = stem[: -len(self.suffix)]
        parent = task.source.parent
        return any(
            exists(parent / f"{original}{ext}") or exists(parent / f"{original}{ext.upper()}")
            for ext in IMAGE_EXTENSIONS
        )

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        before = file_size(task.source)
        if output.exists() and not self.force:
            return FileResult(
                str(task.source), str(output), Outcome.ALREADY_DONE, before, file_size(output)
            )
        try:
            image = open_image(task.source, self.max_pixels)
        except ImageError as exc:
            if self.output_dir is None:
                return FileResult(str(task.source), None, Outcome.FAILED, before, error=str(exc))
            return quarantine(task, self.output_dir / "failed", str(exc), with_reason_file=True)
        # The original keeps its format and JPEG tables for save_like; the pixels are turned.
        flipped = flip(apply_orientation(image) if self.auto_orient else image, self.direction)
        with atomic_output(output) as target:
            save_like(flipped, image, target.path, "PNG" if self.format == "png" else None)
            after = target.path.stat().st_size
        return FileResult(str(task.source), str(output), Outcome.CONVERTED, before, after)


def save_like(image: Image.Image, original: Image.Image, path: Path, fmt: str | None) -> None:
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
    elif fmt == "PNG" and "transparency" in original.info:
        params["transparency"] = original.info["transparency"]
    image.save(path, format=fmt, **params)


def plan_flip(root: Path, job: FlipJob) -> BatchRun:
    exclude = [job.output_dir] if job.output_dir is not None else []
    tasks = [
        task
        for task in scan(root, IMAGE_EXTENSIONS, exclude=exclude)
        if not job.is_flip_of_sibling(task)
    ]
    return BatchRun(
        command="flip",
        job=job,
        tasks=assign_outputs(tasks, job.output_for),
        report_extra={
            "input": str(root),
            "output": str(job.output_dir or root),
            "direction": job.direction,
            "suffix": job.suffix,
        },
    )
