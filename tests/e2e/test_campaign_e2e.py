"""End to end: 10,000 contacts, a two-step stop-on-reply campaign through the real daemon on the
sim carrier with simulated replies and STOPs, the report checked against what was really sent;
and a SIGKILL during a campaign, with no contact messaged twice after the restart."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import time

import pytest

from gatewayd.ctl import Client

pytestmark = pytest.mark.e2e

FROM = "+14155550100"
ATTEMPTED = ("sending", "sent", "delivered", "undelivered", "failed")


def config(reply_share: float = 0.2, window: int = 1000, rate: int = 5000) -> str:
    return f"""
    [[links]]
    name = "sim"
    kind = "sim"
    window = {window}
    dlr_delay_s = 0.2
    delivered = 0.9
    undelivered = 0.05
    rejected = 0.05
    reject_prefixes = ["+141555599"]
    reply_share = {reply_share}
    reply_delay_s = 0.3
    replies = ["Yes", "STOP", "Thanks!", " stop ", "Who is this?"]
    seed = 5

    [[numbers]]
    address = "{FROM}"
    links = ["sim"]
    rate = {rate}
    burst = {rate}
    """


SCRIPT = """
name = "two-step"
type = "nudge"
[[steps]]
text = "Hi {first_name}, your {plan} plan renews soon."
[[steps]]
text = "Reminder {first_name}: reply to keep your {plan} plan."
delay_s = 2
"""


def write_contacts(path, n: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["First Name", "Last Name", "Phone", "Plan"])
        for i in range(n):
            phone = f"+1628{5550000 + i:07d}" if i % 500 else f"+141555599{i // 500:02d}"   # 1 in 500 rejected
            w.writerow([f"C{i}", "Doe", phone, "gold"])
        w.writerow(["Bad", "Row", "12", "gold"])          # row n + 2: invalid


def wait_for(d, predicate, timeout: float = 60.0, types: list[str] | None = None):
    """Re-check after events the daemon publishes (no blind sleeps), at most every 0.2 s so a
    busy event stream does not turn the check itself into load on the daemon."""
    deadline = time.monotonic() + timeout
    value = predicate()
    if value:
        return value
    c = Client(d.socket, timeout=0.5)
    try:
        c.call("subscribe", since=None, types=types)
        checked = time.monotonic()
        while time.monotonic() < deadline:
            try:
                c._line()
            except (TimeoutError, OSError):
                pass
            if time.monotonic() - checked < 0.2:
                continue
            checked = time.monotonic()
            value = predicate()
            if value:
                return value
    finally:
        c.close()
    raise AssertionError("condition not reached in time")


def settled_report(d, cid: int, db: sqlite3.Connection):
    """The report and the database read at the same event cursor (nothing happened in between)."""
    while True:
        before = d.call("status")["last_cursor"]
        rep = d.ctl_json("campaign", "report", str(cid))
        facts = truth(db, cid)
        if d.call("status")["last_cursor"] == before:
            return rep, facts


def truth(db: sqlite3.Connection, cid: int) -> dict:
    q = lambda sql, *a: db.execute(sql, a).fetchone()[0]   # noqa: E731
    att = ",".join(f"'{s}'" for s in ATTEMPTED)
    return {
        "contacts_sent": q(f"SELECT count(DISTINCT contact_id) FROM messages WHERE campaign_id = ? AND source = 'campaign'"
                           f" AND state IN ({att})", cid),
        "succeeded": q("SELECT count(*) FROM messages WHERE campaign_id = ? AND source = 'campaign'"
                       " AND state IN ('sent', 'delivered')", cid),
        "failed": q("SELECT count(*) FROM messages WHERE campaign_id = ? AND source = 'campaign'"
                    " AND state IN ('failed', 'undelivered', 'expired')", cid),
        "responded": q("SELECT count(DISTINCT sender) FROM inbound WHERE campaign_id = ?", cid),
        "contact": q("SELECT count(*) FROM inbound WHERE campaign_id = ?", cid),
        "opt_outs": q("SELECT count(DISTINCT sender) FROM inbound WHERE campaign_id = ? AND keyword = 'STOP'", cid),
        "delivered": q("SELECT coalesce(sum(segments), 0) FROM messages WHERE campaign_id = ? AND state = 'delivered'",
                       cid),
    }


def test_ten_thousand_contacts_two_step_stop_on_reply(daemon_factory, tmp_path):
    d = daemon_factory(config()).start()
    write_contacts(tmp_path / "contacts.csv", 10_000)
    imp = d.ctl_json("contacts", "import", "--list", "customers", str(tmp_path / "contacts.csv"))
    assert (imp["imported"], imp["merged"]) == (10_000, 0)
    assert [b["row"] for b in imp["invalid"]] == [10_002]
    (tmp_path / "script.toml").write_text(SCRIPT)
    d.ctl("scripts", "create", str(tmp_path / "script.toml"))
    out = d.ctl("campaign", "create", "--name", "Renewals", "--script", "two-step", "--list", "customers",
                "--from", FROM, "--stop-on-reply", "--tag", "renewal", "--launch")
    cid = int(out.stdout.strip())
    db = sqlite3.connect(f"file:{d.state}/gatewayd.db?mode=ro", uri=True)
    wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status"] == "finished", timeout=90, types=["campaign."])
    wait_for(d, lambda: not db.execute("SELECT 1 FROM messages WHERE campaign_id = ? AND state = 'sent'",
                                       (cid,)).fetchone())
    rep, facts = settled_report(d, cid, db)

    s, e, r = rep["send_status"], rep["engagement"], rep["responses"]
    assert e["contacts_sent"] == facts["contacts_sent"] == 10_000
    assert (s["succeeded"], s["failed"]) == (facts["succeeded"], facts["failed"])
    assert s["total"] == facts["succeeded"] + facts["failed"] and s["pending"] == 0
    assert facts["failed"] >= 20                           # the rejected prefix: failed at submit, never step 2
    assert (e["contacts_responded"], r["contact"], e["opt_outs"]) == (facts["responded"], facts["contact"],
                                                                      facts["opt_outs"])
    assert 1500 < e["contacts_responded"] < 2500           # reply_share 0.2
    assert e["opt_outs"] > 200 and e["rate"] == round(facts["responded"] / 10_000, 4)
    assert rep["performance"]["segments"]["delivered_confirmed"] == facts["delivered"]

    # Stop on reply: nobody got step 2 after replying; failed step 1 means no step 2.
    late = db.execute("""SELECT count(*) FROM messages m JOIN inbound i ON i.sender = m.recipient AND i.campaign_id = ?
                         WHERE m.campaign_id = ? AND m.step = 2 AND m.created_at > i.received_at""",
                      (cid, cid)).fetchone()[0]
    assert late == 0
    assert db.execute("SELECT count(*) FROM messages WHERE campaign_id = ? AND step = 2 AND recipient LIKE"
                      " '+141555599%'", (cid,)).fetchone()[0] == 0
    step2 = db.execute("SELECT count(*) FROM messages WHERE campaign_id = ? AND step = 2", (cid,)).fetchone()[0]
    assert 7000 < step2 < 9000
    # Each STOP got one confirmation and is a campaign-scoped suppression (seed 000's default).
    stops = db.execute("SELECT count(*) FROM suppressions WHERE campaign_id = ? AND scope = 'campaign'",
                       (cid,)).fetchone()[0]
    confirmations = db.execute("SELECT count(*) FROM messages WHERE source = 'keyword'").fetchone()[0]
    assert stops == confirmations == e["opt_outs"]
    # CSV export carries the same numbers.
    rows = list(csv.reader(io.StringIO(d.ctl("campaign", "report", str(cid), "--csv").stdout)))
    values = {(x[0], x[1]): x[2] for x in rows if len(x) == 3}
    assert int(values[("engagement", "contacts_sent")]) == 10_000
    listed = d.ctl_json("campaign", "list", "--tag", "renewal")
    assert [c["id"] for c in listed] == [cid]


def test_sigkill_mid_campaign_then_restart_sends_each_contact_once(daemon_factory, tmp_path):
    d = daemon_factory(config(reply_share=0.0, window=20, rate=400)).start()
    write_contacts(tmp_path / "contacts.csv", 3000)
    d.ctl("contacts", "import", "--list", "L", str(tmp_path / "contacts.csv"))
    (tmp_path / "one.toml").write_text('name = "one"\n[[steps]]\ntext = "Hello {first_name}"\n')
    d.ctl("scripts", "create", str(tmp_path / "one.toml"))
    cid = int(d.ctl("campaign", "create", "--name", "K", "--script", "one", "--list", "L", "--from", FROM,
                    "--launch").stdout)
    wait_for(d, lambda: d.call("status")["queue"].get("delivered", 0) >= 300)
    assert d.kill(signal.SIGKILL) == -signal.SIGKILL
    d.start()
    wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status"] == "finished", timeout=60, types=["campaign."])
    db = sqlite3.connect(f"file:{d.state}/gatewayd.db?mode=ro", uri=True)
    per_contact = db.execute("SELECT count(*) FROM messages WHERE campaign_id = ? GROUP BY contact_id",
                             (cid,)).fetchall()
    assert len(per_contact) == 3000 and {n for (n,) in per_contact} == {1}
    assert json.loads(json.dumps(d.call("campaign_show", campaign_id=cid)))["expanded"] == 3000
    # Refusals exit 1 with the daemon's reason, for humans and for --json scripts.
    res = d.ctl("campaign", "resume", str(cid), check=False)
    assert res.returncode == 1 and "finished: cannot resume" in res.stderr
    (tmp_path / "needs.toml").write_text('name = "needs"\n[[steps]]\ntext = "Hi {nickname}"\n')
    d.ctl("scripts", "create", str(tmp_path / "needs.toml"))
    res = d.ctl("--json", "campaign", "create", "--name", "N", "--script", "needs", "--list", "L", "--from", FROM,
                "--launch", check=False)
    err = json.loads(res.stdout)["error"]
    assert res.returncode == 1 and err["code"] == "not_ready" and "{nickname} is empty for 3000 contact(s)" in err["message"]
