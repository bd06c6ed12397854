"""Keyword auto-replies: "HOURS" -> "We are open 9-5, Mon-Fri", answered by the assistant.

A keyword is the whole message, ignoring case and whitespace. The opt-out family (STOP, START,
HELP and every word ``[optout]`` or a number's ``[numbers.optout]`` lists, in any language)
belongs to the campaigns package and always wins: those words cannot be configured here. Entries are
global (``number`` empty) or per number; a number's own entry wins. They are kept in the
database, not the config file, so that admins can change them over the socket without a reload.

The assistant answers a keyword in assistant-operated conversations and in the unsolicited inbox
(nobody operates those yet); never in an agent-operated campaign conversation.
"""

from __future__ import annotations

import sqlite3

from .. import protocol as P
from ..config import KEYWORD_KINDS, normalise_keyword
from ..errors import BadRequest, NotFound
from ..store.store import Tx

#: Handled by the campaigns package's opt-out rules (SPEC §5, §11); not configurable here. The
#: configured lists are added by :func:`reserved`.
RESERVED = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "START",
                      "UNSTOP", "JOIN", "HELP", "INFO"})
MAX_KEYWORD = 30


def reserved(cfg) -> set[str]:
    """Every opt-out-family word of the configuration (global and per number), normalised."""
    out = set(RESERVED)
    if cfg is None:
        return out
    owners = [cfg.optout, *(n.optout for n in cfg.numbers)]
    for o in owners:
        for kind in KEYWORD_KINDS:
            out.update(normalise_keyword(w) for w in getattr(o, kind))
    return out


def normalise(text: str) -> str:
    return "".join((text or "").split()).upper()


def reply_for(db: sqlite3.Connection, text: str, number: str) -> str | None:
    """The configured reply to ``text`` on ``number``, or None. Cheap: one primary-key probe."""
    word = normalise(text)
    if not word or len(word) > MAX_KEYWORD:
        return None
    row = db.execute("SELECT reply FROM auto_replies WHERE keyword = ? AND number IN (?, '')"
                     " ORDER BY number DESC LIMIT 1", (word, number)).fetchone()
    return row[0] if row else None


def put(tx: Tx, keyword: str, reply: str, number: str | None, by: str, cfg=None) -> P.AutoReplyView:
    word = normalise(keyword)
    if not word:
        raise BadRequest("keyword is empty")
    if len(word) > MAX_KEYWORD:
        raise BadRequest(f"keyword {word!r} is longer than {MAX_KEYWORD} characters")
    if word in RESERVED or normalise_keyword(word) in reserved(cfg):
        raise BadRequest(f"{word} is an opt-out keyword: its reply is set in [optout], not here", "reserved_keyword")
    if not reply.strip():
        raise BadRequest("reply text is empty")
    tx.db.execute("""INSERT INTO auto_replies(keyword, number, reply, created_by, updated_at) VALUES (?,?,?,?,?)
                     ON CONFLICT(keyword, number) DO UPDATE SET reply = excluded.reply,
                       created_by = excluded.created_by, updated_at = excluded.updated_at""",
                  (word, number or "", reply, by, tx.now))
    tx.emit("inbox.keyword", keyword=word, number=number, reply=reply, by=by)
    return P.AutoReplyView(keyword=word, number=number, reply=reply, updated_at=tx.now, created_by=by)


def remove(tx: Tx, keyword: str, number: str | None, by: str) -> None:
    word = normalise(keyword)
    if not tx.db.execute("DELETE FROM auto_replies WHERE keyword = ? AND number = ?", (word, number or "")).rowcount:
        where = f" on {number}" if number else " for every number"
        raise NotFound(f"no auto-reply for {word!r}{where}")
    tx.emit("inbox.keyword", keyword=word, number=number, reply=None, by=by)


def listing(db: sqlite3.Connection) -> list[P.AutoReplyView]:
    return [P.AutoReplyView(keyword=r["keyword"], number=r["number"] or None, reply=r["reply"],
                            updated_at=r["updated_at"], created_by=r["created_by"])
            for r in db.execute("SELECT * FROM auto_replies ORDER BY keyword, number")]
