"""compress: webp-converter's per-file rules, without its shared swap file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from lltd.atomic import atomic_output, copy_atomic
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun, clean_output_directory
from lltd.batch.scan import COMPRESS_EXTENSIONS, Task, assign_outputs, matches_name, scan
from lltd.codecs import EncodeOptions, get_codec
from lltd.errors import CodecError, ImageError
from lltd.imageio import DEFAULT_MAX_PIXELS, has_transparency, open_image
from lltd.jobs.common import file_size, quarantine

ORIGIN, FAILED, TRANSPARENCY = "origin", "failed", "transparency"


@dataclass(frozen=True)
class CompressJob:
    """Convert one image to WebP, keeping it only when it is smaller than the original.

    ``output_dir`` receives ``origin/``, ``failed/`` and ``transparency/`` copies; with
    ``replace`` the WebP goes beside its original, which is deleted only once the WebP is in place
    and decodes (no copies are made, like webp-converter's ``--r``).
    """

    output_dir: Path
    options: EncodeOptions
    backend: str = "pillow"
    cwebp: str | None = None
    replace: bool = False
    ignore_transparency: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    force: bool = False  # redo even when a smaller output exists (the watch daemon's re-drops)
    auto_orient: bool = False  # apply the EXIF orientation (off by default, as cwebp)

    def output_for(self, task: Task) -> Path:
        if self.replace:
            return task.source.with_suffix(".webp")
        return self.output_dir / task.relative.with_suffix(".webp")

    def _set_aside(self, task: Task, folder: str, outcome: Outcome, size: int) -> FileResult:
        output: str | None = None
        if not self.replace:
            destination = self.output_dir / folder / task.relative
            copy_atomic(task.source, destination)
            output = str(destination)
        return FileResult(str(task.source), output, outcome, bytes_before=size)

    def _fail(self, task: Task, reason: str) -> FileResult:
        if self.replace:
            return FileResult(
                str(task.source),
                None,
                Outcome.FAILED,
                bytes_before=file_size(task.source),
                error=reason,
            )
        return quarantine(task, self.output_dir / FAILED, reason)

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        source = str(task.source)
        try:
            before = task.source.stat().st_size
        except OSError as exc:
            return self._fail(task, f"cannot read: {exc.strerror or exc}")

        existing = file_size(output) if output.exists() else None
        if existing is not None and existing < before and not self.force:
            if self.replace:
                return self._replace_original(task, output, Outcome.ALREADY_DONE, before, existing)
            return FileResult(source, str(output), Outcome.ALREADY_DONE, before, existing)
        # A larger leftover is redone, as webp-converter does; it is replaced atomically below.

        codec = get_codec(self.backend, self.cwebp)
        # cwebp decodes the file itself; Pillow needs the pixels, and so does a transparency test.
        needs_pixels = self.backend == "pillow" or self.ignore_transparency
        try:
            image = open_image(
                task.source, self.max_pixels, load=needs_pixels, auto_orient=self.auto_orient
            )
        except ImageError as exc:
            return self._fail(task, str(exc))
        if self.ignore_transparency and has_transparency(image):
            return self._set_aside(task, TRANSPARENCY, Outcome.TRANSPARENCY, before)

        try:
            with atomic_output(output) as target:
                codec.encode_file(task.source, target.path, self.options, image)
                after = target.path.stat().st_size
                if after >= before:
                    target.discard()
        except CodecError as exc:
            return self._fail(task, str(exc))
        if after >= before:
            if existing is not None:
                output.unlink(missing_ok=True)
            return self._set_aside(task, ORIGIN, Outcome.LARGER, before)

        if self.replace:
            return self._replace_original(task, output, Outcome.CONVERTED, before, after)
        return FileResult(source, str(output), Outcome.CONVERTED, before, after)

    def _replace_original(
        self, task: Task, output: Path, outcome: Outcome, before: int, after: int
    ) -> FileResult:
        """``--r``: delete the original only once its WebP is complete and decodes."""
        reason = _decode_failure(output)
        if reason:
            output.unlink(missing_ok=True)
            return self._fail(task, f"the WebP does not decode ({reason}); original kept")
        task.source.unlink()
        return FileResult(str(task.source), str(output), outcome, before, after)


def _decode_failure(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # any decoder failure means "do not delete the original"
        return str(exc) or type(exc).__name__
    return None


def plan_compress(
    root: Path, job: CompressJob, *, clean: bool = False, ignore_filename_match: str | None = None
) -> BatchRun:
    """Scan ``root`` and plan the batch: webp-converter's inputs, never its own output folder."""
    if clean:
        clean_output_directory(job.output_dir, root)
    exclude = [] if job.replace else [job.output_dir]
    tasks = scan(root, COMPRESS_EXTENSIONS, exclude=exclude)
    skipped: list[FileResult] = []
    if ignore_filename_match:
        kept = []
        for task in tasks:
            if matches_name(task.source.name, ignore_filename_match):
                skipped.append(
                    FileResult(
                        str(task.source),
                        None,
                        Outcome.NAME_MATCH,
                        bytes_before=file_size(task.source),
                    )
                )
            else:
                kept.append(task)
        tasks = kept
    return BatchRun(
        command="compress",
        job=job,
        tasks=assign_outputs(tasks, job.output_for),
        presettled=skipped,
        report_extra={
            "input": str(root),
            "output": str(job.output_dir),
            "replace": job.replace,
            "options": asdict(job.options),
            "backend": job.backend,
        },
    )
