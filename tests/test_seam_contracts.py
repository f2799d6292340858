"""The fault-injection seam of the file layer (:mod:`lltd.fs.seam`), in-process: a hook installed
is called with each step's arguments, removed it is not, and ``LLTD_FS_SEAM`` loads a test's
file once per process (test_fs_attacks.py uses it in subprocesses)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from lltd.fs import seam


@pytest.fixture(autouse=True)
def fresh_seam(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(seam, "_hook", None)
    monkeypatch.setattr(seam, "_loaded", False)
    monkeypatch.delenv("LLTD_FS_SEAM", raising=False)
    yield


def test_the_steps_in_the_order_a_conversion_meets_them() -> None:
    assert seam.STEPS == ("open", "read", "publish", "remove")


def test_an_installed_hook_gets_each_step_its_folder_and_name() -> None:
    calls: list[tuple[str, int, str]] = []
    seam.install(lambda *args: calls.append(args))
    seam.reached("open", 7, "a b'c.png")
    seam.reached("publish", 8, "x.webp")
    assert calls == [("open", 7, "a b'c.png"), ("publish", 8, "x.webp")]
    seam.install(None)
    seam.reached("remove", 9, "y")
    assert calls == [("open", 7, "a b'c.png"), ("publish", 8, "x.webp")]


def test_without_the_variable_nothing_runs_and_the_lookup_is_done_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seam.reached("open", 3, "a")
    assert seam._loaded is True and seam._hook is None
    # Set afterwards: the process already decided (as at start-up, once).
    script = tmp_path / "seam.py"
    script.write_text("def seam(step, fd, name):\n    raise AssertionError(step)\n")
    monkeypatch.setenv("LLTD_FS_SEAM", str(script))
    seam.reached("read", 3, "a")


def test_the_variable_names_a_file_whose_seam_runs_at_each_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    script = tmp_path / "seam.py"
    script.write_text(
        "import pathlib\n"
        f"LOG = pathlib.Path({str(log)!r})\n"
        "def seam(step, fd, name):\n"
        "    with LOG.open('a') as out:\n"
        "        out.write(f'{__name__} {step} {fd} {name}\\n')\n"
    )
    monkeypatch.setenv("LLTD_FS_SEAM", str(script))
    seam.reached("open", 5, "in.png")
    seam.reached("remove", 6, "in.png")
    assert log.read_text() == "lltd_fs_seam open 5 in.png\nlltd_fs_seam remove 6 in.png\n"
    assert seam._loaded is True


def test_an_empty_variable_is_no_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLTD_FS_SEAM", "")
    seam.reached("open", 1, "a")
    assert seam._hook is None and seam._loaded is True


def test_an_installed_hook_is_not_replaced_by_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "seam.py"
    script.write_text("def seam(step, fd, name):\n    raise AssertionError('file')\n")
    monkeypatch.setenv("LLTD_FS_SEAM", str(script))
    calls: list[str] = []
    seam.install(lambda step, fd, name: calls.append(step))
    seam.reached("read", 1, "a")
    assert calls == ["read"]


def test_a_fresh_process_reads_the_variable_at_its_first_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    script = tmp_path / "seam.py"
    script.write_text(
        f"def seam(step, fd, name):\n    open({str(log)!r}, 'a').write(step + '\\n')\n"
    )
    monkeypatch.setenv("LLTD_FS_SEAM", str(script))
    importlib.reload(seam)  # the module as a new process first imports it
    seam.reached("open", 1, "a")
    assert log.read_text() == "open\n"


def test_a_fresh_process_without_the_variable_runs_no_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    importlib.reload(seam)
    assert seam._hook is None and seam._loaded is False
    seam.reached("open", 1, "a")  # no hook: nothing to call
    assert seam._hook is None and seam._loaded is True
