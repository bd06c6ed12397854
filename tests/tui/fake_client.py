"""A fake control-socket client for Pilot tests: an in-memory gateway behind the Client interface.

Results go through msgspec the same way the real client's do (to builtins and back into the
typed view), so a field the TUI reads but the schema lacks fails here too. Tests push events and
connection changes into the stream, make ops fail with a code, and read back the requests sent.
Campaigns, contacts and the inbox live in :mod:`fake_campaigns` (``CampaignClient``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import msgspec

from gatewayd import protocol as P
from gatewayd.models import Encoding, LinkState, MsgState, Role, SegmentInfo
from gatewaytui.client import Connection, RequestError

T0 = 1_700_000_000.0   # fixed clock for deterministic screens (2023-11-14, never "today")


def analyse(text: str) -> SegmentInfo:
    """Good enough for the fake: ASCII counts as GSM-7, anything else UCS-2."""
    if all(ord(c) < 128 for c in text):
        units, single, multi, enc = len(text), 160, 153, Encoding.GSM7
    else:
        units, single, multi, enc = len(text.encode("utf-16-le")) // 2, 70, 67, Encoding.UCS2
    per = single if units <= single else multi
    segs = max(1, -(-units // per))
    return SegmentInfo(enc, segs, units, per, per * segs - units)


def message(mid: int, state: str = "delivered", *, to: str | None = None, text: str | None = None,
            at: float | None = None) -> P.MessageView:
    at = at if at is not None else T0 + mid
    return P.MessageView(id=mid, key=None, sender="+14155550100", recipient=to or f"+1415555{mid:04d}",
                         text=text or f"hello {mid}", state=MsgState(state), priority="transactional",
                         encoding="gsm7", segments=1, created_at=at, updated_at=at, expires_at=None, attempts=1,
                         link="sim", error_code=None, error_text=None, possible_duplicate=False)


def link(name: str = "sim", state: str = "up", *, enabled: bool = True, reason: str = "") -> P.LinkView:
    return P.LinkView(name=name, kind="sim", state=LinkState(state), reason=reason, enabled=enabled, window=50,
                      in_flight=3, rate=200.0, detail={}, sent_last_min=120, price_per_segment=0.0075)


def number(address: str = "+14155550100", **kw: Any) -> P.NumberView:
    base = dict(address=address, links=["sim"], rate=20.0, burst=40, daily_cap=1000, used_today=12, enabled=True,
                reusable=True, office="main")
    base.update(kw)
    return P.NumberView(**base)


class FakeClient:
    def __init__(self, *, role: str = "admin", messages: int = 0, user: str = "alice") -> None:
        self.cursor: int | None = None
        self.identity = P.Identity(user=user, uid=1000, role=Role(role), offices=["main"], limited=False,
                                   version="0.1.0")
        self.status = P.StatusView(
            version="0.1.0", started_at=T0, links=[link()], numbers=[number(), number("ACME", daily_cap=None)],
            queue={"queued": 5, "sending": 2, "sent": 10, "delivered": 80, "undelivered": 3, "failed": 1},
            segments={}, sent_per_s=2.0, delivered_per_s=1.5, inbound_total=7, unmatched_receipts=0,
            last_cursor=100)
        self.messages: dict[int, P.MessageView] = {i: message(i) for i in range(1, messages + 1)}
        self.receipts: list[P.ReceiptView] = []
        self.requests: list[P.Request] = []
        self.failures: dict[str, RequestError] = {}
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self._stream: asyncio.Queue[P.Event | Connection] = asyncio.Queue()
        self._cursor = 100
        self.subscribed_since: list[int | None] = []

    # ---- Client interface ---------------------------------------------------------------

    async def call(self, req: P.Request, result_type: type | None = None) -> Any:
        self.requests.append(req)
        await asyncio.sleep(0)
        op = req.__struct_config__.tag
        if op in self.failures:
            raise self.failures[op]
        handler = self.handlers.get(op) or getattr(self, f"op_{op}", None)
        if handler is None:
            raise RequestError("unknown_op", f"unknown op {op!r}")
        result = msgspec.to_builtins(handler(req))
        return result if result_type is None else P.decode_result(result, result_type)

    async def stream(self, since: int | None = None):
        self.subscribed_since.append(self.cursor if since is None else since)
        yield Connection(up=True)
        while True:
            item = await self._stream.get()
            if isinstance(item, P.Event):
                self.cursor = item.cursor
            yield item

    async def close(self) -> None:
        pass

    # ---- test controls ------------------------------------------------------------------

    def push(self, type_: str, *, at: float | None = None, **data: Any) -> P.Event:
        """Queue an event, stamped now unless ``at`` is given (snapshots need fixed times)."""
        self._cursor += 1
        ev = P.Event(cursor=self._cursor, at=time.time() if at is None else at, type=type_, data=data)
        self._stream.put_nowait(ev)
        return ev

    def go_down(self, detail: str = "gatewayd is not running at /tmp/x.sock", attempt: int = 1) -> None:
        self._stream.put_nowait(Connection(up=False, detail=detail, attempt=attempt))

    def come_back(self) -> None:
        self._stream.put_nowait(Connection(up=True))

    def set_message(self, mid: int, state: str, **changes: Any) -> P.MessageView:
        self.messages[mid] = msgspec.structs.replace(self.messages[mid], state=MsgState(state), **changes)
        return self.messages[mid]

    def sent(self, op: str) -> list[P.Request]:
        return [r for r in self.requests if r.__struct_config__.tag == op]

    # ---- ops ----------------------------------------------------------------------------

    def op_hello(self, req: P.Hello) -> P.Identity:
        return self.identity

    def op_status(self, req: P.Status) -> P.StatusView:
        return self.status

    def op_list_messages(self, req: P.ListMessages) -> P.MessagePage:
        items = sorted(self.messages.values(), key=lambda m: -m.id)
        if req.state is not None:
            items = [m for m in items if m.state == req.state]
        if req.recipient:
            items = [m for m in items if m.recipient == req.recipient]
        if req.before_id is not None:
            items = [m for m in items if m.id < req.before_id]
        page = items[: req.limit]
        more = len(items) > req.limit
        return P.MessagePage(items=page, next_before_id=page[-1].id if more and page else None)

    def op_get_message(self, req: P.GetMessage) -> P.MessageDetail:
        m = self.messages.get(req.message_id)
        if m is None:
            raise RequestError("not_found", f"no message {req.message_id}")
        segs = [P.SegmentView(index=1, state=m.state.value, carrier_id="1a2b", link="sim", submitted_at=m.created_at,
                              done_at=m.updated_at, receipt_stat="DELIVRD", error_code=None, error_text=None)]
        hist = [P.HistoryEntry(at=m.created_at, state="queued", detail=""),
                P.HistoryEntry(at=m.created_at, state="sent", detail="accepted by sim"),
                P.HistoryEntry(at=m.updated_at, state=m.state.value, detail="receipt DELIVRD")]
        return P.MessageDetail(message=m, segments=segs, history=hist)

    def op_analyse(self, req: P.Analyse) -> SegmentInfo:
        return analyse(req.text)

    def op_send(self, req: P.Send) -> P.MessageView:
        mid = max(self.messages, default=0) + 1
        m = message(mid, "queued", to=req.to, text=req.text)
        self.messages[mid] = m
        return m

    def op_cancel(self, req: P.Cancel) -> P.MessageView:
        m = self.messages[req.message_id]
        self.messages[m.id] = msgspec.structs.replace(m, state=MsgState.CANCELLED)
        return self.messages[m.id]

    def op_retry(self, req: P.Retry) -> P.MessageView:
        m = self.messages[req.message_id]
        self.messages[m.id] = msgspec.structs.replace(m, state=MsgState.QUEUED)
        return self.messages[m.id]

    def op_set_enabled(self, req: P.SetEnabled) -> dict:
        if req.kind == "link":
            self.status.links = [msgspec.structs.replace(x, enabled=req.enabled) if x.name == req.name else x
                                 for x in self.status.links]
        else:
            self.status.numbers = [msgspec.structs.replace(x, enabled=req.enabled) if x.address == req.name else x
                                   for x in self.status.numbers]
        return {"kind": req.kind, "name": req.name, "enabled": req.enabled}

    def op_list_receipts(self, req: P.ListReceipts) -> list[P.ReceiptView]:
        return self.receipts[: req.limit]
