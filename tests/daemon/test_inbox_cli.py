"""``gatewayctl inbox ...`` against the daemon's real control socket: human and ``--json`` output,
and a refused action exits 1 with the daemon's reason."""

from __future__ import annotations

import json

import pytest
import trio

from gatewayd import ctl
from gatewayd.control.server import serve_control
from test_inbox_support import MAIN, campaign, contact, gateway, receive, sent_step

pytestmark = pytest.mark.trio
JOHN = "+14155550123"


async def _ctl(gw, capsys, *args: str) -> tuple[int, str, str]:
    code = await trio.to_thread.run_sync(ctl.main, ["--socket", gw.socket_path, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_every_inbox_subcommand_through_the_socket(tmp_path, capsys):
    async with gateway(tmp_path) as gw:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_control, gw)
            cid = await campaign(gw, operated_by="assistant", steps=[{"text": "Coming?", "question": "yes_no"}])
            await sent_step(gw, cid, await contact(gw, JOHN, "John", "Doe"), JOHN)
            conv = (await receive(gw, JOHN, "Maybe?"))["conversation_id"]
            cid_s = str(conv)

            code, out, _ = await _ctl(gw, capsys, "inbox", "list", "--section", "needs-attention")
            assert code == 0 and "needs attention 1, agent 0, assistant 0" in out and "John Doe +14155550123" in out
            code, out, _ = await _ctl(gw, capsys, "--json", "inbox", "list", "--search", "doe", "--campaign", str(cid))
            assert [c["id"] for c in json.loads(out)["items"]] == [conv]
            code, out, _ = await _ctl(gw, capsys, "inbox", "show", cid_s)
            assert "needs attention: assistant: expected yes or no" in out and "< Maybe?" in out
            assert "answer step 1 (yes_no): 'Maybe?' invalid: expected yes or no" in out

            assert (await _ctl(gw, capsys, "inbox", "tag", cid_s, "unsure"))[1].strip() == \
                f"conversation {conv} tags: unsure"
            code, out, _ = await _ctl(gw, capsys, "--json", "inbox", "list", "--tag", "unsure")
            assert len(json.loads(out)["items"]) == 1
            assert "tags: -" in (await _ctl(gw, capsys, "inbox", "untag", cid_s, "unsure"))[1]
            code, out, _ = await _ctl(gw, capsys, "inbox", "assignees")
            assert code == 0 and out.split("\n")[0].split() == ["USER", "ROLE", "OFFICES"]
            assert ["lim", "agent", "(limited)", "main"] in [line.split() for line in out.splitlines()]
            code, out, _ = await _ctl(gw, capsys, "--json", "inbox", "assignees")
            assert "vic" not in [r["user"] for r in json.loads(out)]
            assert "assignee alice" in (await _ctl(gw, capsys, "inbox", "assign", cid_s, "alice"))[1]
            assert "operated by agent" in (await _ctl(gw, capsys, "inbox", "operated-by", cid_s, "agent"))[1]
            assert f"conversation {conv}: agent," in (await _ctl(gw, capsys, "inbox", "attention", cid_s, "off"))[1]
            assert "unread 0" in (await _ctl(gw, capsys, "inbox", "read", cid_s))[1]
            assert "unread 1" in (await _ctl(gw, capsys, "inbox", "unread", cid_s))[1]
            code, out, _ = await _ctl(gw, capsys, "--json", "inbox", "reply", cid_s, "Let us know by Friday!")
            assert code == 0 and json.loads(out)["state"] == "queued"
            code, out, _ = await _ctl(gw, capsys, "inbox", "keyword", "set", "hours", "Open 9-5", "--number", MAIN)
            assert code == 0 and "HOURS on +14155550100: Open 9-5" in out
            assert "HOURS" in (await _ctl(gw, capsys, "inbox", "keywords"))[1]

            code, out, err = await _ctl(gw, capsys, "inbox", "tag", cid_s, "x" * 31)
            assert code == 1 and "tag_too_long" in err and "at most 30" in err
            code, out, err = await _ctl(gw, capsys, "--json", "inbox", "show", "999")
            assert code == 1 and json.loads(out)["error"]["code"] == "not_found"
            code, _, err = await _ctl(gw, capsys, "inbox", "opt-out", cid_s)
            assert code == 0
            code, _, err = await _ctl(gw, capsys, "inbox", "reply", cid_s, "hello?")
            assert code == 1 and "opted out" in err
            nursery.cancel_scope.cancel()
