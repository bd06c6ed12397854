"""Issue 18 as a new user meets it: campaigns driven by ``gatewayctl`` against a real daemon on
the sim link. Each test names the item it would have caught."""

from __future__ import annotations

import sqlite3

import pytest

from test_campaign_e2e import wait_for

pytestmark = pytest.mark.e2e
FROM = "+14155550100"


def config(rate: int = 1000, reply_share: float = 0.0) -> str:
    return f"""
    default_region = "US"
    [[links]]
    name = "sim"
    kind = "sim"
    window = 50
    dlr_delay_s = 0.1
    delivered = 1.0
    undelivered = 0.0
    rejected = 0.0
    reply_share = {reply_share}
    reply_delay_s = 0.2
    replies = ["Yes"]
    seed = 3

    [[numbers]]
    address = "{FROM}"
    links = ["sim"]
    rate = {rate}
    burst = {rate}
    """


def contacts(path, n: int, extra: str = "") -> None:
    lines = ["First Name,Last Name,Phone,City" + (",Timezone" if extra else "")]
    lines += [f"C{i},Doe,(628) 555-{i:04d},SF" + (f",{extra}" if extra else "") for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def ready(d, tmp_path, n: int = 20, extra: str = "") -> None:
    contacts(tmp_path / "c.csv", n, extra)
    d.ctl("contacts", "import", "--list", "L", str(tmp_path / "c.csv"))
    (tmp_path / "s.toml").write_text('name = "s"\ntype = "nudge"\n[[steps]]\ntext = "Hi {first_name} from {city}"\n')
    d.ctl("scripts", "create", str(tmp_path / "s.toml"))
    (tmp_path / "b.toml").write_text('name = "b"\n[[steps]]\ntext = "Hey {first_name}"\n')
    d.ctl("scripts", "create", str(tmp_path / "b.toml"))


def test_pause_resume_stop_report_counts_each_recipient_once(daemon_factory, tmp_path):
    """18.1: 300 contacts, pause while sending, resume, stop: the report adds up to what was made,
    one message per recipient, and a pause leaves its messages queued (not ignored)."""
    d = daemon_factory(config(rate=10)).start()
    ready(d, tmp_path, n=300)
    cid = int(d.ctl("campaign", "create", "--name", "P", "--script", "s", "--list", "L", "--from", FROM,
                    "--launch").stdout)
    db = sqlite3.connect(f"file:{d.state}/gatewayd.db?mode=ro", uri=True)
    attempted = "SELECT count(*) FROM messages WHERE campaign_id = ? AND state NOT IN ('queued')"
    wait_for(d, lambda: db.execute(attempted, (cid,)).fetchone()[0] >= 20)
    d.ctl("campaign", "pause", str(cid))
    paused = d.ctl_json("campaign", "report", str(cid))["send_status"]
    assert paused["ignored"] == 0 and paused["by_state"]["queued"] > 0
    d.ctl("campaign", "resume", str(cid))
    done = db.execute(attempted, (cid,)).fetchone()[0]
    wait_for(d, lambda: db.execute(attempted, (cid,)).fetchone()[0] >= done + 20)
    d.ctl("campaign", "stop", str(cid))
    wait_for(d, lambda: not db.execute("SELECT 1 FROM messages WHERE campaign_id = ? AND state = 'sending'",
                                       (cid,)).fetchone())
    rep = d.ctl_json("campaign", "report", str(cid))
    made = db.execute("SELECT count(*), count(DISTINCT contact_id) FROM messages WHERE campaign_id = ?",
                      (cid,)).fetchone()
    assert made[0] == made[1] <= 300                                 # one message per recipient, never two
    assert sum(rep["send_status"]["by_state"].values()) == made[0]
    assert sum(rep["performance"]["messages"].values()) == made[0]
    assert rep["send_status"]["succeeded"] >= 40


def test_an_opt_out_of_everything_stops_direct_sends_unless_transactional(daemon_factory):
    """18.2"""
    d = daemon_factory(config()).start()
    d.ctl("contacts", "opt-out", "(628) 555-0001", "--scope", "all")
    res = d.ctl("send", "--from", FROM, "--to", "+16285550001", "--text", "Sale today")
    assert "unreachable" in res.stdout and "opted out of every message" in res.stderr
    code = d.ctl_json("send", "--from", FROM, "--to", "+16285550001", "--text", "Code 4711", "--transactional")
    wait_for(d, lambda: d.ctl_json("message", str(code["id"]))["message"]["state"] == "delivered")
    audit = d.ctl_json("audit", "--limit", "20")
    assert any(a["op"] == "send" and "transactional=True" in a["target"] for a in audit)


BAD = [
    (["--variant", "va:abc"], "weight 'abc' is not a number"),
    (["--variant", "b:-5"], "more than 0"),
    (["--variant", "b:70", "--variant", "b:40"], "add up to 110%"),
    (["--default", "city"], "expected FIELD=VALUE"),
    (["--quiet", "21:00"], "expected START-END"),
    (["--at", "2020-01-01T09:00"], "in the past"),
    (["--tz", "Mars/Base"], "not a time zone"),
    (["--ttl", "-5"], "must be more than 0"),
    (["--stop-on-reply=maybe"], "takes yes or no"),
]


def test_bad_campaign_arguments_are_usage_errors_and_create_nothing(daemon_factory, tmp_path):
    """18.3, 18.10 (--at in the past)"""
    d = daemon_factory(config()).start()
    ready(d, tmp_path, n=2)
    for args, says in BAD:
        res = d.ctl("campaign", "create", "--name", "x", "--script", "s", "--list", "L", "--from", FROM, *args,
                    "--launch", check=False)
        assert res.returncode == 2 and says in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr and res.stdout == ""
    assert d.ctl_json("campaign", "list") == []
    # The daemon checks too, for clients other than gatewayctl: a typed refusal, never a crash.
    for fields, says in (({"variants": [{"script": "b", "weight": "abc"}]}, "not a number"),
                         ({"variants": [{"script": "b", "weight": -5}]}, "more than 0"),
                         ({"at": "2020-01-01T09:00"}, "in the past")):
        with pytest.raises(Exception, match=says):
            d.call("campaign_create", fields={"name": "x", **fields})
    assert d.ctl_json("campaign", "list") == []


def test_import_lookup_and_filters_say_what_is_wrong(daemon_factory, tmp_path):
    """18.4, 18.5, 18.10"""
    d = daemon_factory(config()).start()
    contacts(tmp_path / "c.csv", 3)
    res = d.ctl("contacts", "import", "--list", "zz", "--region", "ZZ", str(tmp_path / "c.csv"), check=False)
    assert res.returncode == 2 and "unknown region 'ZZ'" in res.stderr
    assert d.ctl_json("contacts", "lists") == []                     # nothing created
    ready(d, tmp_path, n=3)
    out = d.ctl("scripts", "preview", "s", "--contact", "(628) 555-0002").stdout
    assert "to +16285550002" in out and "Hi C2 from SF" in out
    assert [c["phone"] for c in d.ctl_json("contacts", "list", "--search", "(628) 555-0001")] == ["+16285550001"]
    res = d.ctl("contacts", "list", "--list", "nosuch", check=False)
    assert res.returncode == 1 and "no contact list 'nosuch'" in res.stderr
    cid = int(d.ctl("campaign", "create", "--name", "x", "--script", "s", "--list", "L", "--from", FROM).stdout)
    res = d.ctl("campaign", "contacts", str(cid), "--state", "garbage", check=False)
    assert res.returncode == 2 and "invalid choice" in res.stderr


def test_clone_turns_stop_on_reply_off_and_show_has_every_setting(daemon_factory, tmp_path):
    """18.7, 18.8: settings visible; recipients held by quiet hours say until when."""
    d = daemon_factory(config()).start()
    ready(d, tmp_path, n=3, extra="Pacific/Kiritimati")
    cid = int(d.ctl("campaign", "create", "--name", "x", "--script", "s", "--list", "L", "--from", FROM,
                    "--stop-on-reply", "--variant", "b:30", "--quiet", "00:00-23:59", "--ttl", "7200").stdout)
    clone = d.ctl_json("campaign", "clone", str(cid))
    assert clone["stop_on_reply"] is True
    assert "stop on reply no" in d.ctl("campaign", "edit", str(clone["id"]), "--no-stop-on-reply").stdout
    assert d.ctl_json("campaign", "edit", str(clone["id"]), "--stop-on-reply=yes")["stop_on_reply"] is True
    d.ctl("campaign", "launch", str(cid))
    wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status"] == "sending")
    show = d.ctl("campaign", "show", str(cid)).stdout
    assert "A/B variants: s 70%, b 30%" in show and "quiet hours: 00:00-23:59" in show and "TTL 2h" in show
    assert "next send -" not in show
    rows = d.ctl("campaign", "contacts", str(cid)).stdout
    assert "step 1: quiet hours (00:00-23:59 Pacific/Kiritimati): held until" in rows


def test_help_and_report_text(daemon_factory, tmp_path):
    """18.11: help wording, scripts show/list help, the invalid-answer count in the human report."""
    d = daemon_factory(config()).start()
    top = d.ctl("--help").stdout
    assert "message one message" not in top and "cancel a queued message" in top
    scripts = d.ctl("scripts", "--help").stdout
    assert "one script's steps" in scripts and "every script" in scripts
    fmt = d.ctl("scripts", "create", "--help").stdout
    assert "[[steps]]" in fmt and "answer_timeout_s" in fmt and "[defaults]" in fmt
    assert "timezone" in d.ctl("contacts", "import", "--help").stdout
    ready(d, tmp_path, n=2)
    cid = int(d.ctl("campaign", "create", "--name", "x", "--script", "s", "--list", "L", "--from", FROM,
                    "--launch").stdout)
    wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status"] == "finished")
    assert "invalid answers 0" in d.ctl("campaign", "report", str(cid)).stdout


def test_an_interactive_campaign_waits_for_answers_until_their_time_runs_out(daemon_factory, tmp_path):
    """18.9: not "finished" while recipients may still answer; then those who did not are
    unanswered and the campaign finishes saying so."""
    d = daemon_factory(config(reply_share=0.5)).start()
    contacts(tmp_path / "c.csv", 20)
    d.ctl("contacts", "import", "--list", "L", str(tmp_path / "c.csv"))
    (tmp_path / "q.toml").write_text('name = "q"\ntype = "interactive"\n'
                                     '[[steps]]\ntext = "Coming, {first_name}?"\nquestion = "yes_no"\n'
                                     'answer_timeout_s = 6\n[[steps]]\ntext = "See you!"\n')
    d.ctl("scripts", "create", str(tmp_path / "q.toml"))
    assert "(answer within 6s)" in d.ctl("scripts", "show", "q").stdout
    cid = int(d.ctl("campaign", "create", "--name", "Q", "--script", "q", "--list", "L", "--from", FROM,
                    "--operated-by", "assistant", "--launch").stdout)
    seen = wait_for(d, lambda: d.call("campaign_show", campaign_id=cid)["status_reason"].startswith("waiting for"))
    assert seen
    show = d.ctl("campaign", "show", str(cid)).stdout
    assert "sending (waiting for answers (" in show
    waiting = d.ctl_json("campaign", "contacts", str(cid), "--state", "active")
    assert waiting and all(r["waiting"].startswith("an answer to step 1, until") for r in waiting if r["pending"] == 2)
    final = wait_for(d, lambda: (lambda c: c if c["status"] == "finished" else None)(
        d.call("campaign_show", campaign_id=cid)), timeout=60)
    unanswered = d.ctl_json("campaign", "contacts", str(cid), "--state", "unanswered")
    done = d.ctl_json("campaign", "contacts", str(cid), "--state", "done")
    assert 0 < len(unanswered) < 20 and len(unanswered) + len(done) == 20
    assert final["status_reason"] == f"all recipients attempted ({len(unanswered)} did not answer in time)"
    assert all(r["step"] == 1 for r in unanswered) and all(r["step"] == 2 for r in done)
