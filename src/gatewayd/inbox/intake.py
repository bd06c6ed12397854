"""The inbound hook: every reply lands in a conversation, and the assistant answers what it can.

Runs inside the transaction that stores the inbound message, after the campaigns hook has set
``row["campaign_id"]`` (attribution) and ``row["keyword"]`` (STOP/START/HELP, already answered by
campaigns). Here we:

- find or create the conversation (contact x our number) and place it: a live campaign's office
  inbox, or the number's unsolicited inbox(es) with its introductory reply sent once;
- on a single-use number whose campaign ended, keep the message but send nothing (seed 001);
- answer configured keywords (:mod:`.keywords`) where no agent operates the conversation;
- for assistant-operated conversations, read the reply as the answer to the last interactive
  step sent: a valid answer is stored and the script advances; anything else needs attention;
- for agent-operated ones, flag Needs attention and start the response-time clock.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

from ..models import Priority
from ..store import messages as mq
from ..store.store import Tx
from . import assistant, keywords, routing
from . import conversations as cv

log = logging.getLogger(__name__)

#: ``campaign_contacts.step`` / ``messages.step`` hold the index of the last step sent in
#: ``scripts.steps`` counted from this base (1 = the first step, 0 = none sent yet).
STEP_BASE = 1
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "UNSTOP"})


def on_inbound(tx: Tx, row: dict[str, Any]) -> None:
    cfg = routing.config()
    phone, our = row["sender"], row["recipient"]
    number = cfg.number(our)
    camp = cv.campaign(tx.db, row["campaign_id"])
    live = camp is not None and camp["status"] not in routing.ENDED
    closed_for_good = camp is not None and not live and number is not None and not number.reusable
    if live:
        office = camp["office"] or (number.office if number else None)
        targets = [f"office:{office}"]
        operated = camp["operated_by"] or "agent"
    else:
        targets = routing.unsolicited_targets(number)
        office = routing.primary_office(targets, number)
        operated = "agent"

    conv = cv.find(tx.db, phone, our)
    cols: dict[str, Any] = {}
    if conv is None:
        conv = cv.create(tx, phone, our, office=office, inbox=targets, operated_by=operated,
                         campaign_id=row["campaign_id"])
    elif live and (conv["campaign_id"] != camp["id"] or conv["moved_at"] is not None or conv["status"] != "open"):
        # A new campaign claimed the contact: the conversation follows that campaign's settings.
        # (A reply attributed to it means its message reached them: not opted out of it.)
        cols.update(campaign_id=camp["id"], office=office, inbox=json.dumps(targets), operated_by=operated,
                    status="open", moved_at=None, opted_out=0)
    elif not live and not closed_for_good and cv.inbox_of(conv) != targets:
        cols.update(office=office, inbox=json.dumps(targets), operated_by="agent", moved_at=tx.now, status="open")
        if row["campaign_id"] is not None:
            cols["campaign_id"] = row["campaign_id"]
    if conv["contact_id"] is None:
        c = cv.contact(tx.db, phone)
        if c is not None:
            cols.update(contact_id=c["id"], first_name=c["first_name"] or "", last_name=c["last_name"] or "")
    row["conversation_id"] = conv["id"]
    cols.update(last_text=row["text"], last_direction="in", last_message_at=row["received_at"],
                unread=conv["unread"] + 1)
    extra: dict[str, Any] = {"direction": "in", "inbound_id": row["id"], "text": row["text"],
                             "keyword": row["keyword"]}
    state = {**dict(conv), **cols}

    keyword = (row["keyword"] or "").upper()
    if closed_for_good:
        cols["status"] = "closed"          # seed 001: no responses after a single-use campaign ended
    elif keyword:
        if keyword in OPT_OUT:
            cols.update(opted_out=1, needs_attention=0, attention_reason=None, awaiting_since=None)
        elif keyword in OPT_IN:
            cols["opted_out"] = 0
    elif (auto := _auto_reply(tx, state, live, row)) is not None:
        cols.update(auto)
    elif state["operated_by"] == "assistant" and live:
        cols.update(_assistant(tx, state, camp, row))
    else:
        cols.update(needs_attention=1, attention_reason="new message from the contact",
                    awaiting_since=conv["awaiting_since"] or row["received_at"])
        if not live:
            _intro(tx, state, number, cols)
    cv.update(tx, conv["id"], "conversation.message", extra=extra, **cols)


def _auto_reply(tx: Tx, conv: dict[str, Any], live: bool, row: dict[str, Any]) -> dict[str, Any] | None:
    """A configured keyword, answered by the assistant where no agent operates the conversation."""
    if live and conv["operated_by"] != "assistant":
        return None
    text = keywords.reply_for(tx.db, row["text"], conv["number"])
    if text is None or suppressed(tx.db, conv["phone"], conv["number"], conv["campaign_id"] if live else None):
        return None
    mq.enqueue(tx, [mq.NewMessage(sender=conv["number"], recipient=conv["phone"], text=text,
                                  priority=Priority.INTERACTIVE, source="assistant",
                                  ttl_s=routing.config().queue.default_ttl_s,
                                  campaign_id=conv["campaign_id"] if live else None,
                                  contact_id=conv["contact_id"], conversation_id=conv["id"])])
    tx.emit("conversation.auto_reply", id=conv["id"], office=conv["office"], keyword=keywords.normalise(row["text"]))
    return {"awaiting_since": None}


def _intro(tx: Tx, conv: dict[str, Any], number, cols: dict[str, Any]) -> None:
    """The number's introductory reply, once per contact, never to a contact of a campaign."""
    text = number.unsolicited.intro_reply if number else None
    if not text or conv["intro_sent_at"] is not None or conv["campaign_id"] is not None:
        return
    if suppressed(tx.db, conv["phone"], conv["number"], None):
        return
    mq.enqueue(tx, [mq.NewMessage(sender=conv["number"], recipient=conv["phone"], text=text,
                                  priority=Priority.INTERACTIVE, source="assistant",
                                  ttl_s=routing.config().queue.default_ttl_s,
                                  contact_id=conv["contact_id"], conversation_id=conv["id"])])
    cols["intro_sent_at"] = tx.now


def suppressed(db, phone: str, number: str, campaign_id: int | None) -> bool:
    """Whether the contact opted out of messages from ``number`` (or this campaign, or all)."""
    if not cv.has_table(db, "suppressions"):
        return False
    return db.execute(
        """SELECT 1 FROM suppressions WHERE phone = ? AND (scope = 'all' OR (scope = 'number' AND number = ?)
             OR (scope = 'campaign' AND campaign_id = ?)) LIMIT 1""", (phone, number, campaign_id)).fetchone() is not None


# ---- the assistant -------------------------------------------------------------------------------


def current_step(db, camp, contact_id: int | None, phone: str) -> tuple[int | None, dict | None]:
    """(index, step) of the last script step sent to this contact in this campaign."""
    step = None
    if contact_id is not None and cv.has_table(db, "campaign_contacts"):
        r = db.execute("SELECT step FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                       (camp["id"], contact_id)).fetchone()
        step = r["step"] if r else None
    if step is None:
        r = db.execute("""SELECT step FROM messages WHERE sender = ? AND recipient = ? AND campaign_id = ?
                            AND step IS NOT NULL ORDER BY id DESC LIMIT 1""",
                       (camp["number"], phone, camp["id"])).fetchone()
        step = r["step"] if r else None
    if step is None or not cv.has_table(db, "scripts"):
        return step, None
    s = db.execute("SELECT steps FROM scripts WHERE id = ?", (camp["script_id"],)).fetchone()
    steps = json.loads(s["steps"]) if s and s["steps"] else []
    i = step - STEP_BASE
    return step, (steps[i] if 0 <= i < len(steps) else None)


def _assistant(tx: Tx, conv: dict[str, Any], camp, row: dict[str, Any]) -> dict[str, Any]:
    step, spec = current_step(tx.db, camp, conv["contact_id"], conv["phone"])
    answered = step is not None and tx.db.execute(
        "SELECT 1 FROM answers WHERE conversation_id = ? AND campaign_id = ? AND step = ? AND valid = 1",
        (conv["id"], camp["id"], step)).fetchone()
    if answered:
        verdict = assistant.Verdict(False, reason="the question was already answered: reply for a person")
    else:
        verdict = assistant.interpret(spec, row["text"])
    tx.db.execute(
        """INSERT INTO answers(conversation_id, campaign_id, contact_id, step, question, value, raw, valid, reason,
             inbound_id, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
        (conv["id"], camp["id"], conv["contact_id"], step, (spec or {}).get("question"), verdict.value,
         row["text"], int(verdict.valid), verdict.reason or None, row["id"], tx.now))
    tx.emit("conversation.answer", id=conv["id"], office=conv["office"], campaign_id=camp["id"], step=step,
            valid=verdict.valid, value=verdict.value, reason=verdict.reason)
    if not verdict.valid:
        return {"needs_attention": 1, "attention_reason": f"assistant: {verdict.reason}",
                "awaiting_since": conv["awaiting_since"] or row["received_at"]}
    _advance(tx, camp["id"], conv)
    return {"awaiting_since": None}


def _advance(tx: Tx, campaign_id: int, conv: dict[str, Any]) -> None:
    """Ask the campaigns package to send the next step (as the assistant's response)."""
    try:
        from ..campaigns.steps import advance
    except ImportError:
        log.warning("assistant: gatewayd.campaigns.steps.advance is missing; campaign %s not advanced",
                    campaign_id)
        return
    if conv["contact_id"] is None:
        return
    params = inspect.signature(advance).parameters
    kwargs = {k: v for k, v in (("source", "assistant"), ("conversation_id", conv["id"])) if k in params}
    advance(tx, campaign_id, conv["contact_id"], **kwargs)
