"""What arrives in a modem: SMS (stored or direct) and status reports, handed to the sink.

A stored message is deleted (AT+CMGD) only after the sink has committed it, so a crash between
the two means a redelivery (recognised by ``dedup_key``), never a loss. Parts of a concatenated
message stay in the modem's storage until the whole text is committed; a group that never
completes is delivered flagged after the reassembly timeout. Storage is listed (AT+CMGL=4) at
start, every ``poll_s`` and whenever it is found full, to catch messages whose +CMTI was lost.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import trio

from ..base import Inbound, LinkSink, Receipt
from ..reassembly import Reassembler
from . import pdu
from .at import Urc, split_args
from .driver import CommandError, Driver

log = logging.getLogger(__name__)


class Mailbox:
    def __init__(self, name: str, number: str, sink: LinkSink, *, timeout: float, poll_s: float,
                 reassembly_timeout_s: float, clock: Callable[[], float]) -> None:
        self.name = name
        self.number = number
        self.sink = sink
        self.timeout = timeout
        self.poll_s = poll_s
        self._clock = clock
        self._reassembler = Reassembler(reassembly_timeout_s)
        self._parts: dict[tuple, list[int]] = {}     # group key -> storage indices held
        self._held: set[int] = set()                 # indices waiting for their siblings
        self._bad: set[int] = set()                  # undecodable, left in storage
        self._busy: set[int] = set()                 # indices being handled right now
        self._completed: dict[tuple, float] = {}     # recently completed groups (repeats)
        self._wake_storage = trio.Event()            # new concatenation group, or storage full
        self._collect_now = False
        self._sent_to: dict[int, str] = {}           # TP-MR -> recipient as we sent it

    def note_sent(self, mr: int, recipient: str) -> None:
        self._sent_to[mr] = recipient

    def is_full(self, used: int, total: int) -> bool:
        """Full with something we could make room for (not just parts waiting for siblings)."""
        return bool(total) and used >= total and not (self._held | self._bad).issuperset(range(1, total + 1))

    async def direct(self, driver: Driver, urc: Urc) -> None:
        """+CMT / +CDS: the PDU came with the URC; acknowledge after the sink committed."""
        if urc.pdu:
            try:
                decoded = pdu.decode(urc.pdu)
            except ValueError as exc:
                log.error("modem %s: undecodable %s PDU %s: %s", self.name, urc.name, urc.pdu, exc)
            else:
                await self._handle(decoded, urc.pdu, None)
        try:   # needed in +CSMS=1 mode; elsewhere the modem says "no ack expected"
            await driver.command("AT+CNMA", timeout=self.timeout)
        except CommandError:
            pass

    async def fetch(self, driver: Driver, index: int) -> None:
        if index in self._held or index in self._bad or index in self._busy:
            return
        try:
            lines = await driver.command(f"AT+CMGR={index}", timeout=self.timeout, expect="+CMGR")
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
            await driver.command(f"AT+CMGD={index}", timeout=self.timeout)
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
            if index is not None:
                self._bad.add(index)   # an SMS-SUBMIT someone stored on the SIM: leave it alone
            return []
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
        await self.sink.inbound(Inbound(link=self.name, sender=sender, recipient=self.number, text=text,
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
        # a full SIM takes a while to list, but a hang must still be noticed soon
        lines = await driver.command("AT+CMGL=4", timeout=4 * self.timeout, expect="+CMGL")
        entries: list[tuple[int, str]] = []
        for head, body in zip(lines, lines[1:]):
            if head.startswith("+CMGL:") and not body.startswith("+CMGL:"):
                try:
                    entries.append((int(split_args(head[6:])[0]), body))
                except ValueError:
                    continue
        self._bad &= {index for index, _ in entries}     # forget slots that were emptied meanwhile
        for index, hex_pdu in entries:
            if index not in self._held and index not in self._bad:
                await self._stored(driver, index, hex_pdu)

    def request_collect(self) -> None:
        self._collect_now = True
        self._wake_storage.set()

    async def run(self, driver: Driver) -> None:
        """Collect at start and every ``poll_s``; give up on stale concatenation groups."""
        next_poll = trio.current_time()
        while True:
            if trio.current_time() >= next_poll or self._collect_now:
                self._collect_now = False
                try:
                    await self._collect(driver)
                except CommandError as exc:
                    log.warning("modem %s: listing storage failed: %s", self.name, exc)
                next_poll = trio.current_time() + self.poll_s
            await self._expire(driver)
            wake = next_poll
            deadline = self._reassembler.next_deadline()     # on our clock, not Trio's
            if deadline is not None:
                wake = min(wake, trio.current_time() + max(0.0, deadline - self._clock()))
            with trio.move_on_at(wake):
                await self._wake_storage.wait()     # a new part may bring the expiry deadline forward
            self._wake_storage = trio.Event()
