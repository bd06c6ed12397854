"""``gatewayctl``: a blocking socket client for scripts and humans.

Exit codes: 0 ok; 1 the daemon refused the request (the reply's code and message are printed);
2 bad usage or input; 3 the daemon is not running (no socket, connection refused). Permission
denied on the socket is 1: the daemon runs, we may not reach it.
Human output by default, ``--json`` for machines (one JSON document, or JSON lines for ``tail``).
Domain modules add subcommands through ``COMMAND_MODULES`` (each has ``add_commands(sub)``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
from typing import Any, Iterator

import msgspec

from .extensions import import_optional

DEFAULT_SOCKET = "/run/gatewayd/gatewayd.sock"
COMMAND_MODULES = ["gatewayd.campaigns.commands", "gatewayd.inbox.commands", "gatewayd.links.sim_commands"]


class CtlError(Exception):
    def __init__(self, code: str, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


class Client:
    """One connection; ``call`` sends a request dict and returns the reply's result."""

    def __init__(self, path: str, timeout: float | None = 120.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except FileNotFoundError:
            raise CtlError("not_running", f"gatewayd is not running (no socket at {path})", 3) from None
        except ConnectionRefusedError:
            raise CtlError("not_running", f"gatewayd is not running (connection refused at {path})", 3) from None
        except PermissionError:   # it runs, we may not reach it: not exit 3 ("not running")
            raise CtlError("forbidden", f"permission denied on {path} (are you in the operators' group,"
                                        " gatewayd-operators?)", 1) from None
        self.buf = b""
        self._next_id = 0

    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise CtlError("disconnected", "gatewayd closed the connection", 3)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def call(self, op: str, **fields: Any) -> Any:
        self._next_id += 1
        req = {"op": op, "id": self._next_id, **{k: v for k, v in fields.items() if v is not None}}
        self.sock.sendall(msgspec.json.encode(req) + b"\n")
        reply = msgspec.json.decode(self._line())
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise CtlError(err.get("code", "error"), err.get("message", "request failed"))
        return reply.get("result")

    def events(self, since: int | None, types: list[str] | None = None) -> Iterator[dict]:
        self.sock.settimeout(None)
        self.call("subscribe", since=since, types=types)
        while True:
            yield msgspec.json.decode(self._line())["event"]

    def close(self) -> None:
        self.sock.close()


# ---- output helpers ---------------------------------------------------------------------------


def ts(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def emit(args: argparse.Namespace, result: Any, human) -> None:
    if args.json:
        print(json.dumps(result, indent=None if args.command == "tail" else 2, ensure_ascii=False))
    else:
        human(result)


def table(rows: list[list[Any]], headers: list[str], wrap: dict[int, int] | None = None) -> None:
    """Aligned columns; ``wrap`` {column: width} folds long cells (a link's down reason) onto
    continuation lines instead of widening the whole table."""
    for line in table_lines(rows, headers, wrap):
        print(line)


def table_lines(rows: list[list[Any]], headers: list[str], wrap: dict[int, int] | None = None) -> list[str]:
    import textwrap

    wrap = wrap or {}
    physical: list[list[str]] = [headers]
    for r in rows:
        cells = [("" if c is None else str(c)) for c in r]
        folded = [textwrap.wrap(c, wrap[i], break_long_words=True) or [""] if i in wrap and len(c) > wrap[i] else [c]
                  for i, c in enumerate(cells)]
        for k in range(max(len(f) for f in folded)):
            physical.append([f[k] if k < len(f) else "" for f in folded])
    widths = [max(len(r[i]) for r in physical) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in physical]


# ---- core commands ----------------------------------------------------------------------------


REASON_WIDTH = 40   # keeps `status` within 100 columns when a link is down with a long reason


def _window(lk: dict) -> str:
    """In flight / the window in force, and the configured one when an SMSC narrowed it."""
    cfg = lk.get("max_window")
    return f"{lk['in_flight']}/{lk['window']}" + (f" (of {cfg})" if cfg and cfg != lk["window"] else "")


def _rate(lk: dict) -> str:
    """The rate learned from the carrier ("-": not limited), and the max_rate cap if any."""
    rate, cap = lk.get("rate"), lk.get("max_rate")
    shown = "-" if rate is None else f"{rate:.1f}"
    return shown + (f" (max {cap:g})" if cap else "")


def cmd_status(c: Client, args) -> None:
    st = c.call("status")

    def human(st):
        print(f"gatewayd {st['version']}, up since {ts(st['started_at'])}")
        print("\nLinks:")
        table([[lk["name"], lk["kind"], lk["state"], lk["reason"], _window(lk), _rate(lk),
                lk["sent_last_min"]] for lk in st["links"]],
              ["NAME", "KIND", "STATE", "REASON", "WINDOW", "RATE/S", "SENT/MIN"], wrap={3: REASON_WIDTH})
        print("\nNumbers:")
        table([[n["address"], ",".join(n["links"]), f"{n['rate']}/s", n["burst"],
                f"{n['used_today']}/{n['daily_cap'] or '-'}", "yes" if n["enabled"] else "no"] for n in st["numbers"]],
              ["NUMBER", "LINKS", "RATE", "BURST", "TODAY/CAP", "ENABLED"])
        if st.get("budgets"):
            print("\nCarrier budgets (segments used/limit):")
            table([[b["name"], *(f"{b[u]}/{b[p]}" if b[p] else "-" for u, p in
                                 (("used_second", "per_second"), ("used_minute", "per_minute"),
                                  ("used_today", "per_day"))),
                    b["remaining"], f"{b['refills_in_s']:.0f}s" if b["remaining"] <= 0 else "-",
                    ",".join(b["numbers"]) or "-"] for b in st["budgets"]],
                  ["BUDGET", "SECOND", "MINUTE", "TODAY", "REMAINING", "REFILLS IN", "NUMBERS"])
        print("\nQueue:", ", ".join(f"{k} {v}" for k, v in sorted(st["queue"].items()) if v) or "empty")
        print(f"Throughput: {st['sent_per_s']:.1f} sent/s, {st['delivered_per_s']:.1f} delivered/s;"
              f" inbound {st['inbound_total']}; unmatched receipts {st['unmatched_receipts']}")

    emit(args, st, human)


def _read_batch(path: str) -> list[dict]:
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise CtlError("bad_input", f"cannot read {path}: {exc.strerror}", 2) from None
    items = []
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CtlError("bad_input", f"{path}:{n}: not JSON: {exc.msg}", 2) from None
            if not isinstance(obj, dict):
                raise CtlError("bad_input", f"{path}:{n}: expected an object", 2)
            items.append(obj)
    return items


BATCH_MAX_ITEMS = 5000
DEFAULT_MAX_LINE = 1_048_576
_REQUEST_OVERHEAD = 100      # {"op":"send_batch","id":N,"messages":[...]} around the items


def batch_chunks(items: list[dict], max_line: int) -> Iterator[tuple[int, list[dict] | str]]:
    """``(start, items)`` requests that each encode under ``max_line`` bytes (and 5,000 items);
    ``(index, reason)`` for one item that alone is over it (it cannot be sent in any request)."""
    budget = max_line - _REQUEST_OVERHEAD
    chunk: list[dict] = []
    start, size = 0, 0
    for i, it in enumerate(items):
        n = len(msgspec.json.encode(it)) + 1      # and its comma
        if n > budget:
            if chunk:
                yield start, chunk
            chunk, size = [], 0
            yield i, f"{n} bytes encoded: over the daemon's request limit of {max_line} bytes"
            start = i + 1
            continue
        if chunk and (size + n > budget or len(chunk) >= BATCH_MAX_ITEMS):
            yield start, chunk
            chunk, size = [], 0
        if not chunk:
            start = i
        chunk.append(it)
        size += n
    if chunk:
        yield start, chunk


def cmd_send(c: Client, args) -> None:
    if args.batch:
        items = _read_batch(args.batch)
        for it in items:
            it.setdefault("priority", args.priority or "bulk")
        max_line = c.call("hello").get("max_line_bytes") or DEFAULT_MAX_LINE
        total = {"accepted": 0, "duplicates": 0, "rejected": 0, "items": []}
        for start, chunk in batch_chunks(items, max_line):
            if isinstance(chunk, str):
                total["rejected"] += 1
                total["items"].append({"index": start, "error": chunk, "code": "line_too_long"})
                continue
            res = c.call("send_batch", messages=chunk)
            for k in ("accepted", "duplicates", "rejected"):
                total[k] += res[k]
            for it in res["items"]:
                it["index"] += start
                total["items"].append(it)

        def human(r):
            print(f"accepted {r['accepted']}, duplicates {r['duplicates']}, rejected {r['rejected']}")
            for it in r["items"]:
                if it.get("error"):
                    print(f"  line {it['index'] + 1}: {it['code']}: {it['error']}", file=sys.stderr)

        emit(args, total, human)
        if total["rejected"]:
            raise SystemExit(1)
        return
    if not (args.sender and args.to and args.text is not None):
        raise CtlError("usage", "send needs --from, --to and --text (or --batch FILE)", 2)
    res = c.call("send", **{"from": args.sender, "to": args.to, "text": args.text, "key": args.key,
                            "priority": args.priority or "transactional", "ttl_s": args.ttl,
                            "transactional": True if args.transactional else None})

    def human(m):
        print(f"message {m['id']} {m['state']}{' (existing, same key)' if m.get('duplicate_of_key') else ''}:"
              f" {m['segments']} segment(s), {m['encoding']}")
        if m["state"] in ("unreachable", "ignored") and m.get("error_text"):
            print(f"  not sent: {m['error_text']}", file=sys.stderr)

    emit(args, res, human)


def cmd_messages(c: Client, args) -> None:
    res = c.call("list_messages", state=args.state, sender=args.sender, recipient=args.to,
                 campaign_id=args.campaign, before_id=args.before, limit=args.limit)
    emit(args, res, lambda r: (table([[m["id"], ts(m["created_at"]), m["sender"], m["recipient"], m["state"],
                                        m["segments"], (m["error_text"] or "")[:40], m["text"][:30]]
                                       for m in r["items"]],
                                      ["ID", "CREATED", "FROM", "TO", "STATE", "SEG", "REASON", "TEXT"]),
                               r["next_before_id"] and print(f"(more: --before {r['next_before_id']})")))


def cmd_message(c: Client, args) -> None:
    d = c.call("get_message", message_id=args.id)

    def human(d):
        m = d["message"]
        print(f"message {m['id']}: {m['state']}{' (possible duplicate)' if m['possible_duplicate'] else ''}")
        print(f"  {m['sender']} -> {m['recipient']}, {m['priority']}, {m['segments']} seg {m['encoding']},"
              f" link {m['link'] or '-'}, attempts {m['attempts']}")
        if m["error_text"]:
            print(f"  reason: {m['error_code'] or ''} {m['error_text']}")
        print(f"  text: {m['text']}")
        print("  segments:")
        for s in d["segments"]:
            print(f"    #{s['index']} {s['state']} id={s['carrier_id'] or '-'} receipt={s['receipt_stat'] or '-'}"
                  f" {s['error_code'] or ''}")
        print("  history:")
        for h in d["history"]:
            print(f"    {ts(h['at'])} {h['state']} {h['detail']}")

    emit(args, d, human)


def cmd_cancel(c: Client, args) -> None:
    emit(args, c.call("cancel", message_id=args.id), lambda r: print(f"message {r['message_id']} {r['state']}"))


def cmd_retry(c: Client, args) -> None:
    emit(args, c.call("retry", message_id=args.id), lambda r: print(f"message {r['message_id']} {r['state']}"))


def cmd_tail(c: Client, args) -> None:
    for ev in c.events(args.since, args.type or None):
        if args.json:
            print(json.dumps(ev, ensure_ascii=False), flush=True)
        else:
            data = " ".join(f"{k}={v}" for k, v in ev["data"].items() if v is not None)
            print(f"{ev['cursor']} {ts(ev['at'])} {ev['type']} {data}", flush=True)


def cmd_backup(c: Client, args) -> None:
    emit(args, c.call("backup", path=os.path.abspath(args.path)),
         lambda r: print(f"backup written to {r['path']} ({r['bytes']} bytes)"))


def cmd_receipts(c: Client, args) -> None:
    emit(args, c.call("list_receipts", unmatched=True, limit=args.limit),
         lambda rs: table([[r["id"], r["link"], r["carrier_id"], r["stat"], ts(r["received_at"])] for r in rs],
                          ["ID", "LINK", "CARRIER ID", "STAT", "RECEIVED"]))


def cmd_enable(c: Client, args) -> None:
    res = c.call("set_enabled", kind=args.kind, name=args.name, enabled=args.command == "enable")

    def human(r):
        extra = f" ({r['ignored']} queued messages marked ignored)" if r["ignored"] else ""
        print(f"{r['kind']} {r['name']} {'enabled' if r['enabled'] else 'disabled'}{extra}")

    emit(args, res, human)


def cmd_audit(c: Client, args) -> None:
    since = None
    if args.since:
        try:
            since = float(args.since)
        except ValueError:
            try:
                since = dt.datetime.fromisoformat(args.since).timestamp()
            except ValueError:
                raise CtlError("usage", f"--since {args.since!r}: expected epoch seconds or ISO-8601", 2) from None
    res = c.call("audit", since=since, user=args.user, limit=args.limit)
    emit(args, res, lambda rows: table(
        [[ts(r["at"]), r["user"], r["role"], r["op"], "ok" if r["ok"] else f"refused: {r['error']}", r["target"]]
         for r in rows], ["AT", "USER", "ROLE", "OP", "RESULT", "TARGET"]))


class Parser(argparse.ArgumentParser):
    """Usage errors are one line (what is wrong, and where help is), exit 2: a script's log or a
    terminal shows the reason, not a page of usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gatewayctl", description="Control gatewayd over its Unix socket.")
    p.add_argument("--socket", default=os.environ.get("GATEWAYD_SOCKET", DEFAULT_SOCKET),
                   help="control socket (default $GATEWAYD_SOCKET or %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="links, numbers, queue").set_defaults(fn=cmd_status)
    s = sub.add_parser("send", help="send one message or a batch")
    s.add_argument("--from", dest="sender")
    s.add_argument("--to")
    s.add_argument("--text")
    s.add_argument("--key", help="idempotency key: the same key twice sends once")
    s.add_argument("--priority", choices=["interactive", "transactional", "bulk"])
    s.add_argument("--ttl", type=float, help="seconds before an unsent message expires")
    s.add_argument("--transactional", action="store_true",
                   help="a message the recipient must get (a code, a receipt): sent even if they opted out"
                        " (scope all or this number); recorded in the audit log")
    s.add_argument("--batch", metavar="FILE",
                   help='JSON lines {"from","to","text","key"} (and "transactional": true); - for stdin')
    s.set_defaults(fn=cmd_send)
    s = sub.add_parser("messages", help="list messages, newest first")
    s.add_argument("--state")
    s.add_argument("--from", dest="sender")
    s.add_argument("--to")
    s.add_argument("--campaign", type=int)
    s.add_argument("--before", type=int, help="page: ids below this")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=cmd_messages)
    for name, fn, what in (("message", cmd_message, "one message: segments, receipts, state history"),
                           ("cancel", cmd_cancel, "cancel a queued message"),
                           ("retry", cmd_retry, "send a failed, expired, undelivered, cancelled or ignored"
                                                " message again")):
        s = sub.add_parser(name, help=what)
        s.add_argument("id", type=int)
        s.set_defaults(fn=fn)
    s = sub.add_parser("tail", help="follow the event stream (resume with --since CURSOR)")
    s.add_argument("--since", type=int)
    s.add_argument("--type", action="append", help="event type prefix, e.g. message. (repeatable)")
    s.set_defaults(fn=cmd_tail)
    s = sub.add_parser("backup", help="consistent online copy of the database")
    s.add_argument("path")
    s.set_defaults(fn=cmd_backup)
    s = sub.add_parser("receipts", help="receipts that matched no message")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=cmd_receipts)
    s = sub.add_parser("audit", help="who changed what")
    s.add_argument("--since", help="epoch seconds or ISO-8601 time")
    s.add_argument("--user")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(fn=cmd_audit)
    for name in ("enable", "disable"):
        s = sub.add_parser(name, help=f"{name} a link or number")
        s.add_argument("kind", choices=["link", "number"])
        s.add_argument("name")
        s.set_defaults(fn=cmd_enable)
    for mod_name in COMMAND_MODULES:
        mod = import_optional(mod_name)
        if mod is not None:
            mod.add_commands(sub)
    _accept_json_anywhere(p)
    return p


def _accept_json_anywhere(parser: argparse.ArgumentParser) -> None:
    """``gatewayctl campaign list --json`` works like ``gatewayctl --json campaign list``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--json" in a.option_strings for a in child._actions):
                    child.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                       help="machine-readable output")
                _accept_json_anywhere(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        client = Client(args.socket)
        try:
            args.fn(client, args)
        finally:
            client.close()
    except CtlError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": {"code": exc.code, "message": exc.message}}))
        print(f"gatewayctl: {exc.code}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
