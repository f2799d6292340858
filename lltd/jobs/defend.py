"""defend: the paper's preprocessing, ``flip(decode(webp_encode(image)))``, once per file."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import IMAGE_EXTENSIONS, Task
from lltd.common.errors import CodecError, ImageError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.defense.kernel import apply
from lltd.defense.settings import DefenseSettings
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS, open_image
from lltd.jobs.common import Declared, reader_path, stamper

# Speed, not pixels (both containers are lossless; no mutate: any value gives the same pixels).
# PNG level 1: the defended file is an intermediate for a classifier; zlib's default level costs
# more CPU than the WebP round trip itself for a few percent of size.
_PNG_LEVEL = 1  # pragma: no mutate
# Lossless WebP at quality 25 / method 1 encodes 16x faster than quality 100 (measured: 20 ms vs
# 326 ms per 299x299 image) for 3-10 % larger files.
_WEBP_EFFORT = {"quality": 25, "method": 1}  # pragma: no mutate


@dataclass(frozen=True)
class DefendJob(Declared):
    """Always writes the defended pixels (no "keep if smaller" rule), as PNG or lossless WebP."""

    output_dir: Path
    settings: DefenseSettings = field(default_factory=DefenseSettings)
    format: str = "png"
    force: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # pragma: no mutate (annotation only)
    max_bytes: int | None = DEFAULT_MAX_BYTES  # pragma: no mutate (annotation only)
    #: On by default: the defended PNG carries no EXIF, so an unapplied orientation would be lost
    #: and the classifier would see the picture on its side (docs/guide/defense.md).
    auto_orient: bool = True

    command = "defend"
    extensions = IMAGE_EXTENSIONS

    @property
    def _suffix(self) -> str:
        return ".png" if self.format == "png" else ".webp"

    def output_name(self, relative: PurePosixPath) -> PurePosixPath:
        return relative.with_suffix(self._suffix)

    def alternate_name(self, relative: PurePosixPath, attempt: int) -> PurePosixPath:
        count = f".{attempt}" if attempt else ""
        return relative.with_name(f"{relative.name}{count}{self._suffix}")

    def accepts(self, relative: PurePosixPath, exists: object) -> bool:
        return True

    def report_fields(self) -> dict[str, object]:
        return {**self.settings.report(), "format": self.format}

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        begun = self.begin(task, output)
        if isinstance(begun, FileResult):
            return begun
        with begun.input as opened:
            if begun.done is not None:
                return begun.done
            try:
                image = open_image(
                    reader_path(opened, task.source), self.max_pixels, auto_orient=self.auto_orient
                )
                # Keyed by the relative path: a seeded randomised defense draws the same for a
                # file whichever worker or host runs it, and `lltd watch` as `lltd defend` does.
                draw = self.settings.draw_for(task.relative.as_posix())
                defended = apply(image, self.settings, draw)
            except (ImageError, CodecError) as exc:
                return self.fail(task, str(exc), self.command, opened)
            # ExitStack, not `with (a, b):`: mutmut 2.5's parser cannot read the parenthesized form.
            with contextlib.ExitStack() as stack:
                target = stack.enter_context(
                    self.writing(task, output, stamper(self.command, begun.source))
                )
                handle = stack.enter_context(os.fdopen(os.dup(target.fd), "wb"))
                if self.format == "png":
                    defended.save(handle, format="PNG", compress_level=_PNG_LEVEL)
                else:
                    defended.save(handle, format="WEBP", lossless=True, exact=True, **_WEBP_EFFORT)
                handle.flush()
                after = target.size()
            return FileResult(
                str(task.source), str(output), Outcome.CONVERTED, begun.source.size, after
            )


def plan_defend(root: Path, job: DefendJob):  # type: ignore[no-untyped-def]
    """Plan defend over a local folder (the one planner; kept for the library's callers)."""
    from lltd.batch.plan import plan_local

    return plan_local(root, job)
