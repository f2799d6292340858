"""sd_notify(3) without libsystemd: datagrams to ``$NOTIFY_SOCKET``.

``READY=1`` once watching, ``STATUS=`` with the counters, ``WATCHDOG=1`` every half
``$WATCHDOG_USEC``, ``STOPPING=1`` on the way out. Outside systemd every call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Notifier:
        """Read and remove the variables, so worker processes cannot notify in our name."""
        env = os.environ if environ is None else environ
        address = env.pop("NOTIFY_SOCKET", None) or None
        usec_text = env.pop("WATCHDOG_USEC", None)
        pid_text = env.pop("WATCHDOG_PID", None)
        usec: int | None = None
        if usec_text and usec_text.isdigit() and int(usec_text) > 0:
            usec = int(usec_text)
        # The watchdog is ours only if WATCHDOG_PID is unset or names this process.
        if pid_text and pid_text.strip() != str(os.getpid()):
            usec = None
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` keep-alives (half the timeout, as systemd advises)."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def _target(self) -> str | bytes:
        assert self.address is not None
        if self.address.startswith("@"):  # abstract namespace
            return b"\0" + self.address[1:].encode()
        return self.address

    def send(self, *fields: str, wait: float = 0.0) -> bool:
        """Send ``fields`` as one datagram (newline-separated); False if it could not go out.

        A receiver that does not read fills the socket; we then wait at most ``wait`` seconds
        (none for STATUS= and WATCHDOG=1): the daemon's main loop must never hang on it.
        """
        if self.address is None:
            return False
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._socket.settimeout(wait)
            self._socket.sendto("\n".join(fields).encode(), self._target())
        except OSError:  # TimeoutError and BlockingIOError included
            return False  # systemd gone, restarting or not reading: notifications are best effort
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []), wait=5.0)

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []), wait=5.0)

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
