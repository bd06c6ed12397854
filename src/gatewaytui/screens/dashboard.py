"""Dashboard: is the gateway healthy right now? Links, queue, throughput, numbers, alerts.

Everything here is drawn from the App's ``status`` snapshot (refreshed every few seconds and on
link events) and from the throughput buckets fed by live batches; the screen itself asks the
daemon for nothing but the unmatched-receipts list on demand.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from gatewayd import protocol as P

from ..widgets.status import AlertsPanel, LinksTable, NumbersTable, QueuePanel, alerts_for
from .base import GatewayScreen


class DashboardScreen(GatewayScreen):
    MODE = "dashboard"
    BINDINGS = [
        Binding("u", "receipts", "Unmatched DLRs"),
        Binding("r", "refresh", "Refresh"),
    ]

    def compose_body(self) -> ComposeResult:
        # Links take the full width (their sparklines and reasons must fit at 80 columns); queue
        # counts and the total throughput share the row below.
        with Vertical(id="dash-links-box", classes="box"):
            yield LinksTable(id="dash-links")
        with Horizontal(id="dash-mid"):
            yield QueuePanel(id="dash-queue", classes="box")
            with Vertical(id="dash-rate", classes="box"):
                yield Label("sent/s", id="dash-rate-label")
                yield Sparkline([0.0] * 60, id="dash-spark")
        yield NumbersTable(id="dash-numbers", classes="box")
        yield AlertsPanel(id="dash-alerts", classes="box")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#dash-links-box").border_title = "Links"
        self.query_one("#dash-queue").border_title = "Queue"
        self.query_one("#dash-rate").border_title = "Throughput, all links (60 s)"
        self.query_one("#dash-numbers").border_title = "Numbers"
        self.query_one("#dash-alerts").border_title = "Alerts"
        self.watch(self.app, "status", self._show_status)
        self.set_interval(1.0, self._tick)

    def _show_status(self, status: P.StatusView | None) -> None:
        if status is None:
            return
        self.query_one(LinksTable).show(status.links)
        self.query_one(NumbersTable).show(status.numbers)
        self.query_one(QueuePanel).show(status)
        alerts = alerts_for(status)
        alerts += [("error", f"Campaign {c.name!r} suspended: {c.status_reason or 'no reason given'}")
                   for c in self.gw.suspended]
        self.query_one(AlertsPanel).show(alerts)
        self._tick()

    def _tick(self) -> None:
        """Redraw the sparklines once a second, whether or not anything was sent."""
        self.query_one(LinksTable).refresh_sparks()
        now = self.gw.clock()
        spark = self.query_one(Sparkline)
        spark.data = self.gw.throughput.series(now, 60)
        rate = self.gw.throughput.rate(now)
        st = self.gw.status
        delivered = f"  deliv {st.delivered_per_s:.1f}/s" if st else ""
        self.query_one("#dash-rate-label", Label).update(f"sent {rate:5.1f}/s{delivered}")

    def on_live_batch(self, _msg) -> None:
        self._tick()

    def action_refresh(self) -> None:
        self.gw.refresh_status()

    def action_receipts(self) -> None:
        self._open_receipts()

    @work(exclusive=True, group="receipts", exit_on_error=False)
    async def _open_receipts(self) -> None:
        from .modals import ReceiptsScreen

        receipts = await self.gw.call(P.ListReceipts(unmatched=True, limit=200), list[P.ReceiptView])
        if receipts is not None:
            self.app.push_screen(ReceiptsScreen(receipts))
