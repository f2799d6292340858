"""compress: webp-converter's per-file rules, with the guarantee that an original is deleted
(``--r``) only after its own WebP is complete, decodes, and is recorded as made from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from lltd.batch.marks import Source, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import COMPRESS_EXTENSIONS, Task
from lltd.codecs import EncodeOptions, get_codec
from lltd.common.errors import CodecError, ImageError
from lltd.fs.atomic import atomic_output, check_destination, copy_atomic, make_durable
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS, open_image
from lltd.imaging.transparency import has_transparency
from lltd.jobs.common import Declared, stamper

ORIGIN, TRANSPARENCY = "origin", "transparency"
#: Inputs up to this size are read once into memory (hashed, then decoded from there); larger
#: ones are hashed in chunks and decoded from the file, so a huge input costs no extra memory.
KEEP_IN_MEMORY = 32 << 20


@dataclass(frozen=True)
class CompressJob(Declared):
    """Convert one image to WebP, keeping it only when it is smaller than the original.

    ``output_dir`` receives ``origin/``, ``failed/`` and ``transparency/`` copies; with
    ``replace`` the WebP goes beside its original, which is deleted only once the WebP is in place
    and decodes (no copies are made, like webp-converter's ``--r``).
    """

    output_dir: Path
    options: EncodeOptions
    backend: str = "pillow"
    cwebp: str | None = None  # pragma: no mutate (an annotation, never evaluated)
    replace: bool = False
    ignore_transparency: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # pragma: no mutate (annotation)
    force: bool = False  # redo even when its output exists (the watch daemon's re-drops)
    auto_orient: bool = False  # apply the EXIF orientation (off by default, as cwebp)
    #: A ``.error.txt`` beside each copy in failed/. ``lltd compress`` writes none unless asked
    #: (--reason-files): webp-converter wrote none, and scripts retry ``failed/*``.
    reason_files: bool = True

    command = "compress"
    extensions = COMPRESS_EXTENSIONS

    @property
    def in_place(self) -> bool:
        return self.replace

    @property
    def consumes_input(self) -> bool:
        return self.replace

    def output_root(self, input_root: Path) -> Path:
        return input_root if self.replace else self.output_dir

    def output_name(self, relative: PurePosixPath) -> PurePosixPath:
        return relative.with_suffix(".webp")

    def alternate_name(self, relative: PurePosixPath, attempt: int) -> PurePosixPath:
        """``a.png`` beside ``a.jpg``: ``a.png.webp`` (webp-converter kept no second one)."""
        count = f".{attempt}" if attempt else ""
        return relative.with_name(f"{relative.name}{count}.webp")

    def accepts(self, relative: PurePosixPath, exists: object) -> bool:
        return True

    def report_fields(self) -> dict[str, object]:
        return {"replace": self.replace, "options": asdict(self.options), "backend": self.backend}

    def _set_aside(self, task: Task, folder: str, outcome: Outcome, source: Source) -> FileResult:
        if self.replace:
            return FileResult(str(task.source), None, outcome, bytes_before=source.size)
        destination = self.output_dir / folder / task.relative
        copy_atomic(task.source, destination, stamper(self.command, source))
        return FileResult(str(task.source), str(destination), outcome, bytes_before=source.size)

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        in_memory = self.backend == "pillow"
        # Pillow decodes the bytes hashed for the provenance record: the input is read once.
        begun = self.begin_reading(task, output, keep=KEEP_IN_MEMORY if in_memory else 0)
        if isinstance(begun, FileResult):
            if self.replace and begun.outcome is Outcome.ALREADY_DONE:
                return self._replace_original(
                    task, output, begun.outcome, begun.bytes_before, begun.bytes_after
                )
            return begun
        source, data = begun
        before = source.size

        codec = get_codec(self.backend, self.cwebp)
        # cwebp decodes the file itself; Pillow needs the pixels, and so does a transparency test.
        needs_pixels = in_memory or self.ignore_transparency
        try:
            image = open_image(
                task.source,
                self.max_pixels,
                load=needs_pixels,
                auto_orient=self.auto_orient,
                data=data,
            )
        except ImageError as exc:
            return self.fail(task, str(exc), self.command)
        if self.ignore_transparency and has_transparency(image):
            return self._set_aside(task, TRANSPARENCY, Outcome.TRANSPARENCY, source)

        try:
            if in_memory:
                webp = codec.encode(image, self.options)
                after = len(webp)
                if after >= before:
                    check_destination(output)  # refused as if it were to be written
                else:
                    with atomic_output(output) as target:
                        target.write(webp)
                        stamp(target.fd, self.command, source, content=webp)
            else:
                with atomic_output(output, stamper(self.command, source)) as target:
                    codec.encode_file(task.source, target.path, self.options, image)
                    after = target.path.stat().st_size
                    if after >= before:
                        target.discard()
        except CodecError as exc:
            return self.fail(task, str(exc), self.command)
        if after >= before:
            # The planner gave us this name: whatever is there is our own older output.
            if output.is_file() and not output.is_symlink():
                # missing_ok: only a concurrent removal between these two lines would matter.
                output.unlink(missing_ok=True)  # pragma: no mutate
            return self._set_aside(task, ORIGIN, Outcome.LARGER, source)

        if self.replace:
            return self._replace_original(task, output, Outcome.CONVERTED, before, after)
        return FileResult(str(task.source), str(output), Outcome.CONVERTED, before, after)

    def _replace_original(
        self, task: Task, output: Path, outcome: Outcome, before: int, after: int
    ) -> FileResult:
        """``--r``: delete the original only once its WebP is complete and decodes."""
        reason = _decode_failure(output)
        if reason:
            output.unlink(missing_ok=True)  # pragma: no mutate (it was just decoded: it exists)
            return self.fail(
                task, f"the WebP does not decode ({reason}); original kept", self.command
            )
        # The WebP's bytes and name must outlive a power cut that the original's deletion does.
        make_durable(output)
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
):  # type: ignore[no-untyped-def]
    """Plan compress over a local folder (the one planner; kept for the library's callers)."""
    from lltd.batch.plan import plan_local

    return plan_local(root, job, clean=clean, ignore_filename_match=ignore_filename_match)
