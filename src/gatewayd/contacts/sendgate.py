"""Opt-outs apply to direct sends too (issue 18.2), not only to campaigns.

Decision: a contact opted out with scope ``all`` (by STOPALL, by an operator, or automatically
after failures in 7 different campaigns) gets *no* message from any of our numbers, and one with
scope ``number`` none from that number, whoever sends it: ``gatewayctl send``, ``send_batch``,
agents and the assistant (the inbox checks its own replies). A campaign-scoped opt-out concerns
that campaign only, so a direct send still goes. The one exception the rules themselves make is
the opt-out confirmation (and the other keyword replies: START, HELP), which the keyword handler
enqueues without this gate.

A sender may still deliver a message the contact must get (a one-time code, a fraud alert, an
order receipt) by marking it ``transactional`` (``gatewayctl send --transactional``): it is sent
despite the opt-out, and the request, with ``transactional=True``, is in the audit log
(``gatewayctl audit``). A blocked send is accepted and recorded ``unreachable`` with the reason
(SPEC §2), like a send from a disabled number is recorded ``ignored``: a script sees the state.

Runs inside the transaction that enqueues, so an opt-out committed first always wins.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..models import MsgState
from ..store import messages as mq
from ..store.store import Tx


def blocking_opt_out(db: sqlite3.Connection, phone: str, sender: str) -> str | None:
    """Why a direct message from ``sender`` must not reach ``phone``, or None."""
    row = db.execute("SELECT scope, reason FROM suppressions WHERE phone = ?"
                     " AND (scope = 'all' OR (scope = 'number' AND number = ?)) ORDER BY scope = 'all' DESC LIMIT 1",
                     (phone, sender)).fetchone()
    if row is None:
        return None
    what = "every message from our numbers" if row["scope"] == "all" else f"messages from {sender}"
    why = f": {row['reason']}" if row["reason"] else ""
    return f"recipient opted out of {what}{why} (send with --transactional for a message they must get)"


def gate(tx: Tx, items: Sequence[mq.NewMessage], transactional: Sequence[bool]) -> None:
    """``control.handlers.SEND_GATES`` callback: mark queued sends to opted-out recipients
    ``unreachable`` unless the send is transactional."""
    for m, override in zip(items, transactional):
        if override or m.state is not MsgState.QUEUED:
            continue
        reason = blocking_opt_out(tx.db, m.recipient, m.sender)
        if reason is not None:
            m.state, m.error_text = MsgState.UNREACHABLE, reason
