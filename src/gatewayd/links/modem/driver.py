"""The AT command layer over one serial port: one command at a time, each with its own timeout.

A reader task feeds the port's bytes to the sans-I/O :class:`AtParser`; the event stream is
split in two: results of the command in flight go to that command, unsolicited result codes
go to a memory channel (``urcs``) that the link drains. Nothing here retries or decides
policy: a timeout or a rejected command raises, and the link decides whether the modem is
down. The one exception is the SIM PIN: it is sent at most once per wrong answer and never
again, because three wrong PINs lock the SIM (PUK).
"""

from __future__ import annotations

import logging

import trio

from .at import AtParser, Final, Garbage, Info, Prompt, Urc, split_args
from .port import SerialPort

log = logging.getLogger(__name__)
CTRL_Z = b"\x1a"
ESC = b"\x1b"


def _loggable(cmd: str) -> str:
    """A command as it may appear in the journal: never the SIM PIN or PUK."""
    return "AT+CPIN=<secret>" if cmd.upper().startswith("AT+CPIN=") else cmd


def _log_answer(device: str, pending: "_Pending") -> None:
    if log.isEnabledFor(logging.DEBUG) and pending.final is not None:
        log.debug("%s: <- %d line(s), %s%s", device, len(pending.lines), pending.final.label,
                  f" ({pending.final.text})" if not pending.final.ok else "")


class CommandError(Exception):
    """The modem answered a command with ERROR / +CME ERROR / +CMS ERROR."""

    def __init__(self, command: str, final: Final) -> None:
        super().__init__(f"{command}: {final.label} ({final.text})")
        self.command = command
        self.final = final


class CommandTimeout(Exception):
    """No final result within the command's time limit: the modem hangs or talks garbage."""

    def __init__(self, command: str, garbage: int = 0) -> None:
        what = "answers garbage" if garbage else "not answering"
        super().__init__(f"modem {what} ({command} timed out)")
        self.command = command


class SimProblem(Exception):
    """The SIM cannot be used: missing, PIN needed but not configured, wrong PIN, PUK."""

    def __init__(self, message: str, *, wrong_pin: bool = False) -> None:
        super().__init__(message)
        self.wrong_pin = wrong_pin


class _Pending:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.final: Final | None = None
        self.prompt = False
        self.changed = trio.Event()

    def poke(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


class Driver:
    def __init__(self, port: SerialPort, *, urc_buffer: int = 256) -> None:
        self.port = port
        self.parser = AtParser()
        self._lock = trio.Lock()
        self._pending: _Pending | None = None
        self._urc_send, self.urcs = trio.open_memory_channel[Urc](urc_buffer)
        self.garbage = 0            # garbage events since the last good final result
        self.dropped_urcs = 0

    # --- the reader ------------------------------------------------------------------------
    async def reader(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Read until the port goes away (raises PortGone)."""
        task_status.started()
        while True:
            data = await self.port.receive()
            for event in self.parser.feed(data):
                self._dispatch(event)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Urc):
            log.debug("%s: <- URC %s", self.port.device, event.name)
            try:
                self._urc_send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped_urcs += 1   # storage polling (AT+CMGL) picks these up later
            return
        if isinstance(event, Garbage):
            self.garbage += 1
            log.debug("%s: garbage %r", self.port.device, event.data[:40])
            return
        pending = self._pending
        if pending is None:
            return   # a late answer to a command that already timed out
        if isinstance(event, Info):
            pending.lines.append(event.text)
        elif isinstance(event, Prompt):
            pending.prompt = True
        elif isinstance(event, Final):
            pending.final = event
            self.garbage = 0
        pending.poke()

    # --- commands --------------------------------------------------------------------------
    async def command(self, cmd: str, *, timeout: float, expect: str | None = None) -> list[str]:
        """Run one AT command; return its information lines. ``expect`` is the response
        prefix (``"+CSQ"``) that must not be mistaken for a URC."""
        async with self._lock:
            pending = await self._start(cmd, expect, timeout)
            return self._finish(cmd, pending)

    async def send_pdu(self, pdu_hex: str, length: int, *, timeout: float) -> int:
        """AT+CMGS=<len>, wait for ``> ``, send PDU + Ctrl-Z; returns the TP-MR."""
        cmd = f"AT+CMGS={length}"
        log.debug("%s: -> %s (PDU of %d octets)", self.port.device, cmd, length)
        async with self._lock:
            pending = _Pending()
            self._pending = pending
            self.parser.expect, self.parser.echo = "+CMGS", cmd
            try:
                with trio.fail_after(timeout):
                    await self.port.send(cmd.encode() + b"\r")
                    while not pending.prompt and pending.final is None:
                        await pending.changed.wait()
                    if pending.final is None:
                        await self.port.send(pdu_hex.encode() + CTRL_Z)
                        while pending.final is None:
                            await pending.changed.wait()
            except trio.TooSlowError:
                with trio.move_on_after(1) as cs:
                    cs.shield = True
                    await self.port.send(ESC)   # leave the prompt so the next command works
                raise CommandTimeout(cmd, self.garbage) from None
            finally:
                self._pending = None
                self.parser.expect = self.parser.echo = None
            _log_answer(self.port.device, pending)
            lines = self._finish(cmd, pending)
        for line in lines:
            if line.startswith("+CMGS:"):
                try:
                    return int(split_args(line[6:])[0])
                except ValueError:
                    break
        raise CommandError(cmd, Final(ok=False, kind="ERROR", text="no +CMGS message reference"))

    async def _start(self, cmd: str, expect: str | None, timeout: float) -> _Pending:
        pending = _Pending()
        self._pending = pending
        self.parser.expect, self.parser.echo = expect, cmd
        log.debug("%s: -> %s", self.port.device, _loggable(cmd))
        try:
            with trio.fail_after(timeout):
                await self.port.send(cmd.encode() + b"\r")
                while pending.final is None:
                    await pending.changed.wait()
        except trio.TooSlowError:
            log.debug("%s: %s: no final result in %gs", self.port.device, _loggable(cmd), timeout)
            raise CommandTimeout(cmd, self.garbage) from None
        finally:
            self._pending = None
            self.parser.expect = self.parser.echo = None
        _log_answer(self.port.device, pending)
        return pending

    @staticmethod
    def _finish(cmd: str, pending: _Pending) -> list[str]:
        assert pending.final is not None
        if not pending.final.ok:
            raise CommandError(cmd, pending.final)
        return pending.lines

    async def query(self, cmd: str, prefix: str, *, timeout: float) -> list[str]:
        """Run a query and return the arguments of its first ``prefix:`` line (or [])."""
        for line in await self.command(cmd, timeout=timeout, expect=prefix):
            if line.startswith(prefix + ":"):
                return split_args(line[len(prefix) + 1:])
        return []

    # --- setup -----------------------------------------------------------------------------
    async def sync(self, *, timeout: float) -> None:
        """Get the modem's attention: abort a stale prompt, then plain AT until OK."""
        await self.port.send(ESC)
        last: Exception | None = None
        for _ in range(3):
            try:
                await self.command("AT", timeout=timeout)
                return
            except (CommandTimeout, CommandError) as exc:
                last = exc
        assert last is not None
        raise last

    async def unlock(self, pin: str, *, timeout: float) -> None:
        """AT+CPIN? and, only if asked for, the PIN once. A rejected PIN raises SimProblem
        with ``wrong_pin`` so the link never sends it again."""
        try:
            state = await self.query("AT+CPIN?", "+CPIN", timeout=timeout)
        except CommandError as exc:
            raise SimProblem(f"SIM not usable: {exc.final.label} {exc.final.text}") from None
        status = state[0].upper() if state else ""
        if status == "READY":
            return
        if status != "SIM PIN":
            raise SimProblem(f"SIM needs {status or 'an unknown code'}; unlock it by hand")
        if not pin:
            raise SimProblem("SIM PIN required but no pin/pin_file configured")
        try:
            await self.command(f'AT+CPIN="{pin}"', timeout=timeout)
        except CommandError as exc:
            raise SimProblem(
                f"SIM PIN rejected ({exc.final.label} {exc.final.text}); not retried, to avoid locking the SIM",
                wrong_pin=True,
            ) from None
        for _ in range(10):
            state = await self.query("AT+CPIN?", "+CPIN", timeout=timeout)
            if state and state[0].upper() == "READY":
                return
            await trio.sleep(0.5)
        raise SimProblem("SIM did not become ready after the PIN")

    async def identity(self, *, timeout: float) -> dict[str, str | None]:
        """IMEI, IMSI, ICCID: whatever the modem is willing to tell."""
        out: dict[str, str | None] = {}
        for key, cmd, prefix in (("imei", "AT+CGSN", None), ("imsi", "AT+CIMI", None), ("iccid", "AT+CCID", "+CCID")):
            try:
                lines = await self.command(cmd, timeout=timeout, expect=prefix)
            except CommandError:
                out[key] = None
                continue
            value = lines[0] if lines else ""
            if ":" in value:
                value = value.split(":", 1)[1]
            out[key] = value.strip().strip('"') or None
        return out

    async def signal(self, *, timeout: float) -> int | None:
        """Signal in dBm from AT+CSQ (None when unknown / 99)."""
        args = await self.query("AT+CSQ", "+CSQ", timeout=timeout)
        try:
            rssi = int(args[0])
        except (ValueError, IndexError):
            return None
        return None if rssi == 99 or rssi > 31 else -113 + 2 * rssi

    async def registration(self, *, timeout: float) -> int | None:
        """AT+CREG? stat: 1 home, 5 roaming (registered); 0/2/3/4 not."""
        args = await self.query("AT+CREG?", "+CREG", timeout=timeout)
        try:
            return int(args[1] if len(args) > 1 else args[0])
        except (ValueError, IndexError):
            return None

    async def operator(self, *, timeout: float) -> str | None:
        args = await self.query("AT+COPS?", "+COPS", timeout=timeout)
        return args[2] if len(args) > 2 and args[2] else None

    async def storage_use(self, *, timeout: float) -> tuple[int, int] | None:
        """(used, total) of the receive storage from AT+CPMS?."""
        args = await self.query("AT+CPMS?", "+CPMS", timeout=timeout)
        for used, total in ((7, 8), (1, 2)):   # mem3 (where new messages land), else mem1
            try:
                return int(args[used]), int(args[total])
            except (ValueError, IndexError):
                continue
        return None
