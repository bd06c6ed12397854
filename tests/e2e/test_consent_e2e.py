"""End to end (real gatewayd process, gatewayctl): every contact of a two-step campaign answers
STOP a second after its first step while its second step waits in the queue behind the rest of
the campaign; nothing of the campaign goes to anyone after their STOP, each gets one
confirmation, and the consent history shows the import and the STOP."""

from __future__ import annotations

import sqlite3

import pytest

from test_campaign_e2e import wait_for

pytestmark = pytest.mark.e2e
FROM = "+14155550100"
CONFIG = f"""
[[links]]
name = "sim"
kind = "sim"
dlr_delay_s = 0.1
delivered = 1.0
undelivered = 0.0
rejected = 0.0
reply_share = 1.0
reply_delay_s = 1.0
replies = ["STOP"]
seed = 3

[[numbers]]
address = "{FROM}"
links = ["sim"]
rate = 4
burst = 1
"""
SCRIPT = """
name = "two"
type = "nudge"
[[steps]]
text = "Hi {first_name}"
[[steps]]
text = "Second step for {first_name}"
delay_s = 0
"""


def test_no_campaign_message_after_a_stop_and_one_confirmation_each(daemon_factory, tmp_path):
    d = daemon_factory(CONFIG).start()
    phones = [f"+1628555{1000 + i}" for i in range(16)]
    (tmp_path / "people.csv").write_text("first_name,phone,consent_source,consent_at\n" + "".join(
        f"P{i},{p},web form,2026-01-0{1 + i % 9}\n" for i, p in enumerate(phones)))
    imp = d.ctl_json("contacts", "import", "--list", "L", str(tmp_path / "people.csv"))
    assert (imp["imported"], imp["consent"], imp["invalid"]) == (16, 16, [])
    (tmp_path / "s.toml").write_text(SCRIPT)
    d.ctl("scripts", "create", str(tmp_path / "s.toml"))
    cid = int(d.ctl("campaign", "create", "--name", "c", "--script", "two", "--list", "L", "--from", FROM,
                    "--require-consent", "--launch").stdout.strip())
    db = sqlite3.connect(f"file:{d.state}/gatewayd.db?mode=ro", uri=True)
    q = lambda sql, *a: db.execute(sql, a).fetchall()   # noqa: E731
    wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status"] == "finished", timeout=120,
             types=["campaign."])
    wait_for(d, lambda: q("SELECT count(*) FROM messages WHERE source = 'keyword' AND state = 'delivered'")[0][0] == 16,
             timeout=60)
    for phone in phones:
        # When the STOP was committed (the link may have stamped it a moment earlier; what was
        # claimed before the commit was already on its way and cannot be recalled).
        (stop_at,) = q("SELECT e.at FROM inbound i JOIN events e ON e.type = 'inbound'"
                       " AND json_extract(e.data, '$.id') = i.id WHERE i.sender = ? AND i.keyword = 'STOP'", phone)[0]
        late = q("SELECT m.id FROM messages m JOIN message_history h ON h.message_id = m.id AND h.state = 'sending'"
                 " WHERE m.recipient = ? AND m.source = 'campaign' AND h.at > ?", phone, stop_at)
        assert late == [], f"{phone} got a campaign message after its STOP"
        assert q("SELECT count(*) FROM messages WHERE recipient = ? AND source = 'keyword'", phone)[0][0] == 1
    withdrawn = q("SELECT count(*) FROM messages WHERE campaign_id = ? AND step = 2 AND state = 'unreachable'"
                  " AND error_text = 'recipient opted out (campaign)'", cid)[0][0]
    assert withdrawn >= 1    # a second step was waiting in the queue when the STOP came
    hist = d.ctl_json("contacts", "consent", phones[0])
    assert [(r["kind"], r["method"]) for r in hist["records"]] == [("opt_in", "import"), ("opt_out", "keyword")]
    out = d.ctl("contacts", "consent", phones[0]).stdout
    assert "web form" in out and "people.csv row 2" in out and "keyword STOP" in out
