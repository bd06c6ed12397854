"""The control socket under a careless or hostile local user: connection cap, bounded line
buffers, refusals logged and audited, and access changes on reload reaching open connections."""

from __future__ import annotations

import pwd

import pytest
import trio

from gatewayd.control import server
from gatewayd.control.server import Conn
from support import SIM_CONFIG, AsyncClient, make_config, query, running

pytestmark = pytest.mark.trio
FROM = "+14155550100"


def _nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no 'nobody' user")


def with_control(tmp_path, control: str = "", access: str = ""):
    text = SIM_CONFIG + (f"\n[control]\n{control}\n" if control else "") + (f"\n[access]\n{access}\n" if access else "")
    return make_config(tmp_path, text=text)


async def _audit(gw, user: str) -> list[tuple]:
    await gw.store.run(lambda tx: None)    # what was posted before is committed now
    return query(gw, "SELECT op, ok, error FROM audit WHERE user = ? ORDER BY id", (user,))


async def test_one_connection_over_the_cap_is_answered_busy_and_a_slot_frees_on_close(tmp_path, caplog):
    async with running(with_control(tmp_path, "max_connections = 2")) as gw:
        a = await AsyncClient.connect(gw.socket_path)
        b = await AsyncClient.connect(gw.socket_path)
        await a.call("hello")
        await b.call("hello")
        c = await AsyncClient.connect(gw.socket_path)
        reply = await c.line()
        assert reply["error"]["code"] == "busy" and "limit 2" in reply["error"]["message"]
        with pytest.raises(EOFError):
            await c.line()
        assert "connection refused: 2 open, the limit is 2" in caplog.text
        await a.aclose()
        with trio.fail_after(10):
            while gw.connections.open > 1:
                await trio.sleep(0.01)
        d = await AsyncClient.connect(gw.socket_path)
        assert (await d.call("hello"))["role"] == "admin"
        assert (await b.call("status"))["version"]     # the others were never disturbed
        await b.aclose()
        await d.aclose()


class _Chunks(trio.abc.ReceiveStream):
    """A peer that sends ``total`` bytes without a newline, as fast as it is read."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.asked: list[int] = []

    async def receive_some(self, max_bytes=None) -> bytes:
        await trio.lowlevel.checkpoint()
        self.asked.append(max_bytes)
        n = min(self.left, max_bytes or 65536)
        self.left -= n
        return b"x" * n

    async def aclose(self) -> None:
        pass


async def test_an_oversized_line_is_refused_without_buffering_it_whole():
    peer = _Chunks(50 * 1024 * 1024)
    conn = Conn(peer, 0, "root", None, None, max_line=100_000)   # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        async for _ in conn.lines():
            pass
    assert conn.peak <= 100_001                 # never more than the limit plus one byte
    assert 50 * 1024 * 1024 - peer.left <= 100_001   # and no more was read from the peer


async def test_oversized_line_over_the_socket_is_answered_logged_and_audited(tmp_path, caplog, monkeypatch):
    uid = _nobody()
    monkeypatch.setattr(server, "peer_uid", lambda sock: uid)
    async with running(with_control(tmp_path, "max_line_bytes = 4096", 'agents = ["nobody"]')) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        async with trio.open_nursery() as nursery:
            async def flood() -> None:
                try:
                    for _ in range(200):               # 13 MB: far more than kernel buffers hold
                        await c.send_raw(b"y" * 65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
            nursery.start_soon(flood)
            with trio.fail_after(20):
                reply = await c.line()
            assert reply["error"]["code"] == "line_too_long"
        assert "request from nobody longer than 4096 bytes" in caplog.text
        assert await _audit(gw, "nobody") == [("request", 0, "line_too_long: over 4096 bytes")]
        ok = await AsyncClient.connect(gw.socket_path)
        assert (await ok.call("hello"))["user"] == "nobody"    # the daemon serves on
        await ok.aclose()


async def test_bad_requests_are_logged_and_the_connection_stays_usable(tmp_path, caplog):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.send_raw(b"{not json\n")
        assert (await c.line())["error"]["code"] == "bad_json"
        assert (await c.request("frobnicate"))["error"]["code"] == "unknown_op"
        assert (await c.call("hello"))["role"] == "admin"
        assert "malformed JSON from root" in caplog.text and "bad request from root" in caplog.text
        await c.aclose()


async def test_a_user_not_in_access_is_refused_logged_and_audited(tmp_path, caplog, monkeypatch):
    uid = _nobody()
    monkeypatch.setattr(server, "peer_uid", lambda sock: uid)
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        assert (await c.line())["error"]["code"] == "forbidden"
        assert "refused nobody" in caplog.text and "not in [access]" in caplog.text
        assert await _audit(gw, "nobody") == [("connect", 0, "forbidden: not in [access]")]


async def test_reload_that_removes_an_admin_reaches_their_open_connection(tmp_path, monkeypatch):
    uid = _nobody()
    monkeypatch.setattr(server, "peer_uid", lambda sock: uid)
    async with running(with_control(tmp_path, access='admins = ["nobody"]')) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        ok = await c.call("set_enabled", kind="link", name="sim", enabled=False)
        assert ok["enabled"] is False
        gw.reload(with_control(tmp_path))                 # SIGHUP: nobody is no longer in [access]
        reply = await c.request("set_enabled", kind="link", name="sim", enabled=True)
        assert reply["error"]["code"] == "forbidden"
        with pytest.raises(EOFError):
            await c.line()                                 # and the connection is closed
        assert gw.links["sim"].enabled is False            # the refused change did not happen
        rows = await _audit(gw, "nobody")
        assert rows[0][:2] == ("set_enabled", 1)
        assert rows[-1] == ("request", 0, "forbidden: removed from [access]")


async def test_reload_that_demotes_an_admin_applies_to_their_next_request(tmp_path, monkeypatch):
    uid = _nobody()
    monkeypatch.setattr(server, "peer_uid", lambda sock: uid)
    async with running(with_control(tmp_path, access='admins = ["nobody"]')) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        sub = await AsyncClient.connect(gw.socket_path)
        await sub.call("subscribe", since=None)
        assert (await c.call("hello"))["role"] == "admin"
        gw.reload(with_control(tmp_path, access='viewers = ["nobody"]'))
        assert (await c.call("hello"))["role"] == "viewer"
        reply = await c.request("set_enabled", kind="link", name="sim", enabled=False)
        assert reply["error"]["code"] == "forbidden" and gw.links["sim"].enabled
        assert (await c.call("status"))["links"]           # still a viewer: reading works
        gw.reload(with_control(tmp_path))
        await gw.emit("test.ping")                         # the next event finds them gone
        with trio.fail_after(10):
            with pytest.raises(EOFError):
                while True:
                    await sub.line()
