"""Issue 17 items 1, 2 and 6 through the running daemon on the sim link: opt-out keywords as the
rules list them (REVOKE, a French number), one confirmation that nothing holds back, no campaign
message after a STOP, the consent ledger (history, append-only, retention) and reassigned numbers.

Contacts text us through the sim link's own sink (the path a carrier's MO takes); what the carrier
accepted is read from the sim's journal, so "nothing more sent" is what left the gateway.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio

from gatewayd.links.base import Inbound
from support import AsyncClient, wait_until

from test_campaign_daemon import campaign_row, count, hold, peek, release
from test_campaign_kit import NUMBER, OTHER, make_cfg, running

pytestmark = pytest.mark.trio
ANN, BOB, CAT = "+14155552001", "+14155552002", "+14155552003"
FRENCH = f"""
[numbers.optout]
stop_words = ["ARRET", "ARRETER"]
start_words = ["DEBUT"]
help_words = ["AIDE"]
confirmation = "Vous êtes désabonné. Répondez DEBUT pour vous réabonner."
help = "Répondez ARRET pour vous désabonner."
"""
BIN = Path(sys.executable).parent


def cfg(tmp_path, **kw):
    sim = kw.pop("sim", "") + f'\njournal = "{tmp_path}/journal.txt"'
    return make_cfg(tmp_path, sim=sim, **kw)


async def text_in(gw, phone: str, text: str, to: str = NUMBER) -> None:
    """A contact's SMS arrives through the link's sink (stored, hooks run, lane kicked)."""
    await gw.links["sim"].link.sink.inbound(Inbound(link="sim", sender=phone, recipient=to, text=text,
                                                    received_at=gw.store.clock()))


def accepted(tmp_path) -> set[int]:
    """Message ids the carrier accepted (the sim's journal)."""
    path = tmp_path / "journal.txt"
    return {int(line.split()[0]) for line in path.read_text().splitlines()} if path.exists() else set()


def to(gw, phone: str, **where) -> list[dict]:
    cond = "".join(f" AND {k} = ?" for k in where)
    return [dict(r) for r in peek(gw).execute(f"SELECT * FROM messages WHERE recipient = ?{cond} ORDER BY id",
                                              (phone, *where.values())).fetchall()]


async def confirmed(gw, phone: str, n: int = 1) -> list[dict]:
    """Wait until ``n`` keyword replies to ``phone`` were delivered; return them."""
    await wait_until(gw, lambda: len(to(gw, phone, source="keyword", state="delivered")) >= n)
    return to(gw, phone, source="keyword")


async def ctl(gw, *args: str, check: bool = True) -> trio.Process:
    """The real gatewayctl against this daemon's socket."""
    res = await trio.run_process([str(BIN / "gatewayctl"), "--socket", gw.socket_path, *args],
                                 capture_stdout=True, capture_stderr=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"gatewayctl {args} -> {res.returncode}\n{res.stdout.decode()}\n{res.stderr.decode()}")
    return res


async def contacts(c: AsyncClient, rows: list[list[str]], list_name: str = "L", file: str = "people.csv") -> dict:
    return await c.call("contacts_import", list=list_name, header=["first_name", "phone", "consent_source", "consent_at"],
                        rows=rows, source_file=file)


# ---- item 1: keywords --------------------------------------------------------------------------


async def test_stop_then_a_queued_campaign_step_sends_nothing_more_to_that_contact(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await contacts(c, [["Ann", ANN, "", ""], ["Bob", BOB, "", ""]])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi {first_name}"}])
        hold(gw)   # the carrier takes nothing yet: both campaigns' steps sit in the queue
        one = await c.call("campaign_create", fields={"name": "one", "script": "s", "list": "L", "number": NUMBER},
                           launch=True)
        two = await c.call("campaign_create", fields={"name": "two", "script": "s", "list": "L", "number": NUMBER},
                           launch=True)
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE state = 'queued'") == 4)
        await text_in(gw, ANN, "STOP")   # reached by neither campaign yet: opts out of the number
        release(gw)
        await confirmed(gw, ANN)
        for cid in (one["id"], two["id"]):
            await wait_until(gw, lambda: campaign_row(gw, cid)["status"] == "finished")
        ann = to(gw, ANN)
        assert [m["source"] for m in ann if m["id"] in accepted(tmp_path)] == ["keyword"]
        assert {(m["state"], m["error_text"]) for m in ann if m["source"] == "campaign"} == {
            ("unreachable", "recipient opted out (number)")}
        assert len([m for m in to(gw, BOB) if m["id"] in accepted(tmp_path)]) == 2   # Bob gets both


@pytest.mark.parametrize("word", ["REVOKE", "opt out", "Optout.", " revoke "])
async def test_revoke_and_opt_out_are_opt_out_words(tmp_path, word):
    async with running(cfg(tmp_path)) as gw:
        await text_in(gw, ANN, word)
        (reply,) = await confirmed(gw, ANN)
        assert reply["text"].startswith("You are unsubscribed") and reply["priority"] == 3
        assert peek(gw).execute("SELECT keyword FROM inbound").fetchall()[0][0] == "STOP"
        assert count(gw, "SELECT count(*) FROM suppressions WHERE phone = ? AND scope = 'number'", ANN) == 1


async def test_a_french_number_answers_its_own_words_in_french_and_keeps_the_english_ones(tmp_path):
    async with running(cfg(tmp_path, number=FRENCH)) as gw:
        await text_in(gw, ANN, "Arrêt")
        (reply,) = await confirmed(gw, ANN)
        assert reply["text"] == "Vous êtes désabonné. Répondez DEBUT pour vous réabonner."
        await text_in(gw, BOB, "aide")
        assert (await confirmed(gw, BOB))[0]["text"] == "Répondez ARRET pour vous désabonner."
        await text_in(gw, CAT, "STOP")      # the regulators' words still work on a French number
        assert (await confirmed(gw, CAT))[0]["text"] == "Vous êtes désabonné. Répondez DEBUT pour vous réabonner."
        # On the other (English) number ARRET is just a message for a person to read.
        await text_in(gw, ANN, "ARRET", to=OTHER)
        await text_in(gw, ANN, "HELP", to=OTHER)
        await wait_until(gw, lambda: len(to(gw, ANN, sender=OTHER, state="delivered")) == 1)
        assert [m["text"] for m in to(gw, ANN, sender=OTHER)] == ["Reply STOP to unsubscribe."]
        assert count(gw, "SELECT count(*) FROM suppressions WHERE number = ?", OTHER) == 0
        # An inbox auto-reply may not take a configured opt-out word.
        c = await AsyncClient.connect(gw.socket_path)
        refused = await c.request("inbox_keyword_set", keyword="arreter", reply="x")
        assert refused["error"]["code"] == "reserved_keyword"


async def test_two_stops_get_one_confirmation_and_both_are_in_the_ledger(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        await text_in(gw, ANN, "STOP")
        await confirmed(gw, ANN)
        await text_in(gw, ANN, "stop")
        await text_in(gw, ANN, "UNSUBSCRIBE")
        await text_in(gw, ANN, "STOPALL")   # wider: a new opt-out, so it is confirmed once too
        await confirmed(gw, ANN, 2)
        await text_in(gw, ANN, "QUIT")      # covered by STOPALL: no answer
        c = await AsyncClient.connect(gw.socket_path)
        hist = await c.call("consent_history", phone="(415) 555-2001")
        assert [(r["kind"], r["scope"], r["evidence"]) for r in hist["records"]] == [
            ("opt_out", "number", "STOP"), ("opt_out", "number", "stop"), ("opt_out", "number", "UNSUBSCRIBE"),
            ("opt_out", "all", "STOPALL"), ("opt_out", "number", "QUIT")]
        assert [bool(r["note"].startswith("already opted out")) for r in hist["records"]] == [
            False, True, True, False, True]
        assert all(r["method"] == "keyword" and r["actor"] == ANN and r["inbound_id"] for r in hist["records"])
        assert len(to(gw, ANN, source="keyword")) == 2


async def test_confirmations_go_when_the_daily_cap_is_spent_and_are_never_held_by_quiet_hours(tmp_path):
    async with running(cfg(tmp_path, number="daily_cap = 2")) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        for n in range(3):
            await c.call("send", **{"from": NUMBER, "to": BOB, "text": f"notice {n}"})
        await wait_until(gw, lambda: len(to(gw, BOB, state="delivered")) == 2)
        # A campaign in its quiet hours (now, in the recipient's zone, give or take two hours) holds its step...
        await contacts(c, [["Cat", CAT, "", ""]])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi {first_name}"}])
        local = dt.datetime.fromtimestamp(gw.store.clock(), ZoneInfo("America/Los_Angeles"))
        start, end = ((local + dt.timedelta(hours=h)).strftime("%H:%M") for h in (-2, 2))
        camp = await c.call("campaign_create", fields={"name": "q", "script": "s", "list": "L", "number": OTHER,
                                                       "quiet_start": start, "quiet_end": end}, launch=True)
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "sending")
        # ...but HELP on the quiet number and STOP on the capped one are answered at once.
        await text_in(gw, CAT, "HELP", to=OTHER)
        assert (await confirmed(gw, CAT))[0]["text"] == "Reply STOP to unsubscribe."
        await text_in(gw, ANN, "STOP")
        await confirmed(gw, ANN)
        assert [m["state"] for m in to(gw, BOB)] == ["delivered", "delivered", "queued"]   # the cap still holds
        assert to(gw, CAT, source="campaign") == []


# ---- item 2: the consent ledger ----------------------------------------------------------------


async def test_consent_history_shows_the_import_the_stop_and_the_start(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        res = await contacts(c, [["Ann", ANN, "web form /signup", "2025-03-01T14:05:00-05:00"]], file="spring.csv")
        assert res["consent"] == 1
        await text_in(gw, ANN, "STOP")
        await confirmed(gw, ANN)
        await text_in(gw, ANN, "Start")
        await confirmed(gw, ANN, 2)
        hist = await c.call("consent_history", phone="4155552001")
        got = [(r["kind"], r["method"], r["how"], r["scope"], r["number"], r["evidence"]) for r in hist["records"]]
        assert got == [("opt_in", "import", "web form /signup", "all", None, "spring.csv row 2"),
                       ("opt_out", "keyword", "keyword STOP", "number", NUMBER, "STOP"),
                       ("opt_in", "keyword", "keyword START", "number", NUMBER, "Start")]
        assert hist["records"][0]["at"] == 1740855900.0 and hist["valid_opt_in"] and hist["suppressions"] == []
        out = (await ctl(gw, "contacts", "consent", "(415) 555-2001")).stdout.decode()
        assert out.splitlines()[0] == f"{ANN}: valid opt-in on record"
        assert "web form /signup" in out and "spring.csv row 2" in out and "keyword STOP" in out
        js = (await ctl(gw, "contacts", "consent", ANN, "--json")).stdout.decode()
        assert '"evidence": "Start"' in js
        # The CSV export for a date range: only what happened in it.
        csv_out = (await ctl(gw, "contacts", "consent-export", "--since", "2025-03-01", "--until", "2025-03-01"))
        lines = csv_out.stdout.decode().splitlines()
        assert lines[0].startswith("id,phone,kind,at,") and len(lines) == 2 and "spring.csv row 2" in lines[1]
        everything = (await ctl(gw, "contacts", "consent-export")).stdout.decode().splitlines()
        assert len(everything) == 4


async def test_a_keyword_join_is_an_opt_in_for_that_number_and_counts_for_require_consent(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await contacts(c, [["Ann", ANN, "", ""], ["Bob", BOB, "", ""]])
        await text_in(gw, ANN, "Join")
        assert (await confirmed(gw, ANN))[0]["text"] == "You are subscribed. Reply HELP for help, STOP to unsubscribe."
        hist = await c.call("consent_history", phone=ANN)
        assert [(r["kind"], r["method"], r["how"], r["scope"], r["number"]) for r in hist["records"]] == [
            ("opt_in", "keyword", "keyword JOIN", "number", NUMBER)]
        assert peek(gw).execute("SELECT keyword FROM inbound").fetchall()[0][0] == "START"
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi {first_name}"}])
        # The join was to NUMBER: it is consent for NUMBER's campaigns, not for OTHER's.
        for number in (NUMBER, OTHER):
            camp = await c.call("campaign_create", fields={"name": number, "script": "s", "list": "L",
                                                           "number": number, "require_consent": True})
            assert camp["consent"]["without"] == (1 if number == NUMBER else 2)


async def test_the_ledger_refuses_updates_and_deletes_and_the_sweep_keeps_the_latest(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await text_in(gw, ANN, "STOP")
        await text_in(gw, ANN, "START")
        await text_in(gw, ANN, "STOP")
        await c.call("opt_in", phone=ANN, evidence="signed form #12", at="2025-06-01")
        refuse(gw, "UPDATE consent_records SET kind = 'opt_in'", "DELETE FROM consent_records")
        assert count(gw, "SELECT count(*) FROM consent_records") == 4
        assert (await c.call("consent_sweep"))["removed"] == 0      # nothing is 5 years old
        # Five years and a day later: all but the latest opt-in and opt-out go, and the purge is logged.
        latest = peek(gw).execute("SELECT max(recorded_at) FROM consent_records").fetchall()[0][0]
        gw.store.clock = lambda: latest + 1827 * 86400.0
        assert (await c.call("consent_sweep"))["removed"] == 2
        kept = [tuple(r) for r in peek(gw).execute("SELECT kind, evidence FROM consent_records ORDER BY id")]
        assert kept == [("opt_out", "STOP"), ("opt_in", "signed form #12")]
        assert count(gw, "SELECT removed FROM consent_purges") == 2
        refuse(gw, "DELETE FROM consent_records", "UPDATE consent_purges SET cutoff = 0", "DELETE FROM consent_purges")


def refuse(gw, *sqls: str) -> None:
    """Each statement is refused by the database itself (a trigger), whoever runs it."""
    db = sqlite3.connect(gw.store.path, isolation_level=None, timeout=10)
    try:
        for sql in sqls:
            with pytest.raises(sqlite3.IntegrityError, match="append-only|retention purge"):
                db.execute(sql)
    finally:
        db.close()


# ---- require_consent and reassigned numbers ----------------------------------------------------


async def test_require_consent_messages_only_contacts_with_an_opt_in_and_reassignment_voids_older_ones(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await contacts(c, [["Ann", ANN, "paper form", "2024-01-10"], ["Bob", BOB, "web", "2024-02-01"],
                           ["Cat", CAT, "", ""]])
        (tmp_path / "reassigned.csv").write_text(f"phone,disconnected_at\n{BOB},2024-06-30\n")
        out = await ctl(gw, "contacts", "reassigned", str(tmp_path / "reassigned.csv"))
        assert "imported 1" in out.stdout.decode()
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi {first_name}"}])
        draft = await c.call("campaign_create", fields={"name": "rc", "script": "s", "list": "L", "number": NUMBER,
                                                        "require_consent": True})
        assert draft["require_consent"] and draft["consent"]["without"] == 2
        assert draft["consent"]["sample"] == [BOB, CAT] and draft["not_ready"] == []
        shown = (await ctl(gw, "campaign", "show", str(draft["id"]))).stdout.decode()
        assert "2 contact(s) without a valid opt-in will be unreachable" in shown
        await c.call("campaign_action", campaign_id=draft["id"], action="launch")
        await wait_until(gw, lambda: campaign_row(gw, draft["id"])["status"] == "finished")
        await wait_until(gw, lambda: [m["state"] for m in to(gw, ANN)] == ["delivered"])
        assert [(m["state"], m["error_text"]) for m in to(gw, BOB)] == [
            ("unreachable", "consent void: number reassigned since 2024-06-30 (require_consent)")]
        assert [(m["state"], m["error_text"]) for m in to(gw, CAT)] == [
            ("unreachable", "no consent on record (require_consent)")]
        hist = await c.call("consent_history", phone=BOB)
        assert [r["void"] for r in hist["records"]] == [True] and not hist["valid_opt_in"]
        assert hist["reassigned"][0]["file"] == "reassigned.csv"
        # Consent given after the reassignment (the new owner texts START) counts again.
        await text_in(gw, BOB, "START")
        assert (await c.call("consent_history", phone=BOB))["records"][-1]["void"] is False


async def test_a_require_consent_campaign_that_would_reach_nobody_is_not_ready(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await contacts(c, [["Cat", CAT, "", ""]])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi"}])
        draft = await c.call("campaign_create", fields={"name": "rc", "script": "s", "list": "L", "number": NUMBER,
                                                        "require_consent": True})
        assert draft["not_ready"] == ["require_consent: none of the 1 contacts has consent on record"]
        refused = await c.request("campaign_action", campaign_id=draft["id"], action="launch")
        assert refused["error"]["code"] == "not_ready"


# ---- bad rows ------------------------------------------------------------------------------------


async def test_bad_consent_rows_are_reported_by_row_and_not_imported_half_way(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        (tmp_path / "c.csv").write_text(
            "first_name,phone,consent_source,consent_at\n"
            f"Ann,{ANN},web form,2025-01-02\n"
            f"Bob,{BOB},web form,yesterday\n"
            f"Cat,{CAT},web form,\n"
            "Dan,+14155552004,,2025-01-02\n"
            "Eve,+14155552005,web form,2099-01-01\n"
            "Fay,+14155552006,,\n")
        res = await ctl(gw, "contacts", "import", "--list", "L", str(tmp_path / "c.csv"))
        err = res.stderr.decode().splitlines()
        assert err[0].startswith("row 3: consent_at: 'yesterday' is not a date")
        assert err[1:] == ["row 4: consent_source given but consent_at is empty",
                           "row 5: consent_at given but consent_source is empty (say how consent was collected)",
                           "row 6: consent_at: '2099-01-01' is in the future"]
        assert "imported 2, merged 0, invalid 4; consent recorded for 1" in res.stdout.decode()
        phones = {r[0] for r in peek(gw).execute("SELECT phone FROM contacts").fetchall()}
        assert phones == {ANN, "+14155552006"}      # a refused row left no contact without its consent
        assert [tuple(r) for r in peek(gw).execute("SELECT phone, evidence FROM consent_records")] == [
            (ANN, "c.csv row 2")]
        fields = peek(gw).execute("SELECT fields FROM contacts WHERE phone = ?", (ANN,)).fetchall()[0][0]
        assert fields == "{}"                       # consent columns are evidence, not template fields


async def test_bad_reassigned_rows_are_reported_and_the_exit_status_says_so(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        f = tmp_path / "r.csv"
        f.write_text(f"phone,since\n{ANN},2025-01-01\nnot a phone,2025-01-01\n{BOB},31/12/2024\n\n{CAT},\n")
        res = await ctl(gw, "contacts", "reassigned", str(f), "--dry-run", check=False)
        assert res.returncode == 1 and "would import 1" in res.stdout.decode()
        assert count(gw, "SELECT count(*) FROM reassigned_numbers") == 0
        res = await ctl(gw, "contacts", "reassigned", str(f), check=False)
        err = res.stderr.decode().splitlines()
        assert err[0].startswith("row 3: ") and err[1].startswith("row 4: date: '31/12/2024' is not a date")
        assert err[2:4] == ["row 5: empty row", "row 6: no date in the row and no --since given"]
        assert "NOT imported" in err[4] and res.returncode == 1
        assert "imported 1, already known 0, invalid 4" in res.stdout.decode()
        # --since dates the rows that have none; rows already imported are skipped on the re-run.
        res = await ctl(gw, "contacts", "reassigned", str(f), "--since", "2025-02-01", check=False)
        assert "imported 1, already known 1, invalid 3" in res.stdout.decode()
        assert count(gw, "SELECT count(*) FROM reassigned_numbers") == 2
        refuse(gw, "UPDATE reassigned_numbers SET since = 0", "DELETE FROM reassigned_numbers")
        bad = await ctl(gw, "contacts", "reassigned", str(tmp_path / "missing.csv"), check=False)
        assert bad.returncode == 2
        (tmp_path / "nodate.csv").write_text(f"phone\n{ANN}\n")
        bad = await ctl(gw, "contacts", "reassigned", str(tmp_path / "nodate.csv"), check=False)
        assert bad.returncode == 2 and "no --since given" in bad.stderr.decode()


async def test_a_confirmation_overtakes_a_campaign_on_a_throttled_link(tmp_path):
    """The carrier throttles (ESME_RTHROTTLED above 10/s): the campaign crawls at what the link
    sustains, and the STOP's confirmation still goes ahead of everything still queued."""
    async with running(cfg(tmp_path, sim="max_tps = 10")) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await contacts(c, [[f"P{i}", f"+1415555{3000 + i}", "", ""] for i in range(60)])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hi {first_name}"}])
        camp = await c.call("campaign_create", fields={"name": "big", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        await wait_until(gw, lambda: gw.links["sim"].flow.throttles > 0)   # the carrier pushes back
        await text_in(gw, ANN, "STOP")
        await confirmed(gw, ANN)
        left = count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'", camp["id"])
        assert left > 0, "the campaign had finished: the confirmation overtook nothing"


async def test_operator_opt_out_and_opt_in_are_in_the_ledger_with_their_evidence(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        await ctl(gw, "contacts", "opt-out", "415-555-2001", "--scope", "number", "--number", NUMBER,
                  "--reason", "asked on the phone")
        await ctl(gw, "contacts", "opt-in", "415-555-2001", "--evidence", "signed form #12", "--at", "2026-01-05")
        bad = await ctl(gw, "contacts", "opt-in", ANN, "--at", "soon", check=False)
        assert bad.returncode == 1 and "at: 'soon' is not a date" in bad.stderr.decode()
        c = await AsyncClient.connect(gw.socket_path)
        hist = await c.call("consent_history", phone=ANN)
        me = hist["records"][0]["actor"]
        assert [(r["kind"], r["method"], r["how"], r["scope"], r["evidence"], r["actor"]) for r in hist["records"]] == [
            ("opt_in", "operator", "operator opt-in", "all", "signed form #12", me),
            ("opt_out", "operator", "operator opt-out", "number", "asked on the phone", me)]
        assert hist["records"][0]["at"] == 1767571200.0 and hist["suppressions"] == [] and hist["valid_opt_in"]
        empty = (await ctl(gw, "contacts", "consent", BOB)).stdout.decode()
        assert empty.splitlines() == [f"{BOB}: no valid opt-in", "  no consent records"]
