"""``gatewayctl sim``: drive the simulated carrier's phones by hand (demos and tests)."""

from __future__ import annotations

import argparse

from ..ctl import Client, emit

HELP = """Act as a phone on the simulated carrier. `sim inbound` delivers a message as if --from had
texted our number --to: it goes through keywords (STOP, HELP), campaign answers and the inbox
exactly like a carrier's message. Only numbers served by a sim link take it (code not_sim on
SMPP and modem links); admins only. The simulated phones then leave --from to you: it sends
no automatic replies any more.

example: gatewayctl sim inbound --from "(415) 555-0142" --to +14155550100 --text STOP"""


def cmd_sim_inbound(c: Client, args) -> None:
    res = c.call("sim_inbound", **{"from": args.sender, "to": args.to, "text": args.text, "link": args.link})

    def human(r):
        where = []
        if r["keyword"]:
            where.append(f"keyword {r['keyword']}")
        if r["campaign_id"] is not None:
            where.append(f"campaign {r['campaign_id']}")
        if r["conversation_id"] is not None:
            where.append(f"conversation {r['conversation_id']}")
        print(f"inbound {r['inbound_id']} {r['from']} -> {r['to']} on {r['link']}"
              f"{': ' + ', '.join(where) if where else ''}")

    emit(args, res, human)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="act as a phone on the simulated carrier (sim links only)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="sim_command", required=True)
    s = sp.add_parser("inbound", help="deliver a message from a phone to one of our numbers",
                      description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--from", dest="sender", required=True, help="the phone that writes (any format; normalised)")
    s.add_argument("--to", required=True, help="our number, as in [[numbers]]")
    s.add_argument("--text", required=True)
    s.add_argument("--link", help="which sim link, when the number has several (default: its first sim link)")
    s.set_defaults(fn=cmd_sim_inbound)
