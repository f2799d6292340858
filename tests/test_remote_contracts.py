"""The storage host's planner view (lltd.cluster.remote.storage_tree) names outputs as the local
one does, in-process on ``memory://`` and a real folder of the same layout: an unrecorded file
is a leftover of ours only in an output folder apart from the input (issue 27)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from PIL import Image

from lltd.batch.engine import SerialRunner
from lltd.batch.marks import Mark, read_mark
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import execute
from lltd.batch.plan import plan_local
from lltd.batch.scan import Task
from lltd.cluster.remote import (
    REMOTE_IN,
    REMOTE_OUT,
    RemoteJob,
    _Mounts,
    _scratch,
    _snapshot,
    _walk_order,
    _worker_directory,
    plan_remote,
)
from lltd.cluster.storage import Storage
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.fs.atomic import TEMP_SUFFIX
from lltd.jobs.compress import CompressJob
from lltd.jobs.flip import FlipJob

BASE = "memory://lltd-test-remote-contracts"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def memory() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists(BASE.removeprefix("memory://")):
        fs.rm(BASE.removeprefix("memory://"), recursive=True)


def lay_out(files: dict[str, bytes], fs: fsspec.AbstractFileSystem, folder: Path) -> None:
    for name, data in files.items():
        fs.pipe(f"{BASE.removeprefix('memory://')}/{name}", data)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def planned(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {t.relative.as_posix(): t.output.name for t in run.tasks}


def compress_to(output: str | Path) -> CompressJob:
    return CompressJob(output_dir=output, options=EncodeOptions(quality=60))  # type: ignore[arg-type]


def test_with_o_holding_the_input_an_unrecorded_file_is_never_taken_for_a_leftover(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    # -o the input's parent: in/in/x.png's output name in/x.webp is the input tree's own
    # x.webp (someone's original), and y.png's y.webp sits beside the input.
    files = {
        "in/in/x.png": png_bytes(),
        "in/y.png": png_bytes(),
        "in/x.webp": b"someone's own WebP",
        "y.webp": b"a file nobody recorded",
    }
    lay_out(files, memory, tmp_path)
    expected = {"in/x.png": "x.png.webp", "y.png": "y.png.webp"}
    assert planned(plan_local(tmp_path / "in", compress_to(tmp_path))) == expected
    assert planned(plan_remote(f"{BASE}/in", compress_to(BASE))) == expected


def test_in_an_output_folder_apart_from_the_input_an_unrecorded_file_is_a_leftover_redone(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    files = {"in/y.png": png_bytes(), "out/y.webp": b"left over by an interrupted run"}
    lay_out(files, memory, tmp_path)
    expected = {"y.png": "y.webp"}
    assert planned(plan_local(tmp_path / "in", compress_to(tmp_path / "out"))) == expected
    assert planned(plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"))) == expected


# --- a whole run, in-process (issue 27) ---------------------------------------------------------


def noise_png(seed: int) -> bytes:
    """A picture whose WebP is smaller than its PNG (flat colours would not be)."""
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def objects(fs: fsspec.AbstractFileSystem, folder: str) -> dict[str, bytes]:
    root = f"/{BASE.removeprefix('memory://')}/{folder}".rstrip("/")
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


def run(batch) -> list[FileResult]:  # type: ignore[no-untyped-def]
    batch.quiet = True
    return execute(batch, SerialRunner())[0]


def test_a_run_on_memory_urls_names_files_by_url_and_a_rerun_reuses_each_output(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out(
        {"in/a.png": noise_png(1), "in/sub/b.png": noise_png(2), "in/broken.png": b"not a png"},
        memory,
        tmp_path,
    )
    results = run(plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out")))
    by_input = {r.input.removeprefix(f"{BASE}/in/"): r for r in results}
    assert sorted(by_input) == ["a.png", "broken.png", "sub/b.png"]
    assert by_input["a.png"].output == f"{BASE}/out/a.webp"
    assert by_input["sub/b.png"].output == f"{BASE}/out/sub/b.webp"
    assert by_input["a.png"].outcome is by_input["sub/b.png"].outcome is Outcome.CONVERTED
    assert by_input["a.png"].bytes_before == len(noise_png(1))
    broken = by_input["broken.png"]
    assert broken.outcome is Outcome.FAILED and broken.output == f"{BASE}/out/failed/broken.png"
    assert f"{tmp_path}" not in (broken.error or "") and "lltd-remote-" not in (broken.error or "")

    written = objects(memory, "out")
    assert sorted(written) == [
        ".lltd/made/a.webp",
        ".lltd/made/failed/broken.png",  # as a local failed/ copy carries its record
        ".lltd/made/sub/b.webp",
        "a.webp",
        "failed/broken.png",
        "failed/broken.png.error.txt",
        "sub/b.webp",
    ]
    assert written["failed/broken.png"] == b"not a png"
    assert written["failed/broken.png.error.txt"].startswith(f"{BASE}/in/broken.png: ".encode())
    record = Mark.from_bytes(written[".lltd/made/a.webp"])
    assert record is not None and record.source.name == "a.png"
    assert record.output_sha256 == hashlib.sha256(written["a.webp"]).hexdigest()

    again = run(plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out")))
    outcomes = {r.input.removeprefix(f"{BASE}/in/"): r.outcome for r in again}
    assert outcomes == {
        "a.png": Outcome.ALREADY_DONE,
        "sub/b.png": Outcome.ALREADY_DONE,
        "broken.png": Outcome.FAILED,
    }
    assert objects(memory, "out") == written


def test_replace_in_place_publishes_each_webp_then_drops_its_original(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": noise_png(3), "in/keep.txt": b"not an image"}, memory, tmp_path)
    job = CompressJob(output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True)
    batch = plan_remote(f"{BASE}/in", job)
    assert [(t.relative.as_posix(), t.output.as_posix()) for t in batch.tasks] == [
        ("a.png", f"{REMOTE_IN}/a.webp")
    ]
    [result] = run(batch)
    assert (result.input, result.output) == (f"{BASE}/in/a.png", f"{BASE}/in/a.webp")
    assert sorted(objects(memory, "in")) == [".lltd/made/a.webp", "a.webp", "keep.txt"]


def test_replace_on_a_local_storage_after_an_interrupted_run_reuses_the_output_as_locally(
    tmp_path: Path,
) -> None:
    """An earlier --r published a.webp, then stopped before removing a.png (unchanged since):
    a.webp is this original's output, to reuse, on a file:// storage as on a local folder."""
    (tmp_path / "in").mkdir()
    original, kept = tmp_path / "in" / "a.png", tmp_path / "a.png"
    original.write_bytes(noise_png(5))
    os.utime(original, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    shutil.copy2(original, kept)  # the same bytes and nanoseconds
    job = CompressJob(output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True)
    [first] = run(plan_remote(f"file://{tmp_path}/in", job))
    assert (first.outcome, original.exists()) == (Outcome.CONVERTED, False)
    shutil.copy2(kept, original)  # as if the run had stopped before removing it
    expected = planned(plan_local(tmp_path / "in", job))
    assert expected == {"a.png": "a.webp"}
    assert planned(plan_remote(f"file://{tmp_path}/in", job)) == expected


def test_flip_beside_the_inputs_names_outputs_in_the_input_storage(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes()}, memory, tmp_path)
    batch = plan_remote(f"{BASE}/in", FlipJob())
    assert batch.job.names(batch.tasks[0]) == (f"{BASE}/in/a.png", f"{BASE}/in/a_f.png")
    [result] = run(batch)
    assert (result.output, result.outcome) == (f"{BASE}/in/a_f.png", Outcome.CONVERTED)
    assert sorted(objects(memory, "in")) == [".lltd/made/a_f.png", "a.png", "a_f.png"]
    # Beside the inputs only a recorded output is ours: its record read, the same name reused.
    [again] = run(plan_remote(f"{BASE}/in", FlipJob()))
    assert (again.output, again.outcome) == (f"{BASE}/in/a_f.png", Outcome.ALREADY_DONE)
    assert sorted(objects(memory, "in")) == [".lltd/made/a_f.png", "a.png", "a_f.png"]


def test_an_older_flip_beside_its_original_is_not_flipped_again(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    names = ("in/a.png", "in/a_f.png", "in/b_f.png")  # b_f.png has no b.* beside it
    lay_out(dict.fromkeys(names, png_bytes()), memory, tmp_path)
    # a_f.png, unrecorded, is neither flipped again nor overwritten: a.png's flip gets another name.
    expected = {"a.png": "a.png_f.png", "b_f.png": "b_f_f.png"}
    assert planned(plan_local(tmp_path / "in", FlipJob())) == expected
    assert planned(plan_remote(f"{BASE}/in", FlipJob())) == expected


def test_the_report_of_a_flip_beside_the_inputs_names_no_output_folder(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes()}, memory, tmp_path)
    batch = plan_remote(f"{BASE}/in", FlipJob())
    batch.json_path = tmp_path / "report.json"
    run(batch)
    report = json.loads(batch.json_path.read_text())
    assert (report["input"], report["output"]) == (f"{BASE}/in", f"{BASE}/in")
    assert report["settings"]["job"]["output_dir"] is None


def test_flip_beside_the_inputs_of_a_local_storage_reads_the_record_on_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(png_bytes())
    for outcome in (Outcome.CONVERTED, Outcome.ALREADY_DONE):
        [result] = run(plan_remote(f"file://{tmp_path}/in", FlipJob()))
        assert (result.output, result.outcome) == (f"file://{tmp_path}/in/a_f.png", outcome)
    assert sorted(os.listdir(tmp_path / "in")) == ["a.png", "a_f.png"]


def test_with_o_inside_the_input_an_unrecorded_file_there_is_kept_as_locally(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    files = {"in/a.png": png_bytes(), "in/out/a.webp": b"someone's own WebP"}
    lay_out(files, memory, tmp_path)
    expected = planned(plan_local(tmp_path / "in", compress_to(tmp_path / "in" / "out")))
    assert expected == {"a.png": "a.png.webp"}
    assert planned(plan_remote(f"{BASE}/in", compress_to(f"{BASE}/in/out"))) == expected


def test_a_local_folder_as_storage_runs_the_same_job(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "a.png").write_bytes(noise_png(4))
    batch = plan_remote(f"file://{tmp_path}/in", compress_to(f"file://{tmp_path}/out"))
    assert batch.job.names(batch.tasks[0]) == (
        f"file://{tmp_path}/in/sub/a.png",
        f"file://{tmp_path}/out/sub/a.webp",
    )
    [result] = run(batch)
    assert (result.input, result.output, result.outcome) == (
        f"file://{tmp_path}/in/sub/a.png",
        f"file://{tmp_path}/out/sub/a.webp",
        Outcome.CONVERTED,
    )
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "in/sub/a.png",
        "out/sub/a.webp",
    ]
    assert read_mark(tmp_path / "out" / "sub" / "a.webp") is not None
    [again] = run(plan_remote(f"file://{tmp_path}/in", compress_to(f"file://{tmp_path}/out")))
    assert again.outcome is Outcome.ALREADY_DONE  # the record on the file itself is read


def test_memory_storage_fails_each_file_in_any_other_process_than_the_planners(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes()}, memory, tmp_path)
    batch = plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"))
    elsewhere = dataclasses.replace(batch.job, planned_in=os.getpid() + 1)
    assert elsewhere(batch.tasks[0]) == FileResult(
        f"{BASE}/in/a.png",
        None,
        Outcome.FAILED,
        error="memory:// storage is private to one process: use -j 1 or worker threads",
    )
    assert not memory.exists(f"{BASE.removeprefix('memory://')}/out")
    local = RemoteJob(
        compress_to(REMOTE_OUT), Storage.of(tmp_path), Storage.of(tmp_path / "out"), planned_in=0
    )
    (tmp_path / "a.png").write_bytes(png_bytes())
    done = local(Task(REMOTE_IN / "a.png", Path("a.png"), REMOTE_OUT / "a.webp"))
    assert done.input == f"{tmp_path}/a.png" and done.outcome is not Outcome.FAILED


def test_a_file_over_max_bytes_fails_before_it_is_fetched(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    data = png_bytes()
    lay_out({"in/a.png": data}, memory, tmp_path)
    job = CompressJob(
        output_dir=f"{BASE}/out",  # type: ignore[arg-type]
        options=EncodeOptions(quality=60),
        max_bytes=len(data) - 1,
    )
    [result] = run(plan_remote(f"{BASE}/in", job))
    assert result == FileResult(
        f"{BASE}/in/a.png",
        None,
        Outcome.FAILED,
        error=f"{len(data)} bytes, more than --max-bytes ({len(data) - 1})",
    )
    assert not memory.exists(f"{BASE.removeprefix('memory://')}/out")


@pytest.mark.parametrize(
    ("refusal", "error"),
    [
        (PermissionError(13, "Access Denied"), "cannot read: Access Denied"),  # s3fs's mapping
        (PermissionError("no strerror"), "cannot read: no strerror"),
    ],
)
def test_a_store_that_refuses_the_read_fails_that_file_in_one_line(
    memory: fsspec.AbstractFileSystem,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refusal: PermissionError,
    error: str,
) -> None:
    lay_out({"in/a.png": png_bytes()}, memory, tmp_path)
    batch = plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise refusal

    monkeypatch.setattr(memory, "get_file", refuse)  # the store answers the read with a refusal
    [result] = run(batch)
    assert result == FileResult(f"{BASE}/in/a.png", None, Outcome.FAILED, error=error)
    assert not memory.exists(f"{BASE.removeprefix('memory://')}/out")


def test_a_file_gone_since_the_scan_is_reported_as_a_local_run_reports_it(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes()}, memory, tmp_path)
    remote = plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"))
    local = plan_local(tmp_path / "in", compress_to(tmp_path / "out"))
    memory.rm(f"{BASE.removeprefix('memory://')}/in/a.png")
    (tmp_path / "in" / "a.png").unlink()
    [gone] = run(remote)
    [local_gone] = run(local)
    assert (
        (gone.outcome, gone.output)
        == (local_gone.outcome, local_gone.output)
        == (
            Outcome.FAILED,
            None,
        )
    )
    assert gone.error == (local_gone.error or "").replace(str(tmp_path), BASE)


def test_a_name_matching_the_ignore_pattern_is_settled_with_its_listed_size(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes(), "in/skip_me.png": b"12345"}, memory, tmp_path)
    batch = plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"), ignore_filename_match="skip_*")
    assert batch.presettled == [
        FileResult(f"{BASE}/in/skip_me.png", None, Outcome.NAME_MATCH, bytes_before=5)
    ]
    assert [t.relative.as_posix() for t in batch.tasks] == ["a.png"]
    assert batch.command == "compress"
    assert batch.report_extra == {
        "input": f"{BASE}/in",
        "output": f"{BASE}/out",
        "replace": False,
        "options": dataclasses.asdict(EncodeOptions(quality=60)),
        "backend": "pillow",
    }


def test_files_are_planned_in_the_local_walks_order_and_outputs_inside_are_not_inputs(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    names = ["in/z.png", "in/b/a.png", "in/a/b/c.png", "in/a/a.png", "in/m.png"]
    lay_out({name: png_bytes() for name in names}, memory, tmp_path)
    memory.pipe(f"{BASE.removeprefix('memory://')}/in/out/old.png", png_bytes())
    batch = plan_remote(f"{BASE}/in", compress_to(f"{BASE}/in/out"))
    order = ["m.png", "z.png", "a/a.png", "a/b/c.png", "b/a.png"]
    assert [t.relative.as_posix() for t in batch.tasks] == order
    assert [t.source for t in batch.tasks] == [REMOTE_IN / name for name in order]
    assert _walk_order("a/b/c.png") == ((1, "a"), (1, "b"), (0, "c.png"))
    assert _walk_order("c.png") == ((0, "c.png"),)


def test_refusals_of_a_storage_plan_each_one_line_naming_the_folder(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    lay_out({"in/a.png": png_bytes(), "out/old.webp": b"old"}, memory, tmp_path)
    cases = [
        (
            ("memory://nowhere/in", compress_to(f"{BASE}/out")),
            "input directory memory://nowhere/in does not exist or is not a directory",
        ),
        (
            (f"{BASE}/in", compress_to(f"{BASE}/in")),
            f"the output folder is the input folder {BASE}/in: outputs would mix with the "
            "originals; choose another -o",
        ),
    ]
    for (root, job), message in cases:
        with pytest.raises(UsageError) as caught:
            plan_remote(root, job)
        assert str(caught.value) == message
    for output, message in (
        (BASE, f"--c refuses to delete {BASE}: it is a whole bucket"),
        (
            f"{BASE}/in",
            f"--c refuses to delete {BASE}/in: it is or contains the input folder {BASE}/in",
        ),
    ):
        with pytest.raises(UsageError) as caught:
            plan_remote(f"{BASE}/in", compress_to(output), clean=True)
        assert str(caught.value) == message
    assert sorted(objects(memory, "")) == ["in/a.png", "out/old.webp"]
    plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out/sub"), clean=True)  # nothing there yet
    plan_remote(f"{BASE}/in", compress_to(f"{BASE}/X"), clean=True)  # a folder, not a bucket
    plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"), clean=True)
    assert sorted(objects(memory, "")) == ["in/a.png"]


# --- the worker's side, piece by piece --------------------------------------------------------


def test_a_snapshot_holds_regular_files_but_not_temporaries_nor_links(tmp_path: Path) -> None:
    (tmp_path / f".b.png{TEMP_SUFFIX}").write_bytes(b"partial")  # first: listed before the rest
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"abc")
    (tmp_path / "link.png").symlink_to(tmp_path / "sub" / "a.png")
    for n in range(5):
        (tmp_path / f"c{n}.png").write_bytes(b"c" * n)
    files = [tmp_path / "sub" / "a.png", *(tmp_path / f"c{n}.png" for n in range(5))]
    assert _snapshot(tmp_path) == {
        path: (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns) for path in files
    }


def test_the_scratch_folder_is_the_threads_own_emptied_after_each_file() -> None:
    with _scratch() as first:
        assert first.name.startswith("lltd-remote-")
        assert {"in", "out"} <= set(os.listdir(first))
        (first / "in" / "scratch-test").mkdir()
        (first / "in" / "scratch-test" / "a.png").write_bytes(b"x")
        (first / "out" / "a.webp").write_bytes(b"y")
    # Files go, folders stay for the next file (the thread's earlier files may have left some).
    assert [p for p in first.rglob("*") if not p.is_dir()] == []
    assert (first / "in" / "scratch-test").is_dir()
    (first / "in" / "scratch-test").rmdir()
    with _scratch() as again:
        assert again == first
    shutil.rmtree(first)
    with _scratch() as fresh:
        assert fresh != first and sorted(os.listdir(fresh)) == ["in", "out"]


def test_the_scratch_folder_goes_at_exit_quietly_even_if_something_removed_it_first(
    tmp_path: Path,
) -> None:
    code = (
        "import shutil, sys; from lltd.cluster.remote import _scratch\n"
        "with _scratch() as kept, _scratch() as removed: pass\n"
        "print(kept)\n"
        "if sys.argv[1] == 'gone': shutil.rmtree(kept)  # as dask removes a worker's folder\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for case in ("kept", "gone"):
        done = subprocess.run(
            [sys.executable, "-c", code, case], capture_output=True, text=True, env=env
        )
        assert (done.returncode, done.stderr) == (0, "")
        assert Path(done.stdout.strip()).parent == tmp_path
        assert not Path(done.stdout.strip()).exists()
    assert list(tmp_path.iterdir()) == []


def test_outside_a_dask_worker_there_is_no_worker_folder() -> None:
    assert _worker_directory() is None


def test_in_a_dask_worker_the_scratch_folder_is_inside_the_workers_own() -> None:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    def where() -> tuple[str | None, str, str]:
        from distributed import get_worker

        with _scratch() as root:
            return _worker_directory(), get_worker().local_directory, str(root.parent)

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        found, expected, parent = client.submit(where, pure=False).result()
    assert found == expected == parent


def test_a_remote_job_and_its_mounts_are_values(tmp_path: Path) -> None:
    job = RemoteJob(compress_to(REMOTE_OUT), Storage("memory://b/in"), Storage("memory://b/out"))
    assert hash(job) == hash(dataclasses.replace(job))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.planned_in = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        mounts(tmp_path).local_in = tmp_path  # type: ignore[misc]


def mounts(tmp_path: Path) -> _Mounts:
    return _Mounts(
        tmp_path / "in", tmp_path / "out", Storage("memory://b/src/"), Storage("memory://b/dstX")
    )


def test_mounts_swap_the_stand_in_roots_for_this_workers_folders(tmp_path: Path) -> None:
    here = mounts(tmp_path)
    assert here.localize(REMOTE_IN / "a/b.png") == tmp_path / "in" / "a" / "b.png"
    assert here.localize(REMOTE_OUT / "c.webp") == tmp_path / "out" / "c.webp"
    assert here.localize(None) is None
    assert here.localize(Path("/elsewhere/x")) == Path("/elsewhere/x")
    assert here.remote(tmp_path / "in" / "a" / "b.png") == (here.source, "a/b.png")
    assert here.remote(tmp_path / "out" / "c.webp") == (here.destination, "c.webp")
    text = f"{tmp_path}/in/a.png: bad; see {tmp_path}/out/failed/a.png"
    assert here.to_url(text) == "memory://b/src/a.png: bad; see memory://b/dstX/failed/a.png"
    assert here.to_url(None) is None


def test_publish_uploads_what_changed_then_deletes_what_went(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    root = BASE.removeprefix("memory://")
    here = _Mounts(tmp_path / "in", tmp_path / "out", Storage(f"{BASE}/in"), Storage(f"{BASE}/out"))
    for name in ("in/a.png", "in/gone.png", "out/same.webp", "out/changed.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"before")
        memory.pipe(f"{root}/{name}", b"before")
    before = _snapshot(tmp_path)
    (tmp_path / "in" / "gone.png").unlink()
    (tmp_path / "out" / "changed.webp").write_bytes(b"after, longer")
    (tmp_path / "out" / "failed").mkdir()
    (tmp_path / "out" / "failed" / "a.png.error.txt").write_text(f"{tmp_path}/in/a.png: bad\n")
    memory.pipe(f"{root}/out/same.webp", b"left alone")
    here.publish(before, _snapshot(tmp_path))
    assert objects(memory, "") == {
        "in/a.png": b"before",
        "out/same.webp": b"left alone",  # unchanged here: not uploaded again
        "out/changed.webp": b"after, longer",
        "out/failed/a.png.error.txt": f"{BASE}/in/a.png: bad\n".encode(),
    }
