"""The built-in simulated carrier, for demos and tests (never a production default).

It behaves like a small, well-mannered SMSC: accepts segments (throttling above ``max_tps`` the
way carriers answer ESME_RTHROTTLED), refuses numbers by prefix as permanently invalid, returns
carrier ids, sends receipts after ``dlr_delay_s`` with the configured DELIVRD/UNDELIV/REJECTD mix,
and makes a share of recipients answer so the demo shows two-way traffic. With ``seed`` set its
choices are deterministic (tests).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import random
import time

import trio

from ..config import SimConfig
from ..models import LinkState
from .base import Inbound, LinkSink, LinkStatus, OutSegment, Receipt, SubmitResult

log = logging.getLogger(__name__)


class SimLink:
    kind = "sim"
    whole_messages = False

    def __init__(self, cfg: SimConfig, sink: LinkSink, clock=time.time) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.window = cfg.window
        self.sink = sink
        self.clock = clock
        self.rng = random.Random(cfg.seed)
        # Unique across restarts (a real SMSC never reuses ids within the receipt window).
        self._ids = itertools.count((int(time.time()) & 0xFFFFFFFF) << 24)
        self._up = False
        self._due: list[tuple[float, int, object]] = []   # (trio time, seq, Receipt | Inbound)
        self._seq = itertools.count()
        self._wake = trio.Event()
        self._window_start = 0.0
        self._window_count = 0
        self._replied: set[str] = set()
        self.submitted = 0
        # Unbuffered appends reach the kernel at once, so the record survives a SIGKILL of the
        # daemon: the crash test counts real duplicate submissions from it.
        self._journal = open(cfg.journal, "ab", buffering=0) if cfg.journal else None

    @property
    def is_up(self) -> bool:
        return self._up

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        self._up = True
        self.sink.status(LinkStatus(link=self.name, kind=self.kind, state=LinkState.UP,
                                    detail={"simulated": True}))
        task_status.started()
        try:
            await self._deliveries()
        finally:
            self._up = False

    async def _deliveries(self) -> None:
        """One task sleeps until the next due receipt or reply (a heap, not a task per message),
        then hands due items to the sink concurrently (bounded), as an SMSC with many receipts
        in flight would: each hand-off waits for its commit, so one at a time would starve."""
        limit = trio.Semaphore(256)
        async with trio.open_nursery() as nursery:
            while True:
                if not self._due:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                at = self._due[0][0]
                if at > trio.current_time():
                    self._wake = trio.Event()
                    with trio.move_on_at(at):
                        await self._wake.wait()
                    continue
                _, _, item = heapq.heappop(self._due)
                await limit.acquire()
                nursery.start_soon(self._hand_over, item, limit)

    async def _hand_over(self, item: object, limit: trio.Semaphore) -> None:
        try:
            if isinstance(item, Receipt):
                await self.sink.receipt(item)
            else:
                await self.sink.inbound(item)  # type: ignore[arg-type]
        except Exception:
            log.exception("sim: sink refused %r; retrying in 1 s", item)
            self._schedule(1.0, item)
        finally:
            limit.release()

    def _schedule(self, delay: float, item: object) -> None:
        heapq.heappush(self._due, (trio.current_time() + delay, next(self._seq), item))
        self._wake.set()

    def _throttled(self) -> bool:
        if self.cfg.max_tps is None:
            return False
        now = trio.current_time()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        return self._window_count > self.cfg.max_tps * 1.5   # carriers tolerate small bursts

    async def submit(self, seg: OutSegment) -> SubmitResult:
        if not self._up:
            return SubmitResult(ok=False, transient=True, error_code="link_down", error_text="sim link is down")
        if self.cfg.submit_latency_s:
            await trio.sleep(self.cfg.submit_latency_s)
        if self._throttled():
            return SubmitResult(ok=False, transient=True, throttle=True, error_code="ESME_RTHROTTLED(0x58)",
                                error_text="throttling error: too many messages per second")
        if any(seg.recipient.startswith(p) for p in self.cfg.reject_prefixes):
            return SubmitResult(ok=False, transient=False, error_code="ESME_RINVDSTADR(0x0B)",
                                error_text="invalid destination address")
        self.submitted += 1
        carrier_id = format(next(self._ids), "x")
        if self._journal is not None:
            self._journal.write(f"{seg.message_id} {seg.index} {carrier_id}\n".encode())
        roll = self.rng.random()
        c = self.cfg
        if roll < c.delivered:
            stat, err = "DELIVRD", "000"
        elif roll < c.delivered + c.undelivered:
            stat, err = "UNDELIV", "001"
        elif roll < c.delivered + c.undelivered + c.rejected:
            stat, err = "REJECTD", "002"
        else:
            stat = None
        if stat is not None:
            done = self.clock() + c.dlr_delay_s
            raw = (f"id:{carrier_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
                   f"submit date:{time.strftime('%y%m%d%H%M')} done date:{time.strftime('%y%m%d%H%M')} "
                   f"stat:{stat} err:{err} text:{seg.text[:20]}")
            self._schedule(c.dlr_delay_s, Receipt(link=self.name, carrier_id=carrier_id, stat=stat, err=err,
                                                  done_at=done, raw=raw))
        if seg.index == seg.count and self._answers(seg.recipient) and seg.recipient not in self._replied:
            self._replied.add(seg.recipient)
            text = self.rng.choice(c.replies) if c.replies else "OK"
            at = self.clock() + c.reply_delay_s
            self._schedule(c.reply_delay_s, Inbound(
                link=self.name, sender=seg.recipient, recipient=seg.sender, text=text, received_at=at,
                dedup_key=f"sim:{self.name}:{carrier_id}"))
        return SubmitResult(ok=True, carrier_id=carrier_id)

    def _answers(self, recipient: str) -> bool:
        """Whether this recipient is one of the share that replies (stable per recipient)."""
        if self.cfg.reply_share <= 0:
            return False
        h = hashlib.blake2b(f"{self.cfg.seed}:{recipient}".encode(), digest_size=4).digest()
        return int.from_bytes(h, "big") / 2**32 < self.cfg.reply_share

    def forget_replies(self) -> None:
        """Let recipients answer again (a new campaign step or a new campaign)."""
        self._replied.clear()
