"""The real gatewayd process with two fake modems on ptys, driven by gatewayctl.

Messages from two numbers (one modem each) go out, the fakes' status reports make them
`delivered`, a multipart message goes out as ordered concatenated parts, an SMS the network
delivers to a modem shows up as an inbound event, and an unplugged modem is shown down with its
reason while its number's messages wait, then go out once it is plugged back in.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import trio

from tests.fakes.modem import FakeModem

pytestmark = [pytest.mark.trio, pytest.mark.e2e]

BIN = Path(sys.executable).parent
GATEWAYD = shutil.which("gatewayd", path=str(BIN)) or "gatewayd"
GATEWAYCTL = shutil.which("gatewayctl", path=str(BIN)) or "gatewayctl"
A, B = "+15550000001", "+15550000002"


def config(tmp: Path) -> str:
    links = "".join(
        f'[[links]]\nname = "{name}"\nkind = "modem"\ndevice = "{tmp / name}"\nnumber = "{num}"\n'
        f"command_timeout_s = 1.0\nsend_timeout_s = 5.0\npoll_s = 5.0\n\n"
        f'[[numbers]]\naddress = "{num}"\nlinks = ["{name}"]\nrate = 50\nburst = 50\n\n'
        for name, num in (("modemA", A), ("modemB", B))
    )
    return links + f"[access]\nadmins = [{getpass.getuser()!r}]\n"


async def ctl(sock: Path, *args: str, stdin: bytes | None = None) -> dict:
    proc = await trio.run_process([GATEWAYCTL, "--socket", str(sock), "--json", *args], stdin=stdin,
                                  capture_stdout=True, capture_stderr=True, check=False)
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return {} if data.get("ok") is False else data      # not running yet, or an error


async def until(sock: Path, predicate, timeout: float = 20.0) -> dict:
    """Poll `gatewayctl --json status` until ``predicate(status)`` holds."""
    with trio.fail_after(timeout):
        while True:
            status = await ctl(sock, "status")
            if status and predicate(status):
                return status
            await trio.sleep(0.1)


def link(status: dict, name: str) -> dict:
    return next(lk for lk in status["links"] if lk["name"] == name)


def batch(lines: list[tuple[str, str, str, str]]) -> bytes:
    return "".join(json.dumps({"from": f, "to": t, "text": x, "key": k}) + "\n" for f, t, x, k in lines).encode()


@pytest.fixture
async def rig(tmp_path):
    fakes = {name: FakeModem(str(tmp_path / name), send_time=0.05).start() for name in ("modemA", "modemB")}
    (tmp_path / "gw.toml").write_text(config(tmp_path))
    sock = tmp_path / "gw.sock"
    log = open(tmp_path / "gatewayd.log", "wb")
    proc = await trio.lowlevel.open_process(
        [GATEWAYD, "--config", str(tmp_path / "gw.toml"), "--state-dir", str(tmp_path / "state"), "--socket",
         str(sock)], stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        await until(sock, lambda st: all(lk["state"] == "up" for lk in st["links"]))
        yield sock, fakes
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
        for fake in fakes.values():
            fake.stop()
        print((tmp_path / "gatewayd.log").read_text(errors="replace")[-4000:])


async def test_two_modems_send_receive_and_heal(rig):
    sock, fakes = rig
    st = await ctl(sock, "status")
    assert link(st, "modemA")["detail"]["imei"] and link(st, "modemA")["detail"]["operator"] == "FakeNet"

    # 1. a batch from both numbers, one of them long enough for three parts
    long_text = "The quick brown fox jumps over the lazy dog. " * 8
    lines = [(A if k % 2 else B, f"+1202555{100 + k:04d}", f"hello {k}", f"k{k}") for k in range(20)]
    lines.append((A, "+12025550199", long_text, "long"))
    await ctl(sock, "send", "--batch", "-", stdin=batch(lines))
    await until(sock, lambda st: st["queue"].get("delivered", 0) == 21)
    assert len(fakes["modemA"].sent) == 10 + 3 and len(fakes["modemB"].sent) == 10
    parts = [s.submit for s in fakes["modemA"].sent if s.submit.recipient == "+12025550199"]
    assert [p.concat.index for p in parts] == [1, 2, 3] and "".join(p.text for p in parts) == long_text
    assert all(s.submit.srr for s in fakes["modemB"].sent)

    # 2. an SMS from a phone to modem B reaches the daemon, and leaves the SIM storage
    fakes["modemB"].receive_sms("+12025550142", "Yes please")
    tail = await trio.lowlevel.open_process([GATEWAYCTL, "--socket", str(sock), "--json", "tail", "--since", "0",
                                             "--type", "inbound"], stdout=-1)
    try:
        with trio.fail_after(15):
            buf = b""
            while b"Yes please" not in buf:
                buf += await tail.stdout.receive_some(65536)
    finally:
        tail.kill()
        await tail.wait()
    event = next(json.loads(line) for line in buf.splitlines() if b"Yes please" in line)
    assert event["data"]["sender"] == "+12025550142" and event["data"]["recipient"] == B
    assert not fakes["modemB"].storage

    # 3. modem A is unplugged: shown down with the reason, its number's messages wait
    fakes["modemA"].disappear()
    st = await until(sock, lambda st: link(st, "modemA")["state"] == "down")
    assert link(st, "modemA")["reason"]
    assert link(st, "modemB")["state"] == "up"
    await ctl(sock, "send", "--batch", "-", stdin=batch([(A, "+12025550150", "while unplugged", "u1"),
                                                         (B, "+12025550151", "other modem", "u2")]))
    await until(sock, lambda st: st["queue"].get("delivered", 0) == 22)      # B's goes out meanwhile
    assert not any(s.submit.text == "while unplugged" for s in fakes["modemA"].sent)

    # 4. plugged back in: the link recovers by itself and the waiting message is delivered
    fakes["modemA"].reappear()
    await until(sock, lambda st: link(st, "modemA")["state"] == "up", timeout=60)
    await until(sock, lambda st: st["queue"].get("delivered", 0) == 23, timeout=60)
    assert any(s.submit.text == "while unplugged" for s in fakes["modemA"].sent)
