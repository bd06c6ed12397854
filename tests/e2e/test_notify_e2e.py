"""The real gatewayd process under a fake systemd: the notify sequence systemd relies on.

We bind the datagram socket systemd would (NOTIFY_SOCKET), start `gatewayd` as the unit does,
and check what `systemctl start/reload/stop` depend on: READY=1 only once the control socket
answers, watchdog pings, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 and exit 0 on SIGTERM,
and exit code 2 with the key path for a bad configuration (RestartPreventExitStatus=2).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import pytest
import trio

pytestmark = [pytest.mark.trio, pytest.mark.e2e]

GATEWAYD = shutil.which("gatewayd", path=str(Path(sys.executable).parent)) or "gatewayd"

CONFIG = """
[[links]]
name = "sim"
kind = "sim"
dlr_delay_s = 0.1

[[numbers]]
address = "+12025550100"
links = ["sim"]

[access]
admins = [{user!r}]

[metrics]
textfile = {textfile!r}
interval_s = 0.2
"""


class FakeSystemd:
    """The notify socket: collects datagrams, one list of lines per datagram."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.seen: list[list[str]] = []

    async def bind(self) -> None:
        await self.sock.bind(str(self.path))

    async def expect(self, line: str, timeout: float = 15.0) -> list[str]:
        """The next datagram containing ``line`` (earlier ones are kept in ``seen``)."""
        with trio.fail_after(timeout):
            while True:
                msg = (await self.sock.recv(4096)).decode().split("\n")
                self.seen.append(msg)
                if line in msg:
                    return msg


@pytest.fixture
async def fake_systemd(tmp_path):
    fake = FakeSystemd(tmp_path / "notify")
    await fake.bind()
    yield fake
    fake.sock.close()


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gatewayd.toml"
    path.write_text(CONFIG.format(user=getpass.getuser(), textfile=str(tmp_path / "gatewayd.prom")))
    return path


async def start_gatewayd(tmp_path: Path, env: dict[str, str]) -> trio.Process:
    cfg = write_config(tmp_path)
    cmd = [GATEWAYD, "--config", str(cfg), "--state-dir", str(tmp_path / "state"), "--socket", str(tmp_path / "ctl")]
    full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    full_env.update(env)
    stderr = open(tmp_path / "stderr.log", "wb")  # a file, not a pipe: a chatty daemon never blocks
    try:
        return await trio.lowlevel.open_process(cmd, env=full_env, stderr=stderr, stdout=stderr)
    finally:
        stderr.close()


async def stop(proc: trio.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def control_request(path: Path, request: dict) -> dict:
    with trio.fail_after(5):
        stream = await trio.open_unix_socket(str(path))
        async with stream:
            await stream.send_all(json.dumps(request).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = await stream.receive_some(65536)
                assert chunk, "daemon closed the control connection"
                buf += chunk
            return json.loads(buf.split(b"\n", 1)[0])


async def test_ready_watchdog_reload_and_stop(tmp_path, fake_systemd):
    proc = await start_gatewayd(tmp_path, {"NOTIFY_SOCKET": str(fake_systemd.path), "WATCHDOG_USEC": "400000"})
    try:
        ready = await fake_systemd.expect("READY=1")
        # systemctl start returns now: the socket must already serve requests
        reply = await control_request(tmp_path / "ctl", {"op": "status", "id": 1})
        assert reply["ok"], reply
        assert [link["name"] for link in reply["result"]["links"]] == ["sim"]
        assert any(line.startswith("STATUS=") for line in ready)
        # metrics textfile written before READY
        assert b"gatewayd_queue_depth" in (tmp_path / "gatewayd.prom").read_bytes()

        # WATCHDOG_USEC=0.4 s: pings every 0.2 s
        for _ in range(3):
            assert await fake_systemd.expect("WATCHDOG=1", timeout=5) == ["WATCHDOG=1"]

        proc.send_signal(signal.SIGHUP)
        reloading = await fake_systemd.expect("RELOADING=1")
        assert any(line.startswith("MONOTONIC_USEC=") for line in reloading)
        await fake_systemd.expect("READY=1")  # reload finished

        proc.send_signal(signal.SIGTERM)
        await fake_systemd.expect("STOPPING=1")
        with trio.fail_after(20):
            assert await proc.wait() == 0
        assert not (tmp_path / "ctl").exists()  # the socket is removed on a clean stop
    finally:
        await stop(proc)
        print((tmp_path / "stderr.log").read_text(errors="replace"))


async def test_no_watchdog_pings_unless_systemd_asks(tmp_path, fake_systemd):
    proc = await start_gatewayd(tmp_path, {"NOTIFY_SOCKET": str(fake_systemd.path)})
    try:
        await fake_systemd.expect("READY=1")
        # round-trip a request so the daemon has run its loop well past a would-be ping
        assert (await control_request(tmp_path / "ctl", {"op": "status"}))["ok"]
        proc.send_signal(signal.SIGTERM)
        await fake_systemd.expect("STOPPING=1")
        with trio.fail_after(20):
            assert await proc.wait() == 0
        assert not any("WATCHDOG=1" in msg for msg in fake_systemd.seen)
    finally:
        await stop(proc)


@pytest.mark.parametrize(
    ("toml", "key_path"),
    [
        ('[[links]]\nname = "sim"\nkind = "sim"\nwindow = 0\n', "links[0].window"),
        ('[queue]\ncrash_polcy = "resend"\n', "queue.crash_polcy"),
        ('[[links]]\nname = "sim"\nkind = "sim"\n[[numbers]]\naddress = "+12025550100"\nlinks = ["nope"]\n',
         "numbers[0].links[0]"),
    ],
    ids=["bad-value", "unknown-key", "unknown-link"],
)
async def test_bad_config_exits_2_with_the_key_path(tmp_path, toml, key_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    with trio.fail_after(30):
        result = await trio.run_process([GATEWAYD, "--config", str(cfg), "--check-config"],
                                        capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 2
    assert key_path in result.stderr.decode()


async def test_good_config_checks_ok(tmp_path):
    cfg = write_config(tmp_path)
    with trio.fail_after(30):
        result = await trio.run_process([GATEWAYD, "--config", str(cfg), "--check-config"],
                                        capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0, result.stderr


async def test_the_shipped_reference_config_checks_ok():
    conf = Path(__file__).resolve().parents[2] / "conf" / "gatewayd.toml"
    with trio.fail_after(30):
        result = await trio.run_process([GATEWAYD, "--config", str(conf), "--check-config"],
                                        capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0, result.stderr
