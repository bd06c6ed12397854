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

from collections.abc import Sequence

from ..models import MsgState
from ..store import messages as mq
from ..store.store import Tx


def _why(scope: str, reason: str, sender: str) -> str:
    what = "every message from our numbers" if scope == "all" else f"messages from {sender}"
    why = f": {reason}" if reason else ""
    return f"recipient opted out of {what}{why} (send with --transactional for a message they must get)"


def gate(tx: Tx, items: Sequence[mq.NewMessage], transactional: Sequence[bool]) -> None:
    """``control.handlers.SEND_GATES`` callback: mark queued sends to opted-out recipients
    ``unreachable`` unless the send is transactional. Set-wise: a 5,000-message batch costs a
    few indexed queries, not one per message."""
    todo = [m for m, override in zip(items, transactional) if not override and m.state is MsgState.QUEUED]
    if not todo:
        return
    phones = sorted({m.recipient for m in todo})
    found: dict[str, list[tuple[str, str | None, str]]] = {}
    for start in range(0, len(phones), 500):
        chunk = phones[start:start + 500]
        for r in tx.db.execute(f"SELECT phone, scope, number, reason FROM suppressions WHERE scope IN ('all', 'number')"
                               f" AND phone IN ({','.join('?' * len(chunk))})", chunk):
            found.setdefault(r["phone"], []).append((r["scope"], r["number"], r["reason"]))
    for m in todo:
        rows = found.get(m.recipient)
        if not rows:
            continue
        hit = next((r for r in rows if r[0] == "all"), None) or next((r for r in rows if r[1] == m.sender), None)
        if hit is not None:
            m.state, m.error_text = MsgState.UNREACHABLE, _why(hit[0], hit[2], m.sender)
