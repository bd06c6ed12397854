"""The campaign scheduler: one task that starts due runs, expands, feeds, suspends and finishes.

Each pass does at most one batch per campaign per kind of work, each batch its own transaction,
so a 1,000,000-recipient expansion interleaves with every other writer instead of holding the
store. The task sleeps until the next deadline (a scheduled run, a step delay, a quiet-hours
opening) or until woken: a message reaching a final state (the queue window has room, a step may
be due), an operator action, or a ``link.state`` / ``number.cap_reached`` / enable event (bus
listeners, sync and non-blocking). A ceiling of :data:`MAX_IDLE` seconds bounds how late a
campaign notices a cause that was cleared without an event (the daily cap resets at midnight UTC).

Suspension: a processing or sending campaign whose number has no link up, or whose daily cap is
reached, is ``suspended`` with that reason; when the cause clears it resumes by itself. A
campaign suspended for another reason, or paused, waits for an operator.

Missed schedules (the daemon was down): a run that was due is started once at start; a recurring
campaign then computes its next run from the time the run finishes, so downtime never replays a
backlog of ticks.
"""

from __future__ import annotations

import logging

import trio

from ..store.store import Tx
from . import expand, lifecycle, steps

log = logging.getLogger(__name__)
MAX_IDLE = 30.0
MIN_GAP = 0.1
WAKE_TYPES = ("link.state", "number.cap_reached", "number.enabled", "link.enabled", "config.reloaded")
LINKS_DOWN, CAP = "links down", "daily cap reached"


class Scheduler:
    def __init__(self, gw) -> None:
        self.gw = gw
        self._wake = trio.Event()
        self.passes = 0

    def wake(self) -> None:
        self._wake.set()

    def observe(self, ev) -> None:
        if ev.type in WAKE_TYPES:
            self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wake = trio.Event()
            started = trio.current_time()
            try:
                busy = await self.tick()
            except Exception:   # one bad campaign must not stop every other one
                log.exception("campaign scheduler pass failed; retrying")
                busy = False
                with trio.move_on_after(5.0):
                    await self._wake.wait()
                continue
            if busy:
                await trio.sleep(0)
                continue
            deadline = await self.gw.store.read(expand.next_deadline)
            now = self.gw.store.clock()
            timeout = MAX_IDLE if deadline is None or deadline <= now else min(MAX_IDLE, deadline - now)
            with trio.move_on_after(timeout):
                await self._wake.wait()
            # Coalesce: every committed outcome wakes us, one pass per MIN_GAP is plenty.
            await trio.sleep_until(started + MIN_GAP)

    def _cause(self, number: str) -> str | None:
        st = self.gw.dispatcher.number_state(number)
        if not st.get("known"):
            return None
        if not st["links_up"]:
            return f"{LINKS_DOWN}: no link of {number} is up"
        if st["cap_reached"]:
            return f"{CAP}: {number} used its daily cap"
        return None

    async def tick(self) -> bool:
        """One pass over the campaigns. Returns True when more work is ready right away."""
        self.passes += 1
        rows = await self.gw.store.read(lambda db: db.execute(
            "SELECT id, status, number FROM campaigns"
            " WHERE status IN ('scheduled', 'processing', 'sending', 'suspended')").fetchall())
        if not rows:
            return False
        causes = {r["number"]: self._cause(r["number"]) for r in rows if r["number"]}
        windows = {}
        for r in rows:
            number = self.gw.cfg.number(r["number"]) if r["number"] else None
            windows[r["id"]] = expand.window_for(number.rate if number else 1.0)
        return await self.gw.store.run(_pass, causes, windows)


def _pass(tx: Tx, causes: dict[str, str | None], windows: dict[int, int]) -> bool:
    """The scheduler's work for every campaign, in one transaction (one group commit per pass)."""
    busy = False
    for r in tx.db.execute("SELECT id, status, number, status_reason FROM campaigns"
                           " WHERE status IN ('processing', 'sending', 'suspended')").fetchall():
        cause = causes.get(r["number"])
        if r["status"] in expand.FEEDING and cause:
            lifecycle.suspend(tx, r["id"], cause)
            log.warning("campaign %s suspended: %s", r["id"], cause)
        elif r["status"] == "suspended" and cause is None and r["status_reason"].startswith((LINKS_DOWN, CAP)):
            lifecycle.unsuspend(tx, r["id"], "resumed: cause cleared")
    for cid in expand.due_runs(tx.db, tx.now):
        busy |= expand.start_run(tx, cid)
    for r in tx.db.execute("SELECT id, status FROM campaigns WHERE status IN ('processing', 'sending')").fetchall():
        if r["status"] == "processing" and expand.expand_batch(tx, r["id"]) >= expand.BATCH:
            busy = True
        limit = min(windows.get(r["id"], expand.MIN_WINDOW) - expand.queued_count(tx.db, r["id"]), expand.FEED_BATCH)
        if limit > 0 and expand.feed_batch(tx, r["id"], limit) >= limit:
            busy = True
        if r["status"] == "sending":
            expand.finish_if_done(tx, r["id"])
    return busy


async def run(gw, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
    sched = Scheduler(gw)
    gw.campaign_scheduler = sched
    steps.RUNTIME.wake = sched.wake
    gw.bus.listeners.append(sched.observe)
    await sched.run(task_status=task_status)
