"""The outbox loop: durable rows -> paced claims -> link windows -> persisted results.

One *lane* task per sender number. A lane waits until its number's token bucket, its link's
bucket and window all have room, then claims (in one transaction) only as many segments as can go
*right now*, highest priority first. Claiming no more than can be sent at once is what keeps an
agent's reply from queueing behind a bulk campaign, and what bounds the messages a crash can leave
"maybe sent" to the link's window. Links that queue submits themselves (SMPP) may be claimed a few
windows ahead, capped at 50 ms of the rates (``router.AHEAD_S``, ``AHEAD_WINDOWS``), so a freed
slot is refilled at once rather than after a claim's round trip through the store. The price: a
crash may leave up to window + ahead "maybe sent" (the link drains its backlog while results
travel back), all flagged possible duplicates.
Results are posted to the store's writer without waiting for the commit (group commit), and a
claimed message stays ``sending`` in the database until its result is committed, so the next
message to the same recipient cannot overtake it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial

import trio

from ..config import Config, NumberConfig
from ..links.base import LinkStatus, OutSegment, SubmitResult
from ..models import Encoding, LinkState, Priority
from ..store import actions, bulk, receipts
from ..store import budgets as budget_store
from ..store import flow as flow_store
from ..store import messages as mq
from ..store.batches import URGENT_RANK
from ..store.store import Store, Tx
from . import budgets as carrier_budgets
from .pacing import TokenBucket, backoff
from .router import LinkRuntime, Router

log = logging.getLogger(__name__)
MAX_CLAIM = 500
THROTTLE_CLEAR_S = 5.0     # a throttled link shows as up again after this long without a throttle


class Lane:
    def __init__(self, number: NumberConfig, now: float) -> None:
        self.number = number
        self.bucket = TokenBucket(number.rate, number.burst, now)
        self.enabled = number.enabled
        self.day = ""
        self.used_today = 0
        self.cap_reported = ""
        self.wake = trio.Event()

    def kick(self) -> None:
        self.wake.set()

    def reconfigure(self, number: NumberConfig) -> None:
        self.number = number
        self.bucket.set_rate(number.rate, number.burst)
        self.kick()


def _utc_day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


class Dispatcher:
    def __init__(self, cfg: Config, store: Store, links: dict[str, LinkRuntime],
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.cfg = cfg
        self.store = store
        self.links = links
        self.router = Router(links)
        self.clock = clock
        now = clock()
        self.lanes = {n.address: Lane(n, now) for n in cfg.numbers}
        self.budgets = carrier_budgets.Book(cfg)   # carrier budgets shared by numbers (budgets.py)
        self.draining = False
        self.on_status: Callable[[LinkStatus], None] = lambda status: None   # set by the Gateway
        self.on_submit: Callable[[str, bool], None] = lambda link, ok: None  # metrics
        self.in_flight = 0
        self._idle = trio.Event()
        self._idle.set()

    # ---- control -----------------------------------------------------------------------------

    def kick(self, sender: str | None = None) -> None:
        """Wake lanes after a commit that made work claimable (sync: callable from after_commit)."""
        if sender is None:
            for lane in self.lanes.values():
                lane.kick()
        elif sender in self.lanes:
            self.lanes[sender].kick()

    def reconfigure(self, cfg: Config) -> None:
        """SIGHUP: new rates, bursts, caps, enabled flags, links; a new number gets its lane now.
        A removed number's lane stays until restart (what it had queued still goes out)."""
        self.cfg = cfg
        new_budgets = self.budgets.reconfigure(cfg)
        if new_budgets and hasattr(self, "_nursery"):
            self._nursery.start_soon(self._restore_budgets, new_budgets)
        for number in cfg.numbers:
            if number.address in self.lanes:
                self.lanes[number.address].reconfigure(number)
            else:
                lane = self.lanes[number.address] = Lane(number, self.clock())
                nursery = getattr(self, "_nursery", None)
                if nursery is not None and not self.draining:
                    nursery.start_soon(self._lane, lane)

    def number_state(self, address: str) -> dict[str, object]:
        lane = self.lanes.get(address)
        if lane is None:
            return {"known": False}
        cap = lane.number.daily_cap
        return {"known": True, "links_up": self.router.any_up(lane.number), "enabled": lane.enabled,
                "used_today": lane.used_today, "cap_reached": bool(cap and lane.used_today >= cap)}

    async def drain(self, grace_s: float) -> bool:
        """Stop claiming and wait for in-flight submits to finish. True when drained in time."""
        self.draining = True
        self.kick()
        drained = False
        with trio.move_on_after(grace_s):
            await self._idle.wait()
            drained = True
        with trio.move_on_after(2.0):      # what the links learned, as of now, for the next start
            await self._save_learned()
        return drained

    async def _save_learned(self) -> None:
        rows = [row for lr in self.links.values() if (row := lr.learned_row()) is not None]
        if rows:
            await self.store.run(flow_store.save, rows)

    # ---- tasks -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        for name, (rate, good) in (await self.store.read(flow_store.load)).items():
            if name in self.links:
                self.links[name].learned(rate, good)
        usage = await self.store.read(_usage_today, _utc_day(self.store.clock()))
        for address, used in usage.items():
            if address in self.lanes:
                self.lanes[address].used_today = used
                self.lanes[address].day = _utc_day(self.store.clock())
        await self._restore_budgets(None)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for lane in self.lanes.values():
                nursery.start_soon(self._lane, lane)
            nursery.start_soon(self._housekeeping)
            task_status.started()

    async def _housekeeping(self) -> None:
        """Expire stale messages of lanes that are not claiming (links down), recover rates."""
        while True:
            n = await self.store.run(actions.expire_due)
            if n:
                log.info("expired %d queued messages past their TTL", n)
            now = self.clock()
            for lr in self.links.values():
                lr.tick(now)
                if now - lr.flow.last_throttle >= THROTTLE_CLEAR_S and lr.status.state is LinkState.THROTTLED:
                    self.on_status(LinkStatus(link=lr.name, kind=lr.status.kind, state=LinkState.UP,
                                              reason="throttling over", detail=lr.status.detail))
            await self._save_learned()
            await trio.sleep(2.0)

    async def _lane(self, lane: Lane) -> None:
        sender = lane.number.address
        while True:
            if self.draining:
                await trio.sleep_forever()
            if not lane.enabled or not lane.number.enabled:
                lane.wake = trio.Event()
                await lane.wake.wait()
                continue
            lr = self.router.pick(lane.number, self.clock())
            if lr is None:
                await self.router.wait_change(lane.number, timeout=5.0)
                continue
            now = self.clock()
            wait = max(lane.bucket.wait(1, now), lr.bucket.wait(1, now))
            if wait > 0:
                await trio.sleep(max(wait, 0.001))   # a float-sized wait would not move a clock at ~1e9 s
                continue
            day = _utc_day(self.store.clock())
            if day != lane.day:
                lane.day, lane.used_today = day, 0
            cap = lane.number.daily_cap
            cap_left = (cap - lane.used_today) if cap else MAX_CLAIM
            # A spent cap holds everything but STOP/HELP confirmations (SPEC §11: never held).
            floor = Priority.COMPLIANCE if cap_left <= 0 else Priority.BULK
            if cap_left <= 0:
                if not await self.store.read(_compliance_waiting, sender):
                    await self._cap_reached(lane, day)
                    continue
                cap_left = MAX_CLAIM
            room = lr.room(lane.bucket.rate)
            if room <= 0:   # a faster number filled the link's claim-ahead: wait for a slot
                await self.router.wait_change(lane.number, timeout=5.0)
                continue
            budget = min(lane.bucket.available(now), lr.bucket.available(now), room, cap_left, MAX_CLAIM)
            if getattr(lane.number, "routing", "order") == "weight":
                budget = min(budget, lr.window)   # a claim goes to one link: keep them small to share
            lane.wake = trio.Event()   # from here a kick (a commit, a refund) means "look again"
            wall = self.store.clock()
            gate = self.budgets.gate(sender, max(1, budget), now, wall)
            if gate.hold_s is not None:   # a carrier budget of this number is spent: hold, queued
                if floor < Priority.COMPLIANCE and await self.store.read(_compliance_waiting, sender):
                    # STOP/HELP confirmations are never held (SPEC §11), not even by a spent budget
                    gate, floor = carrier_budgets.OPEN, Priority.COMPLIANCE
                else:
                    await self._budget_hold(lane, now + gate.hold_s)
                    continue
            claimed = []
            try:
                claimed = await self.store.run(_claim, sender, max(1, min(budget, gate.segments)), day, gate, floor)
            finally:
                if gate is not carrier_budgets.OPEN:
                    for other in self.budgets.settle(sender, gate, ((c.budget, len(c.pending)) for c in claimed),
                                                     self.clock(), wall):
                        self.kick(other)
            if not claimed:
                # Work that is merely blocked (an earlier message to the same recipient is in
                # flight) is released by a kick after commit; only retry backoffs need a timer.
                next_due = await self.store.read(_next_due, sender, self.store.clock())
                left = None if next_due is None else next_due - self.store.clock()
                timeout = 30.0 if left is None or left <= 0 else max(0.05, left)
                if gate.retry_s is not None:     # held by a budget: look again when it refills
                    timeout = min(timeout, gate.retry_s)
                with trio.move_on_after(min(timeout, 30.0)):
                    await lane.wake.wait()
                continue
            for m in claimed:
                cost = len(m.pending)
                lane.bucket.take(cost, now)
                lr.bucket.take(cost, now)
                lane.used_today += cost
                lr.in_flight += 1
                self._busy(+1)
                if not self._submit_nowait(lane, lr, m):
                    self._nursery.start_soon(self._send_message, lane, lr, m)

    async def _budget_hold(self, lane: Lane, until: float) -> None:
        """Wait for a spent budget to refill (``until``, trio clock); first say what priority
        this lane has waiting, so that lanes sharing the budget let it go first (budgets.Book.gate)."""
        prio = await self.store.read(budget_store.top_priority, lane.number.address, self.store.clock())
        if prio is not None:
            self.budgets.wait(lane.number.address, prio, until)
        with trio.move_on_at(until):
            await lane.wake.wait()

    async def _restore_budgets(self, names: list[str] | None) -> None:
        """Today's use of daily budgets from the store (a restart or a budget added by reload)."""
        wall = self.store.clock()
        days = self.budgets.day_keys(wall, names)
        if days:
            self.budgets.restore(await self.store.read(budget_store.usage_on, days), wall)

    def _refund(self, m: mq.Claimed, sent: int, res: SubmitResult) -> None:
        """A claimed message was not (wholly) sent: its segments go back to its budgets. Not for a
        time-out: that submit may have reached the carrier."""
        n = len(m.pending) - sent
        if n <= 0 or not self.budgets.active or res.error_code == "timeout":
            return
        days = self.budgets.day_keys(self.store.clock())
        usage = self.budgets.refund(m.sender, m.budget, n, days)
        if usage:
            self._post(budget_store.add_usage, {k: -v for k, v in usage.items()}, days)

    async def _cap_reached(self, lane: Lane, day: str) -> None:
        if lane.cap_reported != day:
            lane.cap_reported = day
            await self.store.run(_emit, "number.cap_reached",
                                 {"number": lane.number.address, "cap": lane.number.daily_cap})
        tomorrow = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
        with trio.move_on_after(max(1.0, tomorrow.timestamp() - self.store.clock())):
            lane.wake = trio.Event()
            await lane.wake.wait()

    def _busy(self, delta: int) -> None:
        self.in_flight += delta
        if self.in_flight == 0:
            self._idle.set()
        elif delta > 0 and self._idle.is_set():
            self._idle = trio.Event()

    def _segment(self, m: mq.Claimed, seg_id: int, idx: int, count: int, text: str) -> OutSegment:
        validity = int(m.expires_at - self.store.clock()) if m.expires_at else None
        return OutSegment(segment_id=seg_id, message_id=m.id, sender=m.sender, recipient=m.recipient, index=idx,
                          count=count, ref=m.ref, encoding=Encoding(m.encoding), text=text,
                          validity_s=max(1, validity) if validity is not None else None)

    def _submit_nowait(self, lane: Lane, lr: LinkRuntime, m: mq.Claimed) -> bool:
        """The hot path for one-segment messages on links that answer by callback (SMPP): no task
        per message, and the result is queued for the store the moment the response is read, so
        it is always ahead of the receipt that follows it on the wire. False: use a task."""
        start = getattr(lr.link, "submit_nowait", None)
        if start is None or m.count != 1 or len(m.pending) != 1:
            return False
        seg_id, idx, text = m.pending[0]
        started = self.clock()

        def done(res: SubmitResult) -> None:
            try:
                self.on_submit(lr.name, res.ok)
                if res.ok:
                    lr.record_sent(self.clock())
                    sent = [mq.SegResult(seg_id, m.id, lr.name, True, res.carrier_id, submitted_at=self.store.clock())]
                    self._post(bulk.submitted, m.id, lr.name, m.attempts, sent, lane.kick)
                else:
                    self._refund(m, 0, res)
                    self._post(self._finish_op(lane, lr, m, [], res, seg_id, started))
            finally:
                lr.in_flight -= 1
                lr.notify()
                self._busy(-1)
                lane.kick()

        return start(self._segment(m, seg_id, idx, 1, text), done)

    def _post(self, fn: Callable[..., object], *args: object) -> None:
        try:
            self.store.post_nowait(fn, *args)
        except trio.WouldBlock:   # the writer is 20,000 ops behind: queue it from a task
            self._nursery.start_soon(partial(self.store.post, fn, *args))

    async def _send_message(self, lane: Lane, lr: LinkRuntime, m: mq.Claimed) -> None:
        sent: list[mq.SegResult] = []
        failure: SubmitResult | None = None
        failed_seg = 0
        started = self.clock()
        try:
            if getattr(lr.link, "whole_messages", False) and m.count > 1:
                first = m.pending[0]
                parts = [(first[0], 1, m.text)]
                count = 1
            else:
                parts, count = m.pending, m.count
            for seg_id, idx, text in parts:
                started = self.clock()
                res = await lr.link.submit(self._segment(m, seg_id, idx, count, text))
                self.on_submit(lr.name, res.ok)
                if not res.ok:
                    failure, failed_seg = res, seg_id
                    break
                lr.record_sent(self.clock())
                sent.append(mq.SegResult(seg_id, m.id, lr.name, True, res.carrier_id, submitted_at=self.store.clock()))
                if len(parts) == 1 and len(m.pending) > 1:   # whole message went in one PDU
                    sent.extend(mq.SegResult(s[0], m.id, lr.name, True, res.carrier_id,
                                             submitted_at=self.store.clock()) for s in m.pending[1:])
            if failure is None:
                # The common case, batchable: a run of these becomes one set-wise write.
                await self.store.post(bulk.submitted, m.id, lr.name, m.attempts, sent, lane.kick)
            else:
                self._refund(m, len(sent), failure)
                await self.store.post(self._finish_op(lane, lr, m, sent, failure, failed_seg, started))
        finally:
            lr.in_flight -= 1
            lr.notify()
            self._busy(-1)
            lane.kick()

    def _finish_op(self, lane: Lane, lr: LinkRuntime, m: mq.Claimed, sent: list[mq.SegResult],
                   failure: SubmitResult, failed_seg: int, started: float):
        """The store op for a failed submit. Throttling is flow control, never a failure: the
        message is deferred in its place without counting an attempt (store/flow.py). So is a
        time-out while the link answered nothing else (a congested SMSC: flagged possible
        duplicate); a time-out while it answered others is this message's loss, and an attempt."""
        q = self.cfg.queue
        now = self.clock()
        timeout = failure.error_code == "timeout"
        lost_alone = timeout and lr.flow.last_accept > started
        defer = (failure.throttle or timeout) and not lost_alone
        if failure.throttle and lr.on_throttle(now):
            log.info("%s: %s; rate %.1f/s (good %s, accepted %d in the last second)", lr.name, failure.error_code,
                     lr.flow.rate or 0.0, f"{lr.flow.good:.1f}" if lr.flow.good else "-", lr.flow.accepted_in(now, 1.0))
        if failure.throttle and lr.status.state is LinkState.UP:
            rate = lr.flow.rate or 0.0
            self.on_status(LinkStatus(link=lr.name, kind=lr.status.kind, state=LinkState.THROTTLED,
                                      reason=f"{failure.error_code}: slowed to {rate:.0f}/s",
                                      detail=lr.status.detail))
        r = mq.SegResult(failed_seg, m.id, lr.name, False, None, failure.error_code, failure.error_text,
                         failure.transient)
        if defer:
            refund = len(m.pending) - len(sent)
            lane.used_today = max(0, lane.used_today - refund)
            lane.bucket.give_back(refund)
            day = _utc_day(self.store.clock())
        dispatcher = self

        def op(tx: Tx) -> None:
            if failure.error_code == "link_down" and not sent:
                mq.release(tx, m.id, f"{lr.name} down before submit")
                tx.db.execute("UPDATE messages SET not_before = ? WHERE id = ?", (tx.now + 0.5, m.id))
            elif defer:
                flow_store.deferred(tx, r, sent, day=day, refund=refund, duplicate_risk=timeout)
            else:
                for s in sent:
                    receipts.segment_sent(tx, s)
                attempts = m.attempts + 1
                give_up = failure.transient and attempts >= q.max_attempts
                delay = backoff(attempts, q.retry_min_s, q.retry_max_s, jitter=0.5)
                mq.segment_failed(tx, r, retry_at=tx.now + delay, give_up=give_up, duplicate_risk=timeout)
            tx.after_commit(lambda: dispatcher.kick(m.sender))

        return op


def _claim(tx: Tx, sender: str, budget: int, day: str,
           gate: carrier_budgets.Gate = carrier_budgets.OPEN, floor: int = 0) -> list[mq.Claimed]:
    if gate is carrier_budgets.OPEN:
        claimed = mq.claim(tx, sender, budget, min_priority=floor)
    else:
        claimed = mq.claim(tx, sender, budget, min_priority=max(floor, gate.min_priority), caps=gate.caps,
                           overdraw=gate.overdraw, hard=gate.hard)
        if claimed and gate.days:
            budget_store.add_usage(tx, gate.usage((c.budget, len(c.pending)) for c in claimed), gate.days)
    if claimed:
        used = sum(len(c.pending) for c in claimed)
        tx.db.execute(
            "INSERT INTO daily_usage(number, day, segments) VALUES (?, ?, ?)"
            " ON CONFLICT(number, day) DO UPDATE SET segments = segments + excluded.segments",
            (sender, day, used))
    return claimed


_claim.reorder = URGENT_RANK  # type: ignore[attr-defined]  # commutes with results and receipts (batches.runs)


def _compliance_waiting(db, sender: str) -> bool:
    return db.execute("SELECT 1 FROM messages WHERE state = 'queued' AND sender = ? AND priority >= ? LIMIT 1",
                      (sender, int(Priority.COMPLIANCE))).fetchone() is not None


def _usage_today(db, day: str) -> dict[str, int]:
    return {r[0]: r[1] for r in db.execute("SELECT number, segments FROM daily_usage WHERE day = ?", (day,))}


def _next_due(db, sender: str, now: float) -> float | None:
    row = db.execute("SELECT min(not_before) FROM messages WHERE state = 'queued' AND sender = ? AND not_before > ?",
                     (sender, now)).fetchone()
    return row[0] if row and row[0] is not None else None


def _emit(tx: Tx, type_: str, data: dict) -> None:
    tx.emit(type_, **data)
