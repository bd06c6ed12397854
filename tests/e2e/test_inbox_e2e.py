"""End to end: an assistant-operated interactive campaign on the sim carrier, every contact
replies; the assistant answers the valid ones (the next step goes out), an agent answers the rest
through ``gatewayctl inbox reply``, and the campaign report's response counts match what the
inbox shows and what was really sent."""

from __future__ import annotations

import getpass
import time

import pytest

from gatewayd.ctl import Client

pytestmark = pytest.mark.e2e

FROM = "+14155550100"
N = 20

CONFIG = f"""
[[links]]
name = "sim"
kind = "sim"
dlr_delay_s = 0.2
delivered = 1.0
undelivered = 0.0
rejected = 0.0
reply_share = 1.0
reply_delay_s = 0.3
replies = ["Yes", "Who is this?"]
seed = 11

[[numbers]]
address = "{FROM}"
links = ["sim"]
rate = 200
burst = 200
office = "main"
"""

SCRIPT = """
name = "rsvp"
type = "interactive"
[[steps]]
text = "Hi {first_name}, are you coming to the open day on Friday? Reply YES or NO."
question = "yes_no"
[[steps]]
text = "Great, see you there!"
"""


def wait_for(d, predicate, timeout: float = 60.0):
    """Re-check after every event the daemon publishes (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    if value:
        return value
    c = Client(d.socket, timeout=0.5)
    try:
        c.call("subscribe", since=None)
        while time.monotonic() < deadline:
            try:
                c._line()
            except (TimeoutError, OSError):
                pass
            value = predicate()
            if value:
                return value
    finally:
        c.close()
    raise AssertionError(f"condition not reached in {timeout}s")


def settled(d) -> bool:
    q = d.call("status")["queue"]
    return not q.get("queued") and not q.get("sending")


def test_campaign_replies_assistant_agent_and_report_agree(daemon_factory, tmp_path):
    d = daemon_factory(CONFIG).start()
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("First Name,Last Name,Phone\n" + "".join(f"C{i},Doe,+1628555{i:04d}\n" for i in range(N)))
    d.ctl("contacts", "import", "--list", "open-day", str(contacts))
    script = tmp_path / "rsvp.toml"
    script.write_text(SCRIPT)
    d.ctl("scripts", "create", str(script))
    cid = int(d.ctl("campaign", "create", "--name", "Open day", "--script", "rsvp", "--list", "open-day",
                    "--from", FROM, "--office", "main", "--operated-by", "assistant", "--launch").stdout.split()[0])

    # Every contact replies once; each reply lands in a conversation of this campaign.
    def all_in():
        page = d.ctl_json("inbox", "list", "--campaign", str(cid), "--limit", "100")
        return page if sum(page["counts"].values()) == N and settled(d) else None
    page = wait_for(d, all_in)
    attention = [c for c in page["items"] if c["section"] == "needs_attention"]
    handled = [c for c in page["items"] if c["section"] == "assistant"]
    assert len(attention) + len(handled) == N and attention and handled
    assert {c["last_text"] for c in attention} == {"Who is this?"}

    # The assistant read "Yes" and sent step 2 as its reply.
    show = d.ctl_json("inbox", "show", str(handled[0]["id"]))
    assert [(a["question"], a["value"], a["valid"]) for a in show["answers"]] == [("yes_no", "yes", True)]
    assert [(m["direction"], m["source"], m["status"]) for m in show["messages"]] == [
        ("out", "campaign", "delivered"), ("in", None, "received"), ("out", "assistant", "delivered")]

    # An agent answers the ones it could not read; a refused action exits 1 with the reason.
    for c in attention:
        d.ctl("inbox", "reply", str(c["id"]), "This is the Acme open day team. Are you coming?")
    bad = d.ctl("inbox", "tag", str(attention[0]["id"]), "x" * 31, check=False)
    assert bad.returncode == 1 and "at most 30" in bad.stderr
    wait_for(d, lambda: settled(d))
    after = d.ctl_json("inbox", "show", str(attention[0]["id"]))
    assert after["conversation"]["section"] == "agent"
    last = after["messages"][-1]
    assert (last["source"], last["created_by"], last["status"]) == ("agent", getpass.getuser(), "delivered")
    assert d.ctl_json("inbox", "list", "--campaign", str(cid), "--section", "agent")["counts"] == {
        "needs_attention": 0, "agent": len(attention), "assistant": len(handled)}
    human = d.ctl("inbox", "list", "--campaign", str(cid)).stdout
    assert f"needs attention 0, agent {len(attention)}, assistant {len(handled)}" in human

    # The campaign report counts what the inbox shows.
    report = d.ctl_json("campaign", "report", str(cid))
    responses = report["responses"]
    assert responses["contact"] == N
    assert responses["assistant"] == len(handled)
    assert responses["agent"] == len(attention)
    assert responses["median_agent_response_s"] is not None and responses["median_agent_response_s"] >= 0
    assert report["engagement"]["contacts_responded"] == N
    audit = d.ctl_json("audit", "--limit", "500")
    assert sum(1 for r in audit if r["op"] == "inbox_reply" and r["ok"]) == len(attention)
