"""Campaign analytics (SPEC §7; seeds 001, 002, 004) with stable key names, and CSV export.

Keys of :func:`campaign_report` (the ``campaign report --json`` contract):

- ``send_status``: ``total`` (= succeeded + failed + pending), ``succeeded`` (carrier accepted or
  delivered), ``failed`` (rejected, undelivered, expired), ``pending`` (queued or in flight), and
  outside the total ``unreachable`` (suppressed, never attempted) and ``ignored`` (withdrawn by a
  stop or a disabled sender; held by a pause they stay queued, i.e. pending). Counts are the campaign's own messages (``source =
  'campaign'``), one per recipient and step (a pause holds messages, it does not make new ones);
  keyword confirmations and agent/assistant replies are not campaign sends.
- ``engagement``: ``contacts_sent`` (contacts with >= 1 message attempted, including those whose
  delivery then failed, as seed 004), ``contacts_responded`` (>= 1 attributed reply, invalid
  answers and STOPs included), ``opt_outs`` (contacts who opted out of it, by keyword or by an
  operator; automatic unsubscribes are not the contact's choice and are not counted),
  ``rate`` = responded / sent (0 when nothing was sent).
- ``responses``: ``contact``, ``agent``, ``assistant`` message counts, ``keyword`` (the part of
  ``assistant`` that answered STOP, START or HELP: the assistant answers keywords, SPEC §6, so
  its confirmations are its responses), ``invalid`` (answers the assistant could not use; they
  are responses too) and ``median_agent_response_s`` (from a contact's message to the next agent
  message to them).
- ``activity``: ``bucket`` (hour | day | month | year by the active range, seed 001: up to one
  day per hour, up to two months per day, up to two years per month, beyond per year), ``start``,
  ``end`` and ``series`` of ``{"label", "start", "sent", "received"}`` with empty buckets kept.
- ``performance``: see :func:`performance`.

Segment states are counted per message: a multipart message's segments are counted under the
message's logical state (they agree except in the rare partial outcome). Counts come from
``campaign_stats`` (exact, trigger-maintained) and ``campaign_contacts.reached_at`` (set by a
trigger when a campaign message to the contact first leaves the queue); activity and response
times come from hourly counts (``campaign_activity``, trigger-maintained too), so a 1,000,000-message
report stays well under a second. Activity counts a campaign message once, in the hour the
carrier first answered (sent, delivered, undelivered or failed), and replies in the hour they came;
buckets are labelled in the campaign's time zone (whole UTC hours: a zone with a half-hour offset
sees its hours shifted by 30 minutes).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
import statistics
from typing import Any
from zoneinfo import ZoneInfo

SEGMENT_KEYS = ("queued", "failed", "ignored", "unreachable", "undelivered", "delivered_unconfirmed",
                "delivered_confirmed", "expired", "cancelled")
_SEG_KEY = {"queued": "queued", "sending": "queued", "sent": "delivered_unconfirmed",
            "delivered": "delivered_confirmed", "undelivered": "undelivered", "failed": "failed",
            "expired": "expired", "ignored": "ignored", "unreachable": "unreachable", "cancelled": "cancelled"}
ATTEMPTED = ("sending", "sent", "delivered", "undelivered", "failed")
CHARGED = ("sent", "delivered", "undelivered")
STOP_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
DAY = 86400.0


def _add_months(d: dt.datetime, months: int) -> dt.datetime:
    y, m = divmod(d.month - 1 + months, 12)
    day = min(d.day, [31, 29 if (d.year + y) % 4 == 0 and ((d.year + y) % 100 or (d.year + y) % 400 == 0) else 28,
                      31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m])
    return d.replace(year=d.year + y, month=m + 1, day=day)


def bucket_for(start: float, end: float) -> str:
    """Seed 001's rule for the activity chart's granularity."""
    s = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    e = dt.datetime.fromtimestamp(end, dt.timezone.utc)
    if e - s <= dt.timedelta(days=1):
        return "hour"
    if e <= _add_months(s, 2):
        return "day"
    if e <= _add_months(s, 24):
        return "month"
    return "year"


def _floor(d: dt.datetime, bucket: str) -> dt.datetime:
    if bucket == "hour":
        return d.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        return d.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "month":
        return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return d.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def _step(d: dt.datetime, bucket: str) -> dt.datetime:
    if bucket == "hour":
        return d + dt.timedelta(hours=1)
    if bucket == "day":
        return d + dt.timedelta(days=1)
    return _add_months(d, 1 if bucket == "month" else 12)


_FMT = {"hour": "%Y-%m-%dT%H:00", "day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


def activity(db: sqlite3.Connection, campaign_id: int, start: float, end: float, tz: str = "UTC") -> dict[str, Any]:
    bucket = bucket_for(start, end)
    zone = ZoneInfo(tz or "UTC")
    fmt = _FMT[bucket]
    sent: dict[str, int] = {}
    received: dict[str, int] = {}
    # Hourly counts (trigger-maintained) folded into the bucket in the campaign's zone.
    for hour, s_n, r_n in db.execute("SELECT hour, sent, received FROM campaign_activity WHERE campaign_id = ?",
                                     (campaign_id,)):
        label = dt.datetime.fromtimestamp(hour * 3600, zone).strftime(fmt)
        sent[label] = sent.get(label, 0) + s_n
        received[label] = received.get(label, 0) + r_n
    series = []
    cur = _floor(dt.datetime.fromtimestamp(start, zone), bucket)
    last = dt.datetime.fromtimestamp(end, zone)
    seen = set()
    while cur <= last and len(series) < 5000:
        label = cur.strftime(fmt)
        seen.add(label)
        series.append({"label": label, "start": cur.timestamp(), "sent": sent.get(label, 0),
                       "received": received.get(label, 0)})
        cur = _step(cur, bucket)
    for label in sorted((set(sent) | set(received)) - seen):   # activity outside the range (late replies)
        series.append({"label": label, "start": None, "sent": sent.get(label, 0), "received": received.get(label, 0)})
    return {"bucket": bucket, "start": start, "end": end, "tz": tz, "series": series}


def _median_agent_response(db: sqlite3.Connection, campaign_id: int) -> float | None:
    events: dict[str, list[tuple[float, int]]] = {}
    for phone, at in db.execute("SELECT sender, received_at FROM inbound WHERE campaign_id = ?", (campaign_id,)):
        events.setdefault(phone, []).append((at, 0))
    for phone, at in db.execute("SELECT recipient, created_at FROM messages INDEXED BY ix_msg_campaign_agent"
                                " WHERE campaign_id = ? AND source = 'agent'", (campaign_id,)):
        events.setdefault(phone, []).append((at, 1))
    waits = []
    for evs in events.values():
        pending = None
        for at, kind in sorted(evs):
            if kind == 0 and pending is None:
                pending = at
            elif kind == 1 and pending is not None:
                waits.append(at - pending)
                pending = None
    return statistics.median(waits) if waits else None


def performance(db: sqlite3.Connection, prices: dict[str, float], *, since: float | None = None,
                until: float | None = None, number: str | None = None, link: str | None = None,
                campaign_id: int | None = None) -> dict[str, Any]:
    """Segments by state (seed 002) and cost = charged segments x the link's price per segment.
    One campaign without other filters reads ``campaign_stats``; anything else scans messages
    (by time with ``ix_msg_created``)."""
    if campaign_id is not None and since is None and until is None and number is None:
        where, params = "campaign_id = ?", [campaign_id]
        if link is not None:
            where += " AND link = ?"
            params.append(link)
        rows = db.execute(f"SELECT state, nullif(link, ''), sum(messages), sum(segments) FROM campaign_stats"
                          f" WHERE {where} GROUP BY state, link", params).fetchall()
    else:
        conds, params = ["1=1"], []
        for cond, value in (("campaign_id = ?", campaign_id), ("sender = ?", number), ("link = ?", link),
                            ("created_at >= ?", since), ("created_at < ?", until)):
            if value is not None:
                conds.append(cond)
                params.append(value)
        rows = db.execute(f"SELECT state, link, count(*), sum(segments) FROM messages WHERE {' AND '.join(conds)}"
                          " GROUP BY state, link", params).fetchall()
    segs = dict.fromkeys(SEGMENT_KEYS, 0)
    msgs = dict.fromkeys(SEGMENT_KEYS, 0)
    cost = 0.0
    for state, lk, n, s in rows:
        key = _SEG_KEY.get(state, state)
        segs[key] = segs.get(key, 0) + (s or 0)
        msgs[key] = msgs.get(key, 0) + (n or 0)
        if state in CHARGED and lk:
            cost += (s or 0) * prices.get(lk, 0.0)
    return {"filters": {"since": since, "until": until, "number": number, "link": link, "campaign_id": campaign_id},
            "segments": segs, "messages": msgs, "total_segments": sum(segs.values()), "cost": round(cost, 6)}


def campaign_report(db: sqlite3.Connection, campaign: sqlite3.Row, prices: dict[str, float], now: float) -> dict[str, Any]:
    cid = campaign["id"]
    by_state = dict.fromkeys(("queued", "sending", "sent", "delivered", "undelivered", "failed", "expired",
                              "unreachable", "ignored", "cancelled"), 0)
    for state, n in db.execute("SELECT state, sum(messages) FROM campaign_stats WHERE campaign_id = ?"
                               " AND source = 'campaign' GROUP BY state", (cid,)):
        by_state[state] = n
    succeeded = by_state["sent"] + by_state["delivered"]
    failed = by_state["failed"] + by_state["undelivered"] + by_state["expired"]
    pending = by_state["queued"] + by_state["sending"]
    sent_contacts = db.execute("SELECT count(*) FROM campaign_contacts WHERE campaign_id = ? AND reached_at IS NOT NULL",
                               (cid,)).fetchone()[0]
    responded = db.execute("SELECT count(DISTINCT sender) FROM inbound WHERE campaign_id = ?", (cid,)).fetchone()[0]
    opt_outs = db.execute(
        f"SELECT count(*) FROM (SELECT phone FROM suppressions WHERE campaign_id = ? AND source != 'auto'"
        f" UNION SELECT sender FROM inbound WHERE campaign_id = ? AND keyword IN ({','.join('?' * len(STOP_KEYWORDS))}))",
        (cid, cid, *STOP_KEYWORDS)).fetchone()[0]
    src = dict(db.execute("SELECT source, sum(messages) FROM campaign_stats WHERE campaign_id = ?"
                          " AND source IN ('agent', 'assistant', 'keyword') GROUP BY source", (cid,)).fetchall())
    contact_msgs = db.execute("SELECT count(*) FROM inbound WHERE campaign_id = ?", (cid,)).fetchone()[0]
    start = campaign["launched_at"] or campaign["created_at"]
    end = campaign["finished_at"] or now
    return {
        "campaign_id": cid, "name": campaign["name"], "status": campaign["status"], "generated_at": now,
        "send_status": {"total": succeeded + failed + pending, "succeeded": succeeded, "failed": failed,
                        "pending": pending, "unreachable": by_state["unreachable"], "ignored": by_state["ignored"],
                        "by_state": by_state},
        "engagement": {"contacts_sent": sent_contacts, "contacts_responded": responded, "opt_outs": opt_outs,
                       "rate": round(responded / sent_contacts, 4) if sent_contacts else 0.0},
        "responses": {"contact": contact_msgs, "agent": src.get("agent", 0),
                      "assistant": src.get("assistant", 0) + src.get("keyword", 0), "keyword": src.get("keyword", 0),
                      "invalid": _invalid_answers(db, cid),
                      "median_agent_response_s": _median_agent_response(db, cid)},
        "activity": activity(db, cid, start, max(end, start), campaign["tz"]),
        "performance": performance(db, prices, campaign_id=cid),
    }


def _invalid_answers(db: sqlite3.Connection, cid: int) -> int:
    """Replies the assistant could not use (they count as responses too, seed 004)."""
    try:
        return db.execute("SELECT count(*) FROM answers WHERE campaign_id = ? AND valid = 0", (cid,)).fetchone()[0]
    except sqlite3.OperationalError:   # inbox not installed
        return 0


def report_csv(report: dict[str, Any]) -> str:
    """A report as CSV: ``section,metric,value`` rows, then the activity series."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "metric", "value"])

    def flat(section: str, d: dict[str, Any]) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                flat(f"{section}.{k}", v)
            elif not isinstance(v, list):
                w.writerow([section, k, "" if v is None else v])

    for section, value in report.items():
        if isinstance(value, dict) and section != "activity":
            flat(section, value)
        elif not isinstance(value, (dict, list)):
            w.writerow(["campaign" if section != "generated_at" else "report", section, "" if value is None else value])
    act = report.get("activity")
    if act:
        w.writerow([])
        w.writerow(["activity_" + act["bucket"], "sent", "received"])
        for p in act["series"]:
            w.writerow([p["label"], p["sent"], p["received"]])
    return buf.getvalue()
