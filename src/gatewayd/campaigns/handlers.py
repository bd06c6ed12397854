"""Control-socket handlers for contacts, scripts, campaigns and reports.

Access (SPEC §8): viewers read, agents change what belongs to their offices, admins everything.
A campaign belongs to its ``office``; non-admins see only their offices' campaigns and limited
users only the ones they created. Lifting a suppression entirely (including an automatic
unsubscribe) is an admin's decision. Gateway-wide performance counts (segments by state, cost)
carry no contact data and are readable by every role; filtered to a campaign they follow the
campaign's visibility. The core records every state-changing request in its audit
log; nothing here duplicates that.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import trio

from .. import protocol as P
from ..analytics import reports
from ..contacts import consent, importer, lookup as contacts_lookup, suppression
from ..control.access import Principal
from ..control.handlers import handles
from ..errors import BadRequest, Forbidden, NotFound
from ..models import Role
from ..phones import normalise
from ..store import compliance as compliance_sql
from ..store.store import Tx
from . import content, lifecycle, progress, readiness, schedule, scripts, steps


def _visible(who: Principal, row: sqlite3.Row) -> bool:
    if who.role is Role.ADMIN:
        return True
    if row["office"] not in who.offices:
        return False
    return not who.limited or row["created_by"] == who.user


def _wake() -> None:
    steps.RUNTIME.wake()


async def _campaign(gw, who: Principal, campaign_id: int) -> sqlite3.Row:
    row = await gw.store.read(lifecycle.get, campaign_id)
    if not _visible(who, row):
        raise NotFound(f"no campaign {campaign_id}")   # not Forbidden: do not reveal other offices' ids
    return row


def _prices(gw) -> dict[str, float]:
    return {lk.name: getattr(lk, "price_per_segment", 0.0) for lk in gw.cfg.links}


# ---- contacts ------------------------------------------------------------------------------


@handles(P.ContactsImport, Role.AGENT)
async def contacts_import(gw, who: Principal, req: P.ContactsImport) -> dict:
    if not req.list_name.strip():
        raise BadRequest("a list name is required")
    if len(req.rows) > 10_000:
        raise BadRequest("at most 10,000 rows per chunk")
    try:
        importer.map_header(req.header)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_header") from None
    region = contacts_lookup.check_region(req.region) or gw.cfg.default_region
    prepared = await trio.to_thread.run_sync(importer.prepare_rows, req.header, req.rows, req.first_row, region,
                                             gw.store.clock())
    prepared.update(file=req.source_file or "import", by=who.user)   # consent evidence
    return await gw.store.run(importer.store_rows, req.list_name, prepared)


async def _known_list(gw, name: str | None) -> None:
    """A list filter that names no list is an error, not an empty result (issue 18.10)."""
    if name is not None and not await gw.store.read(
            lambda db: db.execute("SELECT 1 FROM lists WHERE name = ?", (name,)).fetchone()):
        raise NotFound(f"no contact list {name!r} (gatewayctl contacts lists shows them)")


@handles(P.ContactsList)
async def contacts_list(gw, who: Principal, req: P.ContactsList) -> list[dict]:
    await _known_list(gw, req.list_name)
    return await gw.store.read(importer.contact_page, req.list_name, req.after_id, min(max(req.limit, 1), 5000),
                               contacts_lookup.search_term(req.search, gw.cfg.default_region))


@handles(P.ContactsFields)
async def contacts_fields(gw, who: Principal, req: P.ContactsFields) -> list[str]:
    await _known_list(gw, req.list_name)
    return await gw.store.read(importer.list_fields, req.list_name)


@handles(P.ListsList)
async def lists(gw, who: Principal, req: P.ListsList) -> list[dict]:
    return await gw.store.read(importer.lists_overview)


@handles(P.OptOut, Role.AGENT)
async def opt_out(gw, who: Principal, req: P.OptOut) -> dict:
    phone = normalise(req.phone, gw.cfg.default_region)
    if req.campaign_id is not None:
        await _campaign(gw, who, req.campaign_id)
    try:
        new = await gw.store.run(suppression.opt_out, phone, req.scope, req.campaign_id, req.number,
                                 req.reason or f"opted out by {who.user}", "operator", who.user,
                                 {"how": "operator opt-out", "evidence": req.reason})
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return {"phone": phone, "scope": req.scope, "created": new}


@handles(P.OptIn, Role.AGENT)
async def opt_in(gw, who: Principal, req: P.OptIn) -> dict:
    if req.number is None and req.campaign_id is None:
        who.require(Role.ADMIN, "lifting every suppression of a phone (including automatic unsubscribes)")
    phone = normalise(req.phone, gw.cfg.default_region)
    evidence = {"how": "operator opt-in", "evidence": req.evidence}
    if req.at:
        try:
            evidence["at"] = consent.parse_when(req.at, gw.store.clock())
        except ValueError as exc:
            raise BadRequest(f"at: {exc}") from None
    n = await gw.store.run(suppression.opt_in, phone, req.number, req.campaign_id, "operator", who.user, evidence)
    return {"phone": phone, "lifted": n}


@handles(P.Suppressions)
async def suppressions(gw, who: Principal, req: P.Suppressions) -> list[dict]:
    phone = normalise(req.phone, gw.cfg.default_region) if req.phone else None
    return await gw.store.read(suppression.list_suppressions, phone, min(max(req.limit, 1), 1000), req.before_id)


# ---- scripts -------------------------------------------------------------------------------


@handles(P.ScriptCreate, Role.AGENT)
async def script_create(gw, who: Principal, req: P.ScriptCreate) -> dict:
    sid = await gw.store.run(scripts.create, req.name, req.type, req.steps, req.defaults, who.user)
    return await gw.store.read(lambda db: scripts.script_dict(scripts.resolve(db, sid)))


@handles(P.ScriptShow)
async def script_show(gw, who: Principal, req: P.ScriptShow) -> dict:
    return await gw.store.read(lambda db: scripts.script_dict(scripts.resolve(db, req.script)))


@handles(P.ScriptList)
async def script_list(gw, who: Principal, req: P.ScriptList) -> list[dict]:
    return await gw.store.read(lambda db: [scripts.script_dict(r) for r in
                                           db.execute("SELECT * FROM scripts ORDER BY name")])


@handles(P.ScriptPreview)
async def script_preview(gw, who: Principal, req: P.ScriptPreview) -> dict:
    camp = await _campaign(gw, who, req.campaign_id) if req.campaign_id is not None else None

    def q(db: sqlite3.Connection) -> dict:
        if camp is not None:
            row = contacts_lookup.find(db, req.contact, gw.cfg.default_region)
            cc = db.execute("SELECT variant FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                            (camp["id"], row["id"])).fetchone()
            variant = cc["variant"] if cc else steps.pick_variant(row["id"], json.loads(camp["variants"]))
            st, defaults = steps.script_for(db, camp, variant)
            number = camp["number"]
        else:
            if req.script is None:
                raise BadRequest("give a script or a campaign")
            s = scripts.resolve(db, req.script)
            st, defaults = json.loads(s["steps"]), json.loads(s["defaults"])
            row = contacts_lookup.find(db, req.contact, gw.cfg.default_region)
            number = None
        if not 1 <= req.step <= len(st):
            raise BadRequest(f"step must be between 1 and {len(st)}")
        price = 0.0
        ncfg = gw.cfg.number(number) if number else None
        if ncfg and ncfg.links:
            price = _prices(gw).get(ncfg.links[0], 0.0)
        out = scripts.preview(st[req.step - 1]["text"], scripts.contact_values(row), defaults, price)
        out.update(contact_id=row["id"], phone=row["phone"], step=req.step)
        return out

    return await gw.store.read(q)


# ---- campaigns -----------------------------------------------------------------------------


def _columns(db: sqlite3.Connection, f: P.CampaignFields, cfg, who: Principal, creating: bool,
             now: float) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for k in ("name", "operated_by", "tags", "stop_on_reply", "cron", "ttl_s", "quiet_start", "quiet_end",
              "defaults", "description", "number", "tz",
              "require_consent"):
        v = getattr(f, k)
        if v is not None:
            cols[k] = v
    if f.script is not None:
        cols["script_id"] = scripts.resolve(db, f.script)["id"]
    if f.list_name is not None:
        row = db.execute("SELECT id FROM lists WHERE name = ?", (f.list_name,)).fetchone()
        if row is None:
            raise NotFound(f"no contact list {f.list_name!r} (import contacts into it first)")
        cols["list_id"] = row["id"]
    if f.budget is not None:
        if f.budget and all(b.name != f.budget for b in cfg.budgets):
            raise BadRequest(f"budget {f.budget!r} is not configured (no [[budgets]] of that name)", "unknown_budget")
        cols["budget"] = f.budget or None
    if f.number is not None and cfg.number(f.number) is None:
        raise BadRequest(f"number {f.number!r} is not configured", "unknown_number")
    if f.tags is not None and any(len(t) > 30 or not t.strip() for t in f.tags):
        raise BadRequest("tags must be 1 to 30 characters")
    if f.ttl_s is not None and f.ttl_s <= 0:
        raise BadRequest("ttl_s must be positive")
    schedule.zone(f.tz)
    if f.cron is not None:
        schedule.check_cron(f.cron)
    if f.at is not None:
        if f.at.strip().lower() == "now":   # no schedule: sends when launched
            cols["schedule_at"] = None
        else:
            at = schedule.parse_at(f.at, f.tz)
            if at <= now:
                raise BadRequest(f"--at {f.at!r} is in the past; give a later time, or 'now' to send at launch",
                                 "bad_time")
            cols["schedule_at"] = at
    if f.quiet_start or f.quiet_end:
        schedule.check_quiet(f.quiet_start, f.quiet_end)
    if f.hours is not None:
        cols["hours"] = content.check_rule_set(f.hours, cfg)
    if f.variants is not None:
        cols["variants"] = _variants(db, f.variants)
    office = f.office
    if office is None and creating:
        n = cfg.number(f.number) if f.number else None
        office = n.office if n else (who.offices[0] if who.offices else "default")
    if office is not None:
        if not who.in_office(office):
            raise Forbidden(f"{who.user} is not in office {office!r}")
        cols["office"] = office
    return cols


def _variants(db: sqlite3.Connection, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A/B variants: each a script and a weight in percent (0 < w <= 100, together at most 100:
    the campaign's own script gets the rest)."""
    out = []
    for i, v in enumerate(given, 1):
        if not isinstance(v, dict) or v.get("script") in (None, ""):
            raise BadRequest(f"variant {i}: give a script (id or name) and a weight", "bad_variant")
        try:
            weight = float(v.get("weight"))
        except (TypeError, ValueError):
            raise BadRequest(f"variant {i}: weight {v.get('weight')!r} is not a number", "bad_variant") from None
        if not 0 < weight <= 100:
            raise BadRequest(f"variant {i}: weight {weight:g} must be more than 0 and at most 100 (percent)",
                             "bad_variant")
        out.append({"script_id": scripts.resolve(db, str(v["script"]))["id"], "weight": weight})
    if sum(v["weight"] for v in out) > 100:
        raise BadRequest(f"variant weights add up to {sum(v['weight'] for v in out):g}%: at most 100",
                         "bad_variant")
    return out


async def _view(gw, campaign_id: int) -> dict:
    def q(db: sqlite3.Connection) -> dict:
        row = lifecycle.get(db, campaign_id)
        counts = dict(db.execute("SELECT state, count(*) FROM campaign_contacts WHERE campaign_id = ? GROUP BY state",
                                 (campaign_id,)).fetchall())
        extra: dict[str, Any] = {"recipients": counts}
        extra["script"] = db.execute("SELECT name FROM scripts WHERE id = ?", (row["script_id"],)).fetchone()
        extra["script"] = extra["script"][0] if extra["script"] else None
        lst = db.execute("SELECT name FROM lists WHERE id = ?", (row["list_id"],)).fetchone()
        extra["list"] = lst[0] if lst else None
        if row["status"] == "draft":
            extra["not_ready"], extra["checks"] = readiness.review_many(
                db, [row], gw.cfg, gw.dispatcher.number_state)[row["id"]]
            passed = lifecycle.schedule_passed(row, gw.store.clock())
            if passed:
                extra["not_ready"].append(passed)
        extra.update(progress.overview(db, row, gw.store.clock()))
        extra["held_by"] = compliance_sql.held_summary(db, campaign_id)
        extra["waiting"] = _holds_queued(gw, db, row)
        if row["require_consent"]:
            extra["consent"] = readiness.consent_summary(db, row)
        return lifecycle.campaign_dict(row, extra)

    d = await gw.store.read(q)
    if d["waiting"]:   # the budgets live in the trio thread: asked here, not in q's worker thread
        d["waiting"] = gw.dispatcher.budgets.reason(d["waiting"], trio.current_time(), gw.store.clock())
    return d


def _holds_queued(gw, db: sqlite3.Connection, row: sqlite3.Row) -> list[str] | None:
    """The budgets that may be holding this campaign's queued messages (None: nothing queued or
    no budget applies); ``_view`` turns them into the reason shown as ``waiting``."""
    names = gw.dispatcher.budgets.names_for(row["number"], row["budget"])
    if not names or row["status"] not in ("processing", "sending", "suspended"):
        return None
    if not db.execute("SELECT 1 FROM messages WHERE campaign_id = ? AND state = 'queued' LIMIT 1",
                      (row["id"],)).fetchone():
        return None
    return names


@handles(P.CampaignCreate, Role.AGENT)
async def campaign_create(gw, who: Principal, req: P.CampaignCreate) -> dict:
    def op(tx: Tx) -> int:
        cols = _columns(tx.db, req.fields, gw.cfg, who, creating=True, now=tx.now)
        cid = lifecycle.create(tx, cols, who.user)
        if req.launch:
            lifecycle.launch(tx, cid, who.user, gw.cfg, gw.dispatcher.number_state)
        return cid

    cid = await gw.store.run(op)
    _wake()
    return await _view(gw, cid)


@handles(P.CampaignEdit, Role.AGENT)
async def campaign_edit(gw, who: Principal, req: P.CampaignEdit) -> dict:
    await _campaign(gw, who, req.campaign_id)

    def op(tx: Tx) -> None:
        lifecycle.edit(tx, req.campaign_id, _columns(tx.db, req.fields, gw.cfg, who, creating=False, now=tx.now),
                       who.user)

    await gw.store.run(op)
    return await _view(gw, req.campaign_id)


@handles(P.CampaignAction, Role.AGENT)
async def campaign_action(gw, who: Principal, req: P.CampaignAction) -> dict:
    await _campaign(gw, who, req.campaign_id)
    a, cid, user = req.action, req.campaign_id, who.user
    if a == "launch":
        await gw.store.run(lifecycle.launch, cid, user, gw.cfg, gw.dispatcher.number_state)
    elif a == "pause":
        await gw.store.run(lifecycle.pause, cid, user)
    elif a == "resume":
        await gw.store.run(lifecycle.resume, cid, user)
    elif a == "stop":
        await gw.store.run(lifecycle.stop, cid, user)
    elif a == "archive":
        await gw.store.run(lifecycle.archive, cid, user)
    else:
        cid = await gw.store.run(lifecycle.clone, cid, user)
    _wake()
    return await _view(gw, cid)


@handles(P.CampaignShow)
async def campaign_show(gw, who: Principal, req: P.CampaignShow) -> dict:
    await _campaign(gw, who, req.campaign_id)
    return await _view(gw, req.campaign_id)


@handles(P.CampaignList)
async def campaign_list(gw, who: Principal, req: P.CampaignList) -> list[dict]:
    bad = [s for s in req.status or [] if s not in lifecycle.STATUSES]
    if bad:
        raise BadRequest(f"unknown status {bad[0]!r} (one of {', '.join(lifecycle.STATUSES)})")
    offices = None if who.role is Role.ADMIN else who.offices

    def q(db: sqlite3.Connection) -> list[dict]:
        rows = lifecycle.search(db, statuses=req.status, tag=req.tag, text=req.search, offices=offices,
                                created_by=who.user if who.limited and who.role is not Role.ADMIN else None,
                                limit=min(max(req.limit, 1), 1000))
        drafts = [r for r in rows if r["status"] == "draft"]
        ready = readiness.review_many(db, drafts, gw.cfg, gw.dispatcher.number_state) if drafts else {}
        now = gw.store.clock()
        for r in drafts:
            passed = lifecycle.schedule_passed(r, now)
            if passed:
                ready[r["id"]][0].append(passed)
        return [lifecycle.campaign_dict(r, {"not_ready": ready[r["id"]][0], "checks": ready[r["id"]][1]}
                                        if r["id"] in ready else None) for r in rows]

    return await gw.store.read(q)


@handles(P.CampaignReport)
async def campaign_report(gw, who: Principal, req: P.CampaignReport) -> dict:
    row = await _campaign(gw, who, req.campaign_id)
    rep = await gw.store.read(reports.campaign_report, row, _prices(gw), gw.store.clock())
    if req.csv:
        rep["csv"] = reports.report_csv(rep)
    return rep


@handles(P.CampaignContacts)
async def campaign_contacts(gw, who: Principal, req: P.CampaignContacts) -> list[dict]:
    await _campaign(gw, who, req.campaign_id)

    if req.state and req.state not in progress.RECIPIENT_STATES:
        raise BadRequest(f"unknown recipient state {req.state!r} (one of {', '.join(progress.RECIPIENT_STATES)})",
                         "bad_state")
    camp = await gw.store.read(lifecycle.get, req.campaign_id)
    now = gw.store.clock()

    def q(db: sqlite3.Connection) -> list[dict]:
        where, params = ["cc.campaign_id = ? AND cc.contact_id > ?"], [req.campaign_id, req.after_id]
        if req.state:
            where.append("cc.state = ?")
            params.append(req.state)
        rows = db.execute(
            f"""SELECT cc.*, c.phone, c.first_name, c.last_name, c.fields, c.created_at,
                  (SELECT m.state FROM messages m WHERE m.contact_id = cc.contact_id AND m.campaign_id = cc.campaign_id
                   ORDER BY m.id DESC LIMIT 1) AS message_state,
                  (SELECT m.error_text FROM messages m WHERE m.contact_id = cc.contact_id AND m.campaign_id = cc.campaign_id
                   ORDER BY m.id DESC LIMIT 1) AS failed_reason
                FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id
                WHERE {' AND '.join(where)} ORDER BY cc.contact_id LIMIT ?""",
            (*params, min(max(req.limit, 1), 5000))).fetchall()
        out = []
        for r in rows:
            d = {**{k: r[k] for k in r.keys() if k != "fields"}, "fields": json.loads(r["fields"])}
            d["waiting"] = progress.waiting(camp, d, now)
            out.append(d)
        return out

    return await gw.store.read(q)


@handles(P.PerformanceReport)
async def performance_report(gw, who: Principal, req: P.PerformanceReport) -> dict:
    if req.campaign_id is not None:
        await _campaign(gw, who, req.campaign_id)
    rep = await gw.store.read(lambda db: reports.performance(
        db, _prices(gw), since=req.since, until=req.until, number=req.number, link=req.link,
        campaign_id=req.campaign_id))
    if req.csv:
        rep["csv"] = importer.csv_text(["state", "segments", "messages"],
                                       [[k, rep["segments"][k], rep["messages"].get(k, 0)] for k in rep["segments"]])
    return rep
