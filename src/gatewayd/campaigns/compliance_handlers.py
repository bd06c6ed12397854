"""Socket handlers of issue 17: content checks of unsaved campaign fields, the rule sets."""

from __future__ import annotations

import json
import sqlite3

from .. import protocol as P
from ..control.access import Principal
from ..control.handlers import handles
from ..errors import BadRequest
from . import content, rulebook, scripts


@handles(P.CampaignCheck)
async def campaign_check(gw, who: Principal, req: P.CampaignCheck) -> dict:
    f = req.fields
    name = content.check_rule_set(f.hours, gw.cfg) if f.hours is not None else None
    if f.number is not None and gw.cfg.number(f.number) is None:
        raise BadRequest(f"number {f.number!r} is not configured", "unknown_number")

    def q(db: sqlite3.Connection) -> list[tuple[str, list, dict]]:
        refs = ([f.script] if f.script else []) + [str(v.get("script")) for v in f.variants or []]
        out = []
        for ref in refs:
            row = scripts.resolve(db, ref)
            out.append((row["name"], json.loads(row["steps"]),
                        {**json.loads(row["defaults"] or "{}"), **(f.defaults or {})}))
        return out

    texts = await gw.store.read(q)
    checks = content.review(texts, content.rule_set_for(name, gw.cfg), gw.cfg,
                            content.price_of(gw.cfg, f.number)) if texts else []
    return {"hours": name or gw.cfg.hours.default, "checks": checks,
            "blockers": sum(1 for c in checks if c["severity"] == "blocker")}


@handles(P.HoursSets)
async def hours_sets(gw, who: Principal, req: P.HoursSets) -> dict:
    book = rulebook.load(gw.cfg.hours.file)
    return {"default": gw.cfg.hours.default, "reviewed": book.reviewed,
            "sets": [{"name": rs.name, "title": rs.title, "opt_out_required": rs.opt_out_required}
                     for rs in book.sets.values()]}
