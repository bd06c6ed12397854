"""gatewayctl subcommands: ``scripts``, ``campaign`` and ``report`` (``contacts`` lives in
:mod:`gatewayd.contacts.commands` and is added from here).

A script can submit a whole campaign in one command (``campaign create ... --launch`` prints only
the id on stdout, so ``ID=$(gatewayctl campaign create ...)`` works). A refused request exits 1
with the daemon's reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from typing import Any

from ..contacts import commands as contacts_commands
from ..ctl import Client, CtlError, emit, table, ts


# ---- scripts -------------------------------------------------------------------------------


def _load_script(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CtlError("bad_input", f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        if path.endswith(".json"):
            return json.loads(data)
        return tomllib.loads(data.decode())
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise CtlError("bad_input", f"{path}: {exc}", 2) from None


def cmd_script_create(c: Client, args) -> None:
    spec = _load_script(args.file)
    res = c.call("script_create", name=args.name or spec.get("name"), type=spec.get("type", "nudge"),
                 steps=spec.get("steps", []), defaults=spec.get("defaults", {}))
    emit(args, res, lambda r: print(f"script {r['id']} {r['name']} ({r['type']}, {len(r['steps'])} step(s))"))


def _script_human(r: dict) -> None:
    print(f"script {r['id']} {r['name']} ({r['type']})")
    for i, st in enumerate(r["steps"], 1):
        q = f" [{st['question']}{': ' + ', '.join(st['choices']) if st['choices'] else ''}]" if st["question"] else ""
        print(f"  {i}. after {st['delay_s']:g}s{q}: {st['text']}")
    if r["defaults"]:
        print("  defaults:", ", ".join(f"{k}={v}" for k, v in r["defaults"].items()))


def cmd_script_show(c: Client, args) -> None:
    emit(args, c.call("script_show", script=args.script), _script_human)


def cmd_script_list(c: Client, args) -> None:
    emit(args, c.call("script_list"), lambda rs: table([[r["id"], r["name"], r["type"], len(r["steps"])] for r in rs],
                                                       ["ID", "NAME", "TYPE", "STEPS"]))


def cmd_preview(c: Client, args) -> None:
    res = c.call("script_preview", contact=args.contact, step=args.step,
                 script=getattr(args, "script", None), campaign_id=getattr(args, "id", None))

    def human(r):
        if r["text"] is None:
            print(f"cannot render for {r['phone']}: field {{{r['missing_field']}}} is empty and has no default")
            return
        print(f"to {r['phone']}, step {r['step']}: {r['segments']} segment(s) {r['encoding']}, cost {r['cost']:g}")
        print(r["text"])

    emit(args, res, human)


# ---- campaigns -----------------------------------------------------------------------------


def _fields(args) -> dict[str, Any]:
    f = {"name": args.name, "script": args.script, "list": args.list, "number": args.sender, "office": args.office,
         "operated_by": args.operated_by, "tags": args.tag or None, "at": args.at, "cron": args.cron, "tz": args.tz,
         "ttl_s": args.ttl, "description": args.description}
    if args.stop_on_reply is not None:
        f["stop_on_reply"] = args.stop_on_reply
    if args.require_consent is not None:
        f["require_consent"] = args.require_consent
    if args.quiet:
        start, _, end = args.quiet.partition("-")
        f["quiet_start"], f["quiet_end"] = start, end
    if args.variant:
        f["variants"] = []
        for v in args.variant:
            script, _, weight = v.rpartition(":")
            if not script:
                raise CtlError("usage", f"--variant {v!r}: expected SCRIPT:WEIGHT", 2)
            f["variants"].append({"script": script, "weight": float(weight)})
    if args.default:
        f["defaults"] = dict(d.split("=", 1) for d in args.default)
    return {k: v for k, v in f.items() if v is not None}


def _campaign_human(r: dict) -> None:
    print(f"campaign {r['id']} {r['name']!r}: {r['status']}{' (' + r['status_reason'] + ')' if r['status_reason'] else ''}")
    print(f"  script {r.get('script') or '-'}, list {r.get('list') or '-'}, from {r['number'] or '-'},"
          f" office {r['office']}, operated by {r['operated_by']}, stop on reply {'yes' if r['stop_on_reply'] else 'no'}")
    if r["tags"]:
        print("  tags:", ", ".join(r["tags"]))
    if r["cron"]:
        print(f"  recurring: {r['cron']} ({r['tz']}), run {r['run']}")
    print(f"  created {ts(r['created_at'])}, updated {ts(r['updated_at'])}, launched {ts(r['launched_at'])},"
          f" next send {ts(r['next_run'])}")
    if r.get("recipients"):
        print("  recipients:", ", ".join(f"{k} {v}" for k, v in sorted(r["recipients"].items())),
              f"(expanded {r['expanded']}, suppressed {r['suppressed']})")
    if r.get("consent"):
        k = r["consent"]
        print(f"  require consent: {k['without']} contact(s) without a valid opt-in will be unreachable"
              f"{': ' + ', '.join(k['sample']) + (' ...' if k['without'] > len(k['sample']) else '') if k['sample'] else ''}")
    if r.get("not_ready"):
        print("  not ready to launch:")
        for reason in r["not_ready"]:
            print(f"    - {reason}")
    print("  actions:", ", ".join(a for a in r["actions"] if a != "view"))


def cmd_campaign_create(c: Client, args) -> None:
    res = c.call("campaign_create", fields=_fields(args), launch=args.launch)
    if args.json:
        emit(args, res, None)
    else:
        print(res["id"])
        print(f"campaign {res['id']} {res['status']}", file=sys.stderr)


def cmd_campaign_edit(c: Client, args) -> None:
    emit(args, c.call("campaign_edit", campaign_id=args.id, fields=_fields(args)), _campaign_human)


def cmd_campaign_action(c: Client, args) -> None:
    res = c.call("campaign_action", campaign_id=args.id, action=args.action)
    emit(args, res, lambda r: print(f"campaign {r['id']} {r['status']}" if args.action != "clone"
                                    else f"campaign {r['id']} (clone of {args.id}) {r['status']}"))


def cmd_campaign_show(c: Client, args) -> None:
    emit(args, c.call("campaign_show", campaign_id=args.id), _campaign_human)


def cmd_campaign_list(c: Client, args) -> None:
    res = c.call("campaign_list", status=args.status or None, tag=args.tag, search=args.search)
    emit(args, res, lambda rs: table(
        [[r["id"], r["name"][:30], r["status"], r["office"], r["number"], r["operated_by"], ",".join(r["tags"]),
          ts(r["updated_at"]), ts(r["launched_at"]), ts(r["next_run"])] for r in rs],
        ["ID", "NAME", "STATUS", "OFFICE", "NUMBER", "OPERATED", "TAGS", "UPDATED", "LAUNCHED", "NEXT"]))


def _report_human(r: dict) -> None:
    s, e, resp = r["send_status"], r["engagement"], r["responses"]
    print(f"campaign {r['campaign_id']} {r['name']!r} ({r['status']})")
    print(f"  send status: total {s['total']}, succeeded {s['succeeded']}, failed {s['failed']},"
          f" pending {s['pending']} (unreachable {s['unreachable']}, ignored {s['ignored']})")
    print(f"  engagement: sent {e['contacts_sent']}, responded {e['contacts_responded']}, opt-outs {e['opt_outs']},"
          f" rate {e['rate'] * 100:.1f}%")
    med = resp["median_agent_response_s"]
    print(f"  responses: contact {resp['contact']}, agent {resp['agent']}, assistant {resp['assistant']},"
          f" median agent response {'-' if med is None else f'{med:.0f}s'}")
    p = r["performance"]
    print("  segments:", ", ".join(f"{k} {v}" for k, v in p["segments"].items() if v) or "none",
          f"; cost {p['cost']:g}")
    a = r["activity"]
    print(f"  activity per {a['bucket']}:")
    for pt in a["series"]:
        if pt["sent"] or pt["received"]:
            print(f"    {pt['label']}: sent {pt['sent']}, received {pt['received']}")


def _write_csv(text: str, path: str | None) -> None:
    if path and path != "-":
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def cmd_campaign_report(c: Client, args) -> None:
    res = c.call("campaign_report", campaign_id=args.id, csv=args.csv is not None)
    if args.csv is not None:
        _write_csv(res["csv"], args.csv)
        return
    emit(args, res, _report_human)


def cmd_campaign_contacts(c: Client, args) -> None:
    res = c.call("campaign_contacts", campaign_id=args.id, state=args.state, limit=args.limit)
    emit(args, res, lambda rs: table([[r["first_name"], r["last_name"], r["phone"], ts(r["created_at"]), r["step"],
                                       r["state"], r["message_state"] or "", (r["failed_reason"] or "")[:40]]
                                      for r in rs],
                                     ["FIRST", "LAST", "PHONE", "CREATED", "STEP", "STATE", "MESSAGE", "REASON"]))


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CtlError("usage", f"{text!r}: expected ISO-8601", 2) from None
    return d.timestamp()


def cmd_performance(c: Client, args) -> None:
    res = c.call("performance_report", since=_epoch(args.since), until=_epoch(args.until), number=args.number,
                 link=args.link, campaign_id=args.campaign, csv=args.csv is not None)
    if args.csv is not None:
        _write_csv(res["csv"], args.csv)
        return
    emit(args, res, lambda r: (table([[k, v, r["messages"].get(k, 0)] for k, v in r["segments"].items()],
                                     ["STATE", "SEGMENTS", "MESSAGES"]), print(f"cost {r['cost']:g}")))


def add_commands(sub: argparse._SubParsersAction) -> None:
    contacts_commands.add_commands(sub)

    p = sub.add_parser("scripts", help="message scripts")
    ss = p.add_subparsers(dest="scripts_command", required=True)
    s = ss.add_parser("create", help="create from a TOML or JSON file")
    s.add_argument("file")
    s.add_argument("--name", help="overrides the file's name")
    s.set_defaults(fn=cmd_script_create)
    s = ss.add_parser("show")
    s.add_argument("script", help="id or name")
    s.set_defaults(fn=cmd_script_show)
    ss.add_parser("list").set_defaults(fn=cmd_script_list)
    s = ss.add_parser("preview", help="render a step for one contact")
    s.add_argument("script")
    s.add_argument("--contact", required=True, help="phone or contact id")
    s.add_argument("--step", type=int, default=1)
    s.set_defaults(fn=cmd_preview)

    p = sub.add_parser("campaign", help="campaigns")
    cp = p.add_subparsers(dest="campaign_command", required=True)
    for name in ("create", "edit"):
        s = cp.add_parser(name, help=f"{name} a campaign{' (prints its id)' if name == 'create' else ' (draft)'}")
        if name == "edit":
            s.add_argument("id", type=int)
        s.add_argument("--name", required=name == "create")
        s.add_argument("--script", help="id or name")
        s.add_argument("--list", help="contact list name")
        s.add_argument("--from", dest="sender", help="sender number")
        s.add_argument("--office")
        s.add_argument("--operated-by", choices=["agent", "assistant"])
        s.add_argument("--tag", action="append")
        s.add_argument("--stop-on-reply", action="store_true", default=None)
        s.add_argument("--require-consent", action=argparse.BooleanOptionalAction, default=None,
                       help="contacts without a valid opt-in in the consent ledger become unreachable")
        s.add_argument("--at", help="ISO-8601 time of a one-off send")
        s.add_argument("--cron", help="recurring: cron expression (with --tz)")
        s.add_argument("--tz", help="time zone for --at/--cron (default UTC)")
        s.add_argument("--ttl", type=float, help="seconds before an unsent message expires")
        s.add_argument("--quiet", help="quiet hours in the recipient's time, e.g. 21:00-08:00")
        s.add_argument("--variant", action="append", help="A/B variant SCRIPT:WEIGHT (percent)")
        s.add_argument("--default", action="append", help="FIELD=VALUE used when a contact's field is empty")
        s.add_argument("--description")
        if name == "create":
            s.add_argument("--launch", action="store_true",
                           help="launch (or schedule) right away; when not ready nothing is created and the reasons are printed")
            s.set_defaults(fn=cmd_campaign_create)
        else:
            s.set_defaults(fn=cmd_campaign_edit)
    for action in ("launch", "pause", "resume", "stop", "archive", "clone"):
        s = cp.add_parser(action, help=f"{action} a campaign")
        s.add_argument("id", type=int)
        s.set_defaults(fn=cmd_campaign_action, action=action)
    s = cp.add_parser("show")
    s.add_argument("id", type=int)
    s.set_defaults(fn=cmd_campaign_show)
    s = cp.add_parser("list", help="search campaigns")
    s.add_argument("--status", action="append")
    s.add_argument("--tag")
    s.add_argument("--search")
    s.set_defaults(fn=cmd_campaign_list)
    s = cp.add_parser("report", help="analytics (--json for the stable keys, --csv [FILE] to export)")
    s.add_argument("id", type=int)
    s.add_argument("--csv", nargs="?", const="-", default=None, metavar="FILE")
    s.set_defaults(fn=cmd_campaign_report)
    s = cp.add_parser("contacts", help="recipients with their step and message status")
    s.add_argument("id", type=int)
    s.add_argument("--state")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(fn=cmd_campaign_contacts)
    s = cp.add_parser("preview", help="render a campaign step for one contact")
    s.add_argument("id", type=int)
    s.add_argument("--contact", required=True)
    s.add_argument("--step", type=int, default=1)
    s.set_defaults(fn=cmd_preview)

    p = sub.add_parser("report", help="gateway reports")
    rp = p.add_subparsers(dest="report_command", required=True)
    s = rp.add_parser("performance", help="segments by state and cost")
    s.add_argument("--since")
    s.add_argument("--until")
    s.add_argument("--number")
    s.add_argument("--link")
    s.add_argument("--campaign", type=int)
    s.add_argument("--csv", nargs="?", const="-", default=None, metavar="FILE")
    s.set_defaults(fn=cmd_performance)
