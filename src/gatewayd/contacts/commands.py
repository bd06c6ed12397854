"""gatewayctl ``contacts`` subcommands: CSV import and export, lists, suppressions.

Imports stream: the CSV is read and sent in chunks, invalid rows are printed to stderr with their
row number as the daemon reports them; ``--json`` prints the totals with every invalid row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..ctl import Client, CtlError, emit, table, ts
from ..errors import BadRequest
from . import consent_cli, importer, lookup

IMPORT_HELP = """\
The first row names the columns. Recognised (any case): first name (first_name, first,
given name), last name (last_name, last, surname), phone (phone_number, mobile, cell,
number, msisdn: required). Every other column is kept as a field usable in scripts by its
name in lower case with spaces as _ ("Zip Code" -> {zip_code}).

A column named timezone (or tz) with an IANA zone (America/Chicago, Europe/Paris) sets the
contact's local time for a campaign's quiet hours; without it the zone comes from the
number's country and area code, else the campaign's --tz.

Phones are normalised to E.164 (numbers without +country use --region, else the config's
default_region). A phone seen before is merged (non-empty values overwrite). Invalid rows
are reported by row number (the header is row 1) and skipped; the rest is imported.

Consent columns consent_source and consent_at (ISO-8601) record an opt-in in the consent
ledger; a row with one and not the other, or a bad or future date, is refused whole.
"""



def cmd_import(c: Client, args) -> None:
    total: dict[str, Any] | None = None
    try:
        args.region = lookup.check_region(args.region)   # before anything is read or created
    except BadRequest as exc:
        raise CtlError("usage", f"--region: {exc.message}", 2) from None
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            for header, first, rows in importer.read_chunks(f, args.chunk):
                part = c.call("contacts_import", list=args.list, header=header, rows=rows, first_row=first,
                              region=args.region, source_file=os.path.basename(args.file))
                if not args.json:
                    for bad in part["invalid"]:
                        print(f"row {bad['row']}: {bad['reason']}", file=sys.stderr)
                total = importer.merge_results(total, part)
    except OSError as exc:
        raise CtlError("bad_input", f"cannot read {args.file}: {exc.strerror}", 2) from None
    except ValueError as exc:
        raise CtlError("bad_input", f"{args.file}: {exc}", 2) from None
    total = total or {"list": args.list, "imported": 0, "merged": 0, "invalid": []}
    emit(args, total, lambda r: print(f"list {r['list']}: imported {r['imported']}, merged {r['merged']},"
                                      f" invalid {len(r['invalid'])}"
                                      + (f"; consent recorded for {r['consent']}" if r.get("consent") else "")))


def _pages(c: Client, list_name: str | None, search: str | None = None):
    after = 0
    while True:
        page = c.call("contacts_list", list=list_name, after_id=after, limit=5000, search=search)
        if not page:
            return
        yield from page
        after = page[-1]["id"]


def cmd_export(c: Client, args) -> None:
    fields = c.call("contacts_fields", list=args.list)
    try:
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    except OSError as exc:
        raise CtlError("bad_input", f"cannot write {args.output}: {exc.strerror}", 2) from None
    try:
        n = importer.write_csv(out, fields, _pages(c, args.list))
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"exported {n} contacts to {args.output}", file=sys.stderr)


def cmd_contacts_list(c: Client, args) -> None:
    res = c.call("contacts_list", list=args.list, search=args.search, limit=args.limit)
    emit(args, res, lambda rs: table([[r["id"], r["first_name"], r["last_name"], r["phone"], ts(r["created_at"]),
                                       json.dumps(r["fields"], ensure_ascii=False)[:40]] for r in rs],
                                     ["ID", "FIRST", "LAST", "PHONE", "CREATED", "FIELDS"]))


def cmd_lists(c: Client, args) -> None:
    emit(args, c.call("lists"), lambda rs: table([[r["id"], r["name"], r["contacts"], ts(r["created_at"])]
                                                  for r in rs], ["ID", "NAME", "CONTACTS", "CREATED"]))


def cmd_opt_out(c: Client, args) -> None:
    res = c.call("opt_out", phone=args.phone, scope=args.scope, campaign_id=args.campaign, number=args.number,
                 reason=args.reason)
    emit(args, res, lambda r: print(f"{r['phone']} opted out ({r['scope']})"
                                    f"{'' if r['created'] else ' - already was'}"))


def cmd_opt_in(c: Client, args) -> None:
    res = c.call("opt_in", phone=args.phone, number=args.number, campaign_id=args.campaign, evidence=args.evidence,
                 at=args.at)
    emit(args, res, lambda r: print(f"{r['phone']}: {r['lifted']} suppression(s) lifted"))


def cmd_suppressions(c: Client, args) -> None:
    res = c.call("suppressions", phone=args.phone, limit=args.limit)
    emit(args, res, lambda rs: table([[r["phone"], r["scope"], r["campaign_id"] or "", r["number"] or "",
                                       r["source"], r["reason"], ts(r["created_at"])] for r in rs],
                                     ["PHONE", "SCOPE", "CAMPAIGN", "NUMBER", "SOURCE", "REASON", "SINCE"]))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contacts", help="contact lists and suppressions")
    cs = p.add_subparsers(dest="contacts_command", required=True)
    s = cs.add_parser("import", help="import a CSV (first name, last name, phone, other columns as fields)",
                      description=IMPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--list", required=True, help="the list to add the contacts to (created if new)")
    s.add_argument("--region", help="two-letter country code for numbers without +country, e.g. US, GB"
                                    " (default: default_region of the config)")
    s.add_argument("--chunk", type=int, default=importer.CHUNK_ROWS, help=argparse.SUPPRESS)
    s.add_argument("file")
    s.set_defaults(fn=cmd_import)
    s = cs.add_parser("export", help="export contacts as CSV")
    s.add_argument("--list")
    s.add_argument("-o", "--output")
    s.set_defaults(fn=cmd_export)
    s = cs.add_parser("list", help="list contacts")
    s.add_argument("--list", help="only this list's contacts (an unknown list is an error)")
    s.add_argument("--search", help="first name, last name or phone (any format)")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=cmd_contacts_list)
    cs.add_parser("lists", help="contact lists").set_defaults(fn=cmd_lists)
    s = cs.add_parser("opt-out", help="opt a phone out by hand")
    s.add_argument("phone")
    s.add_argument("--scope", choices=["campaign", "number", "all"], default="all",
                   help="all (default): no message from any of our numbers, direct sends included (only"
                        " send --transactional gets through); number: none from --number; campaign: none"
                        " from --campaign")
    s.add_argument("--campaign", type=int)
    s.add_argument("--number")
    s.add_argument("--reason", default="")
    s.set_defaults(fn=cmd_opt_out)
    s = cs.add_parser("opt-in", help="lift suppressions (all of them: admin)")
    s.add_argument("phone")
    s.add_argument("--campaign", type=int)
    s.add_argument("--number")
    s.add_argument("--evidence", default="", help="consent ledger: where the consent is, e.g. 'signed form #12'")
    s.add_argument("--at", help="when the consent was given (ISO-8601; default now)")
    s.set_defaults(fn=cmd_opt_in)
    s = cs.add_parser("suppressions", help="the suppression list")
    s.add_argument("--phone")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(fn=cmd_suppressions)
    consent_cli.add_commands(cs)
