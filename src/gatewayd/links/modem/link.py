"""One GSM modem as a gatewayd link: sends one SMS at a time, receives, reports, heals itself.

Lifetimes nest: the *port* (open device + reader task) outlives *sessions* (init, then URC,
health and storage loops). Any failure ends the session and marks the link down with the
reason; recovery escalates with backoff: re-initialise on the same port, then reopen the port,
then (every third failure, if configured) run ``reset_command`` before reopening. While down,
``submit`` answers ``link_down`` at once so the router moves traffic to other links. Inbound
messages and status reports are deleted from the modem only after the sink has committed them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from ...config import ModemConfig, read_secret
from ...models import Encoding, LinkState
from ..base import LinkSink, LinkStatus, OutSegment, SubmitResult
from . import pdu
from .at import Urc, split_args
from .driver import CommandError, CommandTimeout, Driver, SimProblem
from .mailbox import Mailbox
from .port import PortGone, SerialPort

log = logging.getLogger(__name__)
REGISTERED = (1, 5)
REG_NAMES = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


class ModemLink:
    kind = "modem"
    whole_messages = False

    def __init__(
        self,
        cfg: ModemConfig,
        sink: LinkSink,
        *,
        health_s: float = 30.0,
        backoff_min_s: float = 1.0,
        backoff_max_s: float = 60.0,
        reassembly_timeout_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.sink = sink
        self.name = cfg.name
        # One send at a time on the wire (the send lock); a window of 2 lets the dispatcher hand
        # over the next segment while the current one is in the modem, hiding its turnaround.
        self.window = cfg.window
        self._health_s = health_s
        self._backoff = (backoff_min_s, backoff_max_s)
        self._state = LinkState.STARTING
        self._reason = ""
        self._detail: dict[str, str | int | float | None] = {"device": cfg.device, "number": cfg.number}
        self._driver: Driver | None = None
        self._fail: Callable[[str], None] = lambda reason: None
        self._send_lock = trio.Lock()
        self._next_send = 0.0
        self._pin_blocked: str | None = None
        self._failures = 0
        self.mailbox = Mailbox(cfg.name, cfg.number, sink, timeout=cfg.command_timeout_s, poll_s=cfg.poll_s,
                               reassembly_timeout_s=reassembly_timeout_s, clock=clock)

    # --- state ---------------------------------------------------------------------------------
    @property
    def is_up(self) -> bool:
        return self._state is LinkState.UP

    def _set_state(self, state: LinkState, reason: str = "") -> None:
        if state is not LinkState.UP and reason:
            log.warning("modem %s %s: %s", self.name, state.value, reason)
        self._state, self._reason = state, reason
        self._publish()

    def _publish(self) -> None:
        self.sink.status(LinkStatus(link=self.name, kind=self.kind, state=self._state, reason=self._reason,
                                    detail=dict(self._detail)))

    def _delay(self) -> float:
        low, high = self._backoff
        return min(high, low * 2 ** max(0, self._failures - 1))

    # --- supervision ---------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if not self.cfg.enabled:
            self._set_state(LinkState.DISABLED, "disabled in config")
            await trio.sleep_forever()
        self._set_state(LinkState.STARTING)
        while True:
            port = SerialPort(self.cfg.device, self.cfg.baud)
            try:
                await port.open()
                reason = await self._port_lifetime(port)
            except PortGone as exc:
                reason = str(exc)
            except Exception as exc:   # the reconnect loop is this link's error boundary
                log.exception("modem %s: unexpected error", self.name)
                reason = f"internal error: {exc!r}"
            finally:
                self._driver = None
                port.close()
            self._failures += 1
            self._set_state(LinkState.DOWN, reason)
            if self.cfg.reset_command and self._failures % 3 == 0:
                await self._reset()
            await trio.sleep(self._delay())

    async def _port_lifetime(self, port: SerialPort) -> str:
        """Run sessions on an open port; return why the port should be reopened."""
        driver = Driver(port)
        gone = ""
        reason = ""
        async with trio.open_nursery() as nursery:
            async def read() -> None:
                nonlocal gone
                try:
                    await driver.reader()
                except PortGone as exc:
                    gone = str(exc)
                nursery.cancel_scope.cancel()

            nursery.start_soon(read)
            while True:
                reason = await self._session(driver)
                if port.vanished():
                    reason = f"device {port.device} vanished"
                self._failures += 1
                self._set_state(LinkState.DOWN, reason)
                if self._failures >= 2 or port.vanished():
                    break      # escalate: reopen the port
                await trio.sleep(self._delay())
            nursery.cancel_scope.cancel()
        self._failures -= 1   # run() counts this failure again
        return gone or reason

    async def _reset(self) -> None:
        """``reset_command``: an AT command (``AT+CFUN=1,1``) sent on a fresh port, or else a shell
        command (a USB power cycle, e.g. uhubctl) for modems too wedged to take AT commands."""
        command = self.cfg.reset_command or ""
        log.warning("modem %s: reset with %r", self.name, command)
        if command.upper().startswith("AT"):
            port = SerialPort(self.cfg.device, self.cfg.baud)
            try:
                await port.open()
                await port.send(b"\x1b" + command.encode() + b"\r")
                with trio.move_on_after(self.cfg.command_timeout_s):
                    await port.receive()      # OK, or nothing: the modem may drop off the bus
            except PortGone as exc:
                log.error("modem %s: reset command not sent: %s", self.name, exc)
            finally:
                port.close()
            return
        with trio.move_on_after(120):
            try:
                await trio.run_process(command, shell=True, check=False)
            except OSError as exc:
                log.error("modem %s: reset_command failed: %s", self.name, exc)

    async def _session(self, driver: Driver) -> str:
        """Initialise, then serve until something breaks; return the reason."""
        try:
            await self._initialise(driver)
        except (CommandTimeout, CommandError, SimProblem, _Unhealthy, PortGone) as exc:
            return f"init failed: {exc}"
        problem = ""
        async with trio.open_nursery() as nursery:
            def fail(reason: str) -> None:
                nonlocal problem
                problem = problem or reason
                nursery.cancel_scope.cancel()

            self._fail = fail
            self._driver = driver
            self._failures = 0
            self._set_state(LinkState.UP)
            nursery.start_soon(self._guard, fail, self._urc_loop, driver)
            nursery.start_soon(self._guard, fail, self._health_loop, driver)
            nursery.start_soon(self._guard, fail, self.mailbox.run, driver)
        self._driver = None
        self._fail = lambda reason: None
        return problem or "session ended"

    async def _guard(self, fail: Callable[[str], None], loop: Callable, driver: Driver) -> None:
        try:
            await loop(driver)
        except (CommandTimeout, CommandError, _Unhealthy, PortGone) as exc:
            fail(str(exc))

    async def _initialise(self, driver: Driver) -> None:
        t = self.cfg.command_timeout_s
        cmd = driver.command
        await driver.sync(timeout=t)
        await cmd("ATE0", timeout=t)
        await cmd("AT+CMEE=1", timeout=t)
        if self._pin_blocked:
            state = await driver.query("AT+CPIN?", "+CPIN", timeout=t)
            if not state or state[0].upper() != "READY":
                raise SimProblem(self._pin_blocked)
        else:
            try:
                pin = read_secret(self.cfg.pin, self.cfg.pin_file)
            except OSError as exc:
                raise SimProblem(f"cannot read pin_file: {exc.strerror or exc}") from None
            try:
                await driver.unlock(pin, timeout=t)
            except SimProblem as exc:
                if exc.wrong_pin:
                    self._pin_blocked = str(exc)
                raise
        await cmd("AT+CMGF=0", timeout=t)
        if self.cfg.smsc:
            toa = 145 if self.cfg.smsc.startswith("+") else 129
            await cmd(f'AT+CSCA="{self.cfg.smsc}",{toa}', timeout=t)
        mem = self.cfg.storage
        await cmd(f'AT+CPMS="{mem}","{mem}","{mem}"', timeout=t, expect="+CPMS")
        for cnmi in ("AT+CNMI=2,1,0,2,0", "AT+CNMI=2,1,0,1,0", "AT+CNMI=1,1,0,2,0"):
            try:
                await cmd(cnmi, timeout=t)
                break
            except CommandError:
                continue
        for optional in ("AT+CMMS=2", "AT+CREG=1", "AT+CSMP=49,167,0,0"):
            try:
                await cmd(optional, timeout=t)
            except CommandError:
                pass
        for extra in self.cfg.init:
            await cmd(extra, timeout=t)
        self._detail.update(await driver.identity(timeout=t))
        await self._check_health(driver)

    # --- health --------------------------------------------------------------------------------
    async def _check_health(self, driver: Driver) -> None:
        t = self.cfg.command_timeout_s
        if driver.port.vanished():
            raise _Unhealthy(f"device {driver.port.device} vanished")
        reg = await driver.registration(timeout=t)
        self._detail["registration"] = REG_NAMES.get(reg, "unknown") if reg is not None else "unknown"
        try:
            self._detail["signal"] = await driver.signal(timeout=t)
            self._detail["operator"] = await driver.operator(timeout=t)
            use = await driver.storage_use(timeout=t)
            if use:
                self._detail["storage"] = f"{use[0]}/{use[1]}"
                if self.mailbox.is_full(*use):
                    self.mailbox.request_collect()     # full: new messages wait in the network until we make room
        except CommandError:
            pass
        if reg not in REGISTERED:
            raise _Unhealthy(f"not registered to the network ({self._detail['registration']})")
        self._publish()

    async def _health_loop(self, driver: Driver) -> None:
        while True:
            await trio.sleep(self._health_s)
            try:
                await self._check_health(driver)
            except CommandError as exc:
                raise _Unhealthy(f"health check rejected: {exc}") from None

    # --- sending -------------------------------------------------------------------------------
    async def submit(self, seg: OutSegment) -> SubmitResult:
        driver = self._driver
        if driver is None or not self.is_up:
            return SubmitResult(ok=False, transient=True, error_code="link_down",
                                error_text=f"modem {self.name} is down: {self._reason}")
        concat = pdu.Concat(ref=seg.ref, total=seg.count, index=seg.index) if seg.count > 1 else None
        try:
            hex_pdu, length = pdu.encode_submit(seg.recipient, seg.text, ucs2=seg.encoding is Encoding.UCS2,
                                                concat=concat, srr=True, validity_s=seg.validity_s,
                                                smsc=None)
        except ValueError as exc:
            return SubmitResult(ok=False, error_code="invalid", error_text=str(exc), transient=False)
        async with self._send_lock:
            await self._pace()
            if self._driver is not driver:
                return SubmitResult(ok=False, transient=True, error_code="link_down", error_text=self._reason)
            try:
                mr = await driver.send_pdu(hex_pdu, length, timeout=self.cfg.send_timeout_s)
            except CommandTimeout as exc:
                self._fail(str(exc))
                return SubmitResult(ok=False, transient=True, error_code="timeout", error_text=str(exc))
            except CommandError as exc:
                f = exc.final
                return SubmitResult(ok=False, transient=f.transient, throttle=f.throttle, error_code=f.label,
                                    error_text=f.text)
            except PortGone as exc:
                return SubmitResult(ok=False, transient=True, error_code="link_down", error_text=str(exc))
        self.mailbox.note_sent(mr, seg.recipient)
        return SubmitResult(ok=True, carrier_id=str(mr))

    async def _pace(self) -> None:
        if not self.cfg.max_per_minute:
            return
        now = trio.current_time()
        if now < self._next_send:
            await trio.sleep_until(self._next_send)
            now = self._next_send
        self._next_send = now + 60.0 / self.cfg.max_per_minute

    # --- receiving -----------------------------------------------------------------------------
    async def _urc_loop(self, driver: Driver) -> None:
        while True:
            urc = await driver.urcs.receive()
            await self._on_urc(driver, urc)

    async def _on_urc(self, driver: Driver, urc: Urc) -> None:
        args = split_args(urc.args)
        if urc.name in ("+CMTI", "+CDSI"):
            try:
                await self.mailbox.fetch(driver, int(args[-1]))
            except ValueError:
                log.warning("modem %s: bad %s %r", self.name, urc.name, urc.args)
        elif urc.name in ("+CMT", "+CDS"):
            await self.mailbox.direct(driver, urc)
        elif urc.name == "^SMMEMFULL" or (urc.name == "+CIEV" and "FULL" in urc.args.upper()):
            self.mailbox.request_collect()
        elif urc.name == "+CREG":
            try:
                stat = int(args[0])   # URC form: +CREG: <stat>[,<lac>,<ci>]
            except ValueError:
                return
            if stat not in REGISTERED:
                raise _Unhealthy(f"registration lost ({REG_NAMES.get(stat, stat)})")


class _Unhealthy(Exception):
    """The modem answers but cannot serve (no registration, device node gone)."""
