"""The built-in simulated carrier, for demos and tests (never a production default).

It behaves like a small, well-mannered SMSC: accepts segments (throttling above ``max_tps`` the
way carriers answer ESME_RTHROTTLED), refuses numbers by prefix as permanently invalid, returns
carrier ids, sends receipts after ``dlr_delay_s`` with the configured DELIVRD/UNDELIV/REJECTD mix,
and plays the phones at the other end so the demo and tests show two-way traffic. With ``seed``
set its choices are deterministic (tests).

The phones behave as people do, per message rather than once per daemon run:

- a share (``reply_share``) of recipients are the kind who answer; which ones is stable per
  recipient, so a second campaign to the same list hears from the same people;
- such a phone answers each message that *opens* a turn (a campaign step, an API send), after
  ``reply_delay_s``, with one of ``replies`` chosen from the seed, the phone and the message's
  text (the same message to the same phone gets the same answer in every run: repeatable demos
  and tests; another campaign's message may get another answer);
- it does not answer our response to its own message: whatever we send it from ``reply_delay_s``
  before its reply until ``reply_turn_s`` after it (the assistant's next step, a keyword
  confirmation, an agent's answer). That is what keeps auto-replies and a phone from talking to
  each other forever; a step sent later than that opens a new turn and is answered again;
- after it sent an opt-out word to a number it never writes to that number again;
- nobody can answer an alphanumeric sender ("ACME"), as on a real handset;
- a phone driven by hand (``inject``, ``gatewayctl sim inbound``) is left to the person driving
  it: its pending simulated answers are dropped and it gets no new ones.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import random
import time
from collections import OrderedDict

import trio

from .. import phones
from ..config import SimConfig
from ..models import LinkState
from .base import Inbound, LinkSink, LinkStatus, OutSegment, Receipt, SubmitResult

log = logging.getLogger(__name__)

#: What a phone texts to opt out; after one of these it never writes to that number again.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})


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
        # (phone, our number) -> trio time until which what we send it is a response to its
        # last reply (not answered). Ordered by that time, so expired turns are dropped from the
        # front and memory stays bounded by the replies of the last ``reply_turn_s``.
        self._turns: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._opted_out: set[tuple[str, str]] = set()
        self._manual: set[str] = set()       # phones a person drives (inject): never auto-answered
        self._injected = itertools.count(1)
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
            if isinstance(item, Inbound) and item.sender in self._manual:
                return        # a person took this phone over: no simulated answer from it
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
        if seg.index == seg.count and self._will_answer(seg.recipient, seg.sender):
            text = self._reply_text(seg.recipient, seg.sender, seg.text)
            at = self.clock() + c.reply_delay_s
            pair = (seg.recipient, seg.sender)
            self._turns[pair] = trio.current_time() + c.reply_delay_s + c.reply_turn_s
            self._turns.move_to_end(pair)
            if text.strip().upper() in OPT_OUT_WORDS:
                self._opted_out.add(pair)
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

    def _will_answer(self, phone: str, our: str) -> bool:
        """Whether the phone answers this (complete) message from ``our`` number now."""
        if phone in self._manual or (phone, our) in self._opted_out or not self._answers(phone):
            return False
        if phones.is_alphanumeric_sender(our):
            return False
        now = trio.current_time()
        while self._turns:
            first, until = next(iter(self._turns.items()))
            if until > now:
                break
            del self._turns[first]
        return (phone, our) not in self._turns

    def _reply_text(self, phone: str, our: str, text: str) -> str:
        """One of ``replies``, from the seed, the phone and (the last segment of) our message."""
        if not self.cfg.replies:
            return "OK"
        h = hashlib.blake2b(f"{self.cfg.seed}:{phone}:{our}:{text}".encode(), digest_size=4).digest()
        return self.cfg.replies[int.from_bytes(h, "big") % len(self.cfg.replies)]

    async def inject(self, sender: str, recipient: str, text: str) -> Inbound:
        """A message typed by a person on ``sender``'s phone to our ``recipient`` number (tests,
        demos: ``gatewayctl sim inbound``). It takes the path of every simulated reply and returns
        once committed; from then on this phone is left to that person (no automatic answers)."""
        self._manual.add(sender)
        msg = Inbound(link=self.name, sender=sender, recipient=recipient, text=text, received_at=self.clock(),
                      dedup_key=f"sim:{self.name}:in:{next(self._ids):x}:{next(self._injected)}")
        await self.sink.inbound(msg)
        return msg
