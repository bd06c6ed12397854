"""The AT driver over an in-memory port (pure logic, virtual time): one command at a time,
per-command timeouts, the CMGS prompt dance, URC routing and stale answers."""

from __future__ import annotations

import pytest
import trio

from gatewayd.links.modem.driver import CommandError, CommandTimeout, Driver, SimProblem
from gatewayd.links.modem.port import PortGone

pytestmark = pytest.mark.trio


class MemoryPort:
    """Stands in for SerialPort: the test plays the modem through ``to_host`` / ``written``."""

    device = "/dev/mem0"

    def __init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel[bytes](100)
        self.written: list[bytes] = []
        self.script: list[bytes] = []      # answers, one per write, in order

    def vanished(self) -> bool:
        return False

    async def receive(self) -> bytes:
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            raise PortGone("gone") from None

    async def send(self, data: bytes) -> None:
        self.written.append(data)
        if self.script:
            self.to_host(self.script.pop(0))

    def to_host(self, data: bytes) -> None:
        self._send.send_nowait(data)


@pytest.fixture
async def rig(nursery):
    port = MemoryPort()
    driver = Driver(port)  # type: ignore[arg-type]
    await nursery.start(driver.reader)
    return port, driver


async def test_command_returns_information_lines(rig, nursery):
    port, driver = rig
    port.script.append(b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n")
    assert await driver.signal(timeout=1) == -113 + 34
    assert port.written == [b"AT+CSQ\r"]


async def test_timeout_is_per_command_and_late_answer_is_ignored(rig, nursery, autojump_clock):
    port, driver = rig
    start = trio.current_time()
    with pytest.raises(CommandTimeout, match="not answering"):
        await driver.command("AT+CREG?", timeout=5, expect="+CREG")
    assert trio.current_time() - start == pytest.approx(5)
    port.to_host(b"\r\nOK\r\n")                    # the stale OK of the timed-out command
    await trio.sleep(0.1)
    port.script.append(b"\r\nERROR\r\n")
    with pytest.raises(CommandError):              # the next command gets its own answer
        await driver.command("AT+CMGF=0", timeout=5)


async def test_commands_are_serialised(rig, nursery, autojump_clock):
    port, driver = rig
    results = []

    async def run(cmd):
        results.append((cmd, await driver.command(cmd, timeout=10)))

    nursery.start_soon(run, "AT+ONE")
    nursery.start_soon(run, "AT+TWO")
    await trio.sleep(1)
    assert len(port.written) == 1                  # the second waits for the first's result
    port.to_host(b"\r\nOK\r\n")
    await trio.sleep(1)
    assert len(port.written) == 2
    port.to_host(b"\r\nOK\r\n")
    await trio.sleep(1)
    # each got the answer to its own command, in the order they went out
    assert [cmd for cmd, _ in results] == [w.decode().strip() for w in port.written]
    assert sorted(cmd for cmd, _ in results) == ["AT+ONE", "AT+TWO"]


async def test_cmgs_waits_for_prompt_then_sends_pdu_with_ctrl_z(rig, nursery):
    port, driver = rig

    port.script += [b"\r\n> ", b'\r\n+CMTI: "SM",2\r\n+CMGS: 42\r\n\r\nOK\r\n']
    assert await driver.send_pdu("0011AA", 23, timeout=5) == 42
    assert port.written == [b"AT+CMGS=23\r", b"0011AA\x1a"]
    urc = driver.urcs.receive_nowait()
    assert (urc.name, urc.args) == ("+CMTI", '"SM",2')


async def test_cmgs_error_before_prompt(rig, nursery):
    port, driver = rig
    port.script.append(b"\r\n+CMS ERROR: 330\r\n")
    with pytest.raises(CommandError) as err:
        await driver.send_pdu("00", 1, timeout=5)
    assert err.value.final.label == "CMS 330" and err.value.final.transient


async def test_cmgs_timeout_escapes_the_prompt(rig, nursery, autojump_clock):
    port, driver = rig

    port.script.append(b"\r\n> ")
    with pytest.raises(CommandTimeout):
        await driver.send_pdu("00", 1, timeout=60)
    assert port.written[-1] == b"\x1b"             # the modem leaves prompt mode


async def test_wrong_pin_is_sent_once_and_flagged(rig, nursery):
    port, driver = rig

    port.script += [b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n", b"\r\n+CME ERROR: 16\r\n"]
    with pytest.raises(SimProblem) as err:
        await driver.unlock("9999", timeout=5)
    assert err.value.wrong_pin and "incorrect password" in str(err.value)
    assert port.written == [b"AT+CPIN?\r", b'AT+CPIN="9999"\r']
