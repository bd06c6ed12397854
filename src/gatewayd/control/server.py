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
import stat
from typing import Any

import msgspec
import trio

from .. import protocol as P
from ..errors import GatewayError
from .access import Principal, peer_uid, resolve_name, user_name
from .limits import TRIM_AFTER_BYTES, Connections, RateLimitedLog, release_memory

log = logging.getLogger(__name__)


class Conn:
    """One client: who it is (re-resolved when ``[access]`` changes), and its unfinished line."""

    def __init__(self, stream: trio.SocketStream, uid: int, name: str, principal: Principal, access: Any,
                 max_line: int) -> None:
        self.stream = stream
        self.uid = uid
        self.name = name
        self.principal = principal
        self.access = access          # the [access] the principal was resolved from
        self.max_line = max_line
        self.buf = bytearray()
        self.peak = 0                 # most bytes buffered at once (memory is trimmed after big ones)
        self.lock = trio.Lock()

    def current(self, access: Any) -> Principal | None:
        """The principal under today's ``[access]``: a SIGHUP that removed or demoted the user
        applies to connections opened before it, from their next request on."""
        if access is not self.access:
            self.access = access
            self.principal = resolve_name(self.uid, self.name, access)  # type: ignore[assignment]
        return self.principal

    async def send(self, obj: Any) -> None:
        async with self.lock:
            await self.stream.send_all(P.encode(obj))

    async def lines(self):
        """Complete lines; never more than ``max_line + 1`` bytes of an unfinished one are read."""
        scanned = 0
        while True:
            nl = self.buf.find(b"\n", scanned)
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                scanned = 0
                yield line
                continue
            scanned = len(self.buf)
            if scanned > self.max_line:
                raise OverflowError
            data = await self.stream.receive_some(min(65536, self.max_line + 1 - scanned))
            if not data:
                return
            self.buf += data
            self.peak = max(self.peak, len(self.buf))


def check_not_listening(path: str) -> None:
    """Refuse to start when another process answers on ``path``.

    Called before the daemon touches anything (store lock, links, the socket file), so a second
    instance started by mistake leaves the running one, its socket and its carriers alone.
    """
    if not os.path.lexists(path):
        return
    if not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise GatewayError(f"{path} exists and is not a socket; not replacing it", code="config")
    probe = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return      # nobody listens: a stale socket from a crash, replaced at bind
    finally:
        probe.close()
    raise GatewayError(f"another gatewayd is listening on {path}; not starting", code="in_use")


async def _bind(path: str, mode: int, group: str | None = None) -> trio.socket.SocketType:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    check_not_listening(path)   # again: one may have started since serve() checked
    if os.path.lexists(path):
        os.unlink(path)   # stale socket from a crash (nobody answered the probe)
    sock = trio.socket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    await sock.bind(path)
    os.chmod(path, mode)
    from ..permissions import give_group, socket_group

    group = socket_group(group)
    if group is not None:
        give_group(path, group)
    sock.listen(128)
    return sock


def socket_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def unlink_own_socket(path: str, identity: tuple[int, int] | None) -> None:
    """Remove the socket file only if it is still the one we bound (never another daemon's)."""
    if identity is not None and socket_identity(path) == identity:
        try:
            os.unlink(path)
        except OSError:
            pass


async def serve_control(gw, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
    sock = await _bind(gw.socket_path, gw.cfg.control.socket_mode, gw.cfg.control.socket_group)
    gw.socket_identity = socket_identity(gw.socket_path)
    gw.connections = Connections()
    listener = trio.SocketListener(sock)
    task_status.started()
    await trio.serve_listeners(lambda stream: _connection(gw, stream), [listener])


_log = RateLimitedLog()


async def _refuse(stream: trio.SocketStream, code: str, message: str) -> None:
    try:
        with trio.move_on_after(1.0):
            await stream.send_all(P.encode(P.error_reply(code, message)))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    finally:
        await stream.aclose()


async def _connection(gw, stream: trio.SocketStream) -> None:
    conns: Connections = gw.connections
    cap = gw.cfg.control.max_connections
    if not conns.try_enter(cap):
        _log.warning("busy", "control: connection refused: %d open, the limit is %d ([control] max_connections)",
                     conns.open, cap)
        await _refuse(stream, "busy", f"too many connections (limit {cap}); try again later")
        return
    conn: Conn | None = None
    try:
        conn = await _serve_one(gw, stream)
    finally:
        conns.leave()
        if conn is not None and conn.peak >= TRIM_AFTER_BYTES:
            conn.buf = bytearray()
            release_memory()


async def _serve_one(gw, stream: trio.SocketStream) -> Conn | None:
    from .handlers import audit_refusal, dispatch

    try:
        uid = peer_uid(stream.socket)  # type: ignore[arg-type]
    except OSError:
        await stream.aclose()
        return None
    name = user_name(uid)
    access = gw.cfg.access
    principal = resolve_name(uid, name, access)
    if principal is None:
        if _log.warning("refused", "control: refused %s (uid %d): not in [access]", name, uid):
            await audit_refusal(gw, name, "connect", "forbidden: not in [access]")
        await _refuse(stream, "forbidden", f"unknown user uid {uid}: not in [access]")
        return None
    conn = Conn(stream, uid, name, principal, access, gw.cfg.control.max_line_bytes)
    try:
        async for line in conn.lines():
            if not line.strip():
                continue
            who = conn.current(gw.cfg.access)
            if who is None:
                if _log.warning("refused", "control: %s lost access on reload; closing their connection", name):
                    await audit_refusal(gw, name, "request", "forbidden: removed from [access]")
                await conn.send(P.error_reply("forbidden", f"{name} is no longer in [access]", _guess_id(line)))
                return conn
            try:
                req = P.decode_request(line)
            except msgspec.ValidationError as exc:
                _log.warning("bad_request", "control: bad request from %s: %s", name, _short(str(exc)))
                await conn.send(P.error_reply(_validation_code(exc), str(exc), _guess_id(line)))
                continue
            except msgspec.DecodeError as exc:
                _log.warning("bad_request", "control: malformed JSON from %s: %s", name, _short(str(exc)))
                await conn.send(P.error_reply("bad_json", f"malformed JSON: {exc}"))
                continue
            if isinstance(req, P.Subscribe):
                await _stream_events(gw, conn, req)
                return conn
            await conn.send(await dispatch(gw, who, req))
    except OverflowError:
        if _log.warning("line_too_long", "control: request from %s longer than %d bytes; connection closed",
                        name, conn.max_line):
            await audit_refusal(gw, name, "request", f"line_too_long: over {conn.max_line} bytes",
                                conn.principal.role.value if conn.principal else "none")
        conn.buf = bytearray()
        await conn.send(P.error_reply("line_too_long", f"request longer than {conn.max_line} bytes; closing"))
        # Closing with unread input would reset the connection and could destroy the error reply
        # before the client reads it: half-close, discard the rest briefly (nothing is kept), then close.
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
    return conn


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


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
        who = conn.current(gw.cfg.access)
        if who is None:
            _log.warning("refused", "control: %s lost access on reload; closing their event stream", conn.name)
            return
        if not _visible(who, ev):
            continue
        await conn.send(P.base.EventLine(ev))


def _visible(principal: Principal, ev: P.Event) -> bool:
    """Users see their offices' campaign/conversation events, plus conversations routed to their
    personal inbox or assigned to them (which may belong to another office)."""
    office = ev.data.get("office")
    if office is None or principal.in_office(office):
        return True
    return ev.data.get("assignee") == principal.user or f"agent:{principal.user}" in (ev.data.get("inbox") or ())
