"""One SMPP connection on Trio: bind, a single reader, pending requests, keepalive, unbind.

Shape (ARCHITECTURE.md, "Patterns to copy"): one reader task owns the receive side and routes
responses to the waiting request by sequence number; one writer task owns the send side and
writes whole buffers of queued PDUs, so PDUs never interleave or get cut. Awaited requests carry
no timeout of their own (callers wrap them in ``fail_after`` / ``move_on_after``); callback
requests (:meth:`request_nowait`, the submit hot path) share one timer for the response timeout.
The session answers what an ESME must answer by itself (enquire_link, unbind, generic_nack for
PDUs it cannot parse). deliver_sm/data_sm go to ``on_deliver`` in ordered lanes per source
address, or, for what the owner's ``take`` accepts (receipts), in one batch per read; either way
the answer goes out only after the commit, so the SMSC redelivers anything we did not store.

The session's nursery is shielded from outside cancellation: on shutdown the owner still unbinds
through the live reader (:meth:`unbind`, itself shielded and time-limited) and then calls
:meth:`close`, which is what stops the tasks. The owner must call :meth:`close` in a ``finally``.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from . import codec, trace
from .codec import Pdu

log = logging.getLogger("gatewayd.links.smpp")

#: deliver_sm/data_sm are handled in this many ordered lanes, chosen by source address: one
#: handset's messages (STOP, then START) and receipts are committed in the order they came, while
#: different handsets' commits overlap (and share group commits).
INBOUND_LANES = 32
LANE_DEPTH = 8   # queued per lane before the reader stops reading (backpressure to the SMSC)
WRITE_TIMEOUT_S = 10.0
OUT_HIGH_WATER = 64 * 1024     # octets queued for the writer before senders wait

BATCH_BACKLOG = 4096   # batched deliver_sm not yet answered before the reader stops reading

OnDeliver = Callable[[Pdu], Awaitable[int | None]]
#: Receipts in bulk: ``take(pdu)`` returns the link's reading of a PDU it wants to commit in a batch
#: (None: the PDU goes through ``on_deliver`` as usual); ``on_batch(items, answer)`` queues one
#: batch for one commit and arranges for ``answer(statuses)`` (one per item) to be called after it.
Take = Callable[[Pdu], object | None]
#: A request answered by callback: ``(response, "")``, or ``(None, "timeout")`` after the response
#: timeout, or ``(None, reason)`` when the connection closed first. Called exactly once.
OnResponse = Callable[[Pdu | None, str], None]
OnBatch = Callable[[list, Callable[[list[int]], None]], Awaitable[None]]


def lane_of(source_addr: str) -> int:
    return zlib.crc32(source_addr.encode("latin-1", "replace")) % INBOUND_LANES


class SessionClosed(Exception):
    """The connection is gone. ``written``: the request had been sent before it went."""

    def __init__(self, reason: str, *, written: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.written = written


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"{codec.status_name(status)} {codec.status_text(status)}")
        self.status = status


class _Pending:
    __slots__ = ("done", "pdu", "written")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.pdu: Pdu | None = None
        self.written = False


class Session:
    def __init__(self, stream: trio.abc.Stream, *, name: str, on_deliver: OnDeliver,
                 enquire_link_s: float, response_timeout_s: float, max_pdu: int = codec.MAX_PDU,
                 take: Take | None = None, on_batch: OnBatch | None = None) -> None:
        self.name = name
        self._stream = stream
        self._on_deliver = on_deliver
        self._take = take if on_batch is not None else None
        self._on_batch = on_batch
        self._batch: list[tuple[Pdu, object]] = []
        self._unanswered = 0
        self._room = trio.Event()
        self.enquire_link_s = enquire_link_s
        self.response_timeout_s = response_timeout_s
        self._framer = codec.Framer(max_pdu)
        self._seq = codec.Sequencer()
        self._pending: dict[int, _Pending] = {}
        self._callbacks: dict[int, tuple[float, OnResponse]] = {}   # in send order = deadline order
        self._callback_added = trio.Event()
        self._out = bytearray()
        self._out_ready = trio.Event()
        self._drained = trio.Event()
        self._close_when_flushed = ""
        self._lanes = [trio.open_memory_channel[Pdu](LANE_DEPTH) for _ in range(INBOUND_LANES)]
        self._nursery: trio.Nursery | None = None
        self.closed = trio.Event()
        self.close_reason = ""
        self.bound = False
        self.last_rx = trio.current_time()

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._callbacks)

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Read until :meth:`close`; returns then. Start with ``nursery.start``."""
        async with trio.open_nursery() as nursery:
            nursery.cancel_scope.shield = True
            self._nursery = nursery
            nursery.start_soon(self._reader)
            nursery.start_soon(self._writer)
            nursery.start_soon(self._expire_callbacks)
            for _send, receive in self._lanes:
                nursery.start_soon(self._lane, receive)
            task_status.started()
            await self.closed.wait()
            nursery.cancel_scope.cancel()

    def close(self, reason: str) -> None:
        """Mark the connection dead: waiting requests fail with :class:`SessionClosed`."""
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.bound = False
        self.closed.set()
        self._drained.set()
        for slot in self._pending.values():
            slot.done.set()
        callbacks, self._callbacks = self._callbacks, {}
        for _deadline, callback in callbacks.values():
            self._call(callback, None, reason)

    # --- requests -------------------------------------------------------------------------

    async def request(self, build: Callable[[int], bytes]) -> Pdu:
        """Send ``build(sequence)`` and wait for the response (or generic_nack) to it."""
        if self.closed.is_set():
            raise SessionClosed(self.close_reason)
        seq = self._seq.next()
        slot = self._pending[seq] = _Pending()
        try:
            await self.send(build(seq))
            slot.written = True
            await slot.done.wait()
        except SessionClosed as exc:
            raise SessionClosed(exc.reason, written=slot.written) from None
        finally:
            del self._pending[seq]
        if slot.pdu is None:
            raise SessionClosed(self.close_reason, written=True)
        return slot.pdu

    def request_nowait(self, build: Callable[[int], bytes], on_response: OnResponse) -> bool:
        """Queue ``build(sequence)`` now and have the reader call ``on_response`` with its answer:
        no task, no wait (the submit hot path). False, and nothing sent, if the connection is
        closed. The caller bounds what it queues (the link's window), so no high-water check."""
        if self.closed.is_set():
            return False
        seq = self._seq.next()
        self._out += build(seq)
        self._out_ready.set()
        self._callbacks[seq] = (trio.current_time() + self.response_timeout_s, on_response)
        self._callback_added.set()
        return True

    def _call(self, callback: OnResponse, pdu: Pdu | None, failure: str) -> None:
        try:
            callback(pdu, failure)
        except Exception:   # the reader must survive a bug in whoever waits
            log.exception("%s: response callback failed", self.name)

    async def _expire_callbacks(self) -> None:
        """The response timeout of callback requests: one timer for all (they were sent in order,
        so the oldest is always the next to expire)."""
        while True:
            if not self._callbacks:
                self._callback_added = trio.Event()
                await self._callback_added.wait()
                continue
            seq, (deadline, callback) = next(iter(self._callbacks.items()))
            if trio.current_time() < deadline:
                await trio.sleep_until(deadline)
                continue
            del self._callbacks[seq]
            self._call(callback, None, "timeout")

    async def send(self, raw: bytes) -> None:
        """Queue one PDU for the writer task. PDUs queued together go out in one write (fewer
        syscalls under load); the caller waits only while the buffer is over its high-water mark."""
        while len(self._out) >= OUT_HIGH_WATER and not self.closed.is_set():
            await self._drained.wait()
        if self.closed.is_set():
            raise SessionClosed(self.close_reason)
        self._out += raw
        self._out_ready.set()

    async def _writer(self) -> None:
        """The only task that writes: whole buffers, so a PDU is never cut by a cancelled write.
        A peer that stops reading for WRITE_TIMEOUT_S is dead to us."""
        while True:
            await self._out_ready.wait()
            await trio.lowlevel.checkpoint()   # let tasks that are ready now add their PDUs too
            self._out_ready = trio.Event()
            while self._out:
                data = bytes(self._out)
                self._out.clear()
                if log.isEnabledFor(logging.DEBUG):
                    for pdu in trace.split(data):
                        log.debug("%s: -> %s", self.name, trace.describe(pdu))
                drained, self._drained = self._drained, trio.Event()
                drained.set()
                with trio.move_on_after(WRITE_TIMEOUT_S) as scope:
                    try:
                        await self._stream.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                        self.close(f"write failed: {exc or type(exc).__name__}")
                        return
                if scope.cancelled_caught:
                    self.close(f"write stalled for {WRITE_TIMEOUT_S:g}s")
                    return
            if self._close_when_flushed:
                self.close(self._close_when_flushed)
                return

    async def bind(self, mode: str, *, system_id: str, password: str, system_type: str = "") -> str:
        """Bind as ``transceiver``/``transmitter``/``receiver``; returns the SMSC's system_id."""
        pdu = await self.request(partial(codec.bind, mode, system_id=system_id, password=password,
                                         system_type=system_type))
        if pdu.command == "generic_nack" or pdu.status != codec.ROK:
            raise BindRefused(pdu.status or codec.RBINDFAIL)
        self.bound = True
        assert self._nursery is not None
        self._nursery.start_soon(self._keepalive)
        return pdu.get("system_id", "")

    async def unbind(self, timeout_s: float = 2.0) -> None:
        """Graceful goodbye; runs even while the caller is being cancelled, for ``timeout_s``."""
        with trio.CancelScope(shield=True), trio.move_on_after(timeout_s):
            try:
                await self.request(partial(codec.empty, "unbind"))
            except SessionClosed:
                pass
        self.close("unbound")

    # --- tasks ----------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        """enquire_link after ``enquire_link_s`` without hearing from the SMSC; no answer within
        the response timeout means the peer is stalled: close, the link reconnects."""
        while not self.closed.is_set():
            due = self.last_rx + self.enquire_link_s
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue
            with trio.move_on_after(self.response_timeout_s) as scope:
                try:
                    await self.request(partial(codec.empty, "enquire_link"))
                except SessionClosed:
                    return
            if scope.cancelled_caught:
                log.warning("%s: no enquire_link_resp within %gs", self.name, self.response_timeout_s)
                self.close(f"SMSC stalled: no answer to enquire_link within {self.response_timeout_s:g}s")
                return
            self.last_rx = trio.current_time()

    async def _reader(self) -> None:
        try:
            while True:
                data = await self._stream.receive_some(65536)
                if not data:
                    self.close("connection closed by the SMSC")
                    return
                self.last_rx = trio.current_time()
                for raw in self._framer.feed(data):
                    await self._dispatch(raw)
                if self._batch:
                    await self._flush_batch()
        except codec.FramingError as exc:
            log.error("%s: dropping the connection: %s", self.name, exc)
            self.close(f"framing error: {exc}")
        except SessionClosed:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.close(f"connection lost: {exc or type(exc).__name__}")

    async def _dispatch(self, raw: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: <- %s", self.name, trace.describe(raw))
        try:
            pdu = codec.decode(raw)
        except codec.DecodeError as exc:
            log.warning("%s: undecodable PDU seq=%d: %s: %s", self.name, exc.sequence, exc, raw[:64].hex())
            if not exc.command_id & 0x80000000:
                await self.send(codec.generic_nack(exc.sequence, exc.status))
            return  # a broken response: its request times out and is retried as a possible duplicate
        if pdu.is_response:
            waiting = self._callbacks.pop(pdu.sequence, None)
            if waiting is not None:
                self._call(waiting[1], pdu, "")
                return
            slot = self._pending.get(pdu.sequence)
            if slot is None:
                log.info("%s: %s seq=%d matches no pending request (late, after a timeout?) %s",
                         self.name, pdu.command, pdu.sequence, pdu.params)
            else:
                slot.pdu = pdu
                slot.done.set()
            return
        match pdu.command:
            case "enquire_link":
                await self.send(codec.empty("enquire_link_resp", pdu.sequence))
            case "unbind":
                await self.send(codec.empty("unbind_resp", pdu.sequence))
                self.bound = False
                self._close_when_flushed = "unbound by the SMSC"
            case "deliver_sm" | "data_sm" | "alert_notification":
                if self._take is not None and pdu.command != "alert_notification":
                    item = self._take(pdu)
                    if item is not None:
                        self._batch.append((pdu, item))
                        return
                lane = self._lanes[lane_of(pdu.get("source_addr", ""))][0]
                await lane.send(pdu)
            case _:
                await self.send(codec.generic_nack(pdu.sequence, codec.RINVCMDID))

    async def _flush_batch(self) -> None:
        """Everything one read brought that the link takes in bulk (receipts): one commit, then
        one write of all the answers. The reader goes on reading meanwhile, up to BATCH_BACKLOG
        unanswered PDUs."""
        batch, self._batch = self._batch, []
        self._unanswered += len(batch)
        answered = False

        def answer(statuses: list[int]) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            self._unanswered -= len(batch)
            self._room.set()
            if not self.closed.is_set():
                self._out += b"".join(codec.resp_with_id(p.command, p.sequence, status=status)
                                      for (p, _), status in zip(batch, statuses, strict=True))
                self._out_ready.set()

        assert self._on_batch is not None
        try:
            await self._on_batch([item for _, item in batch], answer)
        except Exception:
            log.exception("%s: queueing %d receipts failed; answering ESME_RX_T_APPN so the SMSC "
                          "redelivers", self.name, len(batch))
            answer([codec.RX_T_APPN] * len(batch))
        while self._unanswered > BATCH_BACKLOG and not self.closed.is_set():
            self._room = trio.Event()
            await self._room.wait()

    async def _lane(self, receive: trio.MemoryReceiveChannel[Pdu]) -> None:
        """Inbound requests of one lane, in order: each response goes out only after
        ``on_deliver`` returned (committed)."""
        async for pdu in receive:
            try:
                status = await self._on_deliver(pdu)
            except Exception:
                log.exception("%s: handling %s seq=%d failed; answering ESME_RX_T_APPN so the SMSC "
                              "redelivers", self.name, pdu.command, pdu.sequence)
                status = codec.RX_T_APPN
            if status is not None and pdu.command != "alert_notification":
                try:
                    await self.send(codec.resp_with_id(pdu.command, pdu.sequence, status=status))
                except SessionClosed:
                    return
