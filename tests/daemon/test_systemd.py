"""The sd_notify client against a real AF_UNIX datagram socket, as systemd would see it."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest
import trio

from gatewayd.systemd import Notifier, watchdog_pinger

pytestmark = pytest.mark.trio


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.setblocking(False)
    yield path, sock
    sock.close()


def drain(sock: socket.socket) -> list[str]:
    """Every datagram received so far, one string per datagram."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def test_ready_and_status_arrive_in_one_datagram(listener):
    path, sock = listener
    n = Notifier(path)
    n.ready("2 links up")
    assert drain(sock) == ["READY=1\nSTATUS=2 links up"]


async def test_each_call_is_one_datagram_with_the_right_content(listener):
    path, sock = listener
    n = Notifier(path)
    n.stopping()
    n.watchdog()
    n.status("draining 3 submits")
    n.reloading()
    got = drain(sock)
    assert got[:3] == ["STOPPING=1", "WATCHDOG=1", "STATUS=draining 3 submits"]
    lines = got[3].split("\n")
    assert lines[0] == "RELOADING=1"
    key, value = lines[1].split("=")
    assert key == "MONOTONIC_USEC"
    assert abs(int(value) - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 5_000_000


async def test_extend_timeout_asks_for_more_time_in_microseconds(listener):
    path, sock = listener
    Notifier(path).extend_timeout(120)
    assert drain(sock) == ["EXTEND_TIMEOUT_USEC=120000000"]


async def test_notify_socket_taken_from_environment(listener):
    path, sock = listener
    Notifier(environ={"NOTIFY_SOCKET": path}).ready()
    assert drain(sock) == ["READY=1"]


async def test_abstract_namespace_socket():
    name = f"gatewayd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.setblocking(False)
    try:
        Notifier("@" + name).ready()
        assert drain(sock) == ["READY=1"]
    finally:
        sock.close()


async def test_without_notify_socket_everything_is_a_noop():
    n = Notifier(environ={"WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    n.ready("x")
    n.stopping()
    n.watchdog()
    assert n.watchdog_interval() is None


async def test_vanished_socket_does_not_crash_the_daemon(tmp_path, caplog):
    n = Notifier(str(tmp_path / "gone.sock"))
    n.ready()
    n.watchdog()
    assert sum("cannot notify systemd" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "bogus"}, None),
        ({}, None),
    ],
)
async def test_watchdog_interval_is_half_of_watchdog_usec(env, expected):
    n = Notifier(environ={"NOTIFY_SOCKET": "/nonexistent", **env})
    assert n.watchdog_interval() == expected


async def test_pinger_pings_at_half_the_watchdog_deadline(listener, autojump_clock):
    path, sock = listener
    n = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})  # 4 s -> ping every 2 s
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog_pinger, n)
        start = trio.current_time()
        await trio.sleep(9)
        nursery.cancel_scope.cancel()
    # pings at t = 0, 2, 4, 6, 8
    assert drain(sock) == ["WATCHDOG=1"] * 5
    assert trio.current_time() - start == pytest.approx(9)


async def test_pinger_withholds_pings_while_unhealthy(listener, autojump_clock):
    path, sock = listener
    n = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})  # ping every 1 s
    healthy = True
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog_pinger, n, lambda: healthy)
        await trio.sleep(2.5)  # pings at 0, 1, 2
        assert len(drain(sock)) == 3
        healthy = False
        await trio.sleep(5)  # a wedged component: systemd must see silence
        assert drain(sock) == []
        healthy = True
        await trio.sleep(1)
        assert drain(sock) == ["WATCHDOG=1"]
        nursery.cancel_scope.cancel()


async def test_pinger_returns_at_once_without_watchdog(listener):
    path, sock = listener
    n = Notifier(environ={"NOTIFY_SOCKET": path})
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            await nursery.start(watchdog_pinger, n)
    assert drain(sock) == []
