"""Why a draft cannot launch yet: for one campaign (launch, ``campaign_show``) or for a page of
them (``campaign_list``, so a console shows every draft's readiness without a request per draft).

The checks need the scripts, the list sizes and, for fields the scripts use, how many contacts
have them empty. For a page these are fetched once for all drafts (the scripts in one query, the
sizes in one, the empty-field counts in one per list whose scripts use fields), never per
campaign; the verdicts are then pure functions of those facts.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import BadRequest
from ..store import consent as ledger
from . import content, schedule, scripts

_MEMBERS = "FROM list_members m JOIN contacts c ON c.id = m.contact_id WHERE m.list_id = ?"


def check(db: sqlite3.Connection, row: sqlite3.Row, cfg, number_state) -> list[str]:
    """Every reason ``row`` cannot launch yet (empty when ready)."""
    return check_many(db, [row], cfg, number_state)[row["id"]]


def check_many(db: sqlite3.Connection, rows: list[sqlite3.Row], cfg, number_state) -> dict[int, list[str]]:
    """Campaign id -> every reason it cannot launch yet, in a fixed number of queries."""
    return {cid: reasons for cid, (reasons, _) in review_many(db, rows, cfg, number_state).items()}


def review_many(db: sqlite3.Connection, rows: list[sqlite3.Row], cfg,
                number_state) -> dict[int, tuple[list[str], list[dict[str, Any]]]]:
    """Campaign id -> (every reason it cannot launch yet, the content checks' findings)."""
    variants = {r["id"]: json.loads(r["variants"] or "[]") for r in rows}
    sids = {r["script_id"] for r in rows} | {v.get("script_id") for vs in variants.values() for v in vs}
    found = _in(db, "SELECT id, name, steps, defaults FROM scripts WHERE id IN ({})", sids)
    known = {r["id"]: (json.loads(r["steps"]), json.loads(r["defaults"] or "{}")) for r in found}
    names = {r["id"]: r["name"] for r in found}
    sizes = {r[0]: r[1] for r in _in(db, "SELECT list_id, count(*) FROM list_members WHERE list_id IN ({})"
                                         " GROUP BY list_id", {r["list_id"] for r in rows})}
    judged = {r["id"]: _scripts(r, variants[r["id"]], known) for r in rows}
    wanted: dict[int, set[str]] = {}
    for r in rows:
        if sizes.get(r["list_id"]):
            wanted.setdefault(r["list_id"], set()).update(judged[r["id"]][1])
    empty = _empty_fields(db, wanted)
    out = {}
    for r in rows:
        reasons, needed = judged[r["id"]]
        hours_reasons, findings = _content(r, variants[r["id"]], known, names, cfg)
        out[r["id"]] = ([*reasons, *_list(r, sizes, needed, empty), *_number(r, cfg, number_state), *_schedule(r),
                         *_consent(db, r, sizes), *hours_reasons, *content.blockers(findings)], findings)
    return out


def _content(row: sqlite3.Row, variants: list[dict], known: dict[int, tuple[list, dict]], names: dict[int, str],
             cfg) -> tuple[list[str], list[dict[str, Any]]]:
    """Issue 17: the rule set exists, and the content checks of :mod:`.content`."""
    name = row["hours"] if "hours" in row.keys() else None
    try:
        name = content.check_rule_set(name, cfg) if name else None
    except BadRequest as exc:
        return [exc.message], []
    defaults = json.loads(row["defaults"] or "{}")
    chosen = [row["script_id"], *(v.get("script_id") for v in variants)]
    texts = [(names[sid], known[sid][0], {**known[sid][1], **defaults}) for sid in chosen if sid in known]
    if not texts:
        return [], []
    return [], content.review(texts, content.rule_set_for(name, cfg), cfg, content.price_of(cfg, row["number"]))


def consent_summary(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """For a ``require_consent`` campaign: how many list members have no valid opt-in (they will
    be ``unreachable``: no consent on record, or consent older than the number's reassignment)."""
    if row["list_id"] is None:
        return {"required": True, "without": 0, "sample": []}
    n, sample = ledger.without_opt_in(db, row["list_id"], row["id"], row["number"])
    return {"required": True, "without": n, "sample": sample}


def _consent(db: sqlite3.Connection, row: sqlite3.Row, sizes: dict[int, int]) -> list[str]:
    """Blocks only a launch that would reach nobody; a partial list launches (``campaign_show``
    says how many are left out) because excluding them is what ``require_consent`` is for."""
    size = sizes.get(row["list_id"]) if row["list_id"] is not None else 0
    if not row["require_consent"] or not size:
        return []
    n, _ = ledger.without_opt_in(db, row["list_id"], row["id"], row["number"], sample=0)
    return [f"require_consent: none of the {size} contacts has consent on record"] if n >= size else []


def _in(db: sqlite3.Connection, sql: str, ids: set[Any]) -> list[sqlite3.Row]:
    ids = {i for i in ids if i is not None}
    return db.execute(sql.format(",".join("?" * len(ids))), tuple(ids)).fetchall() if ids else []


def _scripts(row: sqlite3.Row, variants: list[dict], known: dict[int, tuple[list, dict]]) -> tuple[list[str], set[str]]:
    """Reasons about the script and variants, and the fields their steps need from contacts."""
    reasons: list[str] = []
    script_ids: list[int] = []
    if row["script_id"] is None:
        reasons.append("no script chosen")
    else:
        script_ids.append(row["script_id"])
    for i, v in enumerate(variants, 1):
        if v.get("script_id") not in known:
            reasons.append(f"variant {i}: no script {v.get('script_id')!r}")
        else:
            script_ids.append(v["script_id"])
    if sum(float(v.get("weight", 0)) for v in variants) > 100:
        reasons.append("variant weights add up to more than 100")
    needed: set[str] = set()
    defaults = json.loads(row["defaults"] or "{}")
    for sid in script_ids:
        if sid not in known:
            reasons.append(f"script {sid} does not exist")
            continue
        steps, sdefaults = known[sid]
        if not steps or not all(s.get("text", "").strip() for s in steps):
            reasons.append(f"script {sid} has an empty step")
        sdefaults = {**sdefaults, **defaults}
        needed |= {f for s in steps for f in scripts.placeholders(s.get("text", "")) if f not in sdefaults}
    return reasons, needed


def _expr(field: str) -> str:
    return f"c.{field}" if field in scripts.BUILTIN_FIELDS else f"json_extract(c.fields, '$.\"{field}\"')"


def _empty_fields(db: sqlite3.Connection, wanted: dict[int, set[str]]) -> dict[tuple[int, str], tuple[int, list[str]]]:
    """(list, field) -> (contacts with it empty, up to 10 of their phones): one count query per
    list; the sample is read only for a field that is actually missing somewhere."""
    out = {}
    for list_id, fields in wanted.items():
        names = sorted(fields)
        if not names:
            continue
        sums = ", ".join(f"sum(coalesce({_expr(f)}, '') = '')" for f in names)
        counts = db.execute(f"SELECT {sums} {_MEMBERS}", (list_id,)).fetchone()
        for field, n in zip(names, counts):
            if n:
                sample = [r[0] for r in db.execute(
                    f"SELECT c.phone {_MEMBERS} AND coalesce({_expr(field)}, '') = '' LIMIT 10", (list_id,))]
                out[(list_id, field)] = (n, sample)
    return out


def _list(row: sqlite3.Row, sizes: dict[int, int], needed: set[str],
          empty: dict[tuple[int, str], tuple[int, list[str]]]) -> list[str]:
    if row["list_id"] is None:
        return ["no contact list chosen"]
    reasons = [] if sizes.get(row["list_id"]) else ["the contact list has no contacts"]
    for field in sorted(needed):
        if (hit := empty.get((row["list_id"], field))) is not None:
            n, sample = hit
            reasons.append(f"field {{{field}}} is empty for {n} contact(s): {', '.join(sample)}"
                           f"{' ...' if n > len(sample) else ''} (fix the list or give a default)")
    return reasons


def _number(row: sqlite3.Row, cfg, number_state) -> list[str]:
    if not row["number"]:
        return ["no number chosen"]
    number = cfg.number(row["number"])
    if number is None:
        return [f"number {row['number']} is not configured"]
    if not number.enabled or not number_state(row["number"]).get("enabled", True):
        return [f"number {row['number']} is disabled"]
    budget = row["budget"]
    if budget and all(b.name != budget for b in cfg.budgets):
        return [f"budget {budget} is not configured (no [[budgets]] of that name)"]
    return []


def _schedule(row: sqlite3.Row) -> list[str]:
    try:
        schedule.zone(row["tz"])
        if row["cron"]:
            schedule.check_cron(row["cron"])
        schedule.check_quiet(row["quiet_start"], row["quiet_end"])
    except BadRequest as exc:
        return [exc.message]
    return []
