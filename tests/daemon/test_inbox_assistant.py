"""The virtual assistant: reading answers (yes/no variants, choices by number or text, open text),
moving the script on, and handing what it cannot read to a person (Needs attention)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.inbox import assistant
from test_inbox_support import (MAIN, YES_NO_THEN_CHOICE, Refused, call, campaign, contact, gateway, receive,
                                sent_step, sql)

JOHN = "+14155550123"


@pytest.mark.parametrize("text", ["Yes", "y", " YEP! ", "yes please", "Sure", "ok", "Yes, thanks", "yes yes",
                                  "Yes I will be there", "👍", "Of course."])
def test_yes_variants(text):
    assert assistant.interpret({"question": "yes_no"}, text) == assistant.Verdict(True, "yes")


@pytest.mark.parametrize("text", ["No", "n", "nope", "No thanks", "nah.", "no thank you!", "not now", "No, sorry"])
def test_no_variants(text):
    assert assistant.interpret({"question": "yes_no"}, text) == assistant.Verdict(True, "no")


@pytest.mark.parametrize("text", ["maybe", "Yes and no", "what time is it?", "", "yes but I don't know"])
def test_unclear_yes_no_is_invalid_with_a_reason(text):
    v = assistant.interpret({"question": "yes_no"}, text)
    assert not v.valid and v.reason == "expected yes or no"


CHOICES = ["Morning", "Afternoon", "Evening session"]


@pytest.mark.parametrize("text,value", [("2", "Afternoon"), ("#3", "Evening session"), ("option 1", "Morning"),
                                        ("b", "Afternoon"), ("afternoon", "Afternoon"),
                                        ("The evening session please", "Evening session"), ("2)", "Afternoon")])
def test_choice_by_number_letter_or_text(text, value):
    assert assistant.interpret({"question": "choice", "choices": CHOICES}, text) == assistant.Verdict(True, value)


@pytest.mark.parametrize("text", ["4", "0", "morning or afternoon", "whenever", "d"])
def test_unclear_choice_is_invalid_and_lists_the_options(text):
    v = assistant.interpret({"question": "choice", "choices": CHOICES}, text)
    assert not v.valid and "1) Morning" in v.reason


def test_open_text_is_the_answer_and_no_question_is_for_a_person():
    assert assistant.interpret({"question": "open"}, "  Gluten free  ") == assistant.Verdict(True, "Gluten free")
    assert not assistant.interpret({"question": None}, "hello").valid
    assert not assistant.interpret(None, "hello").valid


@given(st.text(max_size=40))
def test_interpret_never_raises_and_valid_answers_have_values(text):
    for step in ({"question": "yes_no"}, {"question": "choice", "choices": CHOICES}, {"question": "open"}):
        v = assistant.interpret(step, text)
        assert v.valid == (v.value is not None) and (v.valid or v.reason)


# ---- in the daemon ---------------------------------------------------------------------------------


async def _setup(gw, step=1, operated_by="assistant"):
    cid = await campaign(gw, operated_by=operated_by, steps=YES_NO_THEN_CHOICE)
    k = await contact(gw, JOHN)
    await sent_step(gw, cid, k, JOHN, step=step)
    return cid, k


@pytest.mark.trio
async def test_valid_answer_is_stored_and_the_script_moves_on(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, k = await _setup(gw, step=2)
        row = await receive(gw, JOHN, "2")
        d = await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"])
        assert d["conversation"]["section"] == "assistant" and d["conversation"]["operated_by"] == "assistant"
        [a] = d["answers"]
        assert (a["step"], a["question"], a["value"], a["valid"]) == (2, "choice", "Afternoon", True)
        # campaigns.steps.advance sends step 3 at once, as the assistant's interactive reply
        nxt = await sql(gw, "SELECT text, source, priority, conversation_id FROM messages WHERE step = 3")
        assert nxt == [{"text": "Anything we should know?", "source": "assistant", "priority": 2,
                        "conversation_id": row["conversation_id"]}]


@pytest.mark.trio
async def test_invalid_answer_needs_attention_and_counts_as_invalid(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, _ = await _setup(gw, step=1)
        row = await receive(gw, JOHN, "What time does it start?")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "needs_attention" and c["attention_reason"] == "assistant: expected yes or no"
        assert await sql(gw, "SELECT campaign_id, valid FROM answers") == [{"campaign_id": cid, "valid": 0}]
        # A person answers: the reply takes the conversation over; the assistant stays out of it.
        await call(gw, "alice", "inbox_reply", conversation_id=c["id"], text="It starts at 7pm")
        await receive(gw, JOHN, "yes")
        c = (await call(gw, "alice", "inbox_show", conversation_id=c["id"]))["conversation"]
        assert c["operated_by"] == "agent" and c["section"] == "needs_attention"
        assert len(await sql(gw, "SELECT 1 FROM answers")) == 1


@pytest.mark.trio
async def test_a_reply_after_the_last_question_goes_to_a_person(tmp_path):
    async with gateway(tmp_path) as gw:
        await _setup(gw, step=3)
        row = await receive(gw, JOHN, "No allergies")          # answers step 3; step 4 asks nothing
        await receive(gw, JOHN, "Oh and my brother is coming too")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "needs_attention" and "asked no question" in c["attention_reason"]
        assert [r["valid"] for r in await sql(gw, "SELECT valid FROM answers ORDER BY id")] == [1, 0]


@pytest.mark.trio
async def test_a_second_answer_while_the_next_step_waits_goes_to_a_person(tmp_path):
    async with gateway(tmp_path) as gw:
        cid = await campaign(gw, operated_by="assistant", steps=[
            {"text": "Coming?", "delay_s": 0, "question": "yes_no"},
            {"text": "Reminder: tomorrow at 7", "delay_s": 3600, "question": None}])
        await sent_step(gw, cid, await contact(gw, JOHN), JOHN, step=1)
        row = await receive(gw, JOHN, "yes")
        await receive(gw, JOHN, "actually no")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "needs_attention" and "already answered" in c["attention_reason"]
        assert [(r["value"], r["valid"]) for r in await sql(gw, "SELECT value, valid FROM answers ORDER BY id")] \
            == [("yes", 1), (None, 0)]


@pytest.mark.trio
async def test_the_assistant_never_answers_agent_operated_conversations(tmp_path):
    async with gateway(tmp_path) as gw:
        await _setup(gw, step=1, operated_by="agent")
        row = await receive(gw, JOHN, "yes")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "needs_attention" and not await sql(gw, "SELECT 1 FROM answers")


@pytest.mark.trio
async def test_operator_can_hand_a_conversation_back_to_the_assistant(tmp_path):
    async with gateway(tmp_path) as gw:
        await _setup(gw, step=1)
        row = await receive(gw, JOHN, "hmm")
        cid = row["conversation_id"]
        r = await call(gw, "alice", "inbox_operated_by", conversation_id=cid, operated_by="assistant")
        assert r["section"] == "assistant"
        await receive(gw, JOHN, "Yeah")
        answers = await sql(gw, "SELECT value, valid FROM answers ORDER BY id")
        assert answers == [{"value": None, "valid": 0}, {"value": "yes", "valid": 1}]


@pytest.mark.trio
async def test_keyword_auto_replies_answer_assistant_and_unsolicited_conversations_only(tmp_path):
    async with gateway(tmp_path) as gw:
        await call(gw, "root", "inbox_keyword_set", keyword="hours", reply="Open 9-5, Mon-Fri")
        await call(gw, "root", "inbox_keyword_set", keyword="HOURS", reply="Main office: 8-6", number=MAIN)
        with pytest.raises(Refused) as e:
            await call(gw, "root", "inbox_keyword_set", keyword="stop", reply="bye")
        assert e.value.code == "reserved_keyword"
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_keyword_set", keyword="x", reply="y")
        assert e.value.code == "forbidden"
        row = await receive(gw, "+14155550124", " Hours ")            # unsolicited: answered, nothing to do
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "agent"
        assert await sql(gw, "SELECT text, source FROM messages WHERE recipient = '+14155550124'") == [
            {"text": "Main office: 8-6", "source": "assistant"}]
        await _setup(gw, step=1)                                     # assistant-operated campaign
        await receive(gw, JOHN, "HOURS")
        assert (await sql(gw, "SELECT text FROM messages WHERE recipient = ? AND source = 'assistant'", JOHN)) == [
            {"text": "Main office: 8-6"}]
        assert not await sql(gw, "SELECT 1 FROM answers")             # a keyword is not an answer
        jane = "+14155550125"
        cid = await campaign(gw, operated_by="agent")
        await sent_step(gw, cid, await contact(gw, jane, "Jane"), jane)
        await receive(gw, jane, "hours")                             # agent-operated: a person answers
        assert not await sql(gw, "SELECT 1 FROM messages WHERE recipient = ? AND source = 'assistant'", jane)
        await call(gw, "root", "inbox_keyword_remove", keyword="hours", number=MAIN)
        assert [k["reply"] for k in await call(gw, "vic", "inbox_keywords")] == ["Open 9-5, Mon-Fri"]


@pytest.mark.trio
async def test_stop_in_a_conversation_is_an_opt_out_not_an_answer(tmp_path):
    async with gateway(tmp_path) as gw:
        await _setup(gw, step=1)
        row = await receive(gw, JOHN, "STOP")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert row["keyword"] == "STOP" and c["opted_out"] and not c["needs_attention"]
        assert not await sql(gw, "SELECT 1 FROM answers")
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_reply", conversation_id=c["id"], text="sorry to see you go")
        assert e.value.code == "opted_out"


@pytest.mark.trio
async def test_help_gets_the_configured_help_reply_and_leaves_the_question_open(tmp_path):
    async with gateway(tmp_path) as gw:
        await _setup(gw, step=1)
        row = await receive(gw, JOHN, "help")
        c = (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]
        assert c["section"] == "assistant" and not await sql(gw, "SELECT 1 FROM answers")
        assert await sql(gw, "SELECT text FROM messages WHERE recipient = ? AND source = 'keyword'", JOHN) == [
            {"text": gw.cfg.optout.help}]
        await receive(gw, JOHN, "yes")                      # the question is still answerable
        assert await sql(gw, "SELECT value FROM answers") == [{"value": "yes"}]


def test_invalid_answer_is_counted_in_the_campaign_report(tmp_path):
    """Issue 6: an answer the assistant cannot handle counts as an invalid response in analytics."""
    from gatewayd.analytics.reports import _invalid_answers
    from gatewayd.store.store import Store

    s = Store(tmp_path / "r.db")
    s.open()
    try:
        s.db.execute("INSERT INTO answers(conversation_id, campaign_id, raw, valid, at) VALUES (1, 7, 'maybe?', 0, 0)")
        s.db.execute("INSERT INTO answers(conversation_id, campaign_id, raw, valid, at) VALUES (1, 7, 'yes', 1, 0)")
        assert _invalid_answers(s.reader, 7) == 1 and _invalid_answers(s.reader, 8) == 0
    finally:
        s.close()
