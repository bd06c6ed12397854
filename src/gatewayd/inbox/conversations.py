"""Conversations: rows, who may see them, their events, and the thread view.

Every change to a conversation goes through :func:`update`, which stamps ``updated_at`` and emits
a ``conversation.*`` event carrying the conversation's ``office`` inside the same transaction, so
the event stream shows it at once and office-limited subscribers can be filtered.
The campaign tables (``contacts``, ``campaigns``, ...) belong to the campaigns package; this
module only reads them, and copes with their absence (the inbox works on unsolicited traffic alone).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .. import protocol as P
from ..control.access import Principal
from ..errors import Forbidden, NotFound
from ..models import Role
from ..store.store import Tx

def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether another package's table exists (the inbox also runs without the campaigns package)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def section(row: sqlite3.Row | dict) -> str:
    if row["needs_attention"]:
        return "needs_attention"
    return "assistant" if row["operated_by"] == "assistant" else "agent"


def get(db: sqlite3.Connection, conversation_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return row


def find(db: sqlite3.Connection, phone: str, number: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM conversations WHERE phone = ? AND number = ?", (phone, number)).fetchone()


def contact(db: sqlite3.Connection, phone: str) -> sqlite3.Row | None:
    if not has_table(db, "contacts"):
        return None
    return db.execute("SELECT id, first_name, last_name FROM contacts WHERE phone = ?", (phone,)).fetchone()


def campaign(db: sqlite3.Connection, campaign_id: int | None) -> sqlite3.Row | None:
    if campaign_id is None or not has_table(db, "campaigns"):
        return None
    return db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()


def tags(db: sqlite3.Connection, conversation_id: int) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY created_at, tag", (conversation_id,))]


def inbox_of(row: sqlite3.Row | dict) -> list[str]:
    return list(json.loads(row["inbox"] or "[]"))


# ---- access ------------------------------------------------------------------------------------


def visible(who: Principal, row: sqlite3.Row | dict) -> bool:
    """Admins see everything; others their offices' conversations and their personal inbox;
    limited users, of their office, only what is unassigned or assigned to them."""
    if who.role is Role.ADMIN:
        return True
    targets = inbox_of(row)
    if row["assignee"] == who.user or f"agent:{who.user}" in targets:
        return True
    offices = set(who.offices)
    in_office = row["office"] in offices or any(t[7:] in offices for t in targets if t.startswith("office:"))
    if who.limited:
        return in_office and row["assignee"] is None
    return in_office


def visibility_sql(who: Principal) -> tuple[str, list[Any]]:
    """The same rule as :func:`visible`, as a WHERE fragment over ``conversations c``."""
    if who.role is Role.ADMIN:
        return "1", []
    mine = "(c.assignee = ? OR instr(c.inbox, ?) > 0)"
    args: list[Any] = [who.user, json.dumps(f"agent:{who.user}")]
    if not who.offices:
        return mine, args
    qs = ",".join("?" * len(who.offices))
    office = (f"(c.office IN ({qs})"
              + "".join(" OR instr(c.inbox, ?) > 0" for _ in who.offices) + ")")
    office_args = [*who.offices, *(json.dumps(f"office:{o}") for o in who.offices)]
    if who.limited:
        office = f"({office} AND c.assignee IS NULL)"
    return f"({mine} OR {office})", args + office_args


def require_visible(who: Principal, row: sqlite3.Row) -> None:
    if not visible(who, row):
        # Same answer as a missing one: a limited user learns nothing about other offices.
        raise NotFound(f"no conversation {row['id']}")


def require_actor(who: Principal, row: sqlite3.Row) -> None:
    require_visible(who, row)
    if not who.can(Role.AGENT):
        raise Forbidden(f"{who.user} is {who.role.value}: read only")


# ---- changes and events ---------------------------------------------------------------------------


def event(tx: Tx, type_: str, row: sqlite3.Row | dict, **extra: Any) -> None:
    tx.emit(type_, id=row["id"], office=row["office"], inbox=inbox_of(row), number=row["number"],
            phone=row["phone"], campaign_id=row["campaign_id"], section=section(row), assignee=row["assignee"],
            needs_attention=bool(row["needs_attention"]), unread=row["unread"], status=row["status"], **extra)


def update(tx: Tx, conversation_id: int, type_: str = "conversation.updated", extra: dict | None = None,
           **cols: Any) -> sqlite3.Row:
    """Change columns, stamp ``updated_at``, emit one event with the new state. Returns the row."""
    cols["updated_at"] = tx.now
    sets = ", ".join(f"{k} = ?" for k in cols)
    tx.db.execute(f"UPDATE conversations SET {sets} WHERE id = ?", (*cols.values(), conversation_id))
    row = get(tx.db, conversation_id)
    event(tx, type_, row, **(extra or {}))
    return row


def create(tx: Tx, phone: str, number: str, *, office: str | None, inbox: list[str], operated_by: str,
           campaign_id: int | None) -> sqlite3.Row:
    c = contact(tx.db, phone)
    cur = tx.db.execute(
        """INSERT INTO conversations(number, phone, contact_id, first_name, last_name, campaign_id, office, inbox,
             operated_by, last_message_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
        (number, phone, c["id"] if c else None, (c["first_name"] or "") if c else "",
         (c["last_name"] or "") if c else "", campaign_id, office, json.dumps(inbox), operated_by,
         tx.now, tx.now, tx.now))
    row = get(tx.db, cur.lastrowid)
    event(tx, "conversation.created", row)
    return row


# ---- views ------------------------------------------------------------------------------------------


def view(row: sqlite3.Row, tag_list: list[str]) -> P.ConversationView:
    return P.ConversationView(
        id=row["id"], number=row["number"], phone=row["phone"], contact_id=row["contact_id"],
        first_name=row["first_name"], last_name=row["last_name"], campaign_id=row["campaign_id"],
        office=row["office"], inbox=inbox_of(row), assignee=row["assignee"], operated_by=row["operated_by"],
        section=section(row), needs_attention=bool(row["needs_attention"]),
        attention_reason=row["attention_reason"], unread=row["unread"], status=row["status"],
        opted_out=bool(row["opted_out"]), tags=tag_list, last_text=row["last_text"],
        last_direction=row["last_direction"], last_message_at=row["last_message_at"],
        created_at=row["created_at"], updated_at=row["updated_at"])


_STATUS = {"queued": "pending", "sending": "pending", "sent": "sent", "delivered": "delivered",
           "undelivered": "undelivered", "failed": "failed", "expired": "undelivered",
           "unreachable": "undelivered", "ignored": "undelivered", "cancelled": "cancelled"}


def _key(at: float, direction: str, id_: int) -> str:
    return f"{at!r}:{direction}:{id_}"


def _parse_key(key: str | None) -> tuple[float, str, int]:
    if not key:
        return float("inf"), "z", 0
    try:
        at, direction, id_ = key.split(":")
        return float(at), direction, int(id_)
    except ValueError:
        from ..errors import BadRequest
        raise BadRequest(f"bad page token {key!r}") from None


def thread(db: sqlite3.Connection, row: sqlite3.Row, before: str | None, limit: int
           ) -> tuple[list[P.ThreadItem], str | None]:
    """A page of the thread, newest page first, items oldest first within the page. Both
    directions are merged by time; (time, direction, id) orders ties the same on every page."""
    at, d, i = _parse_key(before)
    number, phone = row["number"], row["phone"]
    after_key = "(x.at < ? OR (x.at = ? AND (x.d < ? OR (x.d = ? AND x.id < ?))))"
    sql = f"""
      SELECT * FROM (
        SELECT 'out' AS d, id, created_at AS at, text, state, error_code, error_text, source, created_by
          FROM messages WHERE recipient = ? AND sender = ?
        UNION ALL
        SELECT 'in' AS d, id, received_at AS at, text, NULL, NULL, NULL, NULL, NULL
          FROM inbound WHERE recipient = ? AND sender = ?
      ) x WHERE {after_key} ORDER BY x.at DESC, x.d DESC, x.id DESC LIMIT ?"""
    rows = db.execute(sql, (phone, number, number, phone, at, at, d, d, i, limit + 1)).fetchall()
    page = rows[:limit]
    items = [P.ThreadItem(direction=r["d"], id=r["id"], at=r["at"], text=r["text"],
                          status="received" if r["d"] == "in" else _STATUS.get(r["state"], r["state"]),
                          state=r["state"], error_code=r["error_code"], error_text=r["error_text"],
                          source=r["source"], created_by=r["created_by"]) for r in reversed(page)]
    nxt = _key(page[-1]["at"], page[-1]["d"], page[-1]["id"]) if len(rows) > limit else None
    return items, nxt


def answers(db: sqlite3.Connection, conversation_id: int) -> list[P.AnswerView]:
    return [P.AnswerView(step=r["step"], question=r["question"], value=r["value"], raw=r["raw"],
                         valid=bool(r["valid"]), reason=r["reason"], at=r["at"])
            for r in db.execute("SELECT * FROM answers WHERE conversation_id = ? ORDER BY id", (conversation_id,))]
