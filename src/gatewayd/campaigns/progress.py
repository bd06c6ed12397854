"""Where a campaign and each of its recipients stand, in words an operator can act on
(issue 18.8): what a recipient waits for (a queued step, a paused campaign, quiet hours until
when in their zone, a later step, an answer) and the campaign's next send.

Read-only; computed when asked (``campaign show`` / ``campaign contacts``), so nothing extra is
stored on the hot path.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from ..store.messages import HELD
from . import schedule, scripts

#: ``campaign_contacts.state`` values (``campaign contacts --state``).
RECIPIENT_STATES = ("active", "done", "opted_out", "stopped", "unanswered", "closed")


def overview(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> dict[str, Any]:
    """Extra keys of a campaign's view: its variants with script names and the main script's
    share, the next step due, and how many recipients wait for an answer."""
    variants = json.loads(row["variants"] or "[]")
    names = {r[0]: r[1] for r in db.execute("SELECT id, name FROM scripts")} if variants else {}
    detail = [{"script_id": v["script_id"], "script": names.get(v["script_id"]), "weight": v["weight"]}
              for v in variants]
    nxt = db.execute("SELECT min(next_at) FROM campaign_contacts WHERE campaign_id = ? AND state = 'active'"
                     " AND pending = 0", (row["id"],)).fetchone()[0]
    waiting = db.execute("SELECT count(*) FROM campaign_contacts WHERE campaign_id = ? AND state = 'active'"
                         " AND pending = 2", (row["id"],)).fetchone()[0]
    held = db.execute(f"SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'"
                      f" AND not_before >= {HELD}", (row["id"],)).fetchone()[0]
    return {"variants": detail, "main_weight": max(0.0, 100.0 - sum(float(v["weight"]) for v in variants)),
            "next_step_at": nxt, "waiting_for_answers": waiting, "held": held}


def _local(at: float, zone: str) -> str:
    return dt.datetime.fromtimestamp(at, schedule.zone(zone)).strftime("%Y-%m-%d %H:%M") + f" {zone}"


def waiting(camp: sqlite3.Row, r: dict[str, Any], now: float) -> str:
    """What one recipient waits for, or "" when nothing (done, stopped, opted out)."""
    if r["state"] == "unanswered":
        return f"no answer to step {r['step']} in time"
    if r["state"] != "active":
        return ""
    if r["pending"] == 1:
        held = " (held: campaign paused)" if camp["status"] == "paused" else ""
        return f"step {r['step']} queued{held}"
    if r["pending"] == 2:
        return f"an answer to step {r['step']}, until {_local(r['next_at'], camp['tz'] or 'UTC')}"
    if r["next_at"] is None:
        return ""
    if r["next_at"] > now and r.get("held_reason"):       # sending hours by law, frequency caps
        return f"step {r['step'] + 1}: {r['held_reason']}"            # the reason says until when
    if r["next_at"] > now and camp["quiet_start"]:
        values = scripts.contact_values(r)
        zone = schedule.recipient_zone(r["phone"], values, camp["tz"])
        until = schedule.quiet_until(now, camp["quiet_start"], camp["quiet_end"], zone)
        if until is not None:
            return f"quiet hours {camp['quiet_start']}-{camp['quiet_end']}: step {r['step'] + 1} at {_local(until, zone)}"
    if r["next_at"] > now:
        return f"step {r['step'] + 1} at {_local(r['next_at'], camp['tz'] or 'UTC')}"
    paused = " (campaign paused)" if camp["status"] == "paused" else ""
    return f"step {r['step'] + 1} due now{paused}"
