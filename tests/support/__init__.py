"""Test support: run a real Gateway in-process (Trio) and talk to it over its real socket."""

from __future__ import annotations

import json
import os
import textwrap
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import trio

from gatewayd import config as config_mod
from gatewayd.daemon import Gateway, serve

SIM_CONFIG = """
[[links]]
name = "sim"
kind = "sim"
window = 20
dlr_delay_s = 0.05
delivered = 1.0
undelivered = 0.0
rejected = 0.0
reject_prefixes = ["+1415555999"]
seed = 1

[[numbers]]
address = "+14155550100"
links = ["sim"]
rate = 1000
burst = 1000
"""


def make_config(tmp_path: Path, text: str = SIM_CONFIG, **overrides: Any) -> config_mod.Config:
    cfg = config_mod.parse(textwrap.dedent(text))
    sock = str(tmp_path / "gw.sock")
    return config_mod.msgspec.structs.replace(
        cfg, state_dir=str(tmp_path / "state"),
        control=config_mod.msgspec.structs.replace(cfg.control, socket=sock), **overrides)


@asynccontextmanager
async def running(cfg: config_mod.Config) -> AsyncIterator[Gateway]:
    """The whole daemon (store, links, dispatcher, socket) in this Trio run."""
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        gw = await nursery.start(serve, cfg, shutdown)
        try:
            yield gw
        finally:
            shutdown.set()


class AsyncClient:
    """A minimal NDJSON client over the real Unix socket (what gatewayctl does, in Trio)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""
        self.n = 0

    @classmethod
    async def connect(cls, path: str) -> "AsyncClient":
        return cls(await trio.open_unix_socket(path))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def line(self) -> dict:
        while b"\n" not in self.buf:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    async def request(self, op: str, **fields: Any) -> dict:
        self.n += 1
        await self.stream.send_all(json.dumps({"op": op, "id": self.n, **fields}).encode() + b"\n")
        return await self.line()

    async def call(self, op: str, **fields: Any) -> Any:
        reply = await self.request(op, **fields)
        assert reply["ok"], reply
        return reply["result"]

    async def aclose(self) -> None:
        await self.stream.aclose()


async def wait_until(gw: Gateway, predicate, *, timeout: float = 20.0) -> None:
    """Wait until ``predicate()`` is truthy, re-checking after each committed event (no polling)."""
    with trio.fail_after(timeout):
        sub = gw.bus.subscribe()
        try:
            while not predicate():
                await sub.recv.receive()
        finally:
            sub.close()


def query(gw: Gateway, sql: str, args: tuple = ()) -> list[tuple]:
    """Read the daemon's database on a connection of our own (never share the daemon's)."""
    import sqlite3

    conn = sqlite3.connect(str(gw.store.path))
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def states(gw: Gateway) -> dict[str, int]:
    return {r[0]: r[1] for r in query(gw, "SELECT state, count(*) FROM messages GROUP BY state")}


def env_with_socket(sock: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GATEWAYD_SOCKET"] = sock
    return env
