"""Campaign rules driven by hand against a real store: steps, quiet hours, schedules, expansion
resumption, A/B split, auto-unsubscribe."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gatewayd.campaigns import expand, lifecycle, schedule, steps
from gatewayd.contacts import suppression
from gatewayd.store.store import Store

from test_campaign_kit import NUMBER, World

LA = ZoneInfo("America/Los_Angeles")
ALICE = "+14155550131"   # San Francisco: America/Los_Angeles
BOB = "+14155550132"


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def at_la(w: World, hour: int, minute: int = 0, day: int = 23) -> None:
    w.now = dt.datetime(2026, 11, day, hour, minute, tzinfo=LA).timestamp()


def test_second_step_goes_only_after_its_delay_and_the_last_step_finishes_the_campaign(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("two", [{"text": "first"}, {"text": "second", "delay_s": 600}])
    c = world.campaign("c", s, "L")
    world.pump(c)
    world.carrier_accepts()
    world.now += 599
    world.pump(c)
    assert [m["step"] for m in world.messages(campaign_id=c)] == [1]
    world.now += 1
    world.pump(c)
    assert [m["step"] for m in world.messages(campaign_id=c)] == [1, 2]
    world.run(expand.finish_if_done, c)
    assert world.status(c) == "sending"          # step 2 still queued
    world.carrier_accepts()
    assert world.run(expand.finish_if_done, c) == "finished"
    assert world.cc(c, ALICE)["state"] == "done"


def test_a_failed_step_ends_that_contact_without_later_steps(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("two", [{"text": "first"}, {"text": "second", "delay_s": 1}])
    c = world.campaign("c", s, "L")
    world.pump(c)
    world.carrier_rejects()
    world.now += 10
    world.pump(c)
    assert [m["step"] for m in world.messages(campaign_id=c)] == [1]
    assert world.cc(c, ALICE)["state"] == "done"
    assert world.run(expand.finish_if_done, c) == "finished"


def test_quiet_hours_hold_the_message_until_the_recipient_window_opens(world):
    world.contacts("L", [["Al", "A", ALICE], ["Bo", "B", "+442079460958"]])
    s = world.script("s", [{"text": "hello"}])
    at_la(world, 22)                               # 22:00 in San Francisco, 06:00 in London
    c = world.campaign("c", s, "L", quiet_start="21:00", quiet_end="08:00")
    world.pump(c)
    assert world.messages(campaign_id=c) == []       # both are inside their quiet hours
    held = world.cc(c, ALICE)["next_at"]
    assert dt.datetime.fromtimestamp(held, LA) == dt.datetime(2026, 11, 24, 8, 0, tzinfo=LA)
    world.now += 2 * 3600 + 1                        # 08:00:01 in London
    world.pump(c)
    assert [m["recipient"] for m in world.messages(campaign_id=c)] == ["+442079460958"]
    world.now = held
    world.pump(c)
    assert len(world.messages(campaign_id=c)) == 2


def test_a_contact_timezone_field_overrides_the_number_zone(world):
    world.contacts("L", [["Al", "A", ALICE, "Europe/Paris"]], header=("first_name", "last_name", "phone", "timezone"))
    s = world.script("s", [{"text": "hello"}])
    at_la(world, 22)                               # 07:00 in Paris: still quiet there
    c = world.campaign("c", s, "L", quiet_start="21:00", quiet_end="08:00")
    world.pump(c)
    opens = dt.datetime.fromtimestamp(world.cc(c, ALICE)["next_at"], ZoneInfo("Europe/Paris"))
    assert (opens.hour, opens.minute) == (8, 0)


def test_quiet_until_handles_windows_inside_one_day_and_across_midnight():
    noon = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc).timestamp()
    assert schedule.quiet_until(noon, "12:00", "13:00", "UTC") == noon + 3600
    assert schedule.quiet_until(noon, "13:00", "14:00", "UTC") is None
    late = noon + 11 * 3600                        # 23:00
    assert schedule.quiet_until(late, "22:00", "07:00", "UTC") == noon + 19 * 3600


def test_scheduled_at_a_time_waits_then_runs(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("s", [{"text": "hello"}])
    c = world.campaign("c", s, "L", launch=False, schedule_at=world.now + 3600)
    world.run(lifecycle.launch, c, "t", world.cfg, lambda a: {"known": True, "enabled": True})
    row = lifecycle.get(world.db(), c)
    assert (row["status"], row["next_run"], row["launched_at"]) == ("scheduled", world.now + 3600, None)
    assert expand.due_runs(world.db(), world.now) == []
    world.now += 3600
    assert expand.due_runs(world.db(), world.now) == [c]
    assert world.run(expand.start_run, c)
    assert lifecycle.get(world.db(), c)["launched_at"] == world.now
    world.pump(c)
    assert len(world.messages(campaign_id=c)) == 1


def test_recurring_campaign_shows_next_send_and_a_missed_run_happens_once(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("s", [{"text": "daily"}])
    at_la(world, 8, 30)
    c = world.campaign("c", s, "L", launch=False, cron="0 9 * * *", tz="America/Los_Angeles")
    assert world.run(lifecycle.launch, c, "t", world.cfg, lambda a: {"known": True, "enabled": True}) == "scheduled"
    nine = dt.datetime(2026, 11, 23, 9, 0, tzinfo=LA).timestamp()
    assert lifecycle.get(world.db(), c)["next_run"] == nine
    # The daemon was down for three days: the run happens once, not three times.
    world.now = nine + 3 * 86400 + 60
    assert expand.due_runs(world.db(), world.now) == [c]
    world.run(expand.start_run, c)
    world.pump(c)
    world.carrier_accepts()
    assert world.run(expand.finish_if_done, c) == "scheduled"
    row = lifecycle.get(world.db(), c)
    assert row["next_run"] == nine + 4 * 86400 and row["run"] == 1
    assert expand.due_runs(world.db(), world.now) == []
    # The next run sends again to the same contact (a new idempotency key per run).
    world.now = row["next_run"]
    world.run(expand.start_run, c)
    world.pump(c)
    assert len(world.messages(campaign_id=c)) == 2


def test_expansion_resumes_after_a_restart_without_duplicates(tmp_path):
    w = World(tmp_path)
    w.contacts("L", [[f"P{i}", "X", f"+1415555{3000 + i:04d}"] for i in range(25)])
    s = w.script("s", [{"text": "hi"}])
    c = w.campaign("c", s, "L")
    assert w.run(expand.expand_batch, c, 10) == 10
    w.run(expand.feed_batch, c, 100)
    w.store.close()                                  # crash: only what was committed survives
    w.store = Store(tmp_path / "w.db", clock=lambda: w.now)
    w.store.open()
    while w.run(expand.expand_batch, c, 10):
        pass
    while w.run(expand.feed_batch, c, 100):
        pass
    rows = w.db().execute("SELECT recipient, count(*) FROM messages WHERE campaign_id = ? GROUP BY recipient",
                          (c,)).fetchall()
    assert len(rows) == 25 and all(n == 1 for _, n in rows)
    assert lifecycle.get(w.db(), c)["expanded"] == 25
    w.close()


def test_ab_variants_split_by_ratio_and_each_contact_gets_one_version(world):
    world.contacts("L", [[f"P{i}", "X", f"+1415555{4000 + i:04d}"] for i in range(1000)])
    a = world.script("a", [{"text": "version A"}])
    b = world.script("b", [{"text": "version B"}])
    c = world.campaign("c", a, "L", variants=[{"script_id": b, "weight": 30}])
    world.pump(c)
    texts = [m["text"] for m in world.messages(campaign_id=c)]
    assert len(texts) == 1000
    assert 230 <= texts.count("version B") <= 370
    assert steps.pick_variant(17, [{"script_id": b, "weight": 30}]) == steps.pick_variant(17, [{"script_id": b,
                                                                                                 "weight": 30}])


def test_seven_failed_campaigns_unsubscribe_a_number_until_an_admin_lifts_it(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("s", [{"text": "hi"}])
    for i in range(7):
        c = world.campaign(f"c{i}", s, "L")
        world.pump(c)
        world.carrier_rejects()
        auto = world.db().execute("SELECT source, reason FROM suppressions WHERE phone = ?", (ALICE,)).fetchone()
        assert (auto is None) == (i < 6)
    assert tuple(auto) == ("auto", "messages failed in 7 different campaigns")
    c8 = world.campaign("c8", s, "L")
    world.pump(c8)
    assert [m["state"] for m in world.messages(campaign_id=c8)] == ["unreachable"]
    assert world.run(suppression.opt_in, ALICE, None, None, "operator", "admin") == 1
    c9 = world.campaign("c9", s, "L")
    world.pump(c9)
    world.carrier_rejects()                          # the history was forgotten: one failure is not seven
    assert world.db().execute("SELECT count(*) FROM suppressions").fetchone()[0] == 0


def test_advance_sends_the_next_interactive_step_as_the_assistant(world):
    world.contacts("L", [["Al", "A", ALICE]])
    s = world.script("q", [{"text": "Coming? (yes/no)", "question": "yes_no"}, {"text": "Great, see you"}],
                     type_="interactive")
    c = world.campaign("c", s, "L", operated_by="assistant")
    world.pump(c)
    world.carrier_accepts()
    world.now += 3600
    world.pump(c)
    assert len(world.messages(campaign_id=c)) == 1   # waits for the answer, not the clock
    # Issue 18.9: not finished while someone may still answer; it says what it waits for.
    assert world.run(expand.finish_if_done, c) is None
    row = world.db().execute("SELECT status, status_reason FROM campaigns WHERE id = ?", (c,)).fetchone()
    assert tuple(row) == ("sending", "waiting for answers (1)")
    assert world.run(steps.advance, c, world.cc(c, ALICE)["contact_id"], "assistant", None)
    last = world.messages(campaign_id=c)[-1]
    assert (last["step"], last["source"], last["priority"], last["text"]) == (2, "assistant", 2, "Great, see you")
    world.carrier_accepts()
    assert world.cc(c, ALICE)["state"] == "done"
    assert world.run(expand.finish_if_done, c) == "finished"


def test_an_unanswered_question_times_out_and_a_late_answer_sends_nothing(world):
    world.contacts("L", [["Al", "A", ALICE], ["Bo", "B", BOB]])
    s = world.script("q", [{"text": "Coming?", "question": "yes_no", "answer_timeout_s": 600},
                           {"text": "Great, see you"}], type_="interactive")
    c = world.campaign("c", s, "L", operated_by="assistant")
    world.pump(c)
    world.carrier_accepts()
    world.now += 599
    assert world.run(expand.finish_if_done, c) is None
    assert world.db().execute("SELECT status_reason FROM campaigns WHERE id = ?", (c,)).fetchone()[0] \
        == "waiting for answers (2)"
    assert world.run(steps.advance, c, world.cc(c, BOB)["contact_id"], "assistant", None)   # Bo answers in time
    world.carrier_accepts()
    world.now += 2
    assert world.run(steps.advance, c, world.cc(c, ALICE)["contact_id"], "assistant", None) is False   # too late
    assert world.cc(c, ALICE)["state"] == "unanswered" and world.cc(c, BOB)["state"] == "done"
    assert world.run(expand.finish_if_done, c) == "finished"
    assert world.db().execute("SELECT status_reason FROM campaigns WHERE id = ?", (c,)).fetchone()[0] \
        == "all recipients attempted (1 did not answer in time)"
    assert [m["text"] for m in world.messages(campaign_id=c) if m["recipient"] == ALICE] == ["Coming?"]


def test_a_failing_campaign_hook_never_undoes_the_carrier_answer(world, monkeypatch, caplog):
    world.contacts("L", [["Al", "A", ALICE]])
    c = world.campaign("c", world.script("s", [{"text": "hi"}]), "L")
    world.pump(c)

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(steps, "_schedule_next", broken)
    world.carrier_accepts()
    assert [m["state"] for m in world.messages(campaign_id=c)] == ["sent"]
    assert "campaign hook failed" in caplog.text


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe", "../etc"])
def test_a_time_zone_that_is_not_one_is_a_bad_request_not_a_crash(name):
    from gatewayd.errors import BadRequest
    with pytest.raises(BadRequest, match="unknown time zone"):
        schedule.zone(name)
