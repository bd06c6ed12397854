"""Where a conversation belongs, and what a campaign's end does to its conversations.

A conversation follows its live campaign (the campaign's office inbox); a reply no live campaign
claims goes to the number's unsolicited inbox(es) (``office:NAME`` / ``agent:USER``).

Stop and archive (seed 001): on a *reusable* number, the campaign's conversations that need
attention (a contact's message nobody answered, an answer the assistant could not read, or
flagged by hand) move to the number's
unsolicited inbox(es), and leave the assigned agent's inbox unless that agent is one of the
targets (personally or through an office). On a *single-use* number, the pending conversations are
closed: nothing more is sent to those contacts, queued replies are withdrawn.

The campaigns package calls :func:`on_campaign_ended` inside the transaction that stops or
archives the campaign; the ``campaign.status`` event listener installed by the extension calls it
again after commit as a fallback. It is idempotent, so both may run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..config import Config, NumberConfig
from ..store import actions
from ..store.store import Tx
from . import conversations as cv

log = logging.getLogger(__name__)

#: Campaign statuses after which its conversations follow the number's unsolicited settings.
ENDED = frozenset({"stopped", "archived"})

_config: Callable[[], Config] | None = None


def configure(getter: Callable[[], Config]) -> None:
    """The running configuration (set at install; reloads are seen through the getter)."""
    global _config
    _config = getter


def config() -> Config:
    if _config is None:
        raise RuntimeError("gatewayd.inbox is not installed (routing.configure was not called)")
    return _config()


def unsolicited_targets(number: NumberConfig | None) -> list[str]:
    if number is None:
        return ["office:default"]
    return list(number.unsolicited.inbox) or [f"office:{number.office}"]


def primary_office(targets: list[str], number: NumberConfig | None) -> str | None:
    """The office events and filters use: the first office target, else the number's office."""
    for t in targets:
        if t.startswith("office:"):
            return t[7:]
    return number.office if number else None


def offices_of(cfg: Config, user: str) -> set[str]:
    return {o for o, members in cfg.access.offices.items() if user in members}


def _keeps(cfg: Config, user: str | None, targets: list[str]) -> bool:
    """Whether ``user`` is among the unsolicited targets, personally or through an office."""
    if user is None:
        return False
    if f"agent:{user}" in targets:
        return True
    return bool(offices_of(cfg, user) & {t[7:] for t in targets if t.startswith("office:")})


def on_campaign_ended(tx: Tx, campaign_id: int) -> dict[str, int]:
    """Apply seed 001's stop-and-archive rule to ``campaign_id``'s conversations. Idempotent."""
    camp = cv.campaign(tx.db, campaign_id)
    if camp is None:
        return {"moved": 0, "closed": 0}
    cfg = config()
    number = cfg.number(camp["number"])
    if number is None or number.reusable:
        return {"moved": _move(tx, cfg, camp, number), "closed": 0}
    return {"moved": 0, "closed": _close(tx, camp)}


def _move(tx: Tx, cfg: Config, camp: Any, number: NumberConfig | None) -> int:
    targets = unsolicited_targets(number)
    office = primary_office(targets, number)
    rows = tx.db.execute(
        """SELECT * FROM conversations WHERE campaign_id = ? AND status = 'open' AND moved_at IS NULL
             AND needs_attention = 1""", (camp["id"],)).fetchall()
    for r in rows:
        assignee = r["assignee"] if _keeps(cfg, r["assignee"], targets) else None
        reason = r["attention_reason"] or "needs attention"
        cv.update(tx, r["id"], "conversation.moved",
                  extra={"from_office": r["office"], "from_assignee": r["assignee"],
                         "reason": f"campaign {camp['id']} {camp['status']}: moved to the number's unsolicited inbox"},
                  inbox=json.dumps(targets), office=office, assignee=assignee, operated_by="agent",
                  needs_attention=1, attention_reason=f"{reason} (campaign {camp['id']} ended)", moved_at=tx.now)
        if r["office"] != office:
            # Subscribers of the old office learn that it left their inbox.
            tx.emit("conversation.removed", id=r["id"], office=r["office"], to_office=office,
                    campaign_id=camp["id"])
    return len(rows)


def _close(tx: Tx, camp: Any) -> int:
    rows = tx.db.execute("SELECT id FROM conversations WHERE campaign_id = ? AND status = 'open'",
                         (camp["id"],)).fetchall()
    for r in rows:
        actions.ignore_queued(tx, "conversation_id = ?", (r["id"],),
                         f"campaign {camp['id']} ended on a single-use number")
        cv.update(tx, r["id"], "conversation.closed",
                  extra={"reason": f"campaign {camp['id']} {camp['status']} on a single-use number"},
                  status="closed", needs_attention=0, attention_reason=None, awaiting_since=None)
    if cv.has_table(tx.db, "campaign_contacts"):
        tx.db.execute("UPDATE campaign_contacts SET state = 'closed' WHERE campaign_id = ? AND state = 'active'",
                      (camp["id"],))
    return len(rows)


def sweep(tx: Tx) -> dict[int, dict[str, int]]:
    """Apply the rule to every ended campaign that still has unhandled conversations (start-up:
    a crash between a campaign's stop and the listener's follow-up must not lose the move)."""
    if not cv.has_table(tx.db, "campaigns"):
        return {}
    ids = [r[0] for r in tx.db.execute(
        f"""SELECT DISTINCT c.campaign_id FROM conversations c JOIN campaigns k ON k.id = c.campaign_id
            WHERE k.status IN ({','.join('?' * len(ENDED))}) AND c.status = 'open' AND c.moved_at IS NULL""",
        tuple(ENDED))]
    done = {cid: on_campaign_ended(tx, cid) for cid in ids}
    return {cid: r for cid, r in done.items() if any(r.values())}


async def service(gw, *, task_status) -> None:
    """Start-up only: catch up with campaigns that ended while we were not looking, then exit."""
    result = await gw.store.run(sweep)
    if result:
        log.info("stop-and-archive applied at start-up: %s", result)
    task_status.started()


def listener(gw) -> Callable[[Any], None]:
    """Bus listener: a ``campaign.status`` event to an ended status re-applies the rule (fallback
    for a campaigns package that does not call :func:`on_campaign_ended` itself)."""

    def on_event(ev) -> None:
        if ev.type != "campaign.status" or ev.data.get("status") not in ENDED:
            return
        campaign_id = ev.data.get("campaign_id", ev.data.get("id"))
        if campaign_id is None:
            return
        try:
            gw.store.post_nowait(_ended_op, int(campaign_id))
        except Exception:   # writer queue full: the next status event or a restart re-applies it
            log.warning("inbox: could not queue stop-and-archive for campaign %s", campaign_id)

    return on_event


def _ended_op(tx: Tx, campaign_id: int) -> None:
    result = on_campaign_ended(tx, campaign_id)
    if any(result.values()):
        log.info("campaign %s ended: %s", campaign_id, result)
