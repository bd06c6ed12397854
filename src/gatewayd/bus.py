"""Live fan-out of the durable event log.

Events are written to the ``events`` table inside the transaction that caused them; the store
hands them here after commit. Publishing never blocks: each subscriber has a bounded buffer, and
one that falls behind is cut loose (its channel closed with ``lagged``) and resumes from its
cursor by reading the table. That is why a slow TUI over a bad SSH link cannot stall the queue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import trio

from .protocol.base import Event
from .store.store import Store

log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder(dict)


class Subscriber:
    def __init__(self, bus: "Bus", types: list[str] | None, buffer: int) -> None:
        self.bus = bus
        self.types = tuple(types) if types else None
        self.send, self.recv = trio.open_memory_channel[Event](buffer)
        self.lagged = False

    def wants(self, type_: str) -> bool:
        return self.types is None or type_.startswith(self.types)

    def close(self) -> None:
        self.bus._subs.discard(self)
        self.send.close()


class Bus:
    def __init__(self, store: Store, buffer: int = 10_000) -> None:
        self.store = store
        self.buffer = buffer
        self._subs: set[Subscriber] = set()
        self.last_cursor = 0
        self.listeners: list[Callable[[Event], None]] = []   # in-process observers (metrics, TUI-free)

    def publish(self, raw: list[tuple[int, float, str, dict[str, Any]]]) -> None:
        for cursor, at, type_, data in raw:
            ev = Event(cursor=cursor, at=at, type=type_, data=data)
            self.last_cursor = max(self.last_cursor, cursor)
            for listener in self.listeners:
                try:
                    listener(ev)
                except Exception:
                    log.exception("event listener failed")
            for sub in list(self._subs):
                if not sub.wants(type_):
                    continue
                try:
                    sub.send.send_nowait(ev)
                except trio.WouldBlock:
                    sub.lagged = True
                    sub.close()
                except trio.ClosedResourceError:
                    self._subs.discard(sub)

    def subscribe(self, types: list[str] | None = None) -> Subscriber:
        sub = Subscriber(self, types, self.buffer)
        self._subs.add(sub)
        return sub

    async def history(self, after: int, types: list[str] | None, limit: int = 1000) -> list[Event]:
        def q(db):
            rows = db.execute(
                "SELECT cursor, at, type, data FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?",
                (after, limit),
            ).fetchall()
            return [Event(cursor=r[0], at=r[1], type=r[2], data=_decode.decode(r[3])) for r in rows]

        events = await self.store.read(q)
        if types:
            prefixes = tuple(types)
            return [e for e in events if e.type.startswith(prefixes)], (events[-1].cursor if events else after)
        return events, (events[-1].cursor if events else after)

    async def stream(self, since: int | None, types: list[str] | None = None) -> AsyncIterator[Event]:
        """Replay from ``since`` (exclusive) then follow live, with no gap and no repeat.
        On lag, fall back to the table and rejoin live."""
        cursor = self.last_cursor if since is None else since
        while True:
            sub = self.subscribe(types)   # subscribe first, so nothing committed meanwhile is missed
            try:
                while True:
                    batch, scanned = await self.history(cursor, types)
                    for ev in batch:
                        yield ev
                    cursor = max(cursor, scanned)
                    if scanned >= self.last_cursor or not batch and scanned == cursor:
                        break
                async for ev in sub.recv:
                    if ev.cursor <= cursor:
                        continue
                    cursor = ev.cursor
                    yield ev
                # channel closed: we lagged; loop replays from the table.
            finally:
                sub.close()
