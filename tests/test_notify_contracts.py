"""sd_notify's contracts (issue 27), on a real datagram socket: the exact datagrams, which
values of ``$WATCHDOG_USEC`` enable the watchdog, how long each message may wait for a full
socket, and a close that frees the socket and can be repeated."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lltd.watch.notify import Notifier


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify.sock")
    sock.bind(address)
    sock.settimeout(60)  # a datagram already sent is there at once; this bound is never reached
    try:
        yield sock, address
    finally:
        sock.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_ready_and_stopping_carry_their_status_in_the_same_datagram(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, address = receiver
    notifier = Notifier(address)
    assert notifier.ready("processed 0")
    assert notifier.ready()
    assert notifier.stopping("stopping: 2 in flight")
    assert notifier.stopping()
    notifier.close()
    assert [sock.recv(4096) for _ in range(4)] == [
        b"READY=1\nSTATUS=processed 0",
        b"READY=1",
        b"STOPPING=1\nSTATUS=stopping: 2 in flight",
        b"STOPPING=1",
    ]


@pytest.mark.parametrize(
    ("usec", "interval"),
    [
        ("1", 0.0000005),  # the smallest timeout systemd can set still enables the watchdog
        ("2000000", 1.0),
        ("0", None),  # 0: no watchdog
        ("-5", None),
        ("3s", None),
        ("", None),
    ],
)
def test_watchdog_usec_enables_keep_alives_every_half_timeout_only_when_positive(
    usec: str, interval: float | None
) -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": usec}
    notifier = Notifier.from_environment(env)
    assert notifier.watchdog_interval == interval
    assert env == {}


def test_a_watchdog_pid_with_spaces_around_our_pid_is_ours() -> None:
    env = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": f" {os.getpid()}\n"}
    assert Notifier.from_environment(env).watchdog_interval == 2.0


def test_ready_and_stopping_may_wait_5_s_for_room_status_and_watchdog_never_wait(
    receiver: tuple[socket.socket, str],
) -> None:
    """The wait each message is sent with, read back from the socket that sent it (timing it
    would take seconds per test and prove less)."""
    sock, address = receiver
    notifier = Notifier(address)
    waits = []
    for send in (
        lambda: notifier.ready("x"),
        lambda: notifier.status("x"),
        notifier.watchdog,
        lambda: notifier.stopping("x"),
    ):
        assert send() and notifier._socket is not None
        waits.append(notifier._socket.gettimeout())  # as the datagram just sent went out
    notifier.close()
    assert [sock.recv(4096) for _ in range(4)] == [
        b"READY=1\nSTATUS=x",
        b"STATUS=x",
        b"WATCHDOG=1",
        b"STOPPING=1\nSTATUS=x",
    ]
    assert waits == [5.0, 0.0, 0.0, 5.0]


def test_close_frees_the_socket_and_may_be_repeated_and_a_send_after_it_reopens(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, address = receiver
    notifier = Notifier(address)
    notifier.close()  # never sent: nothing to close
    before = open_descriptors()
    assert notifier.status("one")
    assert open_descriptors() == before + 1
    notifier.close()
    assert open_descriptors() == before
    notifier.close()
    assert notifier.status("two")  # a notifier closed early still works if used again
    notifier.close()
    assert open_descriptors() == before
    assert [sock.recv(4096), sock.recv(4096)] == [b"STATUS=one", b"STATUS=two"]


def test_outside_systemd_nothing_is_sent_and_no_socket_is_opened() -> None:
    notifier = Notifier.from_environment({"WATCHDOG_USEC": "2000000"})
    before = open_descriptors()
    assert notifier.address is None and not notifier.enabled
    assert not notifier.ready("x") and not notifier.status("x") and not notifier.watchdog()
    assert not notifier.stopping("x")
    assert open_descriptors() == before
    notifier.close()
