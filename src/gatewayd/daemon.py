"""The daemon: start-up order, the root nursery, shutdown and reload.

Start-up: open and migrate the store, resolve what a crash left in ``sending``, start the writer,
the links (each ``nursery.start`` returns once the link is supervised), the dispatcher, the
domain services, and the control socket; only then READY=1. Shutdown (the ``shutdown`` event,
set by SIGTERM/SIGINT in production and by tests directly): STOPPING=1, stop claiming, drain
in-flight submits within the grace period, then cancel; links unbind in their own shielded,
time-limited cleanup.
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from . import __version__, extensions, phones
from .bus import Bus
from .config import Config
from .errors import ConfigError
from .links import make_link
from .links.base import Inbound, LinkStatus, Receipt
from .models import LinkState
from .metrics import Metrics, MetricsSnapshot, serve_metrics, write_textfile
from .sending.dispatcher import Dispatcher
from .sending.router import LinkRuntime
from .store import inbound as inbound_store
from .store import actions, bulk, restore
from .store.store import Store, Tx
from .systemd import Notifier, watchdog_pinger

log = logging.getLogger(__name__)

Service = Callable[..., Awaitable[None]]


def _receipt_args(r: Receipt) -> tuple:
    return r.link, r.carrier_id, r.stat, r.err, r.done_at, r.recipient, r.raw, tuple(r.alt_ids)


class _Sink:
    """What one link reports into: receipts and inbound are committed before we return."""

    def __init__(self, gw: "Gateway", name: str) -> None:
        self.gw = gw
        self.name = name

    async def receipt(self, r: Receipt) -> None:
        await self.gw.store.run(bulk.record_receipt, *_receipt_args(r))

    async def receipt_batch(self, rs: list[Receipt], done: Callable[[list[BaseException | None]], None]) -> None:
        def committed(errors: list[BaseException | None] | None, error: BaseException | None) -> None:
            done([error] * len(rs) if error is not None or errors is None else errors)

        await self.gw.store.post(bulk.record_receipts, [_receipt_args(r) for r in rs], on_done=committed)

    def _e164(self, address: str) -> str:
        """SMSCs and modems often give numbers with TON unknown and no '+': store E.164 so the
        reply matches its conversation and campaign; leave alphanumeric senders alone."""
        if phones.is_alphanumeric_sender(address):
            return address
        for candidate in (address, "+" + address.lstrip("+")):
            try:
                return phones.normalise(candidate, self.gw.cfg.default_region)
            except phones.InvalidNumber:
                pass
        return address

    async def inbound(self, m: Inbound) -> None:
        m = msgspec.structs.replace(m, sender=self._e164(m.sender), recipient=self._e164(m.recipient))
        await self.gw.store.run(inbound_store.record, m)
        self.gw.dispatcher.kick(m.recipient)   # auto-replies were enqueued in that transaction

    def status(self, s: LinkStatus) -> None:
        lr = self.gw.links.get(self.name)
        if lr is None:
            return
        old = lr.status
        lr.status = s
        lr.notify()
        if (old.state, old.reason) != (s.state, s.reason):
            down = s.state is LinkState.DOWN
            log.log(logging.WARNING if down else logging.INFO, "link %s: %s%s", s.link, s.state.value,
                    f" ({s.reason})" if s.reason else "")
            self.gw.emit_nowait("link.state", link=s.link, kind=s.kind, state=s.state.value, reason=s.reason,
                                detail=dict(s.detail))
        else:
            lr.status = s


class Gateway:
    """Everything the control handlers and domain extensions need, in one place."""

    def __init__(self, cfg: Config, *, clock: Callable[[], float] = time.time,
                 notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.version = __version__
        self.started_at = clock()
        self.store = Store(cfg.db_path, clock=clock)
        self.bus = Bus(self.store)
        self.store.set_publisher(self.bus.publish)
        self.notifier = notifier or Notifier(None)
        self.metrics = Metrics()
        self.links: dict[str, LinkRuntime] = {}
        self.services: list[tuple[str, Service]] = []
        self.reload_hooks: list[Callable[[Config], None]] = []
        self.handlers: dict[type, Any] = {}
        self.overrides: dict[tuple[str, str], bool] = {}   # gatewayctl enable/disable, as stored
        self.ready = trio.Event()
        self.socket_path = cfg.control.socket
        self.socket_identity: tuple[int, int] | None = None   # (dev, inode) of the socket we bound
        self._delivered: list[float] = []
        now = trio.current_time()
        for lc in cfg.links:
            link = make_link(lc, _Sink(self, lc.name))
            self.links[lc.name] = LinkRuntime(link, lc, now)
        self.dispatcher = Dispatcher(cfg, self.store, self.links)
        self.dispatcher.on_status = lambda st: _Sink(self, st.link).status(st)
        self.dispatcher.on_submit = self.metrics.observe_submit
        self.bus.listeners.append(self._observe)
        extensions.install_all(self)

    def _observe(self, ev) -> None:
        if ev.type == "receipt" and ev.data.get("latency_s") is not None:
            self.metrics.observe_receipt_latency(ev.data["latency_s"])
        if ev.type == "message.state" and ev.data.get("state") == "delivered":
            self._delivered.append(ev.at)
            if len(self._delivered) > 20000:
                del self._delivered[:10000]

    def delivered_rate(self, seconds: float = 60.0) -> float:
        cutoff = self.store.clock() - seconds
        return (len(self._delivered) - bisect.bisect_right(self._delivered, cutoff)) / seconds

    @property
    def healthy(self) -> bool:
        """For the systemd watchdog: a writer that has had work queued but committed nothing
        for a minute is wedged (disk gone, lock held); let systemd restart us."""
        return self.store.stalled_for() < 60.0

    def emit_nowait(self, type_: str, **data: Any) -> None:
        """Record an event from sync code (link state changes); committed with the next group."""

        def op(tx: Tx) -> None:
            tx.emit(type_, **data)

        try:
            self.store.post_nowait(op)
        except trio.WouldBlock:
            log.warning("event %s dropped: writer queue full", type_)

    async def emit(self, type_: str, **data: Any) -> None:
        def op(tx: Tx) -> None:
            tx.emit(type_, **data)

        await self.store.run(op)

    def add_service(self, name: str, service: Service) -> None:
        """Domain extensions add startable tasks (``async def svc(gw, *, task_status)``)."""
        self.services.append((name, service))

    def apply_overrides(self, rows: list[tuple[str, str, int]]) -> None:
        for kind, name, enabled in rows:
            self.overrides[(kind, name)] = bool(enabled)
            if kind == "link" and name in self.links:
                self.links[name].enabled = bool(enabled)
            elif kind == "number" and name in self.dispatcher.lanes:
                self.dispatcher.lanes[name].enabled = bool(enabled)

    def reload(self, cfg: Config) -> None:
        """SIGHUP: apply the new configuration whole, or refuse it naming each key that needs a
        restart (reload_plan.py says which are which)."""
        from .reload_plan import restart_keys

        needs_restart = restart_keys(self.cfg, cfg)
        if needs_restart:
            raise ConfigError("these changes need `systemctl restart gatewayd`: " + ", ".join(needs_restart))
        self.notifier.reloading()
        old = self.cfg
        self.cfg = cfg
        self.dispatcher.reconfigure(cfg)
        for lc in cfg.links:
            if lc.name in self.links:   # `gatewayctl disable` outlives a reload as it outlives a restart
                self.links[lc.name].enabled = self.overrides.get(("link", lc.name), lc.enabled)
        logging.getLogger().setLevel(cfg.log_level.upper())
        for lr in self.links.values():
            set_level = getattr(lr.link, "set_log_level", None)   # links in a process of their own
            if set_level is not None:
                set_level(cfg.log_level)
        for hook in self.reload_hooks:
            hook(cfg)
        added = sorted({n.address for n in cfg.numbers} - {n.address for n in old.numbers})
        if added:
            log.info("reload: number(s) %s added and sending", ", ".join(added))
        self.emit_nowait("config.reloaded")
        self.notifier.ready("reloaded")

    async def snapshot(self) -> MetricsSnapshot:
        def q(db) -> tuple[dict[str, int], dict[str, int]]:
            counters = {r[0]: r[1] for r in db.execute("SELECT name, value FROM counters")}
            try:
                campaigns = {r[0]: r[1] for r in db.execute("SELECT status, count(*) FROM campaigns GROUP BY status")}
            except sqlite3.OperationalError:   # campaigns not installed
                campaigns = {}
            return counters, campaigns

        c, campaigns = await self.store.read(q)
        msgs = {k[4:]: v for k, v in c.items() if k.startswith("msg:")}
        segs = {k[4:]: v for k, v in c.items() if k.startswith("seg:")}
        return MetricsSnapshot(
            messages_by_state=msgs, segments_by_state=segs,
            link_states={n: lr.status.state.value for n, lr in self.links.items()},
            link_kinds={n: lr.link.kind for n, lr in self.links.items()},
            queue_depth=msgs.get("queued", 0) + msgs.get("sending", 0),
            inbound_total=c.get("inbound", 0), unmatched_receipts=c.get("unmatched", 0),
            campaigns_by_status=campaigns,
            link_rates={n: lr.flow.rate for n, lr in self.links.items() if lr.flow.rate is not None},
            link_windows={n: lr.current_window for n, lr in self.links.items()},
            link_throttles={n: lr.flow.throttles for n, lr in self.links.items()})

    async def refresh_metrics(self) -> None:
        self.metrics.update(await self.snapshot())


async def serve(cfg: Config, shutdown: trio.Event, *, notifier: Notifier | None = None,
                reloads: trio.MemoryReceiveChannel | None = None,
                config_loader: Callable[[], Config] | None = None,
                task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
    """Run the gateway until ``shutdown`` is set. ``task_status.started(gw)`` once READY."""
    from .control.server import check_not_listening, serve_control, unlink_own_socket

    check_not_listening(cfg.control.socket)   # before the lock, the links, the socket file
    notifier = notifier or Notifier()
    gw = Gateway(cfg, notifier=notifier)
    gw.store.open()
    overrides = gw.store.db.execute("SELECT kind, name, enabled FROM overrides").fetchall()  # type: ignore[union-attr]
    gw.apply_overrides([tuple(r) for r in overrides])
    restored = gw.store.run_sync(restore.after_restore, cfg.queue.crash_policy)
    if restored:
        log.warning("this database was restored from a backup taken %s: messages it held unfinished are "
                    "flagged possible duplicates (crash_policy %s): %s", restored.pop("taken_at"),
                    cfg.queue.crash_policy, restored)
    recovered = gw.store.run_sync(actions.recover, cfg.queue.crash_policy)
    if any(recovered.values()):
        log.warning("crash recovery (%s): %s", cfg.queue.crash_policy, recovered)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(gw.store.writer)
            if cfg.metrics.listen:   # before the links: a port in use must not bring a carrier up first
                await nursery.start(serve_metrics, gw.metrics, cfg.metrics.listen, gw.refresh_metrics)
            for name, lr in gw.links.items():
                await nursery.start(lr.link.run)
            await nursery.start(gw.dispatcher.run)
            for name, service in gw.services:
                await nursery.start(service, gw)
            await nursery.start(serve_control, gw)
            if cfg.metrics.textfile:
                await nursery.start(write_textfile, gw.metrics, cfg.metrics.textfile, cfg.metrics.interval_s,
                                    gw.refresh_metrics)
            await nursery.start(watchdog_pinger, notifier, lambda: gw.healthy)
            nursery.start_soon(_prune_events, gw)
            if reloads is not None and config_loader is not None:
                nursery.start_soon(_reloader, gw, reloads, config_loader)
            notifier.ready(f"serving on {gw.socket_path}")
            gw.ready.set()
            log.info("gatewayd %s ready: socket %s, %d link(s), %d number(s)", gw.version, gw.socket_path,
                     len(gw.links), len(cfg.numbers))
            task_status.started(gw)
            await shutdown.wait()
            notifier.stopping()
            log.info("stopping: draining in-flight submits (grace %.0fs)", cfg.grace_s)
            drained = await gw.dispatcher.drain(cfg.grace_s)
            if not drained:
                log.warning("grace period over with %d submit(s) in flight; they will be resolved at start",
                            gw.dispatcher.in_flight)
            # Let the writer commit what the drained submits posted before we cancel it.
            with trio.move_on_after(2.0):
                await gw.store.run(lambda tx: None)
            nursery.cancel_scope.cancel()
    finally:
        gw.store.close()
        unlink_own_socket(gw.socket_path, gw.socket_identity)


async def _reloader(gw: Gateway, reloads: trio.MemoryReceiveChannel, loader: Callable[[], Config]) -> None:
    async for _ in reloads:
        try:
            gw.reload(loader())
            log.info("configuration reloaded")
        except Exception as exc:   # a bad edit must not take the gateway down
            log.error("reload refused, keeping the running configuration: %s", exc)
            gw.notifier.ready("reload failed; running configuration kept")


async def _prune_events(gw: Gateway) -> None:
    """Keep the event log bounded: clients older than the retention resume from its start."""
    while True:
        await trio.sleep(3600)
        cutoff = gw.store.clock() - gw.cfg.event_retention_days * 86400

        def op(tx: Tx) -> int:
            return tx.db.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount

        n = await gw.store.run(op)
        if n:
            log.info("pruned %d events older than %.0f days", n, gw.cfg.event_retention_days)
