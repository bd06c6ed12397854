"""Metrics as Prometheus and node-exporter see them: text format, HTTP endpoint, textfile."""

from __future__ import annotations

import logging
import os

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from gatewayd.errors import ConfigError
from gatewayd.metrics import Metrics, MetricsSnapshot, parse_listen, serve_metrics, write_textfile

pytestmark = pytest.mark.trio


def snapshot(**changes) -> MetricsSnapshot:
    base = dict(
        messages_by_state={"queued": 4, "delivered": 10, "failed": 1},
        segments_by_state={"queued": 6, "delivered": 12, "failed": 1},
        link_states={"sim1": "up", "carrier": "down", "slow": "throttled"},
        link_kinds={"sim1": "sim", "carrier": "smpp", "slow": "smpp"},
        queue_depth=5,
        inbound_total=7,
        unmatched_receipts=2,
        campaigns_by_status={"sending": 1},
    )
    base.update(changes)
    return MetricsSnapshot(**base)


def samples(text: bytes) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} parsed with Prometheus' own parser."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: bytes, name: str, **labels) -> float:
    return samples(text)[(name, frozenset(labels.items()))]


async def test_render_exposes_every_series_with_the_snapshot_values():
    m = Metrics()
    m.update(snapshot())
    out = m.render()
    assert value(out, "gatewayd_messages", state="queued") == 4
    assert value(out, "gatewayd_messages", state="delivered") == 10
    assert value(out, "gatewayd_messages", state="expired") == 0  # every state has a series
    assert value(out, "gatewayd_segments", state="queued") == 6
    assert value(out, "gatewayd_link_up", link="sim1", kind="sim") == 1
    assert value(out, "gatewayd_link_up", link="carrier", kind="smpp") == 0
    assert value(out, "gatewayd_link_up", link="slow", kind="smpp") == 1  # throttled but bound
    assert value(out, "gatewayd_link_state", link="carrier", state="down") == 1
    assert value(out, "gatewayd_link_state", link="carrier", state="up") == 0
    assert value(out, "gatewayd_queue_depth") == 5
    assert value(out, "gatewayd_inbound_messages") == 7
    assert value(out, "gatewayd_unmatched_receipts") == 2
    assert value(out, "gatewayd_campaigns", status="sending") == 1
    assert value(out, "gatewayd_campaigns", status="draft") == 0


async def test_a_removed_link_disappears_on_the_next_update():
    m = Metrics()
    m.update(snapshot())
    m.update(snapshot(link_states={"sim1": "up"}, link_kinds={"sim1": "sim"}))
    assert not any(labels and ("link", "carrier") in labels for _, labels in samples(m.render()))


async def test_no_snapshot_gauges_before_the_first_update():
    out = Metrics().render()
    assert b"gatewayd_queue_depth" not in out
    assert b"gatewayd_receipt_latency_seconds" in out


async def test_submits_and_receipt_latency_are_counted():
    m = Metrics()
    m.observe_submit("sim1", ok=True)
    m.observe_submit("sim1", ok=True)
    m.observe_submit("sim1", ok=False)
    m.observe_receipt_latency(3.0)
    m.observe_receipt_latency(45.0)
    out = m.render()
    assert value(out, "gatewayd_submits_total", link="sim1", result="ok") == 2
    assert value(out, "gatewayd_submits_total", link="sim1", result="error") == 1
    assert value(out, "gatewayd_receipt_latency_seconds_count") == 2
    assert value(out, "gatewayd_receipt_latency_seconds_sum") == 48
    assert value(out, "gatewayd_receipt_latency_seconds_bucket", le="5.0") == 1
    assert value(out, "gatewayd_receipt_latency_seconds_bucket", le="60.0") == 2


async def test_two_daemons_in_one_process_do_not_share_series():
    a, b = Metrics(), Metrics()
    a.observe_submit("x", ok=True)
    assert b"link=\"x\"" not in b.render()


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        (":9464", ("127.0.0.1", 9464)),  # no host written: loopback, never every interface
        ("9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),  # written explicitly by the operator
    ],
)
async def test_parse_listen(listen, expected):
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["127.0.0.1:http", "127.0.0.1:70000", ""])
async def test_parse_listen_rejects_bad_values_with_the_key_path(listen):
    with pytest.raises(ConfigError, match="metrics.listen"):
        parse_listen(listen)


async def http(port: int, request: bytes) -> bytes:
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
            return data


@pytest.fixture
async def server(nursery):
    """A metrics server on 127.0.0.1:<ephemeral>; refresh counts scrapes into the snapshot."""
    m = Metrics()
    scrapes = []

    async def refresh():
        scrapes.append(1)
        m.update(snapshot(queue_depth=len(scrapes)))

    addresses = await nursery.start(serve_metrics, m, "127.0.0.1:0", refresh)
    host, port = addresses[0]
    assert host == "127.0.0.1"
    return port, scrapes


async def test_get_metrics_over_loopback_refreshes_and_answers(server):
    port, scrapes = server
    reply = await http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK")
    assert b"Content-Type: text/plain; version=0.0.4" in head
    assert value(body, "gatewayd_queue_depth") == 1
    reply = await http(port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
    assert value(reply.partition(b"\r\n\r\n")[2], "gatewayd_queue_depth") == 2  # fresh on every scrape
    assert len(scrapes) == 2


async def test_other_paths_are_404_and_do_not_touch_the_store(server):
    port, scrapes = server
    assert (await http(port, b"GET / HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 404")
    assert (await http(port, b"GET /metricsx HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 404")
    assert (await http(port, b"POST /metrics HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 405")
    assert (await http(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.0 400")
    assert scrapes == []


async def test_oversized_request_is_refused_without_reading_it_all(server):
    port, _ = server
    reply = await http(port, b"GET /metrics HTTP/1.0\r\nX-Junk: " + b"a" * 20000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 431")


async def test_a_failing_refresh_answers_500_and_the_server_lives_on(nursery):
    m = Metrics()
    fail = [True]

    async def refresh():
        if fail[0]:
            raise RuntimeError("store is gone")

    [(_, port)] = await nursery.start(serve_metrics, m, "127.0.0.1:0", refresh)
    assert (await http(port, b"GET /metrics HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 500")
    fail[0] = False
    assert (await http(port, b"GET /metrics HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 200")


class CountingRefresh:
    """Refresh hook that records what the textfile held when each round began.

    The writer refreshes, writes, sleeps: so round N+1 sees exactly the file of round N, and
    the test never races the worker thread that writes.
    """

    def __init__(self, metrics: Metrics, path, at_round: dict | None = None) -> None:
        self.metrics = metrics
        self.path = path
        self.at_round = at_round or {}  # round -> action run inside that round, before its write
        self.seen: list[float | None] = []  # queue depth in the file at the start of each round
        self._changed = trio.Event()

    async def __call__(self) -> None:
        self.seen.append(value(self.path.read_bytes(), "gatewayd_queue_depth") if self.path.exists() else None)
        if action := self.at_round.get(len(self.seen)):
            action()
        self.metrics.update(snapshot(queue_depth=len(self.seen)))
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for_round(self, n: int) -> None:
        # No fail_after here: while the writer waits on its worker thread, autojump_clock would
        # jump straight to our deadline. pytest-timeout bounds a hang instead.
        while len(self.seen) < n:
            await self._changed.wait()


async def test_textfile_is_rewritten_every_interval_atomically(tmp_path, autojump_clock):
    path = tmp_path / "gatewayd.prom"
    m = Metrics()
    refresh = CountingRefresh(m, path)
    async with trio.open_nursery() as nursery:
        await nursery.start(write_textfile, m, str(path), 15.0, refresh)
        start = trio.current_time()
        assert value(path.read_bytes(), "gatewayd_queue_depth") == 1  # written before started
        assert os.stat(path).st_mode & 0o777 == 0o644  # node-exporter runs as another user
        reader = open(path, "rb")  # a scrape in progress while we rewrite
        await refresh.wait_for_round(3)
        assert trio.current_time() - start == pytest.approx(30)  # one round every 15 s
        assert refresh.seen == [None, 1, 2]
        # replaced by rename: the open reader still has the complete first file
        assert value(reader.read(), "gatewayd_queue_depth") == 1
        reader.close()
        nursery.cancel_scope.cancel()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gatewayd.prom"]  # no temp file left


async def test_textfile_in_a_missing_directory_is_retried_not_fatal(tmp_path, autojump_clock, caplog):
    target = tmp_path / "later" / "gatewayd.prom"
    m = Metrics()
    refresh = CountingRefresh(m, target, at_round={3: target.parent.mkdir})  # the operator fixes it
    caplog.set_level(logging.INFO, logger="gatewayd.metrics")
    async with trio.open_nursery() as nursery:
        await nursery.start(write_textfile, m, str(target), 10.0, refresh)
        assert not target.exists()
        assert "cannot write metrics textfile" in caplog.text
        await refresh.wait_for_round(4)
        assert caplog.text.count("cannot write metrics textfile") == 1  # once per streak, not every round
        assert "written again" in caplog.text
        assert refresh.seen == [None, None, None, 3]  # round 3 succeeded once the directory existed
        nursery.cancel_scope.cancel()
