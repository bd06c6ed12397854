"""Keywords a contact can text us (SPEC §5): opt out, opt back in, ask for help.

A keyword is the *whole* message, ignoring case and whitespace ("stop", " Stop ", "STOP ALL" =
STOPALL); "please stop texting me" is an ordinary reply for a human to read.

- STOP, UNSUBSCRIBE, CANCEL, END, QUIT: opt out with ``optout.scope`` (default ``campaign``: the
  attributed campaign, as in seed 000). A STOP that no campaign can claim falls back to scope
  ``number`` — the contact clearly wants no more from that number, and there is no campaign to
  scope it to. STOPALL always means ``all``.
- START, UNSTOP: lift the suppressions that stop messages from this number (and ``all``).
- HELP: answer with ``optout.help``.

Exactly one confirmation goes back per opt-out (a second STOP that changes nothing is not
answered again), at interactive priority so a running bulk campaign cannot delay it. These
replies carry ``source = 'keyword'`` and the attributed campaign, so they are neither agent nor
assistant responses in analytics but do keep the conversation attributed.
"""

from __future__ import annotations

from typing import Any

from ..contacts import suppression
from ..models import Priority
from ..store import messages as mq
from ..store.store import Tx
from . import steps

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP"}
HELP_WORDS = {"HELP"}
REQUESTS = START_WORDS | HELP_WORDS


def keyword_of(text: str) -> str | None:
    word = "".join((text or "").split()).upper()
    return word if word in STOP_WORDS | START_WORDS | HELP_WORDS else None


def _reply(tx: Tx, row: dict[str, Any], contact_id: int | None, text: str) -> None:
    if not text or steps.RUNTIME.cfg.number(row["recipient"]) is None:
        return
    mq.enqueue(tx, [mq.NewMessage(
        sender=row["recipient"], recipient=row["sender"], text=text, priority=Priority.INTERACTIVE,
        ttl_s=steps.RUNTIME.cfg.queue.default_ttl_s, key=f"kw:{row['id']}", source="keyword",
        campaign_id=row["campaign_id"], contact_id=contact_id)])


def handle(tx: Tx, row: dict[str, Any], contact_id: int | None) -> str | None:
    """Act on a keyword reply; sets ``row["keyword"]``. Returns the keyword or None."""
    word = keyword_of(row["text"])
    if word is None:
        return None
    row["keyword"] = word
    cfg = steps.RUNTIME.cfg.optout
    phone, number, cid = row["sender"], row["recipient"], row["campaign_id"]
    if word in STOP_WORDS:
        scope = "all" if word == "STOPALL" else cfg.scope
        if scope == "campaign" and cid is None:
            scope = "number"
        new = suppression.opt_out(tx, phone, scope, campaign_id=cid, number=number, reason=f"replied {word}",
                                  source="keyword")
        if new:
            _reply(tx, row, contact_id, cfg.confirmation)
    elif word in START_WORDS:
        suppression.opt_in(tx, phone, number=number, source="keyword")
        _reply(tx, row, contact_id, cfg.resubscribed)
    else:
        _reply(tx, row, contact_id, cfg.help)
    return word
