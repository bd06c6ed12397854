"""The asyncio socket client: typed replies, readable errors, and an event stream that resumes
from its last cursor after the daemon goes away (against a small NDJSON server on a Unix socket)."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from pathlib import Path

import pytest

from gatewayd import protocol as P
from gatewaytui.client import Connection, RequestError, SocketClient


class Server:
    """Answers hello; streams scripted events; records each subscribe's ``since``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.subscribes: list[int | None] = []
        self.events_per_connection: list[list[int]] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self.handle, self.path)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                req = json.loads(line)
                if req["op"] == "hello":
                    out = {"ok": True, "id": req["id"], "result": {"user": "ann", "uid": 1, "role": "viewer",
                                                                  "offices": [], "limited": False, "version": "x"}}
                elif req["op"] == "subscribe":
                    self.subscribes.append(req.get("since"))
                    writer.write(json.dumps({"ok": True, "id": req["id"], "result": {"last_cursor": 0}}).encode() + b"\n")
                    cursors = self.events_per_connection.pop(0) if self.events_per_connection else []
                    for c in cursors:
                        ev = {"cursor": c, "at": 1.0, "type": "message.state", "data": {"id": c, "state": "sent"}}
                        writer.write(json.dumps({"event": ev}).encode() + b"\n")
                    await writer.drain()
                    return          # "daemon restart": close the stream
                else:
                    out = {"ok": False, "id": req["id"], "error": {"code": "forbidden", "message": "ann is viewer"}}
                writer.write(json.dumps(out).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
def sock_dir():
    with tempfile.TemporaryDirectory(prefix="gwtui") as d:
        yield Path(d)


@pytest.mark.asyncio
async def test_typed_reply_and_error_reply(sock_dir):
    srv = Server(str(sock_dir / "s.sock"))
    await srv.start()
    client = SocketClient(srv.path)
    try:
        ident = await client.call(P.Hello(), P.Identity)
        assert (ident.user, ident.role.value) == ("ann", "viewer")
        with pytest.raises(RequestError) as err:
            await client.call(P.Cancel(message_id=1))
        assert (err.value.code, err.value.message, err.value.title) == ("forbidden", "ann is viewer", "Forbidden")
    finally:
        await client.close()
        await srv.stop()


@pytest.mark.asyncio
async def test_no_daemon_is_a_readable_unavailable_error(sock_dir):
    client = SocketClient(str(sock_dir / "missing.sock"))
    with pytest.raises(RequestError) as err:
        await client.call(P.Status())
    assert err.value.code == "unavailable" and "not running" in err.value.message


@pytest.mark.asyncio
async def test_stream_reports_loss_and_resumes_from_last_cursor(sock_dir):
    srv = Server(str(sock_dir / "s.sock"))
    srv.events_per_connection = [[1, 2, 3], [4, 5]]
    await srv.start()
    client = SocketClient(srv.path, backoff=(0.01, 0.05))
    seen: list[object] = []
    try:
        async with asyncio.timeout(10):
            async for item in client.stream(None):
                seen.append(item.cursor if isinstance(item, P.Event) else ("up" if item.up else "down"))
                if isinstance(item, P.Event) and item.cursor == 5:
                    break
    finally:
        await srv.stop()
    assert seen == ["up", 1, 2, 3, "down", "up", 4, 5]
    assert srv.subscribes == [None, 3]
    assert client.cursor == 5


@pytest.mark.asyncio
async def test_stream_keeps_retrying_while_daemon_is_down(sock_dir):
    path = str(sock_dir / "s.sock")
    client = SocketClient(path, backoff=(0.01, 0.02))
    client.cursor = 41
    downs: list[Connection] = []
    srv = Server(path)
    srv.events_per_connection = [[42]]
    async with asyncio.timeout(10):
        async for item in client.stream(None):
            if isinstance(item, Connection) and not item.up:
                downs.append(item)
                if len(downs) == 3:
                    await srv.start()      # the daemon comes back
            elif isinstance(item, P.Event):
                break
    await srv.stop()
    assert [d.attempt for d in downs] == [1, 2, 3]
    assert "not running" in downs[0].detail
    assert srv.subscribes == [41]


@pytest.mark.asyncio
async def test_a_connector_supplies_every_connection_and_its_failures_are_readable(sock_dir):
    srv = Server(str(sock_dir / "s.sock"))
    srv.events_per_connection = [[1]]
    await srv.start()
    made: list[socket.socket] = []
    broken = False

    async def connect() -> socket.socket:
        if broken:
            raise ConnectionRefusedError("helper gone")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(srv.path)
        made.append(s)
        return s

    client = SocketClient("gatewayd (handed over)", connect=connect)
    try:
        assert (await client.call(P.Hello(), P.Identity)).user == "ann"
        async with asyncio.timeout(10):
            async for item in client.stream(None):
                if isinstance(item, P.Event):
                    break
        assert len(made) == 2                      # one for requests, one for the event stream
        await client.close()
        broken = True
        with pytest.raises(RequestError) as err:
            await client.call(P.Status())
        assert err.value.code == "unavailable" and "gatewayd (handed over)" in err.value.message
    finally:
        await client.close()
        await srv.stop()
