"""A warm pytest for mutmut: one process imports the heavy third-party modules once, then forks a
child per mutant that runs ``pytest.main`` and imports lltd and the tests fresh.

    python forkserver.py serve SOCKET MODULE... [-- PYTEST-ARGS]   # the server (one per module)
    python -I -S forkserver.py SOCKET PYTEST-ARGS # the client: mutmut's test command

Each mutant otherwise pays a Python start-up twice (the strict wrapper, then pytest) and imports
pytest, its plugins, NumPy, Pillow and Hypothesis again. The client sends its working folder and
arguments over a Unix socket, with its stdout and stderr descriptors (the child writes straight to
mutmut's terminal); the child runs in its own process group, which is killed when the client goes
away (mutmut's timeout kills the client). The exit status keeps run.py's strict rule: 0 when
pytest passed, else 1 (a signal, an import error, a usage error: all count as "killed").

The server never imports lltd nor anything under the scratch copy, so what a child imports is the
file mutmut has just written (bytecode is off: a same-size mutant written within the same second
must not be served from a stale .pyc).
"""

from __future__ import annotations

import array
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request (a length, then JSON) and the descriptors that came with its first bytes."""
    fds = array.array("i")
    data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(2 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[:8], "big"):
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("the client left mid-request")
        data += more
    return json.loads(data[8:]), list(fds)


def _child(request: dict, fds: list[int]) -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in zip((1, 2), fds, strict=False):
        os.dup2(fd, target)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]
    sys.dont_write_bytecode = True
    sys.argv = ["pytest", *request["args"]]
    status = 1
    try:
        import pytest

        status = 0 if pytest.main(request["args"]) == 0 else 1
    except BaseException:
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _serve_one(server: socket.socket, conn: socket.socket) -> None:
    request, fds = _recv_request(conn)
    pid = os.fork()
    if pid == 0:
        conn.close()
        server.close()
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    with os.fdopen(os.pidfd_open(pid), "rb", buffering=0) as pidfd:
        while True:  # the child's end, or the client's (mutmut's timeout): whichever first
            ready, _, _ = select.select([pidfd, conn], [], [])
            if pidfd in ready:
                break
            if not conn.recv(1):
                os.killpg(pid, signal.SIGKILL)
                break
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # what the tests left running in the child's group
    with contextlib.suppress(OSError):
        conn.sendall(b"0" if os.waitstatus_to_exitcode(status) == 0 else b"1")


#: Never preloaded: lltd and the tests (they must be imported fresh), and libraries that start
#: threads or hold devices at import (a fork copies a process with one thread only). torch (CPU)
#: is preloaded: its import starts no thread beyond numpy's BLAS one (2 before, 2 after, counted
#: in /proc/self/task) and it forks as DataLoader's workers do; its import was most of each
#: mutant's time in the evaluate rows (about a minute at load 25).
_NEVER = ("lltd", "tests", "conftest", "__main__", "dask", "distributed", "matplotlib")


def learned(args: list[str]) -> list[str]:
    """The modules a collection of ``args`` imports from outside this folder (run in a child
    that is thrown away): the third-party part of what every mutant's pytest imports."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        try:
            import pytest

            pytest.main(["--collect-only", "-q", *args])
            here = os.getcwd() + os.sep
            names = [
                name
                for name, module in list(sys.modules.items())
                if not (getattr(module, "__file__", None) or "").startswith(here)
                and name.split(".")[0] not in _NEVER
            ]
            os.write(write, json.dumps(names).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        data = stream.read()
    os.waitpid(pid, 0)
    return json.loads(data or b"[]")


def serve(path: str, preload: list[str], probe: list[str]) -> None:
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    for name in preload + (learned(probe) if probe else []):
        with contextlib.suppress(Exception):  # a module that fails to import twice: left out
            importlib.import_module(name)
    if any(m == "lltd" or m.startswith("lltd.") for m in sys.modules):
        raise SystemExit("forkserver: a preloaded module imported lltd; it must not")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            with conn, contextlib.suppress(ConnectionError):
                _serve_one(server, conn)


def client(path: str, args: list[str]) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        request = json.dumps({"cwd": os.getcwd(), "args": args}).encode()
        fds = array.array("i", [1, 2])
        framed = len(request).to_bytes(8, "big") + request
        sent = conn.sendmsg([framed], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        conn.sendall(framed[sent:])
        answer = conn.recv(1)
    return 0 if answer == b"0" else 1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        rest = sys.argv[3:]
        split = rest.index("--") if "--" in rest else len(rest)
        serve(sys.argv[2], rest[:split], rest[split + 1 :])
    else:
        sys.exit(client(sys.argv[1], sys.argv[2:]))
