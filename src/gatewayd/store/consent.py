"""The consent ledger's SQL: append-only records of every opt-in and opt-out, reassigned numbers.

A record says who (``actor``: the contact for a keyword, the user for an import or an operator
action), when (``at``: when consent was given or withdrawn; ``recorded_at``: when we wrote it
down), how (``method``: import, keyword, operator, auto; ``how``: the detail, e.g. "keyword
ARRET" or the CSV's ``consent_source``), the evidence (``inbound_id`` and the message text, or
"FILE row N") and the scope (``all``, ``number`` + number, ``campaign`` + campaign id).

Append-only is enforced by the database, not by good manners: a trigger refuses every UPDATE,
and a DELETE is refused unless the row is older than the cutoff of a retention purge recorded
first in ``consent_purges`` (itself append-only). So the only way a record goes is the retention
sweep, and each sweep leaves a row saying when, up to when and how many. A phone's latest opt-in and latest
opt-out are never deleted (the evidence for what we still act on).

Reassigned numbers (FCC Reassigned Numbers Database, carriers' disconnect lists): a row says the
number changed hands on ``since``; opt-ins recorded with ``at`` before the latest such date no
longer count (:data:`VALID_OPT_IN_SQL`). The records themselves stay: history shows them void.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from .store import Tx

MIGRATIONS = [
    (
        "consent-0001",
        """
CREATE TABLE consent_records (
  id INTEGER PRIMARY KEY,
  phone TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('opt_in', 'opt_out')),
  at REAL NOT NULL,
  recorded_at REAL NOT NULL,
  method TEXT NOT NULL CHECK (method IN ('import', 'keyword', 'operator', 'auto')),
  how TEXT NOT NULL DEFAULT '',
  actor TEXT,
  scope TEXT NOT NULL CHECK (scope IN ('campaign', 'number', 'all')),
  campaign_id INTEGER,
  number TEXT,
  inbound_id INTEGER,
  evidence TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_consent_phone ON consent_records(phone, at);
CREATE INDEX ix_consent_recorded ON consent_records(recorded_at);

CREATE TABLE consent_purges (
  id INTEGER PRIMARY KEY,
  at REAL NOT NULL,
  cutoff REAL NOT NULL,
  removed INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE reassigned_numbers (
  id INTEGER PRIMARY KEY,
  phone TEXT NOT NULL,
  since REAL NOT NULL,
  imported_at REAL NOT NULL,
  imported_by TEXT,
  file TEXT NOT NULL DEFAULT '',
  row INTEGER
);
CREATE INDEX ix_reassigned_phone ON reassigned_numbers(phone, since);

CREATE TRIGGER trg_consent_no_update BEFORE UPDATE ON consent_records BEGIN
  SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER trg_consent_delete_purge_only BEFORE DELETE ON consent_records
  WHEN OLD.recorded_at >= coalesce((SELECT max(cutoff) FROM consent_purges), 0)
    OR OLD.id = (SELECT max(id) FROM consent_records WHERE phone = OLD.phone AND kind = OLD.kind)
BEGIN
  SELECT RAISE(ABORT, 'consent records are deleted only by the retention purge');
END;
CREATE TRIGGER trg_purges_no_update BEFORE UPDATE ON consent_purges BEGIN
  SELECT RAISE(ABORT, 'consent purges are append-only');
END;
CREATE TRIGGER trg_purges_no_delete BEFORE DELETE ON consent_purges BEGIN
  SELECT RAISE(ABORT, 'consent purges are append-only');
END;
CREATE TRIGGER trg_reassigned_no_update BEFORE UPDATE ON reassigned_numbers BEGIN
  SELECT RAISE(ABORT, 'reassigned numbers are append-only');
END;
CREATE TRIGGER trg_reassigned_no_delete BEFORE DELETE ON reassigned_numbers BEGIN
  SELECT RAISE(ABORT, 'reassigned numbers are append-only');
END;

ALTER TABLE campaigns ADD COLUMN require_consent INTEGER NOT NULL DEFAULT 0;
""",
    ),
]

#: When ``phone``'s consent was last voided by a reassignment (NULL: never).
VOID_BEFORE_SQL = "(SELECT max(x.since) FROM reassigned_numbers x WHERE x.phone = {phone})"

#: An opt-in that lets campaign :cid on :num message ``{phone}`` (a column or parameter).
VALID_OPT_IN_SQL = (
    "EXISTS (SELECT 1 FROM consent_records r WHERE r.phone = {phone} AND r.kind = 'opt_in'"
    " AND (r.scope = 'all' OR (r.scope = 'number' AND r.number = :num) OR (r.scope = 'campaign' AND r.campaign_id = :cid))"
    " AND r.at >= coalesce(" + VOID_BEFORE_SQL.format(phone="r.phone") + ", -1e18))")

_COLS = ("phone", "kind", "at", "recorded_at", "method", "how", "actor", "scope", "campaign_id", "number",
         "inbound_id", "evidence", "note")


def record(tx: Tx, phone: str, kind: str, method: str, scope: str, *, at: float | None = None,
           how: str = "", actor: str | None = None, campaign_id: int | None = None, number: str | None = None,
           inbound_id: int | None = None, evidence: str = "", note: str = "") -> int:
    row = (phone, kind, tx.now if at is None else at, tx.now, method, how, actor, scope, campaign_id, number,
           inbound_id, evidence, note)
    rid = tx.db.execute(f"INSERT INTO consent_records({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})",
                        row).lastrowid
    tx.emit("consent.recorded", id=rid, phone=phone, kind=kind, method=method, scope=scope,
            campaign_id=campaign_id, number=number)
    return rid


def record_many(tx: Tx, rows: list[dict[str, Any]]) -> int:
    """Import opt-ins in bulk, skipping ones already recorded (a file imported twice)."""
    n = 0
    for r in rows:
        if tx.db.execute("SELECT 1 FROM consent_records WHERE phone = ? AND kind = ? AND method = ? AND at = ?"
                         " AND how = ? AND scope = ?",
                         (r["phone"], r["kind"], r["method"], r["at"], r["how"], r["scope"])).fetchone():
            continue
        vals = [r.get(k) for k in _COLS]
        vals[_COLS.index("recorded_at")] = tx.now
        for k in ("how", "evidence", "note"):
            vals[_COLS.index(k)] = vals[_COLS.index(k)] or ""
        tx.db.execute(f"INSERT INTO consent_records({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})",
                      vals)
        n += 1
    return n


def history(db: sqlite3.Connection, phone: str) -> dict[str, Any]:
    """Every record of ``phone``, oldest first, each marked ``void`` when a reassignment voids it,
    and the reassignments themselves."""
    void_before = db.execute("SELECT " + VOID_BEFORE_SQL.format(phone="?"), (phone,)).fetchone()[0]
    records = []
    for r in db.execute("SELECT * FROM consent_records WHERE phone = ? ORDER BY at, id", (phone,)):
        d = dict(r)
        d["void"] = bool(void_before is not None and d["at"] < void_before)
        records.append(d)
    reassigned = [dict(r) for r in db.execute(
        "SELECT phone, since, imported_at, imported_by, file, row FROM reassigned_numbers WHERE phone = ?"
        " ORDER BY since", (phone,))]
    return {"phone": phone, "records": records, "reassigned": reassigned, "void_before": void_before}


def export_page(db: sqlite3.Connection, since: float | None, until: float | None, after_id: int = 0,
                limit: int = 5000) -> list[dict[str, Any]]:
    """Records with ``at`` in [since, until), in id order after ``after_id`` (CSV export pages)."""
    where, params = ["r.id > ?"], [after_id]
    if since is not None:
        where.append("r.at >= ?")
        params.append(since)
    if until is not None:
        where.append("r.at < ?")
        params.append(until)
    rows = db.execute(
        f"SELECT r.*, {VOID_BEFORE_SQL.format(phone='r.phone')} AS void_before FROM consent_records r"
        f" WHERE {' AND '.join(where)} ORDER BY r.id LIMIT ?", (*params, limit)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["void"] = bool(d["void_before"] is not None and d["at"] < d["void_before"])
        out.append(d)
    return out


def has_opt_in(db: sqlite3.Connection, phone: str, campaign_id: int | None, number: str | None) -> bool:
    return bool(db.execute("SELECT " + VALID_OPT_IN_SQL.format(phone=":phone"),
                           {"phone": phone, "cid": campaign_id, "num": number}).fetchone()[0])


def missing_reason(db: sqlite3.Connection, phone: str, campaign_id: int | None, number: str | None) -> str | None:
    """Why ``phone`` has no valid opt-in for this campaign (None when it has one)."""
    if has_opt_in(db, phone, campaign_id, number):
        return None
    void = db.execute("SELECT " + VOID_BEFORE_SQL.format(phone="?"), (phone,)).fetchone()[0]
    if void is not None and db.execute("SELECT 1 FROM consent_records WHERE phone = ? AND kind = 'opt_in'",
                                       (phone,)).fetchone():
        day = dt.datetime.fromtimestamp(void, dt.timezone.utc).strftime("%Y-%m-%d")
        return f"consent void: number reassigned since {day} (require_consent)"
    return "no consent on record (require_consent)"


def without_opt_in(db: sqlite3.Connection, list_id: int, campaign_id: int | None, number: str | None,
                   sample: int = 5) -> tuple[int, list[str]]:
    """How many of a list's contacts have no valid opt-in for this campaign, and a few of them."""
    cond = "NOT " + VALID_OPT_IN_SQL.format(phone="c.phone")
    base = "FROM list_members m JOIN contacts c ON c.id = m.contact_id WHERE m.list_id = :list AND " + cond
    args = {"list": list_id, "cid": campaign_id, "num": number}
    n = db.execute("SELECT count(*) " + base, args).fetchone()[0]
    phones = [r[0] for r in db.execute(f"SELECT c.phone {base} ORDER BY c.id LIMIT {int(sample)}", args)] if n else []
    return n, phones


def add_reassigned(tx: Tx, rows: list[tuple[int, str, float]], file: str, by: str | None) -> int:
    """Rows ``(row_number, phone, since)``; one already known (same phone and date) is skipped."""
    n = 0
    for row_no, phone, since in rows:
        if tx.db.execute("SELECT 1 FROM reassigned_numbers WHERE phone = ? AND since = ?", (phone, since)).fetchone():
            continue
        tx.db.execute("INSERT INTO reassigned_numbers(phone, since, imported_at, imported_by, file, row)"
                      " VALUES (?,?,?,?,?,?)", (phone, since, tx.now, by, file, row_no))
        n += 1
    return n


def purge(tx: Tx, cutoff: float) -> int:
    """The retention sweep: records written before ``cutoff`` go, except each phone's latest
    opt-in and latest opt-out (the evidence for what we still act on)."""
    keep = ("SELECT max(id) FROM consent_records GROUP BY phone, kind")
    n = tx.db.execute(f"SELECT count(*) FROM consent_records WHERE recorded_at < ? AND id NOT IN ({keep})",
                      (cutoff,)).fetchone()[0]
    if not n:
        return 0
    tx.db.execute("INSERT INTO consent_purges(at, cutoff, removed) VALUES (?, ?, ?)", (tx.now, cutoff, n))
    tx.db.execute(f"DELETE FROM consent_records WHERE recorded_at < ? AND id NOT IN ({keep})", (cutoff,))
    tx.emit("consent.purged", cutoff=cutoff, removed=n)
    return n
