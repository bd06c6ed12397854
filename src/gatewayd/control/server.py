"""NDJSON over a Unix socket: one request -> one reply, one error boundary per connection.

A malformed line gets a typed error and the connection stays usable; an oversized line gets an
error and the connection is closed (we cannot find the next line boundary without reading an
unbounded amount). ``subscribe`` turns the connection into an event stream.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as pysocket
from typing import Any

import msgspec
import trio

from .. import protocol as P
from ..errors import GatewayError
from .access import Principal, peer_uid, resolve

log = logging.getLogger(__name__)


class Conn:
    def __init__(self, stream: trio.SocketStream, principal: Principal, max_line: int) -> None:
        self.stream = stream
        self.principal = principal
        self.max_line = max_line
        self.buf = bytearray()
        self.lock = trio.Lock()

    async def send(self, obj: Any) -> None:
        async with self.lock:
            await self.stream.send_all(P.encode(obj))

    async def lines(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                yield line
                continue
            if len(self.buf) > self.max_line:
                raise OverflowError
            data = await self.stream.receive_some(65536)
            if not data:
                return
            self.buf += data


async def _bind(path: str, mode: int) -> trio.socket.SocketType:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.exists(path):
        probe = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)   # stale socket from a crash
        else:
            probe.close()
            raise GatewayError(f"another gatewayd is listening on {path}", code="in_use")
        finally:
            probe.close()
    sock = trio.socket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    await sock.bind(path)
    os.chmod(path, mode)
    sock.listen(128)
    return sock


async def serve_control(gw, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
    sock = await _bind(gw.socket_path, gw.cfg.control.socket_mode)
    listener = trio.SocketListener(sock)
    task_status.started()
    await trio.serve_listeners(lambda stream: _connection(gw, stream), [listener])


async def _connection(gw, stream: trio.SocketStream) -> None:
    from .handlers import dispatch

    try:
        uid = peer_uid(stream.socket)  # type: ignore[arg-type]
    except OSError:
        await stream.aclose()
        return
    principal = resolve(uid, gw.cfg.access)
    if principal is None:
        try:
            await stream.send_all(P.encode(P.error_reply("forbidden", f"unknown user uid {uid}: not in [access]")))
        finally:
            await stream.aclose()
        return
    conn = Conn(stream, principal, gw.cfg.control.max_line_bytes)
    try:
        async for line in conn.lines():
            if not line.strip():
                continue
            try:
                req = P.decode_request(line)
            except msgspec.ValidationError as exc:
                await conn.send(P.error_reply(_validation_code(exc), str(exc), _guess_id(line)))
                continue
            except msgspec.DecodeError as exc:
                await conn.send(P.error_reply("bad_json", f"malformed JSON: {exc}"))
                continue
            if isinstance(req, P.Subscribe):
                await _stream_events(gw, conn, req)
                return
            await conn.send(await dispatch(gw, conn.principal, req))
    except OverflowError:
        await conn.send(P.error_reply("line_too_long", f"request longer than {conn.max_line} bytes; closing"))
        # Closing with unread input would reset the connection and could destroy the error reply
        # before the client reads it: half-close, discard the rest briefly, then close.
        with trio.move_on_after(1.0):
            await stream.send_eof()
            while await stream.receive_some(65536):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
            raise
    finally:
        await stream.aclose()


def _validation_code(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    return "unknown_op" if "at `$.op`" in text or "missing required field `op`" in text else "bad_request"


def _guess_id(line: bytes) -> Any:
    try:
        obj = msgspec.json.decode(line)
        return obj.get("id") if isinstance(obj, dict) else None
    except Exception:
        return None


async def _stream_events(gw, conn: Conn, req: P.Subscribe) -> None:
    """Replay from the cursor, then follow live. The client resumes with its last cursor."""
    await conn.send(P.ok_reply({"since": req.since, "last_cursor": gw.bus.last_cursor}, req.id))
    async for ev in gw.bus.stream(req.since, req.types):
        if not _visible(conn.principal, ev):
            continue
        await conn.send(P.base.EventLine(ev))


def _visible(principal: Principal, ev: P.Event) -> bool:
    """Users see their offices' campaign/conversation events, plus conversations routed to their
    personal inbox or assigned to them (which may belong to another office)."""
    office = ev.data.get("office")
    if office is None or principal.in_office(office):
        return True
    return ev.data.get("assignee") == principal.user or f"agent:{principal.user}" in (ev.data.get("inbox") or ())
