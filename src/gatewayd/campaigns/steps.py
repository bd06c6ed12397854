"""One recipient's way through a campaign's script: send a step, learn its outcome, go on.

``campaign_contacts`` is the cursor: ``step`` is the last step enqueued, ``pending`` is 1 while
that step's message is in the queue, 2 while the recipient's answer to it is awaited (then
``next_at`` is the answer's deadline), else 0 and ``next_at`` is when the following step is due. A step is
enqueued only when it is due (by the feeder in :mod:`expand`), never ahead with a far
``not_before``: the queue keeps per-recipient order, so a message parked for tomorrow would hold
back an agent's reply to the same contact.

Outcomes (a ``messages.FINAL_HOOKS`` callback, inside the transaction that changed the message):
- ``sent``/``delivered``: the next step becomes due after its ``delay_s``; after the last step the
  recipient is ``done``. In an assistant-operated campaign a step that asks a question waits for
  the answer instead (the inbox calls :func:`advance` when it is handled), at most the step's
  ``answer_timeout_s`` (scripts: 3 days by default); then the recipient is ``unanswered`` and a
  late answer no longer sends the next step (it still reaches the inbox). The campaign is not
  ``finished`` while anyone is waiting: it stays ``sending`` with the reason
  "waiting for answers (N)".
- ``failed``/``undelivered``/``expired``/``unreachable``/``ignored``/``cancelled``: the recipient
  is ``done`` (no later step to a number that failed); failed and undelivered also count towards
  the automatic unsubscribe (7 different campaigns).

Idempotency keys ``c{campaign}:r{run}:g{generation}:s{step}:k{contact}`` make a crash between
enqueue and the cursor update harmless: the re-run finds the same message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from typing import Any, Callable

from ..config import Config
from ..models import MsgState, Priority
from ..store import actions
from ..store import messages as mq
from ..store.store import Tx
from ..contacts import suppression
from ..store import consent as ledger
from . import holds, scripts


class Runtime:
    """What the sync hooks need from the running gateway (set by ``extension.install``)."""

    def __init__(self) -> None:
        self.cfg: Config = Config()
        self.wake: Callable[[], None] = lambda: None
        self.kick: Callable[[str], None] = lambda sender: None


RUNTIME = Runtime()
log = logging.getLogger(__name__)
DONE_STATES = {MsgState.FAILED, MsgState.UNDELIVERED, MsgState.EXPIRED, MsgState.UNREACHABLE,
               MsgState.IGNORED, MsgState.CANCELLED}


def message_key(campaign: sqlite3.Row | dict, step: int, contact_id: int) -> str:
    return f"c{campaign['id']}:r{campaign['run']}:g{campaign['generation']}:s{step}:k{contact_id}"


def pick_variant(contact_id: int, variants: list[dict[str, Any]]) -> int:
    """A/B: a stable choice per contact by weight. 0 is the campaign's own script; i >= 1 the
    i-th variant (``{"script_id", "weight"}``; the main script gets the remaining weight)."""
    if not variants:
        return 0
    weights = [max(0.0, 100.0 - sum(float(v.get("weight", 0)) for v in variants))]
    weights += [float(v.get("weight", 0)) for v in variants]
    h = int.from_bytes(hashlib.blake2b(str(contact_id).encode(), digest_size=4).digest(), "big") / 2**32
    acc, total = 0.0, sum(weights) or 1.0
    for i, w in enumerate(weights):
        acc += w / total
        if h < acc:
            return i
    return len(weights) - 1


_PARSED: dict[tuple[str, str, str], tuple[list[dict], dict]] = {}


def script_for(db: sqlite3.Connection, campaign: sqlite3.Row, variant: int) -> tuple[list[dict], dict]:
    """(steps, defaults) of the recipient's variant. Every message outcome asks, so the parsed
    JSON is cached by its text (content-addressed: never stale)."""
    variants = json.loads(campaign["variants"] or "[]") if variant else []
    sid = campaign["script_id"] if variant == 0 or variant > len(variants) else variants[variant - 1]["script_id"]
    row = db.execute("SELECT steps, defaults FROM scripts WHERE id = ?", (sid,)).fetchone()
    key = (row["steps"], row["defaults"] or "{}", campaign["defaults"] or "{}")
    hit = _PARSED.get(key)
    if hit is None:
        defaults = json.loads(key[1])
        defaults.update(json.loads(key[2]))
        if len(_PARSED) > 1000:
            _PARSED.clear()
        hit = _PARSED[key] = (json.loads(key[0]), defaults)
    return hit


def send_step(tx: Tx, campaign: sqlite3.Row, contact: sqlite3.Row, step: int, variant: int,
              steps: list[dict], defaults: dict, source: str = "campaign", conversation_id: int | None = None) -> str:
    """Enqueue ``step`` (1-based) for one recipient unless held (:mod:`.holds`) or suppressed.
    Returns ``sent``, ``held`` (next_at moved to the window opening) or ``unreachable``."""
    values = scripts.contact_values(contact)
    verdict = holds.gate(tx, campaign, contact, values, source, RUNTIME.cfg)   # hours, quiet hours, caps
    if verdict == holds.HELD:
        return "held"
    reason = verdict or suppression.suppression_of(tx.db, contact["phone"], campaign["id"], campaign["number"])
    no_consent = False
    if reason is None and campaign["require_consent"]:
        reason = ledger.missing_reason(tx.db, contact["phone"], campaign["id"], campaign["number"])
        no_consent = reason is not None
    try:
        text = scripts.render(steps[step - 1]["text"], values, defaults)
    except KeyError as exc:   # contact edited after launch: fail this one, loudly
        text, reason = steps[step - 1]["text"], reason or f"missing field {exc.args[0]}"
    state = MsgState.QUEUED if reason is None else MsgState.UNREACHABLE
    mq.enqueue(tx, [mq.NewMessage(
        sender=campaign["number"], recipient=contact["phone"], text=text,
        priority=Priority.BULK if source == "campaign" else Priority.INTERACTIVE,
        ttl_s=campaign["ttl_s"] or RUNTIME.cfg.queue.default_ttl_s, key=message_key(campaign, step, contact["id"]),
        source=source, created_by=campaign["created_by"], campaign_id=campaign["id"], conversation_id=conversation_id,
        contact_id=contact["id"], step=step, state=state, error_text=reason, budget=campaign["budget"])])
    if state is MsgState.QUEUED:
        tx.db.execute("UPDATE campaign_contacts SET step = ?, pending = 1, next_at = NULL, updated_at = ?"
                      " WHERE campaign_id = ? AND contact_id = ?", (step, tx.now, campaign["id"], contact["id"]))
        return "sent"
    tx.db.execute("UPDATE campaign_contacts SET step = ?, pending = 0, next_at = NULL, state = ?,"
                  " updated_at = ? WHERE campaign_id = ? AND contact_id = ? AND state = 'active'",
                  (step, "done" if verdict or no_consent else "opted_out", tx.now, campaign["id"], contact["id"]))
    return "unreachable"


def on_final(tx: Tx, message_id: int, state: MsgState) -> None:
    """FINAL_HOOKS callback: move the recipient's cursor on from this message's outcome.

    A boundary: it runs inside the dispatcher's result transaction, so a campaign bug must not
    undo the carrier's answer (the message would stay ``sending``). Its own changes are rolled
    back to a savepoint and the error is logged instead."""
    tx.db.execute("SAVEPOINT campaign_final")
    try:
        _on_final(tx, message_id, state)
    except Exception:
        tx.db.execute("ROLLBACK TO campaign_final")
        log.exception("campaign hook failed for message %s (%s); the message outcome is kept", message_id, state)
    tx.db.execute("RELEASE campaign_final")


def _on_final(tx: Tx, message_id: int, state: MsgState) -> None:
    m = tx.db.execute("SELECT campaign_id, contact_id, step, recipient, source FROM messages WHERE id = ?",
                      (message_id,)).fetchone()
    if m is None or m["campaign_id"] is None or m["source"] not in ("campaign", "assistant"):
        return
    if state in (MsgState.FAILED, MsgState.UNDELIVERED):
        suppression.record_failure(tx, m["recipient"], m["campaign_id"], RUNTIME.cfg.optout.auto_unsubscribe_campaigns)
    if m["contact_id"] is None or m["step"] is None:
        return
    cc = tx.db.execute("SELECT step, state, pending FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                       (m["campaign_id"], m["contact_id"])).fetchone()
    if cc is None or cc["step"] != m["step"] or cc["pending"] != 1:
        return   # a later outcome of the same message (delivered after sent), or an old run
    if state in DONE_STATES or cc["state"] != "active":
        tx.db.execute("UPDATE campaign_contacts SET pending = 0, next_at = NULL, updated_at = ?,"
                      " state = CASE WHEN state = 'active' THEN 'done' ELSE state END"
                      " WHERE campaign_id = ? AND contact_id = ?", (tx.now, m["campaign_id"], m["contact_id"]))
    else:
        _schedule_next(tx, m["campaign_id"], m["contact_id"], m["step"], after_answer=False)
    tx.after_commit(RUNTIME.wake)


def _schedule_next(tx: Tx, campaign_id: int, contact_id: int, step: int, *, after_answer: bool) -> None:
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    variant = tx.db.execute("SELECT variant FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                            (campaign_id, contact_id)).fetchone()[0]
    steps, _ = script_for(tx.db, camp, variant)
    if step >= len(steps):
        tx.db.execute("UPDATE campaign_contacts SET pending = 0, next_at = NULL, state = 'done', updated_at = ?"
                      " WHERE campaign_id = ? AND contact_id = ?", (tx.now, campaign_id, contact_id))
        return
    asked = steps[step - 1]
    if asked.get("question") is not None and not after_answer and camp["operated_by"] == "assistant":
        timeout = float(asked.get("answer_timeout_s") or scripts.DEFAULT_ANSWER_TIMEOUT_S)
        tx.db.execute("UPDATE campaign_contacts SET pending = 2, next_at = ?, updated_at = ?"
                      " WHERE campaign_id = ? AND contact_id = ?", (tx.now + timeout, tx.now, campaign_id, contact_id))
        return
    next_at = tx.now + float(steps[step].get("delay_s") or 0)
    tx.db.execute("UPDATE campaign_contacts SET pending = 0, next_at = ?, updated_at = ?"
                  " WHERE campaign_id = ? AND contact_id = ?", (next_at, tx.now, campaign_id, contact_id))


def expire_waits(tx: Tx, campaign_id: int) -> int:
    """Recipients whose answer did not come in time are ``unanswered``: nothing more is sent to
    them by this campaign."""
    return tx.db.execute("UPDATE campaign_contacts SET state = 'unanswered', pending = 0, next_at = NULL,"
                         " updated_at = ? WHERE campaign_id = ? AND state = 'active' AND pending = 2 AND next_at <= ?",
                         (tx.now, campaign_id, tx.now)).rowcount


def waiting_count(db: sqlite3.Connection, campaign_id: int) -> int:
    return db.execute("SELECT count(*) FROM campaign_contacts WHERE campaign_id = ? AND state = 'active'"
                      " AND pending = 2", (campaign_id,)).fetchone()[0]


def advance(tx: Tx, campaign_id: int, contact_id: int, source: str = "campaign",
            conversation_id: int | None = None) -> bool:
    """The assistant handled the answer to the recipient's current step: the next step goes out.
    With no delay it is enqueued at once (as the assistant's reply: ``source``, the conversation,
    interactive priority); with a delay it becomes due for the feeder. Returns False when there is
    nothing more to send."""
    cc = tx.db.execute("SELECT step, state, variant, pending, next_at FROM campaign_contacts"
                       " WHERE campaign_id = ? AND contact_id = ?", (campaign_id, contact_id)).fetchone()
    if cc is None or cc["state"] != "active":
        return False
    if cc["pending"] == 2 and cc["next_at"] is not None and cc["next_at"] <= tx.now:
        expire_waits(tx, campaign_id)   # too late: the scheduler had not got round to saying so
        tx.after_commit(RUNTIME.wake)
        return False
    _schedule_next(tx, campaign_id, contact_id, cc["step"], after_answer=True)
    row = tx.db.execute("SELECT state, next_at FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                        (campaign_id, contact_id)).fetchone()
    if row["state"] != "active":
        return False
    camp = tx.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if row["next_at"] is not None and row["next_at"] <= tx.now and camp["status"] in ("processing", "sending",
                                                                                      "finished"):
        contact = tx.db.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        script_steps, defaults = script_for(tx.db, camp, cc["variant"])
        send_step(tx, camp, contact, cc["step"] + 1, cc["variant"], script_steps, defaults, source=source,
                  conversation_id=conversation_id)
        number = camp["number"]
        tx.after_commit(lambda: RUNTIME.kick(number))
    # A campaign that finished while this recipient was thinking sends their next step anyway.
    if camp["status"] == "finished":
        from .lifecycle import set_status

        set_status(tx, campaign_id, "sending", "an answer made a next step due")
    tx.after_commit(RUNTIME.wake)
    return True


def stop_contact(tx: Tx, campaign_id: int, contact_id: int, phone: str, reason: str) -> bool:
    """Stop one campaign for one contact (stop-on-reply): nothing more is sent to them by it."""
    n = tx.db.execute("UPDATE campaign_contacts SET state = 'stopped', next_at = NULL, updated_at = ?"
                      " WHERE campaign_id = ? AND contact_id = ? AND state = 'active'",
                      (tx.now, campaign_id, contact_id)).rowcount
    actions.ignore_queued(tx, "campaign_id = ? AND recipient = ? AND source = 'campaign'", (campaign_id, phone), reason)
    return bool(n)
