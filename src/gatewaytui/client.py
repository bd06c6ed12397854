"""The TUI's only door to the daemon: an asyncio client for the control socket.

Textual runs on asyncio, the daemon speaks NDJSON over a Unix socket. Requests share one
connection (the daemon answers a connection's requests in order, so a lock is all the
multiplexing we need) and reconnect lazily. The event stream lives on its own connection and
never gives up: when the daemon goes away it reports ``Connection(up=False)``, retries with
backoff, and resubscribes from the last cursor it delivered, so nothing is missed across a
daemon restart. Screens see typed results and :class:`RequestError`, never raw sockets.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec

from gatewayd import protocol as P

T = TypeVar("T")

DEFAULT_SOCKET = "/run/gatewayd/gatewayd.sock"
REQUEST_TIMEOUT_S = 15.0


class RequestError(Exception):
    """An error reply (or no daemon at all), with the wire code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def title(self) -> str:
        return self.code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Connection:
    """Stream status marker: ``up`` after (re)subscribing, ``not up`` while retrying."""

    up: bool
    detail: str = ""
    attempt: int = 0
    code: str = ""          # wire error code when the daemon refused us (e.g. ``forbidden``)


StreamItem = P.Event | Connection
#: Opens a fresh connected socket to the daemon (see :class:`SocketClient`'s ``connect``).
Connector = Callable[[], Awaitable[socket.socket]]


class Client(Protocol):
    """What screens need; :class:`SocketClient` in production, a fake in tests."""

    cursor: int | None

    async def call(self, req: P.Request, result_type: type[T] | None = None) -> T: ...

    def stream(self, since: int | None = None) -> AsyncIterator[StreamItem]: ...

    async def close(self) -> None: ...


def socket_path(cli_value: str | None) -> str:
    return cli_value or os.environ.get("GATEWAYD_SOCKET") or DEFAULT_SOCKET


_reply_decoder = msgspec.json.Decoder(P.Reply)
_event_decoder = msgspec.json.Decoder(P.base.EventLine)


class SocketClient:
    """Requests over one lazily (re)opened connection; events over :meth:`stream`.

    ``connect``, when given, supplies each new connection instead of dialling ``path`` (which then
    only names the daemon in messages). The daemon knows a peer by the credentials of the process
    that connected, so this is how a socket connected by someone else (another user, a socket
    activation) is used; it is called again on every reconnect.
    """

    def __init__(self, path: str, *, backoff: tuple[float, float] = (0.2, 3.0),
                 connect: Connector | None = None) -> None:
        self.path = path
        self._connect = connect
        self.cursor: int | None = None
        self._backoff = backoff
        self._lock = asyncio.Lock()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._next_id = 0

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self._connect is not None:
                return await asyncio.open_unix_connection(sock=await self._connect(), limit=P.MAX_LINE * 2)
            return await asyncio.open_unix_connection(self.path, limit=P.MAX_LINE * 2)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise RequestError("unavailable", f"gatewayd is not running at {self.path}") from exc
        except OSError as exc:
            raise RequestError("unavailable", f"cannot reach gatewayd at {self.path}: {exc.strerror}") from exc

    async def call(self, req: P.Request, result_type: type[T] | None = None) -> T:
        async with self._lock:
            self._next_id += 1
            req.id = self._next_id
            reply = await self._roundtrip(req)
        if not reply.ok:
            err = reply.error or P.ErrorBody("error", "unknown error")
            raise RequestError(err.code, err.message)
        if result_type is None:
            return reply.result
        try:
            return P.decode_result(reply.result, result_type)
        except msgspec.ValidationError as exc:
            raise RequestError("bad_reply", f"unexpected reply to {type(req).__name__}: {exc}") from exc

    async def _roundtrip(self, req: P.Request) -> P.Reply:
        # One retry on a fresh connection: a cached connection may have died with a daemon restart.
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = await self._open()
            reader, writer = self._conn
            try:
                writer.write(P.encode(req))
                await writer.drain()
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    while True:
                        line = await reader.readline()
                        if not line:
                            raise ConnectionResetError("closed by daemon")
                        reply = _reply_decoder.decode(line)
                        if reply.id == req.id:
                            return reply
                        if reply.id is None and not reply.ok:
                            # connection-level refusal (unknown user, malformed line) carries no id
                            await self._drop()
                            return reply
                        # else: the late reply of a cancelled request; skip it
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                await self._drop()
                if attempt == 2:
                    raise RequestError("unavailable", f"lost the connection to gatewayd: {exc}") from exc
            except asyncio.CancelledError:
                # a cancelled caller may leave a reply in flight: never let it answer the next request
                self._conn = None
                writer.close()
                raise
            except TimeoutError as exc:
                await self._drop()
                raise RequestError("timeout", f"gatewayd did not answer {type(req).__name__} in time") from exc
        raise AssertionError("unreachable")

    async def _drop(self) -> None:
        if self._conn is not None:
            _, writer = self._conn
            self._conn = None
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def stream(self, since: int | None = None) -> AsyncIterator[StreamItem]:
        """Follow the event log forever. Resumes from the last delivered cursor after a loss."""
        if since is not None:
            self.cursor = since
        attempt = 0
        delay = self._backoff[0]
        while True:
            writer = None
            try:
                reader, writer = await self._open()
                writer.write(P.encode(P.Subscribe(since=self.cursor, id=0)))
                await writer.drain()
                first = await reader.readline()
                if not first:
                    raise ConnectionResetError("closed by daemon")
                reply = _reply_decoder.decode(first)
                if not reply.ok:
                    err = reply.error or P.ErrorBody("error", "subscribe refused")
                    raise RequestError(err.code, err.message)
                if self.cursor is None and isinstance(reply.result, dict):
                    self.cursor = reply.result.get("last_cursor")
                attempt, delay = 0, self._backoff[0]
                yield Connection(up=True)
                while line := await reader.readline():
                    ev = _event_decoder.decode(line).event
                    self.cursor = ev.cursor
                    yield ev
                raise ConnectionResetError("gatewayd closed the event stream")
            except (RequestError, OSError, ConnectionError, msgspec.DecodeError) as exc:
                attempt += 1
                code = exc.code if isinstance(exc, RequestError) else "unavailable"
                yield Connection(up=False, detail=_reason(exc), attempt=attempt, code=code)
            finally:
                if writer is not None:
                    writer.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def close(self) -> None:
        await self._drop()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RequestError):
        return exc.message
    return str(exc) or type(exc).__name__


def describe(result: Any) -> str:
    """Short text for a result we do not render specially (notifications)."""
    return msgspec.json.encode(result).decode()[:200]
