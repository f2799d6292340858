"""compress: webp-converter's per-file rules, with the guarantee that an original is deleted
(``--r``) only after its own WebP is complete, decodes, and is recorded as made from it."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from lltd.batch.marks import Source, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import COMPRESS_EXTENSIONS, Task
from lltd.codecs import EncodeOptions, get_codec
from lltd.common.errors import CodecError, ImageError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.common.text import printable
from lltd.fs.atomic import copy_atomic
from lltd.fs.destination import UnsafeDestination
from lltd.fs.identity import Version
from lltd.fs.places import place_of
from lltd.fs.tree import Input, describe
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS, open_image
from lltd.imaging.transparency import has_transparency
from lltd.jobs.common import Begun, Declared, output_place, own_version, reader_path, stamper

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
    max_bytes: int | None = DEFAULT_MAX_BYTES  # pragma: no mutate (annotation only)
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

    def _set_aside(
        self, task: Task, folder: str, outcome: Outcome, source: Source, opened: Input
    ) -> FileResult:
        if self.replace:
            return FileResult(str(task.source), None, outcome, bytes_before=source.size)
        destination = self.output_dir / folder / task.relative
        with output_place(destination, self.tree_root(task)) as (where, _):
            copy_atomic(
                opened.fd,
                destination,
                stamper(self.command, source),
                folder=where,
                replaces=own_version(where, destination.name),
            )
        # The copy is the original's bytes: its size is the output's, here and on a storage
        # URL (where the report cannot look at the file).
        return FileResult(
            str(task.source), str(destination), outcome, source.size, bytes_after=source.size
        )

    def __call__(self, task: Task) -> FileResult:
        output = task.output or self.output_for(task)
        in_memory = self.backend == "pillow"
        # Pillow decodes the bytes hashed for the provenance record: the input is read once.
        begun = self.begin_reading(task, output, keep=KEEP_IN_MEMORY if in_memory else 0)
        if isinstance(begun, FileResult):
            return begun
        with begun.input:
            return self._convert(task, output, begun)

    def _convert(self, task: Task, output: Path, begun: Begun) -> FileResult:
        source, data, opened = begun.source, begun.data, begun.input
        if begun.done is not None:
            if self.replace:
                return self._replace_original(task, output, begun.done, opened, checked=False)
            return begun.done
        before = source.size
        codec = get_codec(self.backend, self.cwebp)
        # cwebp decodes the file itself; Pillow needs the pixels, and so does a transparency test.
        needs_pixels = in_memory = self.backend == "pillow"
        needs_pixels = needs_pixels or self.ignore_transparency
        try:
            image = open_image(
                reader_path(opened, task.source),
                self.max_pixels,
                load=needs_pixels,
                auto_orient=self.auto_orient,
                data=data,
            )
        except ImageError as exc:
            return self.fail(task, str(exc), self.command, opened)
        if self.ignore_transparency and has_transparency(image):
            return self._set_aside(task, TRANSPARENCY, Outcome.TRANSPARENCY, source, opened)

        try:
            if in_memory:
                webp = codec.encode(image, self.options)
                after = len(webp)
                if after < before:
                    # --r: the WebP must decode before the original may go (checked on the
                    # bytes to be published, before they are).
                    reason = _decode_failure(io.BytesIO(webp)) if self.replace else None
                    if reason:
                        return self._undecodable(task, reason, opened)
                    with self.writing(task, output, durable=self.replace) as target:
                        target.write(webp)
                        stamp(target.fd, self.command, source, content=webp)
            else:
                with self.writing(
                    task, output, stamper(self.command, source), durable=self.replace
                ) as target:
                    codec.encode_file(
                        reader_path(opened, task.source), target.through, self.options, image
                    )
                    after = target.size()
                    reason = None
                    if after >= before:
                        target.discard()
                    elif self.replace:
                        reason = _decode_failure(target.through)
                        if reason:
                            target.discard()
                if after < before and reason:
                    return self._undecodable(task, reason, opened)
        except CodecError as exc:
            return self.fail(task, str(exc), self.command, opened)
        if after >= before:
            self._drop_older_output(task, output, refuse=in_memory)
            return self._set_aside(task, ORIGIN, Outcome.LARGER, source, opened)

        result = FileResult(str(task.source), str(output), Outcome.CONVERTED, before, after)
        if self.replace:
            return self._replace_original(task, output, result, opened, checked=True)
        return result

    def _drop_older_output(self, task: Task, output: Path, *, refuse: bool) -> None:
        """The planner gave us this name: what it judged to be there is our own older output,
        which a larger WebP must not leave behind. Only that version is removed. ``refuse``: a
        node that is no regular file fails the file, as if the WebP were to be written."""
        try:
            folder, name, owned = place_of(output, self.tree_root(task), create=False)
        except OSError:
            return  # no folder: nothing of ours there
        try:
            st = folder.stat(name)
            if refuse and st is not None and not stat.S_ISREG(st.st_mode):
                raise UnsafeDestination(f"refusing to write {printable(output)}: {describe(st)}")
            expected = task.replaces
            if expected is True:  # unplanned: a regular file there is taken as ours
                if st is None or not stat.S_ISREG(st.st_mode):
                    return
                expected = Version.of(st)
            if isinstance(expected, Version):
                folder.remove(name, expected)
        finally:
            if owned:
                folder.close()

    def _undecodable(self, task: Task, reason: str, opened: Input) -> FileResult:
        return self.fail(
            task, f"the WebP does not decode ({reason}); original kept", self.command, opened
        )

    def _replace_original(
        self, task: Task, output: Path, result: FileResult, opened: Input, *, checked: bool
    ) -> FileResult:
        """``--r``: delete the original only once its WebP is complete and decodes, and only if
        it is still the very version that was hashed and converted."""
        if not checked:  # an earlier run's WebP: decoded here, from its own descriptor
            # ExitStack, not `with (a, b):`: mutmut 2.5's parser cannot read the parenthesized form.
            with contextlib.ExitStack() as stack:
                folder, name = stack.enter_context(
                    output_place(output, self.tree_root(task), create=False)
                )
                existing = stack.enter_context(folder.open_input(name))
                reason = _decode_failure(io.BytesIO(existing.read_all()))
                if not reason:
                    os.fsync(existing.fd)  # it must outlive a power cut that the deletion does
                    os.fsync(folder.fd)
            if reason:
                return self._undecodable(task, reason, opened)
        why = opened.folder.remove(opened.name, opened.version)
        if why is not None:
            result.outcome, result.error = (
                Outcome.FAILED,
                f"original kept: {why} ({printable(output.name)} holds the version converted)",
            )
        return result


def _decode_failure(where: Path | io.BytesIO) -> str | None:
    try:
        with Image.open(where) as image:
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
