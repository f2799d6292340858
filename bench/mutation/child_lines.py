"""lines.py's tracer in the processes a test starts: which lines of the one module they ran.

Run at start-up by the suite's ``sitecustomize`` (tests/guard) when ``LLTD_LINES_CHILD`` names this
file, which lines.py sets only while it makes a line map. The test that started the process is
``LLTD_LINES_TEST`` (inherited; empty outside a test's call). Each process leaves two files in
``LLTD_LINES_CHILD_DIR``: ``TEST.PID.start`` as it starts and ``TEST.PID.json`` (the lines) as it
exits (``os._exit`` included). A process that never writes the second (killed by a signal)
makes lines.py keep its test among those that run for every mutant: a trace is
used only when it is complete.
"""

import atexit
import json
import os
import sys
import threading

_TARGET = os.path.realpath(os.environ.get("LLTD_LINES_MODULE", ""))
_TAIL = os.path.basename(_TARGET)
_FOLDER = os.environ.get("LLTD_LINES_CHILD_DIR", "")
_TEST = os.environ.get("LLTD_LINES_TEST", "") or "-"
_lines: set[int] = set()


def _line(frame, event, arg):  # type: ignore[no-untyped-def]
    if event == "line":
        _lines.add(frame.f_lineno)
    return _line


def _call(frame, event, arg):  # type: ignore[no-untyped-def]
    name = frame.f_code.co_filename
    if name == _TARGET or (name.endswith(_TAIL) and os.path.realpath(name) == _TARGET):
        _lines.add(frame.f_lineno)
        return _line
    return None


def _stem() -> str:
    return os.path.join(_FOLDER, f"{_TEST}.{os.getpid()}")


def _started() -> None:
    with open(_stem() + ".start", "w"):
        pass


def _finished() -> None:
    sys.settrace(None)
    part = _stem() + ".part"
    with open(part, "w") as stream:
        json.dump(sorted(_lines), stream)
    os.replace(part, _stem() + ".json")


_real_exit = os._exit


def _exit(status: int) -> None:
    # lltd leaves a finished batch by os._exit (cli._exit_now), and so does a forked worker
    # (multiprocessing's fork and forkserver): both would skip atexit.
    try:
        _finished()
    finally:
        _real_exit(status)


def _forked() -> None:
    _lines.clear()  # the child's own record from here on (the parent writes its own)
    _started()


if _TARGET and _FOLDER:
    _started()
    atexit.register(_finished)
    os._exit = _exit
    os.register_at_fork(after_in_child=_forked)
    threading.settrace(_call)
    sys.settrace(_call)
