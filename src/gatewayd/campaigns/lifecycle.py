"""Campaign statuses, the actions each allows (SPEC §5), and the sync operations behind them.

    draft -> (scheduled) -> processing -> sending -> finished
    side states: paused (operator), suspended (system, with a reason), stopped (operator),
    archived (after stop/finish, or a discarded draft)

Decisions:
- Launch checks everything and refuses with *all* the reasons at once (script missing or empty,
  no contacts, number unknown/disabled, fields missing for some contacts with who they are).
- ``launched_at`` is when the first run starts processing; a scheduled or recurring campaign
  shows ``next_run`` until then.
- Pause *holds* the campaign's queued window: those messages stay ``queued`` (with their TTL:
  one that expires while paused is ``expired``, never sent stale) but are not claimed, and
  nothing more is fed; resume puts the same messages back in line. So every recipient's step is
  one message, and every report counts it once (it used to be withdrawn as ``ignored`` and sent
  again as a new message, which counted it twice). Messages already handed to a link are not
  recalled. A held message does not hold back an agent's reply to the same contact.
- Stop (and archive of an active campaign, the seed's "Stop and Archive") marks the queued window
  ``ignored`` ("campaign stopped"); nothing more is fed. The inbox moves conversations on the
  ``campaign.status`` event.
- Suspension is the system's: ``suspended`` keeps the status to return to in ``resume_status``;
  resuming (automatic when the cause clears, or an operator's resume) returns there.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import BadRequest, Conflict, NotFound
from ..store import actions
from ..store.store import Tx

ACTIVE = ("scheduled", "processing", "sending", "paused", "suspended")
ACTIONS: dict[str, tuple[str, ...]] = {
    "draft": ("view", "edit", "clone", "launch", "archive"),
    "scheduled": ("view", "clone", "pause", "stop", "archive"),
    "processing": ("view", "clone", "pause", "stop", "archive"),
    "sending": ("view", "clone", "pause", "stop", "archive"),
    "paused": ("view", "clone", "resume", "stop", "archive"),
    "suspended": ("view", "clone", "resume", "stop", "archive"),
    "finished": ("view", "clone", "archive"),
    "stopped": ("view", "clone", "archive"),
    "archived": ("view", "clone"),
}
STATUSES = tuple(ACTIONS)
EDITABLE = ("name", "script_id", "list_id", "number", "office", "operated_by", "stop_on_reply", "tags",
            "schedule_at", "cron", "tz", "ttl_s", "quiet_start", "quiet_end", "variants", "defaults", "description",
            "hours", "budget", "require_consent")
_JSON_COLS = ("tags", "variants", "defaults")


def get(db: sqlite3.Connection, campaign_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    return row


def require(row: sqlite3.Row, action: str) -> None:
    if action not in ACTIONS[row["status"]]:
        allowed = ", ".join(a for a in ACTIONS[row["status"]] if a != "view")
        raise Conflict(f"campaign {row['id']} is {row['status']}: cannot {action} (allowed: {allowed or 'view'})",
                       "bad_status")


def set_status(tx: Tx, campaign_id: int, status: str, reason: str = "", by: str | None = None,
               resume_status: str | None = None) -> None:
    row = get(tx.db, campaign_id)
    tx.db.execute("UPDATE campaigns SET status = ?, status_reason = ?, resume_status = ?, updated_at = ?"
                  " WHERE id = ?", (status, reason, resume_status, tx.now, campaign_id))
    tx.emit("campaign.status", id=campaign_id, name=row["name"], status=status, previous=row["status"],
            reason=reason, by=by, office=row["office"], number=row["number"])


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in fields.items():
        if k not in EDITABLE:
            raise BadRequest(f"unknown campaign field {k!r}")
        out[k] = json.dumps(v) if k in _JSON_COLS else (int(v) if k in ("stop_on_reply", "require_consent") else v)
    return out


def create(tx: Tx, fields: dict[str, Any], by: str | None) -> int:
    cols = _columns(fields)
    if not str(cols.get("name") or "").strip():
        raise BadRequest("a campaign needs a name")
    cols.update(created_by=by, created_at=tx.now, updated_at=tx.now, status="draft")
    names = ", ".join(cols)
    cid = tx.db.execute(f"INSERT INTO campaigns({names}) VALUES ({', '.join('?' * len(cols))})",
                        tuple(cols.values())).lastrowid
    tx.emit("campaign.created", id=cid, name=cols["name"], by=by, office=cols.get("office", "default"))
    return cid


def edit(tx: Tx, campaign_id: int, fields: dict[str, Any], by: str | None) -> None:
    require(get(tx.db, campaign_id), "edit")
    cols = _columns(fields)
    if not cols:
        return
    sets = ", ".join(f"{k} = ?" for k in cols)
    tx.db.execute(f"UPDATE campaigns SET {sets}, updated_at = ? WHERE id = ?", (*cols.values(), tx.now, campaign_id))
    row = get(tx.db, campaign_id)
    tx.emit("campaign.updated", id=campaign_id, by=by, office=row["office"])


def clone(tx: Tx, campaign_id: int, by: str | None) -> int:
    row = get(tx.db, campaign_id)
    fields = {k: row[k] for k in EDITABLE}
    for k in _JSON_COLS:
        fields[k] = json.loads(fields[k] or ("[]" if k != "defaults" else "{}"))
    fields["name"] = f"{row['name']} (copy)"
    if fields["schedule_at"] is not None and fields["schedule_at"] <= tx.now:
        fields["schedule_at"] = None
    return create(tx, fields, by)


def pause(tx: Tx, campaign_id: int, by: str | None) -> int:
    row = get(tx.db, campaign_id)
    require(row, "pause")
    n = actions.hold_queued(tx, "campaign_id = ? AND step IS NOT NULL", (campaign_id,),
                            f"campaign {campaign_id} paused")
    back = row["resume_status"] if row["status"] == "suspended" else row["status"]
    set_status(tx, campaign_id, "paused", f"paused by {by}" if by else "paused", by, resume_status=back)
    return n


def resume(tx: Tx, campaign_id: int, by: str | None) -> str:
    row = get(tx.db, campaign_id)
    require(row, "resume")
    status = row["resume_status"] or "sending"
    if actions.release_held(tx, "campaign_id = ?", (campaign_id,), f"campaign {campaign_id} resumed") and row["number"]:
        from .steps import RUNTIME

        number = row["number"]
        tx.after_commit(lambda: RUNTIME.kick(number))
    set_status(tx, campaign_id, status, f"resumed by {by}" if by else "resumed", by)
    return status


def stop(tx: Tx, campaign_id: int, by: str | None, reason: str = "") -> int:
    row = get(tx.db, campaign_id)
    require(row, "stop")
    n = _withdraw(tx, row, "campaign stopped")
    tx.db.execute("UPDATE campaigns SET next_run = NULL, finished_at = ? WHERE id = ?", (tx.now, campaign_id))
    set_status(tx, campaign_id, "stopped", reason or (f"stopped by {by}" if by else "stopped"), by)
    return n


def archive(tx: Tx, campaign_id: int, by: str | None) -> None:
    row = get(tx.db, campaign_id)
    require(row, "archive")
    if row["status"] in ACTIVE:
        stop(tx, campaign_id, by, reason=f"stopped and archived by {by}" if by else "stopped and archived")
    set_status(tx, campaign_id, "archived", "discarded draft" if row["status"] == "draft" else "archived", by)


def suspend(tx: Tx, campaign_id: int, reason: str) -> bool:
    row = get(tx.db, campaign_id)
    if row["status"] not in ("processing", "sending"):
        return False
    set_status(tx, campaign_id, "suspended", reason, resume_status=row["status"])
    return True


def unsuspend(tx: Tx, campaign_id: int, reason: str) -> bool:
    row = get(tx.db, campaign_id)
    if row["status"] != "suspended":
        return False
    set_status(tx, campaign_id, row["resume_status"] or "sending", reason)
    return True


def _withdraw(tx: Tx, row: sqlite3.Row, reason: str) -> int:
    """Take the campaign's queued (not yet claimed, or held) steps out of the queue as ``ignored``."""
    return actions.ignore_queued(tx, "campaign_id = ? AND step IS NOT NULL", (row["id"],), reason)


def campaign_dict(row: sqlite3.Row, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    d = {k: row[k] for k in row.keys()}
    for k in _JSON_COLS:
        d[k] = json.loads(d[k] or ("{}" if k == "defaults" else "[]"))
    d["stop_on_reply"] = bool(d["stop_on_reply"])
    d["require_consent"] = bool(d.get("require_consent"))
    d["actions"] = [a for a in ACTIONS[row["status"]]]
    if extra:
        d.update(extra)
    return d


def search(db: sqlite3.Connection, *, statuses: list[str] | None = None, tag: str | None = None,
           text: str | None = None, offices: tuple[str, ...] | None = None, created_by: str | None = None,
           limit: int = 200) -> list[sqlite3.Row]:
    where, params = ["1=1"], []
    if statuses:
        where.append(f"c.status IN ({','.join('?' * len(statuses))})")
        params += statuses
    if tag:
        where.append("EXISTS (SELECT 1 FROM json_each(c.tags) t WHERE t.value = ?)")
        params.append(tag)
    if text:
        where.append("(c.name LIKE ? OR c.description LIKE ?)")
        params += [f"%{text}%", f"%{text}%"]
    if offices is not None:
        where.append(f"c.office IN ({','.join('?' * len(offices)) or 'NULL'})")
        params += list(offices)
    if created_by:
        where.append("c.created_by = ?")
        params.append(created_by)
    # the list's name comes along (as in campaign_show's "list"), so a listing needs no lookups
    return db.execute(f"SELECT c.*, l.name AS list FROM campaigns c LEFT JOIN lists l ON l.id = c.list_id"
                      f" WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                      (*params, limit)).fetchall()


# ---- launch ---------------------------------------------------------------------------------


def readiness(db: sqlite3.Connection, row: sqlite3.Row, cfg, number_state) -> list[str]:
    """Every reason the campaign cannot launch yet (empty when ready); see :mod:`.readiness`."""
    from .readiness import check

    return check(db, row, cfg, number_state)


def schedule_passed(row: sqlite3.Row, now: float) -> str | None:
    """A one-off time that passed while the campaign was a draft is not silently "now"
    (issue 18.10): launching refuses until the time is moved or cleared."""
    if row["cron"] or row["schedule_at"] is None or row["schedule_at"] > now:
        return None
    import datetime as dt

    when = dt.datetime.fromtimestamp(row["schedule_at"], dt.timezone.utc).isoformat(timespec="minutes")
    return f"its send time {when} has passed (edit --at to a later time, or --at now to send at launch)"


def launch(tx: Tx, campaign_id: int, by: str | None, cfg, number_state) -> str:
    """Launch now, or schedule; refuses with every reason it is not ready."""
    from . import schedule

    row = get(tx.db, campaign_id)
    require(row, "launch")
    reasons = readiness(tx.db, row, cfg, number_state)
    passed = schedule_passed(row, tx.now)
    if passed:
        reasons.append(passed)
    if reasons:
        raise Conflict("cannot launch: " + "; ".join(reasons), "not_ready")
    if row["cron"]:
        nxt = schedule.next_cron(row["cron"], row["tz"], tx.now)
        tx.db.execute("UPDATE campaigns SET next_run = ? WHERE id = ?", (nxt, campaign_id))
        set_status(tx, campaign_id, "scheduled", f"recurring: {row['cron']} ({row['tz']})", by)
        return "scheduled"
    if row["schedule_at"] is not None and row["schedule_at"] > tx.now:
        tx.db.execute("UPDATE campaigns SET next_run = ? WHERE id = ?", (row["schedule_at"], campaign_id))
        set_status(tx, campaign_id, "scheduled", "scheduled", by)
        return "scheduled"
    tx.db.execute("UPDATE campaigns SET run = run + 1, cursor = 0, expanded = 0, suppressed = 0, launched_at = ?,"
                  " last_run_at = ? WHERE id = ?", (tx.now, tx.now, campaign_id))
    set_status(tx, campaign_id, "processing", f"launched by {by}" if by else "launched", by)
    return "processing"
