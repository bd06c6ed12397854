"""Prometheus metrics: a snapshot of the store, two live instruments, and two ways out.

The core owns the numbers: every interval (or on each scrape) it counts rows in the store and
hands us a ``MetricsSnapshot``; a custom collector renders the latest one. Gauges computed from a
snapshot, rather than incremented in a dozen code paths, stay right across restarts and crashes.
Only what cannot be recomputed from the store (submit outcomes, receipt latency) is counted live.

Out: a tiny HTTP/1.0 server for ``GET /metrics`` (opt-in, loopback unless an operator writes
another address), or a node-exporter textfile rewritten atomically. Its own ``CollectorRegistry``
keeps tests and several daemons in one process from sharing global state.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec
import trio
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from .errors import ConfigError
from .models import LinkState, MsgState

log = logging.getLogger(__name__)

MSG_STATES = tuple(s.value for s in MsgState)
LINK_STATES = tuple(s.value for s in LinkState)
#: Listed so that every state has a series (0 included): dashboards and alerts hate gaps.
CAMPAIGN_STATUSES = ("draft", "scheduled", "processing", "sending", "finished",
                     "paused", "suspended", "stopped", "archived")
#: A throttled link is bound and carrying traffic, only slower: it counts as up.
_UP_STATES = {LinkState.UP.value, LinkState.THROTTLED.value}
#: Receipts come seconds to a day after the submit.
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 8
LINGER_S = 1.0
#: The classic text format, which every Prometheus and node-exporter version understands.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Refresh = Callable[[], Awaitable[None]]


class MetricsSnapshot(msgspec.Struct):
    """What the core counted in the store at one moment."""

    messages_by_state: dict[str, int]
    segments_by_state: dict[str, int]
    link_states: dict[str, str]  # link name -> LinkState value
    link_kinds: dict[str, str]  # link name -> "sim" | "smpp" | "modem"
    queue_depth: int  # queued + sending
    inbound_total: int
    unmatched_receipts: int
    campaigns_by_status: dict[str, int] = {}
    link_rates: dict[str, float] = {}    # link -> the rate learned from the carrier (absent: unlimited)
    link_windows: dict[str, int] = {}    # link -> the window in force
    link_throttles: dict[str, int] = {}  # link -> throttle answers since start


def _with_zeros(counts: dict[str, int], keys: tuple[str, ...]) -> dict[str, int]:
    return {**{k: 0 for k in keys}, **counts}


class _SnapshotCollector:
    """Renders the latest snapshot on every collect (no stale label sets to clean up)."""

    def __init__(self) -> None:
        self.snap: MetricsSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        if snap is None:
            return  # nothing counted yet: report nothing rather than zeros that look real
        yield _labelled("gatewayd_messages", "Messages by state.", "state",
                        _with_zeros(snap.messages_by_state, MSG_STATES))
        yield _labelled("gatewayd_segments", "Segments by state.", "state",
                        _with_zeros(snap.segments_by_state, MSG_STATES))
        up = GaugeMetricFamily("gatewayd_link_up", "1 when the link is up (or up but throttled).",
                               labels=["link", "kind"])
        state = GaugeMetricFamily("gatewayd_link_state", "1 for the link's current state.",
                                  labels=["link", "state"])
        for link, current in sorted(snap.link_states.items()):
            up.add_metric([link, snap.link_kinds.get(link, "unknown")], 1 if current in _UP_STATES else 0)
            for value in LINK_STATES + ((current,) if current not in LINK_STATES else ()):
                state.add_metric([link, value], 1 if value == current else 0)
        yield up
        yield state
        rate = GaugeMetricFamily("gatewayd_link_rate_limit", "Segments per second the link runs at: learned from "
                                 "the carrier's throttle answers, capped by max_rate (absent: not limited).",
                                 labels=["link"])
        for link, value in sorted(snap.link_rates.items()):
            rate.add_metric([link], value)
        yield rate
        window = GaugeMetricFamily("gatewayd_link_window", "Submits the link may have unanswered at once, now "
                                   "(an SMPP bind narrows it on ESME_RMSGQFUL).", labels=["link"])
        for link, value in sorted(snap.link_windows.items()):
            window.add_metric([link], value)
        yield window
        throttles = CounterMetricFamily("gatewayd_link_throttles", "Throttle answers (and unanswered submits) "
                                        "from the carrier since start; never a failed message.", labels=["link"])
        for link, value in sorted(snap.link_throttles.items()):
            throttles.add_metric([link], value)
        yield throttles
        yield GaugeMetricFamily("gatewayd_queue_depth", "Messages queued or sending.", value=snap.queue_depth)
        yield GaugeMetricFamily("gatewayd_inbound_messages", "Inbound messages stored.", value=snap.inbound_total)
        yield GaugeMetricFamily(
            "gatewayd_unmatched_receipts", "Delivery receipts that matched no segment.", value=snap.unmatched_receipts
        )
        yield _labelled("gatewayd_campaigns", "Campaigns by status.", "status",
                        _with_zeros(snap.campaigns_by_status, CAMPAIGN_STATUSES))


def _labelled(name: str, doc: str, label: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(counts.items()):
        family.add_metric([key], value)
    return family


class Metrics:
    """The registry of one daemon: snapshot gauges plus live submit and receipt instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._snapshot = _SnapshotCollector()
        self.registry.register(self._snapshot)
        self._latency = Histogram(
            "gatewayd_receipt_latency_seconds",
            "Time from carrier acceptance to the final delivery receipt.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._submits = Counter("gatewayd_submits", "Segment submits by link and result (ok|error).",
                                ["link", "result"], registry=self.registry)
        self._submit_children: dict[tuple[str, bool], Any] = {}

    def update(self, snap: MetricsSnapshot) -> None:
        self._snapshot.snap = snap

    def observe_receipt_latency(self, seconds: float) -> None:
        self._latency.observe(max(0.0, seconds))  # carrier clocks drift; never a negative latency

    def observe_submit(self, link: str, ok: bool) -> None:
        key = (link, ok)
        child = self._submit_children.get(key)
        if child is None:   # labels() costs ~20 µs; this runs once per segment
            child = self._submit_children[key] = self._submits.labels(link=link, result="ok" if ok else "error")
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- HTTP ------------------------------------------------------------------------------------


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``:port`` or ``port``; a missing host means 127.0.0.1.

    We never bind every interface by omission: metrics reveal traffic volumes and link names.
    A non-loopback address is honoured only because an operator wrote it (and it is logged).
    """
    host, sep, port_text = listen.rpartition(":")
    if not sep:
        host, port_text = "", listen
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError(f"expected HOST:PORT, got {listen!r}", "metrics.listen") from None
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8", head: bool = False) -> bytes:
    headers = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return headers.encode() + (b"" if head else body)


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    """The request head, or None when it is too large or the client hung up."""
    buf = b""
    while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
        if len(buf) > MAX_REQUEST_BYTES:
            return None
        chunk = await stream.receive_some(4096)
        if not chunk:
            return buf if buf else None
        buf += chunk
    return buf


async def _handle(stream: trio.SocketStream, metrics: Metrics, refresh: Refresh, limiter: trio.CapacityLimiter) -> None:
    """One connection, one request, one answer; a bad client or a failing refresh stays here."""
    async with limiter, stream:
        with trio.move_on_after(REQUEST_TIMEOUT_S):
            try:
                head = await _read_head(stream)
                try:
                    reply = await _answer(head, metrics, refresh)
                except Exception:
                    log.exception("metrics request failed")
                    reply = _response("500 Internal Server Error", b"metrics unavailable\n")
                await stream.send_all(reply)
                await _linger(stream)
            except trio.BrokenResourceError:
                pass  # the client went away: nothing to answer


async def _linger(stream: trio.SocketStream) -> None:
    """Half-close, then discard what the client still sends (bounded), so that closing with
    unread input (an oversized request) does not reset the connection before it reads our answer."""
    await stream.send_eof()
    with trio.move_on_after(LINGER_S):
        for _ in range(16):
            if not await stream.receive_some(4096):
                break


async def _answer(head: bytes | None, metrics: Metrics, refresh: Refresh) -> bytes:
    if head is None:
        return _response("431 Request Header Fields Too Large", b"request too large\n")
    parts = head.split(b"\n", 1)[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _response("400 Bad Request", b"bad request\n")
    method, target = parts[0], parts[1]
    if target.split("?", 1)[0] != "/metrics":
        return _response("404 Not Found", b"not found: try /metrics\n")
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", b"method not allowed\n")
    await refresh()
    return _response("200 OK", metrics.render(), CONTENT_TYPE, head=method == "HEAD")


async def serve_metrics(
    metrics: Metrics,
    listen: str,
    refresh: Refresh,
    *,
    task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` on ``listen`` until cancelled; started with the bound addresses."""
    host, port = parse_listen(listen)
    if not _is_loopback(host):
        log.warning("metrics served on non-loopback address %s: protect it with a firewall", host)
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:   # port taken, address not ours: a restart cannot fix it (exit 2)
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "metrics.listen") from None
    addresses = [ln.socket.getsockname()[:2] for ln in listeners]
    log.info("metrics on http://%s:%d/metrics", *addresses[0])
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, lambda s: _handle(s, metrics, refresh, limiter), listeners)
        task_status.started(addresses)


# --- textfile --------------------------------------------------------------------------------


def _write_atomically(path: str, data: bytes) -> None:
    """Readers (node-exporter) see the old file or the new one, never half of one.

    The temp name does not end in ``.prom``, so the collector never picks it up; mode 0644
    because node-exporter runs as another user and our UMask is 0077.
    """
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def write_textfile(
    metrics: Metrics,
    path: str,
    interval_s: float,
    refresh: Refresh,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Rewrite ``path`` every ``interval_s`` until cancelled; started after the first attempt.

    Failures (a full disk, a missing directory, a failing refresh) are logged once per streak
    and retried next interval: metrics are never a reason to stop sending messages.
    """
    started = failing = False
    while True:
        try:
            await refresh()
            await trio.to_thread.run_sync(_write_atomically, path, metrics.render())
        except Exception as exc:
            if not failing:
                log.warning("cannot write metrics textfile %s: %s (retrying every %gs)", path, exc, interval_s)
            failing = True
        else:
            if failing:
                log.info("metrics textfile %s written again", path)
            failing = False
        if not started:
            task_status.started()
            started = True
        await trio.sleep(interval_s)
