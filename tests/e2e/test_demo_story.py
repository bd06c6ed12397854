"""`make demo`'s story (issue 17 item 7), seeded through the socket of a real daemon running
conf/demo.toml, and what every TUI screen reads checked through the same requests the TUI sends;
then seeded again on the same state: nothing is duplicated. Also `gatewayctl sim inbound`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gatewayd import config
from gatewayd.demo_story import Story, reply_wait

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
STORY = ROOT / "conf" / "demo" / "story.toml"
FRONT, APPOINTMENTS = "+14155550100", "+14155550177"


def by_name(d) -> dict[str, dict]:
    return {c["name"]: c for c in d.call("campaign_list")}


def inbox(d, **kw) -> list[dict]:
    return d.call("inbox_list", status="all", limit=200, **kw)["items"]


def counts(d) -> dict:
    return {"campaigns": len(d.call("campaign_list")), "lists": {x["name"]: x["contacts"] for x in d.call("lists")},
            "scripts": len(d.call("script_list")), "conversations": len(inbox(d)),
            "injected": sum(1 for c in inbox(d) if c["phone"].endswith(("7301", "7302", "7303")))}


def wait_for(predicate, timeout: float = 30.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every)
    return value


def test_demo_story_fills_every_screen_and_seeds_once(daemon_factory):
    cfg = config.load(str(ROOT / "conf" / "demo.toml"))
    d = daemon_factory((ROOT / "conf" / "demo.toml").read_text()).start()
    logged: list[str] = []
    story = Story(STORY, d.socket, region=cfg.default_region, reply_wait_s=reply_wait(cfg), pace=3.0,
                  log=logged.append)
    report = story.prepare()

    # Contacts: a few hundred, the bad rows reported by row number and reason, a duplicate merged.
    patients = report["lists"][0]
    assert (patients["list"], patients["imported"], patients["merged"]) == ("Bayview patients", 297, 1)
    assert [b["row"] for b in patients["invalid"]] == [18, 59, 122, 190, 233]
    assert "  row 59: empty phone number" in logged

    story.play(timeout=60)
    camps = by_name(d)

    # Campaigns: one sending (interactive, the assistant), one recurring and one one-off on the
    # calendar, a draft with its reasons, an archived one with analytics.
    live = camps["December check-up booking"]
    assert live["status"] == "sending" and live["operated_by"] == "assistant"
    reminders = camps["Tomorrow's appointment reminders"]
    assert reminders["status"] == "scheduled" and reminders["cron"] == "0 17 * * 1-5" and reminders["next_run"]
    holiday = camps["Holiday opening hours"]
    assert holiday["status"] == "scheduled" and 86400 < holiday["next_run"] - time.time() < 4 * 86400
    draft = camps["Whitening offer"]
    assert draft["status"] == "draft" and "no number chosen" in draft["not_ready"]
    assert any("{promo_code} is empty for 297 contact(s)" in r for r in draft["not_ready"])
    flu = camps["Flu clinic reminder"]
    assert flu["status"] == "archived"
    rep = d.call("campaign_report", campaign_id=flu["id"])
    assert rep["engagement"]["contacts_sent"] == 43 and rep["engagement"]["contacts_responded"] > 0
    assert rep["performance"]["segments"]["delivered_confirmed"] > 0

    # Replies keep coming to the live campaign: yes/no read by the assistant, a STOP, and an
    # open question for a person (Inbox, needs attention).
    wait_for(lambda: d.call("campaign_report", campaign_id=live["id"])["responses"]["assistant"] > 0, timeout=40)
    stop_phone = story._phone_of_row(4)
    assert [s["scope"] for s in d.call("suppressions", phone=stop_phone)] == ["campaign"]
    attention = {c["phone"]: c for c in inbox(d, section="needs_attention")}
    asked = attention[story._phone_of_row(6)]
    assert asked["campaign_id"] == live["id"] and asked["last_text"].startswith("Is Dr. Patel still there?")

    # Unsolicited messages in the front desk's inbox, answered by its introduction.
    walk_ins = [c for c in inbox(d, number=FRONT) if c["campaign_id"] is None]
    assert {c["phone"] for c in walk_ins} >= {"+14155557301", "+16285557302", "+15105557303"}
    thread = d.call("inbox_show", conversation_id=walk_ins[0]["id"])["messages"]
    assert [m["direction"] for m in thread][:2] == ["in", "out"] and "Bayview Dental" in thread[1]["text"]

    # Dashboard, Links & numbers, Messages: the link is up and traffic went through all numbers.
    st = d.call("status")
    assert [(lk["name"], lk["state"]) for lk in st["links"]] == [("sim", "up")]
    assert {n["address"] for n in st["numbers"]} == {FRONT, APPOINTMENTS, "BAYVIEW"}
    assert st["queue"].get("delivered", 0) > 40 and st["inbound_total"] > 10
    senders = {m["sender"] for m in d.call("list_messages", limit=500)["items"]}
    assert {FRONT, APPOINTMENTS} <= senders

    # Seeding again on the same state adds nothing (and says so).
    before = counts(d)
    again = Story(STORY, d.socket, region=cfg.default_region, reply_wait_s=0, log=logged.append)
    second = again.prepare()
    again.play(timeout=20)
    assert second["campaigns"] == [] and second["scripts"] == [] and second["messages"] == []
    assert all("existing" in x for x in second["lists"])
    after = counts(d)
    assert after["campaigns"] == before["campaigns"] == 5 and after["lists"] == before["lists"]
    assert after["scripts"] == before["scripts"] and after["injected"] == before["injected"] == 3

    # The same by hand: gatewayctl sim inbound (sim links only, clear refusals).
    out = d.ctl("sim", "inbound", "--from", "(510) 555-7399", "--to", FRONT, "--text", "Do you do braces?").stdout
    assert out.startswith("inbound ") and "+15105557399 -> +14155550100 on sim: conversation" in out
    bad = d.ctl("sim", "inbound", "--from", "+15105557399", "--to", "+19995550000", "--text", "x", check=False)
    assert bad.returncode == 1 and "unknown_number" in bad.stderr
    assert "not_sim" in d.ctl("sim", "inbound", "--help").stdout and " sim " in d.ctl("--help").stdout


def test_demo_reset_deletes_only_a_state_directory_the_demo_made(tmp_path):
    from gatewayd import demo

    text = (ROOT / "conf" / "demo.toml").read_text().replace('"run/demo/state"', f'"{tmp_path}/state"').replace(
        '"run/demo/gatewayd.sock"', f'"{tmp_path}/gw.sock"')
    cfg = config.parse(text)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "gatewayd.db").write_text("precious")
    with pytest.raises(SystemExit, match="was not made by the demo"):
        demo._reset(cfg, str(tmp_path / "gw.sock"))
    assert (tmp_path / "state" / "gatewayd.db").exists()
    (tmp_path / "state" / demo.MARKER).write_text("")
    demo._reset(cfg, str(tmp_path / "gw.sock"))
    assert not (tmp_path / "state").exists()
    smpp = text + '[[links]]\nname = "c"\nkind = "smpp"\nhost = "h"\nsystem_id = "x"\npassword = "y"\n'
    with pytest.raises(SystemExit):
        demo._reset(config.parse(smpp), str(tmp_path / "gw.sock"))
