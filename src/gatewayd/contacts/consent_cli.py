"""gatewayctl ``contacts consent``, ``contacts consent-export`` and ``contacts reassigned``.

- ``consent NUMBER``: the number's ledger, oldest first (any spelling of the number: the daemon
  normalises it), with void records marked and its reassignments.
- ``consent-export [--since D] [--until D] [-o FILE]``: the ledger as CSV for a date range of
  when consent was given or withdrawn. A date-only ``--until`` includes that whole day.
- ``reassigned FILE [--since D] [--dry-run]``: a reassigned/disconnected numbers CSV, streamed
  in chunks like a contact import. Bad rows are printed with their row number and reason and
  are *not* imported; the good ones are, and the summary says how many of each; the exit status
  is 1 when any row was refused, so a script notices. Importing the fixed file again is safe
  (known rows are skipped).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
from typing import Any

from ..ctl import Client, CtlError, emit, table, ts
from . import consent, importer

EXPORT_COLUMNS = ["id", "phone", "kind", "at", "recorded_at", "method", "how", "actor", "scope", "campaign_id",
                  "number", "inbound_id", "evidence", "note", "void"]


def _iso(value: float | None) -> str:
    return "" if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc).isoformat(timespec="seconds")


def _when(flag: str, text: str | None, *, end_of_day: bool = False) -> float | None:
    if not text:
        return None
    try:
        value = consent.parse_when(text)
    except ValueError as exc:
        raise CtlError("usage", f"{flag}: {exc}", 2) from None
    if end_of_day and len(text.strip()) == 10:   # a date alone: through the end of that day
        value += 86400.0
    return value


def cmd_consent(c: Client, args) -> None:
    res = c.call("consent_history", phone=args.phone)

    def human(r: dict[str, Any]) -> None:
        state = "valid opt-in on record" if r["valid_opt_in"] else "no valid opt-in"
        supp = f", opted out ({', '.join(s['scope'] for s in r['suppressions'])})" if r["suppressions"] else ""
        print(f"{r['phone']}: {state}{supp}")
        if not r["records"]:
            print("  no consent records")
        else:
            table([[ts(x["at"]), x["kind"].replace("_", "-") + (" (void)" if x["void"] else ""), x["method"], x["how"],
                    x["scope"] + (f" {x['number']}" if x["number"] else "") +
                    (f" campaign {x['campaign_id']}" if x["campaign_id"] else ""),
                    x["actor"] or "-", x["evidence"][:40], x["note"][:40]] for x in r["records"]],
                  ["AT", "KIND", "METHOD", "HOW", "SCOPE", "BY", "EVIDENCE", "NOTE"])
        for x in r["reassigned"]:
            print(f"  reassigned since {ts(x['since'])} ({x['file'] or 'import'} row {x['row']}, by"
                  f" {x['imported_by'] or '-'}): consent given before then does not count")

    emit(args, res, human)


def cmd_consent_export(c: Client, args) -> None:
    since, until = _when("--since", args.since), _when("--until", args.until, end_of_day=True)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    n = 0
    try:
        w = csv.writer(out)
        w.writerow(EXPORT_COLUMNS)
        after = 0
        while True:
            page = c.call("consent_export", since=since, until=until, after_id=after, limit=5000)
            if not page:
                break
            for r in page:
                w.writerow([_iso(r[k]) if k in ("at", "recorded_at") else ("yes" if r[k] else "no") if k == "void"
                            else ("" if r[k] is None else r[k]) for k in EXPORT_COLUMNS])
                n += 1
            after = page[-1]["id"]
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"exported {n} consent records to {args.output}", file=sys.stderr)


def cmd_reassigned(c: Client, args) -> None:
    total = {"imported": 0, "known": 0, "valid": 0, "invalid": [], "dry_run": args.dry_run}
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise CtlError("bad_input", f"{args.file}: the file is empty (no header row)", 2)
            try:
                consent.reassigned_header(header, args.since)
            except ValueError as exc:
                raise CtlError("bad_input", f"{args.file}: {exc}", 2) from None
            start, chunk = 2, []
            for row in reader:
                chunk.append(row)
                if len(chunk) >= importer.CHUNK_ROWS:
                    _send_chunk(c, args, header, start, chunk, total)
                    start, chunk = start + len(chunk), []
            if chunk:
                _send_chunk(c, args, header, start, chunk, total)
    except OSError as exc:
        raise CtlError("bad_input", f"cannot read {args.file}: {exc.strerror}", 2) from None

    def human(r: dict[str, Any]) -> None:
        verb = "would import" if r["dry_run"] else "imported"
        print(f"reassigned numbers: {verb} {r['valid'] if r['dry_run'] else r['imported']}, already known"
              f" {r['known']}, invalid {len(r['invalid'])}")
        if r["invalid"]:
            print(f"the {len(r['invalid'])} invalid row(s) were NOT imported; fix them and import the file again"
                  " (rows already imported are skipped)", file=sys.stderr)

    emit(args, total, human)
    if total["invalid"]:
        raise SystemExit(1)


def _send_chunk(c: Client, args, header: list[str], first: int, rows: list[list[str]], total: dict) -> None:
    part = c.call("reassigned_import", header=header, rows=rows, first_row=first, region=args.region,
                  since=args.since, file=os.path.basename(args.file), dry_run=args.dry_run)
    if not args.json:
        for bad in part["invalid"]:
            print(f"row {bad['row']}: {bad['reason']}", file=sys.stderr)
    for k in ("imported", "known", "valid"):
        total[k] += part[k]
    total["invalid"].extend(part["invalid"])


def add_commands(cs: argparse._SubParsersAction) -> None:
    s = cs.add_parser("consent", help="a number's consent history (opt-ins, opt-outs, reassignments)")
    s.add_argument("phone")
    s.set_defaults(fn=cmd_consent)
    s = cs.add_parser("consent-export", help="the consent ledger as CSV for a date range")
    s.add_argument("--since", help="ISO-8601 date/time or epoch seconds (inclusive)")
    s.add_argument("--until", help="ISO-8601 date/time or epoch seconds (exclusive; a date alone includes that day)")
    s.add_argument("-o", "--output")
    s.set_defaults(fn=cmd_consent_export)
    s = cs.add_parser("reassigned", help="import reassigned/disconnected numbers (CSV): older consent stops counting")
    s.add_argument("file")
    s.add_argument("--since", help="reassignment date for rows without a date column (ISO-8601)")
    s.add_argument("--region", help="default region for numbers without +country (default: config)")
    s.add_argument("--dry-run", action="store_true", help="check the file, import nothing")
    s.set_defaults(fn=cmd_reassigned)
