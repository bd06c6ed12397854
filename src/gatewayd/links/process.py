"""An SMPP link run in a process of its own (``isolated = true``, the default for smpp links).

Why: the daemon's event loop and the store's writer thread share one interpreter lock, and the
SMPP session and codec (framing, PDU encode/decode, receipt parsing, the socket) were about 60 %
of the loop's work under load. In a child process (links/host.py) that work runs on the other
core, and the daemon exchanges only submits, results, receipts, MO messages and state with it,
in batched frames (links/pipe.py).

Nothing about delivery changes: the child runs the same ``SmppLink``; receipts and MO messages are
answered to the SMSC only after the daemon committed them (the child waits for an Answer). If the
child dies, every submit it had not answered fails as a possible duplicate (it may have reached
the SMSC), its unanswered receipts are redelivered by the SMSC, and the child is restarted with the
link's reconnect backoff. So is a child that goes silent (it reports at least every second), after
being killed. On shutdown the child is asked to unbind and is killed if it does not exit in time.
"""

from __future__ import annotations

import itertools
import logging
import random
import subprocess
import sys
from collections.abc import Callable

import msgspec
import trio

from ..config import SmppConfig
from ..models import LinkState
from .base import LinkSink, LinkStatus, OutSegment, SubmitResult, submit_by_callback
from .pipe import Answer, Deliver, Level, Message, Pipe, PipeError, Receipts, Result, Start, State, Stop, Submit

log = logging.getLogger("gatewayd.links.process")

STOP_TIMEOUT_S = 5.0     # the child unbinds within 2 s (smpp.link.UNBIND_TIMEOUT_S)
SILENCE_S = 10.0         # nothing from the child this long (it sends a State every second): wedged
STABLE_S = 30.0

_LINK_DOWN = SubmitResult(ok=False, transient=True, error_code="link_down", error_text="not bound to the SMSC")


class ProcessLink:
    kind = "smpp"
    queues_submits = True      # the child's SmppLink keeps the window and holds the excess

    def __init__(self, cfg: SmppConfig, sink: LinkSink, *, command: list[str] | None = None,
                 silence_s: float = SILENCE_S) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.window = cfg.window
        self.whole_messages = cfg.long_messages == "payload"
        self._sink = sink
        self._command = command or [sys.executable, "-m", "gatewayd.links.host"]
        self._pipe: Pipe | None = None
        self._pending: dict[int, Callable[[SubmitResult], None]] = {}
        self._tokens = itertools.count(1)
        self._up = False
        self._silence_s = silence_s
        self.pid: int | None = None

    @property
    def is_up(self) -> bool:
        return self._up and self._pipe is not None

    @property
    def outstanding(self) -> int:
        return min(len(self._pending), self.window)

    def set_log_level(self, level: str) -> None:
        """SIGHUP changed ``log_level``: the worker follows (a restarted one starts with it)."""
        if self._pipe is not None:
            self._pipe.put(Level(level))

    # --- submitting -----------------------------------------------------------------------

    def submit_nowait(self, seg: OutSegment, done: Callable[[SubmitResult], None]) -> bool:
        """As ``SmppLink.submit_nowait``: ``done(result)`` exactly once; always True."""
        pipe = self._pipe
        if pipe is None or not self._up:
            done(_LINK_DOWN)
            return True
        token = next(self._tokens)
        self._pending[token] = done
        pipe.put(Submit(token, seg))
        return True

    async def submit(self, seg: OutSegment) -> SubmitResult:
        """One segment, awaited (multipart messages): the same window and backlog as
        :meth:`submit_nowait`; never raises for network trouble."""
        return await submit_by_callback(self.submit_nowait, seg)

    # --- the child ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        if not self.cfg.enabled:
            self._sink.status(LinkStatus(self.name, self.kind, LinkState.DISABLED, "disabled in config"))
            task_status.started()
            await trio.sleep_forever()
        task_status.started()
        delay = self.cfg.reconnect_min_s
        while True:
            began = trio.current_time()
            try:
                reason = await self._child()
            except (OSError, PipeError) as exc:
                reason = f"link worker failed: {exc}"
            if trio.current_time() - began >= STABLE_S:
                delay = self.cfg.reconnect_min_s
            pause = random.uniform(delay / 2, delay)
            log.warning("%s: %s; restarting it in %.1fs", self.name, reason, pause)
            self._sink.status(LinkStatus(self.name, self.kind, LinkState.DOWN, reason))
            await trio.sleep(pause)
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    async def _child(self) -> str:
        proc = await trio.lowlevel.open_process(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = proc.pid
        assert proc.stdin is not None and proc.stdout is not None
        pipe = Pipe(proc.stdin, proc.stdout)
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        pipe.put(Start(config=msgspec.json.encode(self.cfg), log_level=level))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pipe.writer)
                self._pipe = pipe
                while True:
                    messages: list[Message] | None | bool = False
                    with trio.move_on_after(self._silence_s):
                        messages = await pipe.receive()
                    if messages is False:
                        nursery.cancel_scope.cancel()
                        return f"link worker silent for {self._silence_s:g}s (wedged?)"
                    if messages is None:
                        break
                    for m in messages:
                        await self._handle(m, pipe, nursery)
                nursery.cancel_scope.cancel()
            with trio.move_on_after(STOP_TIMEOUT_S):
                await proc.wait()
            return f"link worker exited (code {proc.returncode})"
        finally:
            self._pipe = None
            self._up = False
            self._fail_pending(f"link worker for {self.name} went away")
            with trio.CancelScope(shield=True):
                await self._stop(proc, pipe)

    async def _handle(self, m: Message, pipe: Pipe, nursery: trio.Nursery) -> None:
        if isinstance(m, Result):
            done = self._pending.pop(m.token, None)
            if done is not None:
                done(m.result)
        elif isinstance(m, Receipts):
            def committed(errors: list[BaseException | None], req: int = m.req) -> None:
                pipe.put(Answer(req, [None if e is None else str(e) or type(e).__name__ for e in errors]))

            await self._sink.receipt_batch(m.receipts, committed)
        elif isinstance(m, Deliver):
            nursery.start_soon(self._deliver, m, pipe)
        elif isinstance(m, State):
            self._up = m.up
            if m.status is not None:
                self._sink.status(m.status)

    async def _deliver(self, m: Deliver, pipe: Pipe) -> None:
        """One receipt or MO the child waits on: answered once committed (or with the error)."""
        try:
            if m.receipt is not None:
                await self._sink.receipt(m.receipt)
            elif m.inbound is not None:
                await self._sink.inbound(m.inbound)
            pipe.put(Answer(m.req, [None]))
        except Exception as exc:
            log.exception("%s: could not store what the SMSC delivered", self.name)
            pipe.put(Answer(m.req, [f"{type(exc).__name__}: {exc}"]))

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for done in pending.values():
            done(SubmitResult(ok=False, transient=True, error_code="timeout",
                              error_text=f"connection lost before submit_sm_resp: {why}"))

    async def _stop(self, proc: trio.Process, pipe: Pipe) -> None:
        """Ask the child to unbind and exit; kill it if it does not in time."""
        if proc.returncode is None:
            try:
                with trio.move_on_after(1.0):
                    await proc.stdin.send_all(pipe.frame([Stop()]))   # type: ignore[union-attr]
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            with trio.move_on_after(STOP_TIMEOUT_S):
                await proc.wait()
            if proc.returncode is None:
                log.warning("%s: link worker did not stop in %.0fs; killing it", self.name, STOP_TIMEOUT_S)
                proc.kill()
                await proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                await stream.aclose()
