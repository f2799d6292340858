"""Deletion guard for every Python process the test suite starts.

conftest.py puts this folder first on ``PYTHONPATH`` and names the folders a test may delete in
``LLTD_TEST_DELETABLE``; Python imports ``sitecustomize`` at start-up, so each ``lltd`` process the
tests run (and its worker processes, forked or spawned) refuses to delete anything elsewhere. A
broken safety check in lltd (``--c -o /``, ``--r`` on the wrong folder) then fails its test with
"lltd test guard" instead of destroying a home folder or the checkout. Without the variable this
module does nothing, so it never changes how lltd behaves outside the suite.
"""

from __future__ import annotations

import os
import shutil


def roots() -> list[str]:
    variable = os.environ.get("LLTD_TEST_DELETABLE", "")
    return [os.path.realpath(root) for root in variable.split(os.pathsep) if root]


def deletable(path: object) -> bool:
    """True when ``path`` (the entry itself, not what a link leads to) lies in an allowed root."""
    text = os.fsdecode(os.fspath(path))  # type: ignore[arg-type]
    folder, name = os.path.split(os.path.abspath(text))
    real = os.path.join(os.path.realpath(folder), name)
    return any(real == root or real.startswith(root + os.sep) for root in roots())


def _guard(real, what: str, *, single: bool):  # type: ignore[no-untyped-def]
    def guarded(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A name relative to dir_fd (rmtree's own walk, lltd's file layer) is judged in the
        # folder that descriptor holds, as /proc names it.
        judged = path
        dir_fd = kwargs.get("dir_fd")
        if dir_fd is not None:
            try:
                judged = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), os.fspath(path))
            except OSError:  # no /proc: judged by the call that opened the folder
                return real(path, *args, **kwargs)
        exists = os.path.lexists(judged) if single else True
        if exists and not deletable(judged):
            raise PermissionError(f"lltd test guard: refused {what}({os.fspath(judged)!r})")
        return real(path, *args, **kwargs)

    guarded.__wrapped__ = real  # type: ignore[attr-defined]
    return guarded


def install(*, files: bool = True) -> None:
    if not roots() or hasattr(shutil.rmtree, "__wrapped__"):
        return
    shutil.rmtree = _guard(shutil.rmtree, "rmtree", single=False)
    if files:
        for name in ("unlink", "remove", "rmdir"):
            setattr(os, name, _guard(getattr(os, name), name, single=True))


def trace_lines() -> None:
    """bench/mutation/lines.py's line tracer (child_lines.py), only while it makes a line map:
    it names the tracer in ``LLTD_LINES_CHILD``, so the lines a test's processes run count."""
    tracer = os.environ.get("LLTD_LINES_CHILD")
    if tracer:
        import runpy

        runpy.run_path(tracer, run_name="lltd_child_lines")


if __name__ == "sitecustomize":  # started by Python, not imported by conftest
    install()
    trace_lines()
