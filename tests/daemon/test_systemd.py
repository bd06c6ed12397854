"""The sd_notify client against a real AF_UNIX datagram socket, as systemd would see it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import trio

from gatewayd import config
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


# --- the shipped unit matches the daemon it starts -------------------------------------------

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"


def unit_settings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


UNIT = unit_settings(SYSTEMD_DIR / "gatewayd.service")


async def test_unit_is_notify_with_a_watchdog_and_no_restart_loop_on_bad_config():
    assert UNIT["Type"] == ["notify"]
    assert UNIT["NotifyAccess"] == ["main"]
    assert int(UNIT["WatchdogSec"][0]) > 0
    assert UNIT["Restart"] == ["on-failure"]
    assert UNIT["RestartPreventExitStatus"] == ["2"]  # gatewayd's exit code for a bad config
    assert UNIT["ExecStart"] == ["/usr/bin/gatewayd --config /etc/gatewayd/gatewayd.toml"]
    assert UNIT["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


async def test_unit_gives_the_drain_time_to_finish_before_sigkill():
    assert int(UNIT["TimeoutStopSec"][0]) >= config.Config().grace_s + 10


async def test_unit_directories_match_the_config_defaults():
    defaults = config.Config()
    assert defaults.state_dir == f"/var/lib/{UNIT['StateDirectory'][0]}"
    assert Path(defaults.control.socket).parent == Path("/run") / UNIT["RuntimeDirectory"][0]
    tmpfiles = (SYSTEMD_DIR / "gatewayd.tmpfiles.conf").read_text()
    for path in UNIT["ReadWritePaths"][0].split():
        if path.lstrip("-").startswith("/var/backups"):
            assert f"d      {path.lstrip('-')} " in tmpfiles  # created, so backups can go there


async def test_unit_user_comes_from_sysusers_and_can_open_modems():
    sysusers = (SYSTEMD_DIR / "gatewayd.sysusers.conf").read_text()
    assert UNIT["User"] == ["gatewayd"] and UNIT["Group"] == ["gatewayd"]
    assert "\nu gatewayd " in sysusers
    assert UNIT["SupplementaryGroups"] == ["dialout gatewayd-operators"]
    assert "\ng gatewayd-operators " in sysusers and "\nm gatewayd gatewayd-operators" in sysusers
    assert UNIT["PrivateDevices"] == ["no"] and UNIT["DevicePolicy"] == ["closed"]
    assert {"char-ttyUSB rw", "char-ttyACM rw"} <= set(UNIT["DeviceAllow"])


async def test_state_and_secrets_are_private_and_operators_get_only_the_socket():
    assert UNIT["StateDirectoryMode"] == ["0700"] and UNIT["RuntimeDirectoryMode"] == ["0750"]
    tmpfiles = (SYSTEMD_DIR / "gatewayd.tmpfiles.conf").read_text()
    assert "d      /var/lib/gatewayd      0700 gatewayd gatewayd" in tmpfiles
    assert "d      /etc/gatewayd          0750 root     gatewayd" in tmpfiles   # group gatewayd: the daemon only
    sysusers = (SYSTEMD_DIR / "gatewayd.sysusers.conf").read_text()
    members = [line.split()[2] for line in sysusers.splitlines() if line.startswith("m gatewayd ")]
    assert "gatewayd" not in members    # nobody else is put in the daemon's own group
    assert "@chown" in UNIT["SystemCallFilter"]   # the daemon hands the socket to the operators' group


async def test_unit_bounds_memory_tasks_and_files():
    assert UNIT["MemoryMax"] == ["1G"] and UNIT["TasksMax"] == ["256"] and UNIT["LimitNOFILE"] == ["4096"]
    cap = config.Config().control
    assert cap.max_connections * cap.max_line_bytes < 1024 ** 3 // 4   # the socket alone cannot reach it


async def test_unit_is_sandboxed():
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "CapabilityBoundingSet": "", "UMask": "0077", "SystemCallArchitectures": "native",
        "MemoryDenyWriteExecute": "yes", "RestrictNamespaces": "yes",
    }.items():
        assert UNIT[key] == [value], key
    assert UNIT["RestrictAddressFamilies"][0].split() == ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
async def test_systemd_accepts_the_unit(tmp_path):
    unit = tmp_path / "gatewayd.service"
    # verify insists that ExecStart exists; the real binary is not installed at /usr/bin here
    unit.write_text((SYSTEMD_DIR / "gatewayd.service").read_text().replace("/usr/bin/gatewayd", "/bin/true"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # unknown keys and unparsable values are only warnings ("..., ignoring"): none allowed
    assert str(unit) not in result.stderr, result.stderr
