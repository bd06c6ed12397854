"""Consent from files: the ``consent_source``/``consent_at`` columns of a contact import, and
reassigned-number lists. Parsing only (sans-I/O: rows in, rows and reasons out); the ledger's
SQL is in :mod:`gatewayd.store.consent`.

Decisions:
- ``consent_at`` is an ISO-8601 date or time (``2025-03-01``, ``2025-03-01T14:05:00-05:00``) or
  epoch seconds; a time without a zone is UTC, a date alone is its midnight UTC. A time more
  than a day ahead of the daemon's clock is refused (consent cannot come from the future).
- A row with a ``consent_source`` but no ``consent_at`` (or the reverse) is refused as a whole,
  with its row number and reason: a contact is never imported without the consent its row
  claims, nor consent recorded without its source. Rows with both empty import as contacts
  without a consent record (``require_consent`` campaigns will skip them).
- Import consent has scope ``all`` (consent to the sender organisation, which is what web forms
  and paper forms collect); a keyword START is scoped to the number it was sent to.
- A reassigned-number file has a phone column and a date column (``since``,
  ``disconnected_at``, ``reassigned_at``, ``date``); ``--since`` gives one date for rows without
  one. Opt-ins given before that date stop counting; nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..phones import InvalidNumber, normalise

SOURCE_COLUMNS = {"consent_source", "consent source", "consentsource"}
AT_COLUMNS = {"consent_at", "consent at", "consentat", "consent_date", "consent date"}
PHONE_COLUMNS = {"phone", "phone_number", "phone number", "mobile", "number", "msisdn", "cell"}
SINCE_COLUMNS = {"since", "disconnected_at", "disconnected", "disconnect_date", "reassigned_at", "reassigned",
                 "date"}
FUTURE_SLACK_S = 86400.0
_EPOCH = re.compile(r"\d{9,11}(\.\d+)?")


def parse_when(text: str, now: float | None = None) -> float:
    """Epoch seconds for a consent or reassignment time; ValueError with the reason."""
    value = text.strip()
    if not value:
        raise ValueError("empty date")
    if _EPOCH.fullmatch(value):
        ts = float(value)
    else:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date (expected ISO-8601 such as 2025-03-01 or"
                             " 2025-03-01T14:05:00-05:00, or epoch seconds)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        ts = when.timestamp()
    if now is not None and ts > now + FUTURE_SLACK_S:
        raise ValueError(f"{value!r} is in the future")
    return ts


def consent_columns(header: list[str]) -> tuple[int | None, int | None]:
    """Indexes of the ``consent_source`` and ``consent_at`` columns (None when absent)."""
    src = at = None
    for i, name in enumerate(header):
        key = name.strip().lower()
        if key in SOURCE_COLUMNS and src is None:
            src = i
        elif key in AT_COLUMNS and at is None:
            at = i
    return src, at


def consent_of(row: list[str], cols: tuple[int | None, int | None], now: float | None) -> tuple[float, str] | None:
    """``(at, source)`` of one CSV row, None when it claims no consent; ValueError with the reason."""
    src_i, at_i = cols

    def cell(i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    source, at = cell(src_i), cell(at_i)
    if not source and not at:
        return None
    if not at:
        raise ValueError("consent_source given but consent_at is empty")
    if not source:
        raise ValueError("consent_at given but consent_source is empty (say how consent was collected)")
    try:
        return parse_when(at, now), source
    except ValueError as exc:
        raise ValueError(f"consent_at: {exc}") from None


# ---- reassigned numbers --------------------------------------------------------------------


def reassigned_header(header: list[str], default_since: str | None) -> tuple[int, int | None]:
    """(phone column, date column or None). ValueError when the file cannot be read at all."""
    phone = since = None
    for i, name in enumerate(header):
        key = name.strip().lower().lstrip("\ufeff")
        if key in PHONE_COLUMNS and phone is None:
            phone = i
        elif key in SINCE_COLUMNS and since is None:
            since = i
    if phone is None:
        raise ValueError(f"no phone column in the header (expected one of: {', '.join(sorted(PHONE_COLUMNS))})")
    if since is None and not default_since:
        raise ValueError(f"no date column (one of: {', '.join(sorted(SINCE_COLUMNS))}) and no --since given")
    return phone, since


def prepare_reassigned(header: list[str], rows: list[list[str]], first_row: int, region: str,
                       default_since: str | None, now: float | None) -> dict[str, Any]:
    """``{"valid": [(row, phone, since)], "invalid": [{"row", "reason"}]}`` for one chunk."""
    phone_i, since_i = reassigned_header(header, default_since)
    fallback = parse_when(default_since, now) if default_since else None
    valid: list[tuple[int, str, float]] = []
    invalid: list[dict[str, Any]] = []
    for n, row in enumerate(rows, first_row):
        if not any(c.strip() for c in row):
            invalid.append({"row": n, "reason": "empty row"})
            continue
        raw = row[phone_i].strip() if phone_i < len(row) else ""
        try:
            phone = normalise(raw, region)
        except InvalidNumber as exc:
            invalid.append({"row": n, "reason": exc.message})
            continue
        text = row[since_i].strip() if since_i is not None and since_i < len(row) else ""
        try:
            since = parse_when(text, now) if text else fallback
        except ValueError as exc:
            invalid.append({"row": n, "reason": f"date: {exc}"})
            continue
        if since is None:
            invalid.append({"row": n, "reason": "no date in the row and no --since given"})
            continue
        valid.append((n, phone, since))
    return {"valid": valid, "invalid": invalid}
