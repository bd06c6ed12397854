"""CSV contact import and export, streaming in chunks.

The client reads the file (it has the user's permissions, the daemon may not) and sends chunks of
rows with their row numbers; each chunk is one transaction of :func:`import_rows`. Neither side
ever holds the whole file, so a 1,000,000-row import runs in constant memory.

Rules (SPEC §4): phone numbers become E.164 with the configured default region; an invalid row is
reported with its row number (the header is row 1, as in a spreadsheet) and the reason, never
dropped silently; a phone seen before (in the database or earlier in the file) is *merged*: its
non-empty names and fields overwrite the stored ones and it joins the list once. Columns other
than first name, last name and phone are kept as fields usable in templates, except
``consent_source``/``consent_at``, which become opt-in records of the consent ledger (see
:mod:`.consent`; a row whose consent columns are wrong is refused whole, with the reason).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..phones import InvalidNumber, normalise
from ..store import consent as ledger
from . import consent
from ..store.store import Tx

CHUNK_ROWS = 2000
_FIRST = {"first_name", "first name", "firstname", "first", "given name", "given_name"}
_LAST = {"last_name", "last name", "lastname", "last", "surname", "family name", "family_name"}
_PHONE = {"phone", "phone_number", "phone number", "mobile", "mobile number", "cell", "number", "msisdn"}


def field_key(header: str) -> str:
    """Template field name for a column: ``Zip Code`` -> ``zip_code``."""
    return "_".join(header.strip().lower().replace("-", " ").split())


def map_header(header: list[str]) -> dict[str, Any]:
    """Which column is which. Raises ValueError when there is no phone column."""
    cols: dict[str, Any] = {"first": None, "last": None, "phone": None, "fields": []}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if key in _PHONE and cols["phone"] is None:
            cols["phone"] = i
        elif key in _FIRST and cols["first"] is None:
            cols["first"] = i
        elif key in _LAST and cols["last"] is None:
            cols["last"] = i
        elif key in consent.SOURCE_COLUMNS or key in consent.AT_COLUMNS:
            continue   # consent evidence, not a template field
        elif key:
            cols["fields"].append((i, field_key(name)))
    if cols["phone"] is None:
        raise ValueError(f"no phone column in the header (expected one of: {', '.join(sorted(_PHONE))})")
    return cols


def ensure_list(tx: Tx, name: str) -> int:
    row = tx.db.execute("SELECT id FROM lists WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return row[0]
    return tx.db.execute("INSERT INTO lists(name, created_at) VALUES (?, ?)", (name, tx.now)).lastrowid


def prepare_rows(header: list[str], rows: list[list[str]], first_row: int, region: str,
                 now: float | None = None) -> dict[str, Any]:
    """Parse and normalise one chunk without touching the database (phonenumbers is the slow
    part: the daemon runs this in a worker thread so the store's single writer is not held).
    Returns ``{"valid": [(row, phone, first, last, fields)], "invalid": [{"row", "reason"}],
    "consent": [(row, phone, at, source)]}``."""
    cols = map_header(header)
    ccols = consent.consent_columns(header)
    valid: list[tuple[int, str, str, str, dict[str, str]]] = []
    invalid: list[dict[str, Any]] = []
    consents: list[tuple[int, str, float, str]] = []
    for n, row in enumerate(rows, first_row):
        def cell(i: int | None) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        if not any(c.strip() for c in row):
            invalid.append({"row": n, "reason": "empty row"})
            continue
        try:
            phone = normalise(cell(cols["phone"]), region)
        except InvalidNumber as exc:
            invalid.append({"row": n, "reason": exc.message})
            continue
        try:
            given = consent.consent_of(row, ccols, now)
        except ValueError as exc:
            invalid.append({"row": n, "reason": str(exc)})
            continue
        if given is not None:
            consents.append((n, phone, given[0], given[1]))
        valid.append((n, phone, cell(cols["first"]), cell(cols["last"]),
                      {k: cell(i) for i, k in cols["fields"] if cell(i)}))
    return {"valid": valid, "invalid": invalid, "consent": consents}


def store_rows(tx: Tx, list_name: str, prepared: dict[str, Any]) -> dict[str, Any]:
    """Write one prepared chunk: new contacts inserted, known phones merged, all in the list."""
    list_id = ensure_list(tx, list_name)
    db = tx.db
    imported = merged = 0
    for _n, phone, first, last, fields in prepared["valid"]:
        old = db.execute("SELECT id, first_name, last_name, fields FROM contacts WHERE phone = ?", (phone,)).fetchone()
        if old is None:
            cid = db.execute(
                "INSERT INTO contacts(phone, first_name, last_name, fields, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?)", (phone, first, last, json.dumps(fields, ensure_ascii=False), tx.now, tx.now),
            ).lastrowid
            imported += 1
        else:
            cid = old["id"]
            merged_fields = json.loads(old["fields"] or "{}")
            merged_fields.update(fields)
            db.execute("UPDATE contacts SET first_name = ?, last_name = ?, fields = ?, updated_at = ? WHERE id = ?",
                       (first or old["first_name"], last or old["last_name"],
                        json.dumps(merged_fields, ensure_ascii=False), tx.now, cid))
            merged += 1
        db.execute("INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?, ?)", (list_id, cid))
    invalid = prepared["invalid"]
    consented = _store_consent(tx, prepared)
    tx.emit("contacts.imported", list=list_name, imported=imported, merged=merged, invalid=len(invalid),
            consent=consented)
    return {"list": list_name, "imported": imported, "merged": merged, "invalid": invalid, "consent": consented}


def _store_consent(tx: Tx, prepared: dict[str, Any]) -> int:
    """The chunk's opt-ins, into the ledger (``prepared["file"]``/``["by"]`` set by the handler)."""
    file = prepared.get("file") or "import"
    return ledger.record_many(tx, [
        {"phone": phone, "kind": "opt_in", "method": "import", "scope": "all", "at": at, "how": source,
         "actor": prepared.get("by"), "evidence": f"{file} row {n}"}
        for n, phone, at, source in prepared.get("consent", [])])


def import_rows(tx: Tx, list_name: str, header: list[str], rows: list[list[str]], first_row: int,
                region: str) -> dict[str, Any]:
    """Import one chunk in one go (tests, tools): :func:`prepare_rows` then :func:`store_rows`."""
    return store_rows(tx, list_name, prepare_rows(header, rows, first_row, region))


def read_chunks(stream: TextIO, size: int = CHUNK_ROWS) -> Iterator[tuple[list[str], int, list[list[str]]]]:
    """Yield ``(header, first_row_number, rows)`` chunks from a CSV stream, lazily.
    Row numbers count physical records with the header as row 1."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError("the file is empty (no header row)") from None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    map_header(header)  # fail early on a file without a phone column
    chunk: list[list[str]] = []
    start = 2
    for row in reader:
        chunk.append(row)
        if len(chunk) >= size:
            yield header, start, chunk
            start += len(chunk)
            chunk = []
    if chunk:
        yield header, start, chunk


def merge_results(total: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    if total is None:
        return {"list": part["list"], "imported": part["imported"], "merged": part["merged"],
                "invalid": list(part["invalid"]), "consent": part.get("consent", 0)}
    total["consent"] = total.get("consent", 0) + part.get("consent", 0)
    total["imported"] += part["imported"]
    total["merged"] += part["merged"]
    total["invalid"].extend(part["invalid"])
    return total


# ---- reading and export ---------------------------------------------------------------------


def list_fields(db: sqlite3.Connection, list_name: str | None) -> list[str]:
    """Every field key used by the list's contacts (export columns)."""
    if list_name:
        rows = db.execute("SELECT DISTINCT j.key FROM lists l JOIN list_members m ON m.list_id = l.id"
                          " JOIN contacts c ON c.id = m.contact_id, json_each(c.fields) j WHERE l.name = ?",
                          (list_name,))
    else:
        rows = db.execute("SELECT DISTINCT j.key FROM contacts c, json_each(c.fields) j")
    return sorted(r[0] for r in rows)


def contact_page(db: sqlite3.Connection, list_name: str | None, after_id: int = 0, limit: int = 1000,
                 search: str | None = None) -> list[dict[str, Any]]:
    """Contacts in id order after ``after_id`` (export pages), optionally searched by name/phone."""
    where, params = ["c.id > ?"], [after_id]
    join = ""
    if list_name:
        join = "JOIN list_members m ON m.contact_id = c.id JOIN lists l ON l.id = m.list_id AND l.name = ?"
        params.insert(0, list_name)
    if search:
        where.append("(c.first_name LIKE ? OR c.last_name LIKE ? OR c.phone LIKE ?)")
        like = f"%{search}%"
        params += [like, like, like]
    rows = db.execute(f"SELECT c.* FROM contacts c {join} WHERE {' AND '.join(where)} ORDER BY c.id LIMIT ?",
                      (*params, limit)).fetchall()
    return [contact_dict(r) for r in rows]


def contact_dict(r: sqlite3.Row) -> dict[str, Any]:
    return {"id": r["id"], "phone": r["phone"], "first_name": r["first_name"], "last_name": r["last_name"],
            "fields": json.loads(r["fields"] or "{}"), "created_at": r["created_at"]}


def lists_overview(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(
        "SELECT l.id, l.name, l.created_at, (SELECT count(*) FROM list_members m WHERE m.list_id = l.id) AS contacts"
        " FROM lists l ORDER BY l.name")]


def write_csv(out: TextIO, fields: list[str], contacts: Iterable[dict[str, Any]]) -> int:
    w = csv.writer(out)
    w.writerow(["first_name", "last_name", "phone", *fields, "created_at"])
    n = 0
    for c in contacts:
        created = dt.datetime.fromtimestamp(c["created_at"], dt.timezone.utc).isoformat(timespec="seconds")
        w.writerow([c["first_name"], c["last_name"], c["phone"], *[c["fields"].get(f, "") for f in fields], created])
        n += 1
    return n


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
