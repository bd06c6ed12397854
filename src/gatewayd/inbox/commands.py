"""``gatewayctl inbox ...``: triage conversations from scripts and shells.

Human output by default, ``--json`` for machines; a refused action exits 1 with the daemon's
reason on stderr (``ctl.main`` does that for every ``CtlError``).
"""

from __future__ import annotations

import argparse

from .. import ctl

_SECTIONS = {"needs-attention": "needs_attention", "agent": "agent", "assistant": "assistant"}
_LABEL = {"needs_attention": "ATTENTION", "agent": "agent", "assistant": "assistant"}


def _who(c: dict) -> str:
    name = " ".join(x for x in (c["first_name"], c["last_name"]) if x)
    return f"{name} {c['phone']}" if name else c["phone"]


def cmd_list(client: ctl.Client, args) -> None:
    res = client.call("inbox_list", section=_SECTIONS.get(args.section) if args.section else None,
                      tags=args.tag or None, search=args.search, campaign_id=args.campaign, number=args.number,
                      assignee=args.assignee, unread_only=args.unread or None,
                      status=args.status, before=args.before, limit=args.limit)

    def human(r):
        counts = r["counts"]
        print(f"needs attention {counts['needs_attention']}, agent {counts['agent']}, assistant {counts['assistant']}")
        ctl.table([[c["id"], _LABEL[c["section"]], c["unread"] or "", _who(c), c["number"], c["campaign_id"] or "-",
                    c["assignee"] or "-", ",".join(c["tags"]), ctl.ts(c["last_message_at"]),
                    ("> " if c["last_direction"] == "out" else "") + c["last_text"][:30]] for c in r["items"]],
                  ["ID", "SECTION", "UNREAD", "CONTACT", "NUMBER", "CAMPAIGN", "ASSIGNEE", "TAGS", "LAST", "TEXT"])
        if r["next_before"]:
            print(f"(more: --before {r['next_before']})")

    ctl.emit(args, res, human)


def cmd_show(client: ctl.Client, args) -> None:
    res = client.call("inbox_show", conversation_id=args.id, before=args.before, limit=args.limit)

    def human(d):
        c = d["conversation"]
        print(f"conversation {c['id']}: {_who(c)} with {c['number']} ({c['status']})")
        print(f"  section {c['section']}, operated by {c['operated_by']}, office {c['office'] or '-'},"
              f" inbox {', '.join(c['inbox']) or '-'}, assignee {c['assignee'] or '-'}")
        print(f"  campaign {c['campaign_id'] or '-'}, tags {', '.join(c['tags']) or '-'}, unread {c['unread']}"
              f"{', opted out' if c['opted_out'] else ''}")
        if c["needs_attention"] and c["attention_reason"]:
            print(f"  needs attention: {c['attention_reason']}")
        for m in d["messages"]:
            arrow = "<" if m["direction"] == "in" else ">"
            status = "" if m["direction"] == "in" else f" [{m['status']}" + (
                f": {m['error_text']}" if m["error_text"] and m["status"] != "pending" else "") + "]"
            by = f" ({m['created_by'] or m['source']})" if m["direction"] == "out" else ""
            print(f"  {ctl.ts(m['at'])} {arrow} {m['text']}{status}{by}")
        if d["next_before"]:
            print(f"  (older: --before {d['next_before']})")
        for a in d["answers"]:
            verdict = f"= {a['value']}" if a["valid"] else f"invalid: {a['reason']}"
            print(f"  answer step {a['step']} ({a['question'] or '-'}): {a['raw']!r} {verdict}")

    ctl.emit(args, res, human)


def cmd_reply(client: ctl.Client, args) -> None:
    res = client.call("inbox_reply", conversation_id=args.id, text=args.text)
    ctl.emit(args, res, lambda r: print(f"reply {r['message_id']} {r['state']}"))


def _simple(op: str, field: str | None, fmt):
    def run(client: ctl.Client, args) -> None:
        fields = {"conversation_id": args.id}
        if field is not None:
            fields[field] = args.value
        if op == "inbox_attention":
            fields["on"] = args.value == "on"
        if op == "inbox_read":
            fields["read"] = args.command_name == "read"
        ctl.emit(args, client.call(op, **fields), fmt)

    return run


def _state(r) -> None:
    print(f"conversation {r['id']}: {r['section']}, operated by {r['operated_by']}, assignee {r['assignee'] or '-'},"
          f" unread {r['unread']}")


def cmd_opt_out(client: ctl.Client, args) -> None:
    res = client.call("inbox_opt_out", conversation_id=args.id, scope=args.scope, reason=args.reason or "")
    ctl.emit(args, res, lambda r: print(f"conversation {r['conversation_id']}: contact opted out ({r['scope']})"))


def cmd_assignees(client: ctl.Client, args) -> None:
    ctl.emit(args, client.call("inbox_assignees"), lambda rows: ctl.table(
        [[r["user"], r["role"] + (" (limited)" if r["limited"] else ""), ", ".join(r["offices"]) or "-"]
         for r in rows], ["USER", "ROLE", "OFFICES"]))


def cmd_keywords(client: ctl.Client, args) -> None:
    ctl.emit(args, client.call("inbox_keywords"), lambda rows: ctl.table(
        [[r["keyword"], r["number"] or "(all)", r["reply"][:50], r["created_by"] or "-"] for r in rows],
        ["KEYWORD", "NUMBER", "REPLY", "BY"]))


def cmd_keyword(client: ctl.Client, args) -> None:
    if args.action == "set":
        if not args.reply:
            raise ctl.CtlError("usage", "inbox keyword set KEYWORD REPLY", 2)
        res = client.call("inbox_keyword_set", keyword=args.keyword, reply=args.reply, number=args.number)
        ctl.emit(args, res, lambda r: print(f"{r['keyword']} on {r['number'] or 'every number'}: {r['reply']}"))
    else:
        res = client.call("inbox_keyword_remove", keyword=args.keyword, number=args.number)
        ctl.emit(args, res, lambda r: print(f"{r['keyword']} removed"))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inbox", help="conversations: list, show, reply, tag, assign, triage")
    inbox = p.add_subparsers(dest="inbox_command", required=True)
    s = inbox.add_parser("list", help="conversations you can see, most recent first")
    s.add_argument("--section", choices=list(_SECTIONS))
    s.add_argument("--tag", action="append", help="only conversations with this tag (repeatable: any)")
    s.add_argument("--search", help="first name, last name or phone")
    s.add_argument("--campaign", type=int)
    s.add_argument("--number", help="our number")
    s.add_argument("--assignee")
    s.add_argument("--unread", action="store_true")
    s.add_argument("--status", choices=["open", "closed", "all"], default="open")
    s.add_argument("--before", help="page: the token printed by the previous page")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=cmd_list)
    s = inbox.add_parser("show", help="one conversation and its messages")
    s.add_argument("id", type=int)
    s.add_argument("--before")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=cmd_show)
    s = inbox.add_parser("reply", help="send a reply (interactive priority)")
    s.add_argument("id", type=int)
    s.add_argument("text")
    s.set_defaults(fn=cmd_reply)
    tags_fmt = lambda r: print(f"conversation {r['conversation_id']} tags: {', '.join(r['tags']) or '-'}")  # noqa: E731
    for name, op, what in (("tag", "inbox_tag", "tag a conversation (at most 3 tags of 30 characters)"),
                           ("untag", "inbox_untag", "remove a tag")):
        s = inbox.add_parser(name, help=what)
        s.add_argument("id", type=int)
        s.add_argument("value", metavar="TAG")
        s.set_defaults(fn=_simple(op, "tag", tags_fmt))
    s = inbox.add_parser("assign", help="put a conversation in an agent's personal inbox")
    s.add_argument("id", type=int)
    s.add_argument("value", metavar="USER", nargs="?", help="omit to unassign")
    s.set_defaults(fn=_simple("inbox_assign", "user", _state))
    inbox.add_parser("assignees", help="who you may assign conversations to").set_defaults(fn=cmd_assignees)
    s = inbox.add_parser("operated-by", help="who answers: an agent or the assistant")
    s.add_argument("id", type=int)
    s.add_argument("value", choices=["agent", "assistant"])
    s.set_defaults(fn=_simple("inbox_operated_by", "operated_by", _state))
    s = inbox.add_parser("attention", help="toggle Needs attention")
    s.add_argument("id", type=int)
    s.add_argument("value", choices=["on", "off"])
    s.set_defaults(fn=_simple("inbox_attention", None, _state))
    for name in ("read", "unread"):
        s = inbox.add_parser(name, help=f"mark a conversation {name}")
        s.add_argument("id", type=int)
        s.set_defaults(fn=_simple("inbox_read", None, _state), command_name=name)
    s = inbox.add_parser("opt-out", help="opt the contact out by hand")
    s.add_argument("id", type=int)
    s.add_argument("--scope", choices=["campaign", "number", "all"])
    s.add_argument("--reason")
    s.set_defaults(fn=cmd_opt_out)
    inbox.add_parser("keywords", help="keyword auto-replies the assistant sends").set_defaults(fn=cmd_keywords)
    s = inbox.add_parser("keyword", help="set or remove a keyword auto-reply (admin)")
    s.add_argument("action", choices=["set", "rm"])
    s.add_argument("keyword")
    s.add_argument("reply", nargs="?")
    s.add_argument("--number", help="only on this number (default: every number)")
    s.set_defaults(fn=cmd_keyword)
