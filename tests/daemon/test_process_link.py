"""An SMPP link in a process of its own (links/process.py, links/host.py) against the fake SMSC on
loopback TCP, in real time: it must behave exactly as the link in the daemon's process (results,
receipts and MO answered only after the commit, a refused commit redelivered), and a worker that
dies must be noticed: its unanswered submits fail as possible duplicates and it comes back.
"""

from __future__ import annotations

import os
import signal
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio

from gatewayd.links.process import ProcessLink
from gatewayd.links.smpp import codec
from gatewayd.models import LinkState
from tests.fakes.smsc import Behaviour, FakeSmsc, RecordingSink, cfg, seg

pytestmark = pytest.mark.trio


class HeldSink(RecordingSink):
    """Receipt bursts wait for :meth:`release` before they count as committed."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list = []
        self.hold = True

    async def receipt_batch(self, receipts, done) -> None:
        if not self.hold:
            await super().receipt_batch(receipts, done)
            return
        self.held.append((receipts, done))
        self._notify()

    async def release(self) -> None:
        self.hold = False
        held, self.held = self.held, []
        for receipts, done in held:
            await super().receipt_batch(receipts, done)


class Running:
    """A fake SMSC on loopback and a ProcessLink to it; ``stop()`` ends the link alone."""

    def __init__(self, smsc: FakeSmsc, link: ProcessLink, sink: RecordingSink) -> None:
        self.smsc, self.link, self.sink = smsc, link, sink
        self.scope = trio.CancelScope()
        self.stopped = trio.Event()

    async def run_link(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with self.scope:
                await self.link.run(task_status=task_status)
        finally:
            self.stopped.set()

    async def stop(self) -> None:
        self.scope.cancel()
        await self.stopped.wait()

    def __iter__(self):
        return iter((self.smsc, self.link, self.sink))


@asynccontextmanager
async def running(behaviour: Behaviour | None = None, sink: RecordingSink | None = None, *,
                  silence_s: float = 10.0, **kw):
    smsc = FakeSmsc(behaviour or Behaviour(dlr_delay=0.0))
    sink = sink or RecordingSink()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(smsc.run)
            port = await nursery.start(partial(smsc.serve_tcp, 0, host="127.0.0.1"))
            link = ProcessLink(cfg(host="127.0.0.1", port=port, reconnect_min_s=0.1, reconnect_max_s=0.5,
                                   **kw), sink, silence_s=silence_s)
            r = Running(smsc, link, sink)
            await nursery.start(r.run_link)
            await sink.wait_for(lambda: link.is_up)
            yield r
            nursery.cancel_scope.cancel()


async def test_submits_receipts_and_mo_cross_the_process_and_are_answered_only_after_commit():
    sink = HeldSink()
    async with running(sink=sink) as (smsc, link, sink):
        results = []
        for i in range(3):
            link.submit_nowait(seg(f"hello {i}", to=f"+1555123000{i}"), results.append)
        await sink.wait_for(lambda: sum(len(r) for r, _ in sink.held) == 3)
        assert [r.ok for r in results] == [True] * 3 and all(r.carrier_id for r in results)
        assert smsc.deliver_resps == []                 # nothing answered before the commit
        await sink.release()
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 3)
        assert {status for status, _seq in smsc.deliver_resps} == {codec.ROK}
        assert sorted(r.carrier_id for r in sink.receipts) == sorted(r.carrier_id for r in results)

        smsc.send_mo("Grüße aus Köln, a long reply " * 8, sender="+15550002222")   # UCS-2, 2+ parts
        await sink.wait_for(lambda: sink.messages)
        assert sink.messages[0].text == "Grüße aus Köln, a long reply " * 8
        assert sink.messages[0].sender.endswith("15550002222")


async def test_a_refused_commit_is_answered_with_an_error_and_the_smsc_redelivers():
    sink = RecordingSink()
    sink.fail_inbound = 1
    async with running(Behaviour(dlr_delay=None, redeliver_after=0.2), sink) as (smsc, link, sink):
        smsc.send_mo("STOP", sender="+15550003333")
        await sink.wait_for(lambda: sink.messages)
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 2)
        statuses = [status for status, _seq in smsc.deliver_resps]
        assert statuses == [codec.RX_T_APPN, codec.ROK]
        assert [m.text for m in sink.messages] == ["STOP"]


async def test_a_killed_worker_fails_its_unanswered_submits_as_possible_duplicates_and_comes_back():
    async with running(Behaviour(dlr_delay=None, response_delay=30.0)) as (smsc, link, sink):
        results = []
        for i in range(3):
            link.submit_nowait(seg(f"held {i}", to=f"+1555123100{i}"), results.append)
        await smsc.wait_for(lambda: smsc.unanswered == 3)
        first = link.pid
        os.kill(first, signal.SIGKILL)
        await sink.wait_for(lambda: len(results) == 3)
        assert all(not r.ok and r.transient and r.error_code == "timeout" for r in results)
        await sink.wait_for(lambda: LinkState.DOWN in sink.states)
        assert "link worker" in sink.statuses[sink.states.index(LinkState.DOWN)].reason
        smsc.b.response_delay = 0.0
        await sink.wait_for(lambda: link.is_up and link.pid != first)
        again = await link.submit(seg("after the restart"))
        assert again.ok


async def test_stopping_the_link_unbinds_and_ends_the_worker():
    async with running(Behaviour(dlr_delay=None)) as r:
        assert (await r.link.submit(seg("bye"))).ok
        await r.stop()
        assert r.smsc.unbinds == 1
        with pytest.raises(ProcessLookupError):     # exited and reaped
            os.kill(r.link.pid, 0)


async def test_the_worker_follows_a_log_level_change(capfd):
    import logging

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)          # the worker starts with the daemon's level
    try:
        async with running() as (smsc, link, sink):
            # the worker logs "bound to" before it reports up: at warning it must not appear
            assert "bound to" not in capfd.readouterr().err
            link.set_log_level("info")
            with trio.fail_after(10):
                seen = ""
                while "carrier: log level info" not in seen:
                    await trio.sleep(0.05)
                    seen += capfd.readouterr().err
    finally:
        root.setLevel(before)


async def test_a_wedged_worker_is_killed_and_replaced():
    """SIGSTOP freezes the worker without closing its pipe: only its silence gives it away."""
    async with running(Behaviour(dlr_delay=None), silence_s=2.0) as (smsc, link, sink):
        first = link.pid
        os.kill(first, signal.SIGSTOP)
        await sink.wait_for(lambda: any("silent" in s.reason for s in sink.statuses))
        await sink.wait_for(lambda: link.is_up and link.pid != first)
        with pytest.raises(ProcessLookupError):      # the frozen one was killed and reaped
            os.kill(first, 0)
        assert (await link.submit(seg("still here"))).ok
