"""``lltd watch --shared``: several daemons on one drop folder, each file claimed by exactly one,
and the claims of a daemon that dies (SIGKILL) or stops answering (SIGSTOP) taken over."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from test_watch_daemon import Watch, decoded, defended_pixels, png_bytes
from waiting import wait_until


def shared_watch(tmp: Path, inp: Path, out: Path, *extra: str) -> Watch:
    return Watch(
        tmp, inp, "-o", out, "--shared", "--claim-timeout", "2", "-j", "1",
        "--settle", "100", "--on-success", "move", "--stop-timeout", "10", *extra,
    )  # fmt: skip


def done_files(inp: Path) -> list[Path]:
    return sorted((inp / ".lltd" / "done").rglob("*.png"))


def claimed_files(inp: Path) -> list[Path]:
    claims = inp / ".lltd" / "claims"
    return [p for p in claims.rglob("*") if p.is_file() and p.name != ".alive"]


def claims_of(inp: Path, pid: int) -> list[Path]:
    """The files a daemon holds (its claim folder is HOST-PID)."""
    return [
        path
        for folder in (inp / ".lltd" / "claims").glob(f"*-{pid}")
        for path in folder.rglob("*")
        if path.is_file() and path.name != ".alive"
    ]


def check_exactly_once(inp: Path, out: Path, inputs: dict[str, bytes]) -> None:
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == sorted(inputs)
    assert sorted(p.relative_to(inp / ".lltd" / "done").as_posix() for p in done_files(inp)) == (
        sorted(inputs)
    )  # one done input per input: no name.1.png duplicates
    for name, data in inputs.items():
        assert np.array_equal(decoded(out / name), defended_pixels(data)), name
    assert claimed_files(inp) == []
    assert not [p for p in inp.rglob("*.png") if ".lltd" not in p.parts]


def test_shared_daemons_split_a_burst_and_survive_sigkill_and_sigstop(tmp_path: Path) -> None:
    inp, out, staging = tmp_path / "in", tmp_path / "out", tmp_path / "staging"
    for folder in (inp, staging / "sub"):
        folder.mkdir(parents=True)
    inputs = {f"f{i:03}.png" if i % 4 else f"sub/f{i:03}.png": png_bytes(i, 240) for i in range(48)}
    for name, data in inputs.items():
        (staging / name).write_bytes(data)
    daemons = [shared_watch(tmp_path, inp, out) for _ in range(3)]
    victim, sleeper, survivor = daemons
    try:
        for watch in daemons:
            watch.wait_ready()
        (inp / "sub").mkdir()
        for name in inputs:
            os.rename(staging / name, inp / name)
        wait_until(lambda: claims_of(inp, victim.process.pid), 60, "the victim to hold a claim")
        victim.process.send_signal(signal.SIGKILL)  # mid-burst, its claims in flight
        victim.process.wait(10)
        orphaned = bool(claims_of(inp, victim.process.pid))  # unless its worker just finished
        wait_until(lambda: claims_of(inp, sleeper.process.pid), 60, "the sleeper to hold a claim")
        sleeper.process.send_signal(signal.SIGSTOP)  # alive but silent: taken over by timeout
        try:
            wait_until(lambda: len(done_files(inp)) == len(inputs), 120, "every file done")
        except AssertionError as exc:
            left = sorted(str(p.relative_to(inp)) for p in inp.rglob("*.png"))
            logs = "\n".join(w.stdout[-2000:] + w.stderr[-2000:] for w in daemons)
            raise AssertionError(f"{exc}; left: {left}\n{logs}") from None
        sleeper.process.send_signal(signal.SIGCONT)
        wait_until(lambda: claimed_files(inp) == [], 30, "no claims left")
    finally:
        for watch in daemons:
            if watch.process.poll() is None:
                watch.process.send_signal(signal.SIGCONT)
        assert survivor.stop() == 0
        assert sleeper.stop() == 0
        victim.kill()
    check_exactly_once(inp, out, inputs)
    if orphaned:
        assert "took over" in survivor.stderr + sleeper.stderr


def test_shared_and_exclusive_daemons_exclude_each_other(tmp_path: Path, run_lltd) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    first = shared_watch(tmp_path, inp, out)
    try:
        first.wait_ready()
        second = shared_watch(tmp_path, inp, out)  # another shared daemon is welcome
        try:
            second.wait_ready()
            (inp / "bad.png").write_bytes(b"not an image")
            reason = out / "failed" / "bad.png.error.txt"
            # The input is set aside last, once its .error.txt is final.
            wait_until((inp / ".lltd" / "failed" / "bad.png").exists, 30, "the failure")
            # Named as uploaded, not by the claim folder it was processed from.
            assert reason.read_text().startswith(f"{inp.resolve() / 'bad.png'}: ")
            refused = run_lltd("watch", inp, "-o", out)
            assert refused.returncode == 2
            assert "--shared" in refused.stderr and "Traceback" not in refused.stderr
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0
    exclusive = Watch(tmp_path, inp, "-o", out)
    try:
        exclusive.wait_ready()
        refused = run_lltd("watch", inp, "-o", out, "--shared")
        assert refused.returncode == 2
        assert "already running without --shared" in refused.stderr
    finally:
        assert exclusive.stop() == 0


@pytest.mark.parametrize("args", [("--on-success", "keep"), ("--claim-timeout", "0")])
def test_shared_usage_errors(tmp_path: Path, run_lltd, args: tuple[str, ...]) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    result = run_lltd("watch", inp, "-o", tmp_path / "out", "--shared", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("lltd: error:") or "Usage" in result.stderr
