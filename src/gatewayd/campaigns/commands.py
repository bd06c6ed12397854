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
import time
import tomllib
from typing import Any

from ..contacts import commands as contacts_commands
from ..ctl import Client, CtlError, emit, table, ts
from ..errors import BadRequest
from . import progress, schedule


# ---- scripts -------------------------------------------------------------------------------

SCRIPT_FORMAT = """\
A script file (TOML; JSON with the same keys also works):

  name = "renewal"                  # unique; --name overrides it
  type = "interactive"              # nudge (plain messages) or interactive (asks questions)

  [[steps]]                         # one table per message, in order
  text = "Hi {first_name}, renew your {plan} plan? (yes/no)"
  question = "yes_no"               # yes_no, choice (needs choices) or open; omit for none
  answer_timeout_s = 86400          # how long to wait for the answer (default 3 days)

  [[steps]]
  text = "Great, {first_name}! Reply 1, 2 or 3 for your renewal month."
  delay_s = 0                       # wait after the previous step went out (or was answered)
  question = "choice"
  choices = ["January", "February", "March"]

  [defaults]                        # used when a contact's field is empty
  plan = "basic"

Fields: {first_name}, {last_name}, {phone} and every other CSV column by its header in
lower case with spaces as _ ("Zip Code" -> {zip_code}); {{ and }} are literal braces.
In an assistant-operated campaign a question waits for the answer (until answer_timeout_s);
in an agent-operated one the next step follows after its delay_s.
"""


def _load_script(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CtlError("bad_input", f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        spec = json.loads(data) if path.endswith(".json") else tomllib.loads(data.decode())
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise CtlError("bad_input", f"{path}: {exc}", 2) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("steps", []), list):
        raise CtlError("bad_input", f"{path}: expected name, type, [[steps]] and [defaults] (see"
                                    " `gatewayctl scripts create --help`)", 2)
    if not isinstance(spec.get("defaults", {}), dict):
        raise CtlError("bad_input", f"{path}: defaults must be a table of FIELD = \"value\"", 2)
    return spec


def cmd_script_create(c: Client, args) -> None:
    spec = _load_script(args.file)
    res = c.call("script_create", name=args.name or spec.get("name"), type=spec.get("type", "nudge"),
                 steps=spec.get("steps", []), defaults=spec.get("defaults", {}))
    emit(args, res, lambda r: print(f"script {r['id']} {r['name']} ({r['type']}, {len(r['steps'])} step(s))"))


def _script_human(r: dict) -> None:
    print(f"script {r['id']} {r['name']} ({r['type']})")
    for i, st in enumerate(r["steps"], 1):
        q = f" [{st['question']}{': ' + ', '.join(st['choices']) if st['choices'] else ''}]" if st["question"] else ""
        if st.get("question") and st.get("answer_timeout_s"):
            q += f" (answer within {_duration(st['answer_timeout_s'])})"
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
# Every argument is checked here as far as it can be without the daemon, so a typo is a usage
# error (exit 2, one line) before anything is created; the daemon checks again (other clients).


def _usage(text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(text)


def variant_arg(text: str) -> dict[str, Any]:
    script, sep, weight = text.rpartition(":")
    if not sep or not script.strip():
        raise _usage(f"{text!r}: expected SCRIPT:WEIGHT, e.g. spring-b:30 (weight in percent)")
    try:
        w = float(weight)
    except ValueError:
        raise _usage(f"{text!r}: weight {weight!r} is not a number (percent)") from None
    if not 0 < w <= 100:
        raise _usage(f"{text!r}: weight must be more than 0 and at most 100 (percent)")
    return {"script": script, "weight": w}


def default_arg(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or not field.strip():
        raise _usage(f"{text!r}: expected FIELD=VALUE, e.g. city=your town")
    return field.strip(), value


def quiet_arg(text: str) -> tuple[str, str]:
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise BadRequest("")
        schedule.check_quiet(start, end)
    except BadRequest:
        raise _usage(f"{text!r}: expected START-END in HH:MM, e.g. 21:00-08:00") from None
    return start.strip(), end.strip()


def at_arg(text: str) -> str:
    if text.strip().lower() != "now":
        try:
            dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _usage(f"{text!r}: expected ISO-8601 (2026-11-23T09:00, 2026-11-23T09:00+01:00) or now") from None
    return text


def tz_arg(text: str) -> str:
    try:
        schedule.zone(text)
    except BadRequest:
        raise _usage(f"{text!r}: not a time zone (IANA names such as Europe/Paris, America/New_York, UTC)") from None
    return text


def cron_arg(text: str) -> str:
    try:
        schedule.check_cron(text)
    except BadRequest as exc:
        raise _usage(exc.message) from None
    return text


def positive_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _usage(f"{text!r} is not a number") from None
    if not v > 0:
        raise _usage(f"{text!r}: must be more than 0")
    return v


class BoolFlag(argparse.Action):
    """``--stop-on-reply``, ``--stop-on-reply=no`` (yes/no, true/false, on/off, 1/0) and
    ``--no-stop-on-reply``: a clone can turn a setting off as well as on."""

    def __init__(self, option_strings, dest, **kw) -> None:
        negs = ["--no-" + o[2:] for o in option_strings if o.startswith("--")]
        super().__init__([*option_strings, *negs], dest, nargs="?", default=None, metavar="yes|no", **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
            return
        word = "yes" if values is None else values.strip().lower()
        if word in ("yes", "y", "true", "on", "1"):
            setattr(namespace, self.dest, True)
        elif word in ("no", "n", "false", "off", "0"):
            setattr(namespace, self.dest, False)
        else:
            parser.error(f"{option_string} takes yes or no (or use --no-{option_string[2:]}), not {values!r}")


def _fields(args) -> dict[str, Any]:
    f = {"name": args.name, "script": args.script, "list": args.list, "number": args.sender, "office": args.office,
         "operated_by": args.operated_by, "tags": args.tag or None, "at": args.at, "cron": args.cron, "tz": args.tz,
         "ttl_s": args.ttl, "description": args.description, "hours": args.hours,
         "budget": args.budget}
    if args.stop_on_reply is not None:
        f["stop_on_reply"] = args.stop_on_reply
    if args.require_consent is not None:
        f["require_consent"] = args.require_consent
    if args.quiet:
        f["quiet_start"], f["quiet_end"] = args.quiet
    if args.variant:
        total = sum(v["weight"] for v in args.variant)
        if total > 100:
            raise CtlError("usage", f"--variant weights add up to {total:g}%: at most 100 (the campaign's own"
                                    " script gets the rest)", 2)
        f["variants"] = args.variant
    if args.default:
        f["defaults"] = dict(args.default)
    if args.at and args.at.strip().lower() != "now":
        if schedule.parse_at(args.at, args.tz) <= time.time():
            raise CtlError("usage", f"--at {args.at!r} is in the past; give a later time, or --at now to send"
                                    " at launch", 2)
    return {k: v for k, v in f.items() if v is not None}


def _duration(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{seconds / n:g}{unit}"
    return f"{seconds:g}s"


def _campaign_human(r: dict) -> None:
    print(f"campaign {r['id']} {r['name']!r}: {r['status']}{' (' + r['status_reason'] + ')' if r['status_reason'] else ''}")
    print(f"  script {r.get('script') or '-'}, list {r.get('list') or '-'}, from {r['number'] or '-'},"
          f" office {r['office']}, operated by {r['operated_by']}, stop on reply {'yes' if r['stop_on_reply'] else 'no'}")
    if r["tags"]:
        print("  tags:", ", ".join(r["tags"]))
    if r.get("variants"):
        parts = [f"{r.get('script') or '-'} {r.get('main_weight', 0):g}%"]
        parts += [f"{v.get('script') or v['script_id']} {v['weight']:g}%" for v in r["variants"]]
        print("  A/B variants:", ", ".join(parts))
    print(f"  quiet hours: {r['quiet_start']}-{r['quiet_end']} in each recipient's local time"
          if r.get("quiet_start") else "  quiet hours: none",
          f"; TTL {_duration(r['ttl_s'])}" if r.get("ttl_s") else "; TTL the gateway's default (queue.default_ttl_s)",
          sep="")
    if r.get("defaults"):
        print("  defaults:", ", ".join(f"{k}={v}" for k, v in r["defaults"].items()))
    if r["cron"]:
        print(f"  recurring: {r['cron']} ({r['tz']}), run {r['run']}")
    elif r.get("schedule_at"):
        print(f"  scheduled for {ts(r['schedule_at'])} (local), zone {r['tz']}")
    nxt = r["next_run"]
    if nxt is None and r["status"] in ("processing", "sending", "paused", "suspended"):
        nxt = r.get("next_step_at")
    print(f"  created {ts(r['created_at'])}, updated {ts(r['updated_at'])}, launched {ts(r['launched_at'])},"
          f" next send {ts(nxt)}")
    if r.get("held"):
        print(f"  held by the pause: {r['held']} queued message(s) (resume sends them, stop withdraws them)")
    if r.get("waiting_for_answers"):
        print(f"  waiting for answers ({r['waiting_for_answers']})")
    if r.get("recipients"):
        print("  recipients:", ", ".join(f"{k} {v}" for k, v in sorted(r["recipients"].items())),
              f"(expanded {r['expanded']}, suppressed {r['suppressed']})")
    if r.get("hours"):
        print(f"  sending hours: {r['hours']}")
    if r.get("held_by"):
        print("  waiting:", ", ".join(f"{k} {v}" for k, v in sorted(r["held_by"].items())))
    if r.get("budget"):
        print(f"  carrier budget: {r['budget']}")
    if r.get("waiting"):
        print(f"  {r['waiting']}")
    if r.get("consent"):
        k = r["consent"]
        print(f"  require consent: {k['without']} contact(s) without a valid opt-in will be unreachable"
              f"{': ' + ', '.join(k['sample']) + (' ...' if k['without'] > len(k['sample']) else '') if k['sample'] else ''}")
    if r.get("not_ready"):
        print("  not ready to launch:")
        for reason in r["not_ready"]:
            print(f"    - {reason}")
    notes = [f for f in r.get("checks") or [] if f["severity"] != "blocker"]
    if notes:
        print("  content checks:")
        for f in notes:
            print(f"    {'warning: ' if f['severity'] == 'warning' else ''}{f['message']}")
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
    kw = f" ({resp['keyword']} keyword replies)" if resp.get("keyword") else ""
    print(f"  responses: contact {resp['contact']} (invalid answers {resp.get('invalid', 0)}), agent {resp['agent']},"
          f" assistant {resp['assistant']}{kw}, median agent response {'-' if med is None else f'{med:.0f}s'}")
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
        try:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as exc:
            raise CtlError("bad_input", f"cannot write {path}: {exc.strerror}", 2) from None
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
                                       r["state"], r["message_state"] or "",
                                       r.get("waiting") or "",
                                       (r["failed_reason"] or "")[:40]] for r in rs],
                                     ["FIRST", "LAST", "PHONE", "CREATED", "STEP", "STATE", "MESSAGE", "WAITING FOR",
                                      "REASON"]))


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
    s = ss.add_parser("create", help="create from a TOML or JSON file", description=SCRIPT_FORMAT,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("file", help="a .toml file (or .json with the same keys)")
    s.add_argument("--name", help="overrides the file's name")
    s.set_defaults(fn=cmd_script_create)
    s = ss.add_parser("show", help="one script's steps, questions and defaults")
    s.add_argument("script", help="id or name")
    s.set_defaults(fn=cmd_script_show)
    ss.add_parser("list", help="every script: id, name, type, number of steps").set_defaults(fn=cmd_script_list)
    s = ss.add_parser("preview", help="render a step for one contact")
    s.add_argument("script", help="id or name")
    s.add_argument("--contact", required=True, help="phone (any format) or contact id")
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
        s.add_argument("--office", help="the office it belongs to (default: the number's)")
        s.add_argument("--operated-by", choices=["agent", "assistant"],
                       help="who answers replies: agents in the inbox (default), or the assistant, which"
                            " reads answers to questions and sends the next step")
        s.add_argument("--tag", action="append", help="a tag of 1-30 characters (repeatable)")
        s.add_argument("--stop-on-reply", action=BoolFlag,
                       help="a reply stops the campaign for that contact (--no-stop-on-reply or"
                            " --stop-on-reply=no: it does not; the default for a new campaign)")
        s.add_argument("--require-consent", action=argparse.BooleanOptionalAction, default=None,
                       help="contacts without a valid opt-in in the consent ledger become unreachable")
        s.add_argument("--at", type=at_arg, help="ISO-8601 time of a one-off send, in the future"
                                                 " (naive times in --tz); 'now' clears it")
        s.add_argument("--cron", type=cron_arg, help="recurring: cron expression (with --tz)")
        s.add_argument("--tz", type=tz_arg, help="time zone for --at/--cron (default UTC)")
        s.add_argument("--ttl", type=positive_arg, help="seconds before an unsent message expires")
        s.add_argument("--quiet", type=quiet_arg, metavar="START-END",
                       help="quiet hours in the recipient's local time (their contact field timezone, else"
                            " their number's country), e.g. 21:00-08:00")
        s.add_argument("--hours", help="sending-hours rule set by law, e.g. us (none: no rule set; '': the"
                                       " default)")
        s.add_argument("--variant", action="append", type=variant_arg, metavar="SCRIPT:WEIGHT",
                       help="A/B variant: another script and its share in percent (repeatable; the campaign's"
                            " own script gets the rest)")
        s.add_argument("--default", action="append", type=default_arg, metavar="FIELD=VALUE",
                       help="value used when a contact's field is empty (repeatable)")
        s.add_argument("--description")
        s.add_argument("--budget", help="a carrier budget ([[budgets]] name) its messages count against")
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
    s = cp.add_parser("show", help="a campaign's settings (variants, quiet hours, TTL), status and next send")
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
    s = cp.add_parser("contacts", help="recipients: their step, message status and what they wait for")
    s.add_argument("id", type=int)
    s.add_argument("--state", choices=progress.RECIPIENT_STATES)
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(fn=cmd_campaign_contacts)
    s = cp.add_parser("preview", help="render a campaign step for one contact")
    s.add_argument("id", type=int)
    s.add_argument("--contact", required=True, help="phone (any format) or contact id")
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
