"""Whether a recipient's due step may be enqueued now: quiet hours, sending hours by law, caps.

Called by :func:`.steps.send_step` for every step, inside the feeder's transaction. A step that
may not go *waits in its recipient row* (``next_at`` moved, ``held_reason`` saying why), never in
the send queue, so it blocks nothing else.

Decisions:
- Quiet hours (the campaign's own ``quiet_start``-``quiet_end``) and the rule set's legal window
  both apply; the step goes at the first moment both allow.
- Release without a burst: recipients held until the same opening are given due times one gap
  apart in the order they were held (gap = one message at the number's rate, at least
  ``hours.release_gap_s``), so 08:00 starts a paced trickle in list order, not 10,000 enqueues at
  08:00:00; the dispatcher's pacing then applies as for any message.
- Frequency caps count *campaign* messages (``source = 'campaign'``) to the phone over a rolling
  24 h / 7 days across every campaign and number. Exempt: interactive steps sent as the answer to
  a contact's reply (``source = 'assistant'``), agents' replies, keyword confirmations and
  transactional API sends: they are conversations or requested by the user, not solicitations.
- A capped step waits until the oldest counted message leaves the window; if that is beyond its
  TTL (from when it first had to wait), it waits until the TTL ends and is then ``unreachable``
  with the reason. Hours holds do not expire: the law says when, not whether.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from ..store import compliance as sq
from ..store.store import Tx
from . import hours, rulebook, schedule

HELD = "held"
DAY, WEEK = 86400.0, 7 * 86400.0


def rule_set_name(campaign: sqlite3.Row | dict, cfg) -> str | None:
    name = campaign["hours"] if "hours" in campaign.keys() else None
    name = name or cfg.hours.default
    return None if not name or name == "none" else name


def rule_set(campaign: sqlite3.Row | dict, cfg) -> tuple[rulebook.Book, rulebook.RuleSet | None] | None:
    """(book, set) for the campaign; set None when the file no longer has the named set."""
    name = rule_set_name(campaign, cfg)
    if name is None:
        return None
    book = rulebook.load(cfg.hours.file)
    return book, book.sets.get(name)


def _quiet(campaign: sqlite3.Row | dict, phone: str, values: dict, t: float) -> tuple[float, str] | None:
    if not campaign["quiet_start"]:
        return None
    tz = schedule.recipient_zone(phone, values, campaign["tz"])
    until = schedule.quiet_until(t, campaign["quiet_start"], campaign["quiet_end"], tz)
    if until is None:
        return None
    local = dt.datetime.fromtimestamp(until, schedule.zone(tz))
    return until, (f"quiet hours ({campaign['quiet_start']}-{campaign['quiet_end']} {tz}): held until "
                   f"{local:%a %Y-%m-%d %H:%M}")


def cap_until(db: sqlite3.Connection, phone: str, t: float, now: float, caps) -> tuple[float, str] | None:
    """When the phone may get one more campaign message at or after ``t`` (None: at ``t``)."""
    worst: tuple[float, str] | None = None
    for limit, span, label, key in ((caps.per_day, DAY, "24 h", "caps.per_day"),
                                    (caps.per_week, WEEK, "7 days", "caps.per_week")):
        if not limit:
            continue
        sent = sq.campaign_sends_since(db, phone, min(t, now) - span)
        inside = [s for s in sent if s > t - span]
        if len(inside) < limit:
            continue
        until = inside[len(inside) - limit] + span
        if worst is None or until > worst[0]:
            worst = (until, f"frequency cap ({len(inside)} campaign messages in {label}, limit {limit} by {key})")
    return worst


def gate(tx: Tx, campaign: sqlite3.Row | dict, contact: sqlite3.Row | dict, values: dict[str, Any],
         source: str, cfg) -> str | None:
    """None: enqueue now. :data:`HELD`: the recipient waits (row updated). Else the reason the
    step cannot be sent at all (enqueue it ``unreachable``)."""
    now, phone = tx.now, contact["phone"]
    found = rule_set(campaign, cfg)
    where = None
    if found is not None and found[1] is not None:
        where = hours.jurisdiction(found[1], phone, values, campaign["tz"])
    capped = source == "campaign" and (cfg.caps.per_day or cfg.caps.per_week)
    t, reasons, shared, by_cap = now, [], False, False
    for _ in range(16):                # each constraint can only push later; they settle quickly
        moved = False
        if found is not None and found[1] is None:
            return_at = now + 3600.0   # the rule file lost the set: hold, never send without rules
            sq.hold(tx.db, campaign["id"], contact["id"], return_at,
                    f"sending hours: rule set {rule_set_name(campaign, cfg)!r} is not in the rule file", now)
            return HELD
        if (q := _quiet(campaign, phone, values, t)) is not None:
            t, moved, shared = q[0], True, True
            reasons.append(q[1])
        if where is not None and (o := hours.next_open(found[0], found[1], where, t,
                                                       cfg.hours.close_margin_s)) is not None:
            t, moved, shared = o, True, True
            reasons.append(hours.describe_hold(found[1], where, o))
        if capped and (c := cap_until(tx.db, phone, t, now, cfg.caps)) is not None and c[0] > t:
            t, moved, by_cap, shared = c[0], True, True, False
            reasons.append(c[1])
        if not moved:
            break
    known = "held_since" in contact.keys()       # the feeder's rows carry it: no write when never held
    if t <= now:
        if not known or contact["held_since"] is not None:
            sq.clear_hold(tx.db, campaign["id"], contact["id"])
        return None
    reason = reasons[-1] if len(reasons) == 1 else "; then ".join(dict.fromkeys(reasons))
    if by_cap:
        since = (contact["held_since"] if known else sq.held_since(tx.db, campaign["id"], contact["id"])) or now
        deadline = since + float(campaign["ttl_s"] or cfg.queue.default_ttl_s)
        if t > deadline:
            if now >= deadline:
                return f"{reasons[-1] if reasons else 'frequency cap'}: its TTL ended while it waited"
            t = deadline
    if shared:
        number = cfg.number(campaign["number"]) if campaign["number"] else None
        gap = max(1.0 / number.rate if number else 1.0, cfg.hours.release_gap_s)
        t = sq.next_slot(tx.db, campaign["id"], t, gap, now)
    sq.hold(tx.db, campaign["id"], contact["id"], t, reason, now)
    return HELD
