"""The one interface every link kind implements (sim, smpp, modem).

A link is a startable Trio service: ``await nursery.start(link.run)`` returns once the link is
*supervised* (not necessarily connected). The dispatcher calls ``submit`` for one segment at a
time, concurrently up to ``window``; the link reports receipts, inbound messages and its state
through the :class:`LinkSink` it was built with. ``sink.receipt``/``sink.inbound`` return only
after the data is committed, so the link may acknowledge to the network afterwards
(deliver_sm_resp, AT+CMGD, +CNMA).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec
import trio

from ..models import Encoding, LinkState


class OutSegment(msgspec.Struct, frozen=True):
    """One segment to submit. ``text`` is this segment's own text (already split)."""

    segment_id: int
    message_id: int
    sender: str
    recipient: str
    index: int          # 1-based
    count: int          # total segments of the message
    ref: int            # concatenation reference, same for all segments of a message (0..255: 8-bit UDH)
    encoding: Encoding
    text: str
    validity_s: int | None = None   # remaining TTL, for validity_period / TP-VP


class SubmitResult(msgspec.Struct, frozen=True):
    """Outcome of one submit. On failure ``transient`` decides retry vs fail; ``throttle``
    asks the dispatcher to slow the whole link down (ESME_RTHROTTLED, queue full)."""

    ok: bool
    carrier_id: str | None = None
    error_code: str | None = None     # e.g. "ESME_RINVDSTADR(0x0B)", "CMS 330"
    error_text: str | None = None
    transient: bool = False
    throttle: bool = False


class Receipt(msgspec.Struct, frozen=True):
    """A delivery report. ``carrier_id`` is normalised by the link (see receipts.normalise_id).
    Modems set ``carrier_id`` to the TP-MR and ``recipient`` so matching uses both."""

    link: str
    carrier_id: str
    stat: str                   # ReceiptStat value
    err: str | None = None      # carrier error code as text
    done_at: float | None = None
    recipient: str | None = None
    raw: str = ""
    alt_ids: tuple[str, ...] = ()   # other normalised forms to try (msg_id_format "auto")


class Inbound(msgspec.Struct, frozen=True):
    """A mobile-originated message, already reassembled if it was concatenated."""

    link: str
    sender: str          # the phone that wrote to us (E.164 when numeric)
    recipient: str       # our number it was sent to
    text: str
    received_at: float
    dedup_key: str | None = None    # stable id for recognising SMSC redelivery


class LinkStatus(msgspec.Struct, frozen=True):
    link: str
    kind: str
    state: LinkState
    reason: str = ""
    detail: dict[str, str | int | float | None] = {}   # signal, operator, imei, window...


class LinkSink(Protocol):
    async def receipt(self, receipt: Receipt) -> None: ...

    async def receipt_batch(self, receipts: list[Receipt],
                            done: Callable[[list[BaseException | None]], None]) -> None:
        """Queue receipts for ONE commit and return; ``done(errors)`` runs in the Trio thread once
        it committed, with None per stored receipt, or the error that kept one out. For links
        that get receipts in bursts (SMPP)."""
        ...

    async def inbound(self, message: Inbound) -> None: ...
    def status(self, status: LinkStatus) -> None: ...


class Link(Protocol):
    name: str
    kind: str
    window: int      # max outstanding submits

    @property
    def is_up(self) -> bool: ...

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None: ...

    async def submit(self, segment: OutSegment) -> SubmitResult:
        """Submit one segment. Never raises for network problems: returns a transient failure
        (``error_code="link_down"``) so the dispatcher re-queues in order."""
        ...


async def submit_by_callback(submit_nowait: Callable[[OutSegment, Callable[[SubmitResult], None]], bool],
                             seg: OutSegment) -> SubmitResult:
    """``Link.submit`` for links whose submits are answered by callback (SMPP, in or out of the
    daemon's process): the awaited path goes through the same window and backlog."""
    got: list[SubmitResult] = []
    answered = trio.Event()

    def done(result: SubmitResult) -> None:
        got.append(result)
        answered.set()

    submit_nowait(seg, done)
    await answered.wait()
    return got[0]
