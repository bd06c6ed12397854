"""Modem faults and self-healing against the pty fake: hang, ERROR storm, garbage, unplug,
signal loss, SIM PIN handling, reset hook, and one sick modem never holding up another."""

from __future__ import annotations

import pytest
import trio

from gatewayd.models import LinkState
from tests.daemon.test_modem_link import eventually, make_link, make_sink, running, seg
from tests.fakes.modem import FakeModem

pytestmark = pytest.mark.trio


def last(sink):
    return sink.statuses[-1]


def went_down(sink, words: str) -> bool:
    return any(s.state is LinkState.DOWN and words in s.reason for s in sink.statuses)


@pytest.fixture
def fake(tmp_path):
    with FakeModem(str(tmp_path / "modem0")) as modem:
        yield modem


async def test_hang_marks_down_submit_answers_at_once_and_recovers(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        fake.hang = True
        await eventually(lambda: not link.is_up)
        assert went_down(sink, "not answering")
        with trio.fail_after(0.1):          # while down: no waiting on the dead modem
            r = await link.submit(seg())
        assert (r.ok, r.transient, r.error_code) == (False, True, "link_down")
        fake.hang = False
        await eventually(lambda: link.is_up)
        assert (await link.submit(seg())).ok


async def test_send_that_never_answers_times_out_and_takes_link_down(tmp_path):
    with FakeModem(str(tmp_path / "m"), send_time=30) as fake:
        sink = make_sink()
        link = make_link(fake, sink)
        async with running(link):
            with trio.fail_after(5):
                r = await link.submit(seg())
            assert (r.ok, r.transient, r.error_code) == (False, True, "timeout")
            await eventually(lambda: went_down(sink, "AT+CMGS"))


async def test_error_storm_keeps_link_down_with_reason_until_it_stops(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        fake.error_storm = True
        await eventually(lambda: went_down(sink, "ERROR"))
        assert not link.is_up
        fake.error_storm = False
        await eventually(lambda: link.is_up)


async def test_garbage_is_reported_as_garbage(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        fake.garbage = True
        await eventually(lambda: went_down(sink, "garbage"))
        fake.garbage = False
        await eventually(lambda: link.is_up)


async def test_unplug_and_replug_under_the_same_path(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        fake.disappear()
        await eventually(lambda: not link.is_up)
        r = await link.submit(seg())
        assert r.error_code == "link_down"
        await trio.sleep(0.3)                  # a few reopen attempts fail while unplugged
        assert not link.is_up and last(sink).state is LinkState.DOWN
        fake.reappear()
        await eventually(lambda: link.is_up)
        assert (await link.submit(seg())).ok


async def test_signal_loss_goes_down_and_comes_back(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        fake.signal_loss()
        await eventually(lambda: went_down(sink, "regist"))
        fake.signal_loss(False)
        await eventually(lambda: link.is_up)
        assert last(sink).detail["signal"] == -73


async def test_correct_pin_unlocks(tmp_path):
    with FakeModem(str(tmp_path / "m"), pin="1234") as fake:
        async with running(make_link(fake, make_sink(), pin="1234")):
            assert fake.pin_attempts == ["1234"]


async def test_pin_from_file(tmp_path):
    (tmp_path / "pin").write_text("4321\n")
    with FakeModem(str(tmp_path / "m"), pin="4321") as fake:
        async with running(make_link(fake, make_sink(), pin_file=str(tmp_path / "pin"))):
            assert fake.pin_attempts == ["4321"]


async def test_wrong_pin_is_tried_once_and_never_again(tmp_path):
    with FakeModem(str(tmp_path / "m"), pin="1234") as fake:
        sink = make_sink()
        link = make_link(fake, sink, pin="0000")
        async with running(link, up=False):
            await eventually(lambda: went_down(sink, "PIN rejected"))
            # let recovery cycle several times (backoff is 0.05-0.2 s in tests)
            await eventually(lambda: sum(c == "AT+CPIN?" for c in fake.commands) >= 4)
            assert fake.pin_attempts == ["0000"]
            assert fake.sim == "SIM PIN"             # still 2 tries left for a human
            assert "not retried" in last(sink).reason
            assert not link.is_up


async def test_missing_pin_and_puk_are_explained(tmp_path):
    with FakeModem(str(tmp_path / "m"), pin="1234") as fake:
        sink = make_sink()
        async with running(make_link(fake, sink), up=False):
            await eventually(lambda: went_down(sink, "no pin/pin_file configured"))
        fake.sim = "SIM PUK"
        sink = make_sink()
        async with running(make_link(fake, sink, pin="1234"), up=False):
            await eventually(lambda: went_down(sink, "SIM PUK"))
        assert fake.pin_attempts == []


async def test_reset_command_runs_when_reopening_is_not_enough(tmp_path):
    marker = tmp_path / "reset-ran"
    with FakeModem(str(tmp_path / "m")) as fake:
        fake.hang = True
        sink = make_sink()
        link = make_link(fake, sink, reset_command=f"touch {marker}")
        async with running(link, up=False):
            await eventually(lambda: marker.exists(), timeout=15)
            fake.hang = False
            await eventually(lambda: link.is_up, timeout=10)


async def test_a_hung_modem_does_not_slow_another(tmp_path):
    with FakeModem(str(tmp_path / "a")) as a, FakeModem(str(tmp_path / "b")) as b:
        sa, sb = make_sink(), make_sink()
        la, lb = make_link(a, sa, name="a"), make_link(b, sb, name="b")
        async with running(la), running(lb):
            a.hang = True
            async with trio.open_nursery() as nursery:
                nursery.start_soon(la.submit, seg())       # stuck until its send timeout
                with trio.fail_after(1):
                    for _ in range(5):
                        assert (await lb.submit(seg())).ok
            assert len(b.sent) == 5 and not a.sent
            await eventually(lambda: not la.is_up)
            assert lb.is_up


async def test_disabled_modem_stays_disabled(fake):
    sink = make_sink()
    link = make_link(fake, sink, enabled=False)
    async with running(link, up=False):
        await eventually(lambda: sink.statuses)
        assert last(sink).state is LinkState.DISABLED
        assert (await link.submit(seg())).error_code == "link_down"
        assert fake.commands == []


async def test_at_reset_command_unwedges_the_modem(tmp_path):
    with FakeModem(str(tmp_path / "m")) as fake:
        sink = make_sink()
        link = make_link(fake, sink, reset_command="AT+CFUN=1,1")
        async with running(link):
            fake.hang = True
            await eventually(lambda: fake.resets == 1, timeout=15)
            await eventually(lambda: link.is_up)


async def test_smsc_override_and_extra_init_commands(fake):
    link = make_link(fake, make_sink(), smsc="+46707010000", init=["AT+CSCS=\"GSM\""])
    async with running(link):
        assert 'AT+CSCA="+46707010000",145' in fake.commands
        assert 'AT+CSCS="GSM"' in fake.commands


async def test_rejected_init_command_is_the_reason(fake):
    sink = make_sink()
    link = make_link(fake, sink, init=["AT+BOGUS=1"])
    async with running(link, up=False):
        await eventually(lambda: went_down(sink, "AT+BOGUS=1"))
        assert not link.is_up


async def test_unreadable_pin_file_is_a_reason_not_a_crash(tmp_path):
    with FakeModem(str(tmp_path / "m"), pin="1234") as fake:
        sink = make_sink()
        async with running(make_link(fake, sink, pin_file=str(tmp_path / "missing")), up=False):
            await eventually(lambda: went_down(sink, "cannot read pin_file"))
        assert fake.pin_attempts == []


async def test_a_failing_sink_restarts_the_link_instead_of_crashing(fake):
    sink = make_sink()
    calls = []

    async def broken(message):
        calls.append(message)
        if len(calls) == 1:
            raise RuntimeError("database is locked")

    sink.inbound = broken
    link = make_link(fake, sink)
    async with running(link):
        fake.receive_sms("+15551234567", "try me")
        await eventually(lambda: went_down(sink, "internal error"))
        await eventually(lambda: len(calls) == 2 and link.is_up)     # kept in storage, handed over again
        await eventually(lambda: not fake.storage)
