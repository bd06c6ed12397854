"""The child side of a link in a process of its own: ``python -m gatewayd.links.host``.

It reads a :class:`~.pipe.Start` frame on stdin, runs the real link (``SmppLink``) with a sink
that forwards to the daemon over the pipe, and turns submits from the daemon into the link's
callback submits. The link behaves exactly as in the daemon: its receipts and MO messages are
answered to the SMSC only once the daemon says they are committed (:class:`~.pipe.Answer`). Logs go
to stderr, which is the daemon's (the journal). When stdin closes or a Stop arrives the link
unbinds and the process exits.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
from collections.abc import Callable
from functools import partial

import msgspec
import trio

from .. import log as log_mod
from ..config import SmppConfig
from .base import Inbound, LinkStatus, Receipt, SubmitResult
from .pipe import Answer, Deliver, Level, Pipe, Receipts, Result, Start, State, Stop, Submit

log = logging.getLogger("gatewayd.links.host")

UP_POLL_S = 0.2
HEARTBEAT_S = 1.0    # a State at least this often, so the daemon can tell a wedged worker


class _Refused(Exception):
    """The daemon could not commit what we forwarded (its error text)."""


class PipeSink:
    """A LinkSink whose commits happen in the daemon."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.up: Callable[[], bool] = lambda: False
        self._ids = itertools.count(1)
        self._waiting: dict[int, Callable[[list[str | None]], None]] = {}

    async def receipt_batch(self, receipts: list[Receipt],
                            done: Callable[[list[BaseException | None]], None]) -> None:
        req = next(self._ids)
        self._waiting[req] = lambda errors: done([None if e is None else _Refused(e) for e in errors])
        self.pipe.put(Receipts(req, receipts))

    async def receipt(self, receipt: Receipt) -> None:
        await self._wait(Deliver(next(self._ids), receipt=receipt))

    async def inbound(self, message: Inbound) -> None:
        await self._wait(Deliver(next(self._ids), inbound=message))

    async def _wait(self, deliver: Deliver) -> None:
        answered = trio.Event()
        got: list[list[str | None]] = []

        def answer(errors: list[str | None]) -> None:
            got.append(errors)
            answered.set()

        self._waiting[deliver.req] = answer
        self.pipe.put(deliver)
        await answered.wait()
        if got[0] and got[0][0] is not None:
            raise _Refused(got[0][0])

    def status(self, status: LinkStatus) -> None:
        self.pipe.put(State(status, self.up()))

    def answer(self, message: Answer) -> None:
        callback = self._waiting.pop(message.req, None)
        if callback is not None:
            callback(message.errors)


def _result(pipe: Pipe, token: int, result: SubmitResult) -> None:
    pipe.put(Result(token, result))


async def _report_up(link, pipe: Pipe) -> None:
    """``is_up`` can change without a status change (a tx/rx pair): tell the daemon when it does,
    and at least every ``HEARTBEAT_S`` anyway (the daemon's liveness check)."""
    last, sent_at = None, -HEARTBEAT_S
    while True:
        now = trio.current_time()
        if link.is_up != last or now - sent_at >= HEARTBEAT_S:
            last, sent_at = link.is_up, now
            pipe.put(State(None, last))
        await trio.sleep(UP_POLL_S)


async def serve(pipe: Pipe) -> None:
    first = await pipe.receive()
    if not first or not isinstance(first[0], Start):
        raise SystemExit("gatewayd.links.host: expected a Start frame on stdin")
    start = first[0]
    log_mod.setup(start.log_level)
    cfg = msgspec.json.decode(start.config, type=SmppConfig)
    from .smpp.link import SmppLink

    sink = PipeSink(pipe)
    link = SmppLink(cfg, sink)
    sink.up = lambda: link.is_up
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pipe.writer)
        await nursery.start(link.run)
        nursery.start_soon(_report_up, link, pipe)
        while (messages := await pipe.receive()) is not None:
            if any(isinstance(m, Stop) for m in messages):
                break
            for m in messages:
                if isinstance(m, Submit):
                    link.submit_nowait(m.seg, partial(_result, pipe, m.token))
                elif isinstance(m, Answer):
                    sink.answer(m)
                elif isinstance(m, Level):
                    logging.getLogger().setLevel(m.level.upper())
                    log.info("%s: log level %s", cfg.name, m.level)
        log.info("%s: stopping (daemon asked or went away)", cfg.name)
        link.stop_submitting()            # a daemon that died must not see its backlog go out after it
        nursery.cancel_scope.cancel()     # the link unbinds (shielded, time-limited)


async def _main() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(0))
    stdout = trio.lowlevel.FdStream(os.dup(1))
    await serve(Pipe(stdout, stdin))


def main() -> None:
    # The daemon decides when we stop (Stop, or its end of the pipe closing): a SIGTERM/SIGINT
    # sent to the whole service or terminal group must not cut the SMPP session without unbind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        trio.run(_main)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
