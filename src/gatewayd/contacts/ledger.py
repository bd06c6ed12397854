"""The consent ledger in the daemon: socket handlers (history, export, reassigned numbers,
sweep) and the retention sweep service.

Access: reading a number's history is for every role (like the suppression list); the export
and imports of reassigned numbers change or reveal every contact's record, so they need an
agent; an immediate sweep (which deletes) is an admin's. Retention counts from when a record was
written; each phone's latest opt-in and opt-out are kept whatever their age (see
:func:`gatewayd.store.consent.purge`).
"""

from __future__ import annotations

import logging

import trio

from .. import protocol as P
from ..control.access import Principal
from ..control.handlers import handles
from ..errors import BadRequest
from ..models import Role
from ..phones import normalise
from ..store import consent as ledger
from . import consent

log = logging.getLogger(__name__)
DAY = 86400.0


def install(gw) -> None:
    gw.add_service("consent", sweep_service)


async def sweep_service(gw, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
    """Purge records past ``consent.retention_days``, at start and every ``sweep_interval_s``."""
    task_status.started()
    while True:
        try:
            await sweep(gw)
        except Exception:   # a failed sweep is retried next time; it never stops the daemon
            log.exception("consent retention sweep failed")
        await trio.sleep(gw.cfg.consent.sweep_interval_s)


async def sweep(gw) -> dict:
    cutoff = gw.store.clock() - gw.cfg.consent.retention_days * DAY
    removed = await gw.store.run(ledger.purge, cutoff)
    if removed:
        log.info("consent ledger: purged %d records written before the retention cutoff", removed)
    return {"removed": removed, "cutoff": cutoff}


@handles(P.ConsentHistory)
async def consent_history(gw, who: Principal, req: P.ConsentHistory) -> dict:
    phone = normalise(req.phone, gw.cfg.default_region)

    def q(db) -> dict:
        out = ledger.history(db, phone)
        out["valid_opt_in"] = ledger.has_opt_in(db, phone, None, None)
        out["suppressions"] = [dict(r) for r in db.execute(
            "SELECT scope, campaign_id, number, reason, source, created_at FROM suppressions WHERE phone = ?"
            " ORDER BY id", (phone,))]
        return out

    return await gw.store.read(q)


@handles(P.ConsentExport, Role.AGENT)
async def consent_export(gw, who: Principal, req: P.ConsentExport) -> list[dict]:
    if req.since is not None and req.until is not None and req.until <= req.since:
        raise BadRequest("until must be after since")
    return await gw.store.read(ledger.export_page, req.since, req.until, req.after_id, min(max(req.limit, 1), 5000))


@handles(P.ReassignedImport, Role.AGENT)
async def reassigned_import(gw, who: Principal, req: P.ReassignedImport) -> dict:
    if len(req.rows) > 10_000:
        raise BadRequest("at most 10,000 rows per chunk")
    now = gw.store.clock()
    try:
        prepared = await trio.to_thread.run_sync(consent.prepare_reassigned, req.header, req.rows, req.first_row,
                                                 req.region or gw.cfg.default_region, req.since, now)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_header") from None
    valid = prepared["valid"]
    imported = 0
    if valid and not req.dry_run:
        imported = await gw.store.run(ledger.add_reassigned, valid, req.file, who.user)
    return {"imported": imported, "known": 0 if req.dry_run else len(valid) - imported, "valid": len(valid),
            "invalid": prepared["invalid"], "dry_run": req.dry_run}


@handles(P.ConsentSweep, Role.ADMIN)
async def consent_sweep(gw, who: Principal, req: P.ConsentSweep) -> dict:
    return await sweep(gw)
