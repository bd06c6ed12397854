"""One GSM modem as a gatewayd link: sends one SMS at a time, receives, reports, heals itself.

Lifetimes nest: the *port* (open device + reader task) outlives *sessions* (init, then URC,
health and storage loops). Any failure ends the session and marks the link down with the
reason; recovery escalates with backoff: re-initialise on the same port, then reopen the port,
then (every third failure, if configured) run ``reset_command`` before reopening. While down,
``submit`` answers ``link_down`` at once so the router moves traffic to other links. Inbound
messages and status reports are deleted from the modem only after the sink has committed them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import trio

from ...config import ModemConfig, read_secret
from ...models import Encoding, LinkState
from ..base import Inbound, LinkSink, LinkStatus, OutSegment, Receipt, SubmitResult
from ..reassembly import Reassembler
from . import pdu
from .at import Urc, split_args
from .driver import CommandError, CommandTimeout, Driver, SimProblem
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
        self._clock = clock
        self._state = LinkState.STARTING
        self._reason = ""
        self._detail: dict[str, str | int | float | None] = {"device": cfg.device, "number": cfg.number}
        self._driver: Driver | None = None
        self._fail: Callable[[str], None] = lambda reason: None
        self._send_lock = trio.Lock()
        self._next_send = 0.0
        self._pin_blocked: str | None = None
        self._failures = 0
        self._reassembler = Reassembler(reassembly_timeout_s)
        self._parts: dict[tuple, list[int]] = {}     # group key -> storage indices held
        self._held: set[int] = set()                 # indices waiting for their siblings
        self._bad: set[int] = set()                  # undecodable, left in storage
        self._wake_storage = trio.Event()            # new concatenation group, or storage full
        self._collect_now = False
        self._sent_to: dict[int, str] = {}           # TP-MR -> recipient as we sent it
        self._busy: set[int] = set()                 # indices being handled right now
        self._completed: dict[tuple, float] = {}     # recently completed groups (repeats)

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
            finally:
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
        log.warning("modem %s: running reset_command", self.name)
        with trio.move_on_after(120):
            try:
                await trio.run_process(self.cfg.reset_command, shell=True, check=False)
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
            nursery.start_soon(self._guard, fail, self._storage_loop, driver)
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
                await driver.unlock(read_secret(self.cfg.pin, self.cfg.pin_file), timeout=t)
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
                if use[1] and use[0] >= use[1] and not self._held.issuperset(range(1, use[1] + 1)):
                    self._request_collect()     # full: new messages wait in the network until we make room
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
                return SubmitResult(ok=False, transient=f.transient, error_code=f.label, error_text=f.text)
            except PortGone as exc:
                return SubmitResult(ok=False, transient=True, error_code="link_down", error_text=str(exc))
        self._sent_to[mr] = seg.recipient
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
                await self._fetch(driver, int(args[-1]))
            except ValueError:
                log.warning("modem %s: bad %s %r", self.name, urc.name, urc.args)
        elif urc.name in ("+CMT", "+CDS") and urc.pdu:
            try:
                decoded = pdu.decode(urc.pdu)
            except ValueError as exc:
                log.error("modem %s: undecodable %s PDU %s: %s", self.name, urc.name, urc.pdu, exc)
            else:
                await self._handle(decoded, urc.pdu, None)
            try:   # acknowledge only after the sink committed (needed in +CSMS=1 mode)
                await driver.command("AT+CNMA", timeout=self.cfg.command_timeout_s)
            except CommandError:
                pass
        elif urc.name == "^SMMEMFULL" or (urc.name == "+CIEV" and "FULL" in urc.args.upper()):
            self._request_collect()
        elif urc.name == "+CREG":
            try:
                stat = int(args[0])   # URC form: +CREG: <stat>[,<lac>,<ci>]
            except ValueError:
                return
            if stat not in REGISTERED:
                raise _Unhealthy(f"registration lost ({REG_NAMES.get(stat, stat)})")

    async def _fetch(self, driver: Driver, index: int) -> None:
        if index in self._held or index in self._bad or index in self._busy:
            return
        try:
            lines = await driver.command(f"AT+CMGR={index}", timeout=self.cfg.command_timeout_s, expect="+CMGR")
        except CommandError as exc:
            log.warning("modem %s: cannot read message %d: %s", self.name, index, exc)
            return
        hexes = [line for line in lines if not line.startswith("+CMGR")]
        if hexes:
            await self._stored(driver, index, hexes[0])

    async def _stored(self, driver: Driver, index: int, hex_pdu: str) -> None:
        """Handle one stored message once, even if a +CMTI and a listing both name it."""
        if index in self._busy:
            return
        self._busy.add(index)
        try:
            await self._stored_once(driver, index, hex_pdu)
        finally:
            self._busy.discard(index)

    async def _stored_once(self, driver: Driver, index: int, hex_pdu: str) -> None:
        try:
            decoded = pdu.decode(hex_pdu)
        except ValueError as exc:
            log.error("modem %s: message %d undecodable, left in storage: %s", self.name, index, exc)
            self._bad.add(index)
            return
        for done in await self._handle(decoded, hex_pdu, index):
            await self._delete(driver, done)

    async def _delete(self, driver: Driver, index: int) -> None:
        self._held.discard(index)
        try:
            await driver.command(f"AT+CMGD={index}", timeout=self.cfg.command_timeout_s)
        except CommandError as exc:
            log.warning("modem %s: cannot delete message %d: %s", self.name, index, exc)

    async def _handle(self, msg: object, hex_pdu: str, index: int | None) -> list[int]:
        """Give one decoded PDU to the sink; return the storage indices now safe to delete."""
        mine = [index] if index is not None else []
        if isinstance(msg, pdu.StatusReport):
            stat, _final = pdu.report_stat(msg.status)
            await self.sink.receipt(Receipt(link=self.name, carrier_id=str(msg.mr),
                                            recipient=self._as_sent(msg.mr, msg.recipient),
                                            stat=stat, err=f"{msg.status:02X}", done_at=msg.discharged.timestamp(),
                                            raw=hex_pdu))
            return mine
        if not isinstance(msg, pdu.Deliver):
            return mine     # an SMS-SUBMIT in the inbox storage (sent folder): not ours to handle
        if msg.concat is None or msg.concat.total <= 1:
            await self._deliver(msg.sender, msg.text, msg.timestamp.timestamp(), hex_pdu)
            return mine
        key = (msg.sender, msg.concat.ref, msg.concat.total)
        if key not in self._parts:
            self._wake_storage.set()
        held = self._parts.setdefault(key, [])
        held.extend(mine)
        self._held.update(mine)
        text = self._reassembler.add(key, msg.concat.ref, msg.concat.total, msg.concat.index, msg.text,
                                     self._clock())
        if text is None:
            if self._clock() - self._completed.get(key, -1e18) < self._reassembler.timeout_s:
                del self._parts[key]   # a repeat of a part we already delivered: drop it
                return mine
            return []
        del self._parts[key]
        self._completed[key] = self._clock()
        await self._deliver(msg.sender, text, msg.timestamp.timestamp(), f"{key}")
        return held

    def _as_sent(self, mr: int, recipient: str) -> str:
        """Reports may show the recipient in national form; give it back as we sent it (E.164)."""
        sent = self._sent_to.get(mr)
        digits = recipient.lstrip("+").lstrip("0")
        if sent and not recipient.startswith("+") and digits and sent.endswith(digits):
            return sent
        return recipient

    async def _deliver(self, sender: str, text: str, at: float, raw: str) -> None:
        digest = hashlib.sha1(f"{sender}|{at}|{raw}".encode()).hexdigest()[:16]
        await self.sink.inbound(Inbound(link=self.name, sender=sender, recipient=self.cfg.number, text=text,
                                        received_at=at, dedup_key=f"modem:{digest}"))

    async def _expire(self, driver: Driver) -> None:
        horizon = self._clock() - self._reassembler.timeout_s
        self._completed = {k: t for k, t in self._completed.items() if t > horizon}
        for key, text, missing in self._reassembler.expire(self._clock()):
            log.warning("modem %s: concatenated message from %s incomplete, parts %s missing",
                        self.name, key[0], missing)
            flagged = f"{text} [incomplete: part(s) {', '.join(map(str, missing))} of {key[2]} missing]"
            await self._deliver(key[0], flagged, self._clock(), f"{key}{missing}")
            for index in self._parts.pop(key, []):
                await self._delete(driver, index)

    async def _collect(self, driver: Driver) -> None:
        """AT+CMGL=4: everything in storage (missed URCs, messages from before we started)."""
        lines = await driver.command("AT+CMGL=4", timeout=max(self.cfg.command_timeout_s, 30.0), expect="+CMGL")
        entries: list[tuple[int, str]] = []
        for head, body in zip(lines, lines[1:]):
            if head.startswith("+CMGL:") and not body.startswith("+CMGL:"):
                try:
                    entries.append((int(split_args(head[6:])[0]), body))
                except ValueError:
                    continue
        for index, hex_pdu in entries:
            if index not in self._held and index not in self._bad:
                await self._stored(driver, index, hex_pdu)

    def _request_collect(self) -> None:
        self._collect_now = True
        self._wake_storage.set()

    async def _storage_loop(self, driver: Driver) -> None:
        """Collect at start and every ``poll_s``; give up on stale concatenation groups."""
        next_poll = trio.current_time()
        while True:
            if trio.current_time() >= next_poll or self._collect_now:
                self._collect_now = False
                try:
                    await self._collect(driver)
                except CommandError as exc:
                    log.warning("modem %s: listing storage failed: %s", self.name, exc)
                next_poll = trio.current_time() + self.cfg.poll_s
            await self._expire(driver)
            deadline = self._reassembler.next_deadline()
            wake = next_poll if deadline is None else min(next_poll, trio.current_time() + max(0.0, deadline - self._clock()))
            with trio.move_on_at(wake):
                await self._wake_storage.wait()     # a new part may bring the expiry deadline forward
            self._wake_storage = trio.Event()


class _Unhealthy(Exception):
    """The modem answers but cannot serve (no registration, device node gone)."""
