"""Consent ledger requests (issue 17): a number's history, the CSV export, reassigned numbers.

Phones are normalised by the daemon (E.164 with the default region), so ``(415) 555-0100``
and ``+14155550100`` ask for the same history. Times are epoch seconds.
"""

from __future__ import annotations

from .base import Request

__all__ = ["ConsentHistory", "ConsentExport", "ReassignedImport", "ConsentSweep"]


class ConsentHistory(Request, tag="consent_history"):
    """``{phone, records: [{kind, at, recorded_at, method, how, actor, scope, campaign_id, number,
    inbound_id, evidence, note, void}], reassigned: [{since, file, row, ...}], void_before,
    valid_opt_in}``; records oldest first."""

    phone: str


class ConsentExport(Request, tag="consent_export"):
    """One page of records with ``at`` in [since, until), in id order after ``after_id``."""

    since: float | None = None
    until: float | None = None
    after_id: int = 0
    limit: int = 5000


class ReassignedImport(Request, tag="reassigned_import"):
    """One chunk of a reassigned-numbers CSV (header = row 1). ``since``: ISO date for rows
    without a date column. ``dry_run``: check only. Returns ``{imported, known, invalid: [{row,
    reason}], dry_run}``."""

    header: list[str]
    rows: list[list[str]]
    first_row: int = 2
    region: str | None = None
    since: str | None = None
    file: str = ""
    dry_run: bool = False


class ConsentSweep(Request, tag="consent_sweep"):
    """Run the retention purge now (admin); returns ``{removed, cutoff}``."""
