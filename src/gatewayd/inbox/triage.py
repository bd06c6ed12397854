"""What operators do to conversations: list and search, reply, tag, assign, toggle, opt out.

Each write is a sync op for ``Store.run``: it checks the caller may act on the conversation, makes
the change and emits its ``conversation.*`` event in one transaction. Refusals are typed errors
whose message says what to do instead.

Search uses the FTS5 trigram index (substrings of 3+ characters of first name, last name or phone,
from the index); shorter terms fall back to a prefix match.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from .. import protocol as P
from ..config import Config
from ..control.access import Principal, assignees
from ..errors import BadRequest, Conflict, GatewayError
from ..models import Priority, Role
from ..store import messages as mq
from ..store.store import Tx
from . import conversations as cv
from .intake import suppressed
from .routing import ENDED

MAX_TAGS = 3
MAX_TAG_CHARS = 30

# ---- reading -------------------------------------------------------------------------------------


def _search_clause(q: str) -> tuple[str, list[Any]]:
    """Every term must match one of first name, last name, phone. Phone-like terms are reduced to
    their digits, so "(415) 555-0100" finds +14155550100."""
    q = q.strip()
    if re.fullmatch(r"[\d\s()+.\-]+", q):
        terms = [re.sub(r"\D", "", q)]
    else:
        terms = q.split()
    clauses, args = [], []
    for t in (t for t in terms if t):
        if len(t) >= 3:
            clauses.append("c.id IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?)")
            args.append('"' + t.replace('"', '""') + '"')
        else:   # one or two characters: a name prefix (indexed); too short to mean a phone
            clauses.append("(c.first_name LIKE ? OR c.last_name LIKE ?)")
            args += [t.replace("%", "").replace("_", "") + "%"] * 2
    return (" AND ".join(clauses) or "1"), args


_SECTIONS = {
    "needs_attention": "c.needs_attention = 1",
    "agent": "c.needs_attention = 0 AND c.operated_by = 'agent'",
    "assistant": "c.needs_attention = 0 AND c.operated_by = 'assistant'",
}


def list_page(db: sqlite3.Connection, who: Principal, req: P.InboxList) -> P.ConversationPage:
    vis, args = cv.visibility_sql(who)
    where = [vis]
    for col, val in (("campaign_id", req.campaign_id), ("number", req.number), ("assignee", req.assignee)):
        if val is not None:
            where.append(f"c.{col} = ?")
            args.append(val)
    if req.unread_only:
        where.append("c.unread > 0")
    if req.tags:
        where.append(f"c.id IN (SELECT conversation_id FROM conversation_tags WHERE tag IN"
                     f" ({','.join('?' * len(req.tags))}))")
        args += [t.strip() for t in req.tags]
    if req.search:
        clause, sargs = _search_clause(req.search)
        where.append(clause)
        args += sargs

    def assemble(status_expr: str, extra: list[str] = []) -> tuple[str, list[Any]]:
        # ``+c.status`` keeps the planner off the status index where another access path is
        # better: the search hits (rowid lookups) or the recency index (ORDER BY ... LIMIT).
        if req.status == "all":
            return " AND ".join(where + extra), list(args)
        return " AND ".join([f"{status_expr} = ?", *where, *extra]), [req.status, *args]

    counts = {s: 0 for s in _SECTIONS}
    if req.counts:
        cond, cargs = assemble("+c.status" if req.search else "c.status")
        sql = (f"SELECT c.needs_attention AS na, c.operated_by AS ob, count(*) AS n FROM conversations c"
               f" WHERE {cond} GROUP BY 1, 2")
        for r in db.execute(sql, cargs):
            counts["needs_attention" if r["na"] else ("assistant" if r["ob"] == "assistant" else "agent")] += r["n"]
    extra = [_SECTIONS[req.section]] if req.section else []
    keyset: list[Any] = []
    if req.before:
        try:
            at, last_id = req.before.split(":")
            keyset = [float(at), float(at), int(last_id)]
        except ValueError:
            raise BadRequest(f"bad page token {req.before!r}") from None
        extra.append("(c.last_message_at < ? OR (c.last_message_at = ? AND c.id < ?))")
    cond, pargs = assemble("+c.status", extra)
    rows = db.execute(f"SELECT c.* FROM conversations c WHERE {cond}"
                      f" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?", (*pargs, *keyset, req.limit + 1)).fetchall()
    page = rows[: req.limit]
    tag_map: dict[int, list[str]] = {r["id"]: [] for r in page}
    if page:
        for t in db.execute(f"SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN"
                            f" ({','.join('?' * len(page))}) ORDER BY created_at, tag", [r["id"] for r in page]):
            tag_map[t[0]].append(t[1])
    items = [cv.view(r, tag_map[r["id"]]) for r in page]
    nxt = f"{page[-1]['last_message_at']!r}:{page[-1]['id']}" if len(rows) > req.limit else None
    return P.ConversationPage(items, counts, nxt)


def detail(db: sqlite3.Connection, who: Principal, req: P.InboxShow) -> P.ConversationDetail:
    row = cv.get(db, req.conversation_id)
    cv.require_visible(who, row)
    items, nxt = cv.thread(db, row, req.before, req.limit)
    return P.ConversationDetail(cv.view(row, cv.tags(db, row["id"])), items, nxt, cv.answers(db, row["id"]))


# ---- acting --------------------------------------------------------------------------------------


def _actor_row(tx: Tx, who: Principal, conversation_id: int) -> sqlite3.Row:
    row = cv.get(tx.db, conversation_id)
    cv.require_actor(who, row)
    return row


def reply(tx: Tx, who: Principal, conversation_id: int, text: str, cfg: Config) -> int:
    """Queue an operator's reply at interactive priority; replying takes the conversation over
    from the assistant, clears Needs attention and records the response time."""
    row = _actor_row(tx, who, conversation_id)
    if row["status"] == "closed":
        raise Conflict(f"conversation {conversation_id} is closed: its campaign ended on a single-use number,"
                       " and nothing more is sent to this contact", "closed")
    if not text.strip():
        raise BadRequest("reply text is empty", "empty_text")
    if len(text) > cfg.queue.max_text_chars:
        raise BadRequest(f"reply is {len(text)} characters; the limit is {cfg.queue.max_text_chars}", "text_too_long")
    if row["opted_out"] or suppressed(tx.db, row["phone"], row["number"], row["campaign_id"]):
        raise Conflict(f"{row['phone']} opted out: no reply is sent (an admin can opt them back in)", "opted_out")
    if cfg.number(row["number"]) is None:
        raise Conflict(f"number {row['number']} is no longer configured: cannot reply from it", "unknown_number")
    [(mid, _)] = mq.enqueue(tx, [mq.NewMessage(
        sender=row["number"], recipient=row["phone"], text=text, priority=Priority.INTERACTIVE,
        ttl_s=cfg.queue.default_ttl_s, source="agent", created_by=who.user, campaign_id=row["campaign_id"],
        contact_id=row["contact_id"], conversation_id=row["id"])])
    if row["awaiting_since"] is not None:
        tx.db.execute("""INSERT INTO response_times(conversation_id, campaign_id, agent, message_id, contact_at,
                           replied_at, seconds) VALUES (?,?,?,?,?,?,?)""",
                      (row["id"], row["campaign_id"], who.user, mid, row["awaiting_since"], tx.now,
                       max(0.0, tx.now - row["awaiting_since"])))
    cv.update(tx, row["id"], "conversation.message",
              extra={"direction": "out", "message_id": mid, "by": who.user, "text": text},
              operated_by="agent", needs_attention=0, attention_reason=None, unread=0, awaiting_since=None,
              last_text=text, last_direction="out", last_message_at=tx.now)
    return mid


def tag(tx: Tx, who: Principal, conversation_id: int, tag_text: str) -> list[str]:
    row = _actor_row(tx, who, conversation_id)
    t = " ".join((tag_text or "").split())
    if not t:
        raise BadRequest("tag is empty", "bad_tag")
    if len(t) > MAX_TAG_CHARS:
        raise BadRequest(f"tag {t!r} is {len(t)} characters; tags are at most {MAX_TAG_CHARS}", "tag_too_long")
    current = cv.tags(tx.db, row["id"])
    if t.lower() in (x.lower() for x in current):
        return current
    if len(current) >= MAX_TAGS:
        raise Conflict(f"conversation {conversation_id} already has {MAX_TAGS} tags ({', '.join(current)}):"
                       " remove one first", "too_many_tags")
    tx.db.execute("INSERT INTO conversation_tags(conversation_id, tag, created_at, created_by) VALUES (?,?,?,?)",
                  (row["id"], t, tx.now, who.user))
    tags = cv.tags(tx.db, row["id"])
    cv.update(tx, row["id"], "conversation.tagged", extra={"tags": tags, "by": who.user})
    return tags


def untag(tx: Tx, who: Principal, conversation_id: int, tag_text: str) -> list[str]:
    row = _actor_row(tx, who, conversation_id)
    t = " ".join((tag_text or "").split())
    if not tx.db.execute("DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?", (row["id"], t)).rowcount:
        raise BadRequest(f"conversation {conversation_id} has no tag {t!r}", "no_such_tag")
    tags = cv.tags(tx.db, row["id"])
    cv.update(tx, row["id"], "conversation.tagged", extra={"tags": tags, "by": who.user})
    return tags


def assign(tx: Tx, who: Principal, conversation_id: int, user: str | None, cfg: Config) -> None:
    row = _actor_row(tx, who, conversation_id)
    # the caller is assignable even when unnamed in [access] (root, the daemon's own user)
    if user is not None and user != who.user and user not in cfg.access.agents and user not in cfg.access.admins:
        raise BadRequest(f"{user!r} is not an agent or admin in [access]: cannot take conversations", "unknown_user")
    if who.limited and user not in (None, who.user):
        raise GatewayError(f"{who.user} is a limited user: can only take conversations, not assign them",
                           "forbidden")
    if user is not None and who.role is not Role.ADMIN and user not in {a[0] for a in assignees(cfg.access, who)}:
        raise GatewayError(f"{user!r} works in none of {who.user}'s offices: cannot hand them this conversation",
                           "forbidden")
    cv.update(tx, row["id"], "conversation.assigned", extra={"by": who.user, "from": row["assignee"]},
              assignee=user)


def operated_by(tx: Tx, who: Principal, conversation_id: int, value: str) -> None:
    row = _actor_row(tx, who, conversation_id)
    if value not in ("agent", "assistant"):
        raise BadRequest("operated-by is 'agent' or 'assistant'")
    if value == "assistant":
        camp = cv.campaign(tx.db, row["campaign_id"])
        if camp is None:
            raise Conflict(f"conversation {conversation_id} belongs to no campaign: the assistant has no script"
                           " to answer with", "no_script")
        if camp["status"] in ENDED or row["moved_at"] is not None:
            raise Conflict(f"campaign {camp['id']} has ended: the assistant no longer answers for it", "no_script")
    cols: dict[str, Any] = {"operated_by": value}
    if value == "assistant":   # handing back to the assistant: nothing left for a person to do
        cols.update(needs_attention=0, attention_reason=None)
    cv.update(tx, row["id"], "conversation.operated_by", extra={"by": who.user}, **cols)


def attention(tx: Tx, who: Principal, conversation_id: int, on: bool) -> None:
    row = _actor_row(tx, who, conversation_id)
    cols: dict[str, Any] = {"needs_attention": int(on),
                            "attention_reason": f"flagged by {who.user}" if on else None}
    cv.update(tx, row["id"], "conversation.attention", extra={"by": who.user}, **cols)


def mark_read(tx: Tx, who: Principal, conversation_id: int, read: bool) -> None:
    row = cv.get(tx.db, conversation_id)
    cv.require_visible(who, row)
    cv.update(tx, row["id"], "conversation.read", extra={"by": who.user},
              unread=0 if read else max(1, row["unread"]))


def opt_out(tx: Tx, who: Principal, conversation_id: int, scope: str | None, reason: str) -> str:
    row = _actor_row(tx, who, conversation_id)
    try:
        from ..contacts.suppression import opt_out as suppress
    except ImportError:
        raise GatewayError("opt-out needs the campaigns package (gatewayd.contacts.suppression)",
                           "unavailable") from None
    scope = scope or ("campaign" if row["campaign_id"] is not None else "number")
    if scope == "campaign" and row["campaign_id"] is None:
        raise BadRequest(f"conversation {conversation_id} belongs to no campaign: use scope number or all")
    suppress(tx, row["phone"], scope, campaign_id=row["campaign_id"] if scope == "campaign" else None,
             number=row["number"] if scope == "number" else None, reason=reason or f"opted out by {who.user}",
             source="operator", by=who.user)
    cv.update(tx, row["id"], "conversation.opted_out", extra={"by": who.user, "scope": scope},
              opted_out=1, needs_attention=0, attention_reason=None, awaiting_since=None)
    return scope

