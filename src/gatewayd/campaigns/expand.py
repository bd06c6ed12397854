"""Expansion and feeding: from a list of contacts to messages in the durable queue.

*Expansion* (status ``processing``) turns list members into recipient rows in batches of
:data:`BATCH` per transaction, ordered by contact id, and stores the last id in
``campaigns.cursor``: a restart resumes after it, and a 1,000,000-contact list never sits in
memory. *Feeding* (``processing`` and ``sending``) enqueues the steps that are due, at most
enough to keep a window of queued messages per campaign (about a minute of the number's pace):
pausing then holds (stopping withdraws) only that window, and quiet hours or later steps wait in the
recipient rows instead of blocking the queue. Suppressed contacts are enqueued directly as
``unreachable`` (counted, never sent).

A campaign is finished when it is expanded, no recipient has a step queued or due or is waiting
for an answer (then it stays ``sending``, "waiting for answers (N)", until they answer or their
answer's time runs out), and none of its messages is queued or in flight; a recurring one then
goes back to ``scheduled`` with its next run.
"""

from __future__ import annotations

import json
import sqlite3

from ..contacts.suppression import MATCH_SQL
from ..store.store import Tx
from . import lifecycle, schedule, steps

BATCH = 1000
FEED_BATCH = 250      # enqueues per transaction: short enough not to hold the claims of every lane
MIN_WINDOW, MAX_WINDOW = 200, 20_000
FEEDING = ("processing", "sending")
WAITING = "waiting for answers"


def window_for(rate: float) -> int:
    return int(min(MAX_WINDOW, max(MIN_WINDOW, rate * 60)))


def expand_batch(tx: Tx, campaign_id: int, batch: int = BATCH) -> int:
    """Expand the next ``batch`` list members. Returns how many; moves to ``sending`` at the end."""
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if camp is None or camp["status"] != "processing":
        return 0
    rows = tx.db.execute(
        f"""SELECT m.contact_id, EXISTS (SELECT 1 FROM suppressions s WHERE s.phone = c.phone AND {MATCH_SQL}) AS supp
            FROM list_members m JOIN contacts c ON c.id = m.contact_id
            WHERE m.list_id = :list AND m.contact_id > :cursor ORDER BY m.contact_id LIMIT :n""",
        {"list": camp["list_id"], "cursor": camp["cursor"], "n": batch, "num": camp["number"], "cid": camp["id"]},
    ).fetchall()
    variants = json.loads(camp["variants"] or "[]")
    tx.db.executemany(
        """INSERT INTO campaign_contacts(campaign_id, contact_id, step, state, pending, next_at, variant, updated_at)
           VALUES (?, ?, 0, 'active', 0, ?, ?, ?)
           ON CONFLICT(campaign_id, contact_id) DO UPDATE SET step = 0, state = 'active', pending = 0,
             next_at = excluded.next_at, updated_at = excluded.updated_at
           WHERE campaign_contacts.state = 'done'""",
        [(campaign_id, r["contact_id"], tx.now, steps.pick_variant(r["contact_id"], variants), tx.now) for r in rows])
    supp = sum(r["supp"] for r in rows)
    cursor = rows[-1]["contact_id"] if rows else camp["cursor"]
    tx.db.execute("UPDATE campaigns SET cursor = ?, expanded = expanded + ?, suppressed = suppressed + ? WHERE id = ?",
                  (cursor, len(rows), supp, campaign_id))
    if len(rows) < batch:
        lifecycle.set_status(tx, campaign_id, "sending", reason="expanded")
    tx.emit("campaign.progress", id=campaign_id, expanded=camp["expanded"] + len(rows),
            suppressed=camp["suppressed"] + supp, office=camp["office"])
    tx.after_commit(steps.RUNTIME.wake)
    return len(rows)


def feed_batch(tx: Tx, campaign_id: int, limit: int) -> int:
    """Enqueue up to ``limit`` due steps of one campaign. Returns how many recipients moved."""
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if camp is None or camp["status"] not in FEEDING or limit <= 0:
        return 0
    rows = tx.db.execute(
        """SELECT cc.contact_id, cc.step, cc.variant, cc.held_since, c.id, c.phone, c.first_name, c.last_name, c.fields
           FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id
           WHERE cc.campaign_id = ? AND cc.state = 'active' AND cc.pending = 0 AND cc.next_at <= ?
           ORDER BY cc.next_at LIMIT ?""", (campaign_id, tx.now, limit)).fetchall()
    cache: dict[int, tuple[list, dict]] = {}
    sent = 0
    for r in rows:
        if r["variant"] not in cache:
            cache[r["variant"]] = steps.script_for(tx.db, camp, r["variant"])
        script_steps, defaults = cache[r["variant"]]
        nxt = r["step"] + 1
        if nxt > len(script_steps):
            tx.db.execute("UPDATE campaign_contacts SET state = 'done', next_at = NULL WHERE campaign_id = ?"
                          " AND contact_id = ?", (campaign_id, r["contact_id"]))
            continue
        if steps.send_step(tx, camp, r, nxt, r["variant"], script_steps, defaults) == "sent":
            sent += 1
    if sent:
        number = camp["number"]
        tx.after_commit(lambda: steps.RUNTIME.kick(number))
    return len(rows)


def queued_count(db: sqlite3.Connection, campaign_id: int) -> int:
    return db.execute("SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'",
                      (campaign_id,)).fetchone()[0]


def finish_if_done(tx: Tx, campaign_id: int) -> str | None:
    """``sending`` -> ``finished`` (or back to ``scheduled`` for a recurring campaign)."""
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if camp is None or camp["status"] != "sending":
        return None
    steps.expire_waits(tx, campaign_id)
    busy = tx.db.execute("SELECT 1 FROM campaign_contacts WHERE campaign_id = ? AND state = 'active'"
                         " AND (pending = 1 OR (pending = 0 AND next_at IS NOT NULL)) LIMIT 1",
                         (campaign_id,)).fetchone()
    busy = busy or tx.db.execute("SELECT 1 FROM messages WHERE campaign_id = ? AND state IN ('queued', 'sending')"
                                 " LIMIT 1", (campaign_id,)).fetchone()
    if busy:
        return None
    waiting = steps.waiting_count(tx.db, campaign_id)
    if waiting:   # everything is sent, but answers may still make a next step due
        label = f"{WAITING} ({waiting})"
        if camp["status_reason"] != label:
            lifecycle.set_status(tx, campaign_id, "sending", reason=label)
        return None
    if camp["cron"]:
        nxt = schedule.next_cron(camp["cron"], camp["tz"], tx.now)
        tx.db.execute("UPDATE campaigns SET next_run = ? WHERE id = ?", (nxt, campaign_id))
        lifecycle.set_status(tx, campaign_id, "scheduled", reason=f"run {camp['run']} finished")
        return "scheduled"
    tx.db.execute("UPDATE campaigns SET finished_at = ? WHERE id = ?", (tx.now, campaign_id))
    unanswered = tx.db.execute("SELECT count(*) FROM campaign_contacts WHERE campaign_id = ? AND state = 'unanswered'",
                               (campaign_id,)).fetchone()[0]
    lifecycle.set_status(tx, campaign_id, "finished", reason="all recipients attempted" + (
        f" ({unanswered} did not answer in time)" if unanswered else ""))
    return "finished"


def start_run(tx: Tx, campaign_id: int) -> bool:
    """A scheduled campaign is due: begin a run (expansion from the first contact)."""
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if camp is None or camp["status"] != "scheduled":
        return False
    tx.db.execute("UPDATE campaigns SET run = run + 1, cursor = 0, expanded = 0, suppressed = 0, next_run = NULL,"
                  " last_run_at = ?, launched_at = coalesce(launched_at, ?) WHERE id = ?",
                  (tx.now, tx.now, campaign_id))
    lifecycle.set_status(tx, campaign_id, "processing", reason="scheduled run")
    return True


def due_runs(db: sqlite3.Connection, now: float) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT id FROM campaigns WHERE status = 'scheduled' AND next_run IS NOT NULL AND next_run <= ? ORDER BY next_run",
        (now,))]


def next_deadline(db: sqlite3.Connection) -> float | None:
    """The earliest future moment something becomes due (a run, a step, a quiet-hours opening)."""
    times = [r[0] for r in db.execute("SELECT min(next_run) FROM campaigns WHERE status = 'scheduled'")]
    for (cid,) in db.execute("SELECT id FROM campaigns WHERE status IN ('processing', 'sending')").fetchall():
        for pending in (0, 2):   # a step due, an answer's deadline
            times.append(db.execute("SELECT min(next_at) FROM campaign_contacts WHERE campaign_id = ?"
                                    " AND state = 'active' AND pending = ?", (cid, pending)).fetchone()[0])
    times = [t for t in times if t is not None]
    return min(times) if times else None
