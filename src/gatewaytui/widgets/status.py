"""Widgets that draw a ``status`` snapshot: links, numbers, queue by state, alerts.

They are pure views of :class:`StatusView`: ``show(status)`` redraws them, and tables keep the
cursor on the same row key across redraws so a refresh every two seconds never steals the
operator's place.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Static

from gatewayd.protocol import LinkView, NumberView, StatusView

STATE_STYLE = {
    "queued": "cyan", "sending": "blue", "sent": "green", "delivered": "bold green",
    "undelivered": "red", "failed": "bold red", "expired": "yellow", "unreachable": "magenta",
    "ignored": "dim", "cancelled": "dim", "enabled": "green", "up": "bold green", "throttled": "yellow",
    "down": "bold red", "disabled": "dim", "starting": "cyan", "binding": "cyan",
}
QUEUE_ORDER = ["queued", "sending", "sent", "delivered", "undelivered", "failed", "expired",
               "unreachable", "ignored", "cancelled"]


def styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def delivery_ratio(queue: dict[str, int]) -> float | None:
    done = sum(queue.get(s, 0) for s in ("delivered", "undelivered", "failed"))
    return queue.get("delivered", 0) / done if done else None


class KeyedTable(DataTable):
    """A DataTable redrawn from rows keyed by name, keeping the cursor on the same key."""

    def show_rows(self, rows: list[tuple[str, list]]) -> None:
        current = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            current = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if current is not None:
            try:
                self.move_cursor(row=self.get_row_index(current), animate=False)
            except Exception:  # row gone: leave the cursor where clear() put it
                pass

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value


class LinksTable(KeyedTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("Link", "Kind", "State", "In flight", "Rate/s", "Sent/min", "Last 60 s", "Reason")

    def show(self, links: list[LinkView]) -> None:
        throughput = getattr(self.app, "link_throughput", {})
        now = self.app.clock() if hasattr(self.app, "clock") else 0.0
        rows = []
        for link in links:
            state = link.state.value if link.enabled else "disabled"
            extra = link.reason
            d = link.detail
            if d.get("signal") is not None:                      # modems: dBm and network operator
                extra = f"{d['signal']} dBm {d.get('operator') or ''} {extra}".strip()
            elif "host" in d and not extra:                        # SMPP: where it binds
                extra = f"{d.get('bind', '')} {d['host']}".strip()
            rate = "—" if link.rate is None else f"{link.rate:g}"
            spark = throughput[link.name].spark(now) if link.name in throughput else " " * 12
            rows.append((link.name, [link.name, link.kind, styled(state), f"{link.in_flight}/{link.window}",
                                     rate, str(link.sent_last_min), spark, extra]))
        self.show_rows(rows)


class NumbersTable(KeyedTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("Number", "Links", "Pacing", "Today", "Office", "Use", "State")

    def show(self, numbers: list[NumberView]) -> None:
        rows = []
        for n in numbers:
            cap = f"{n.used_today}/{n.daily_cap}" if n.daily_cap else str(n.used_today)
            rows.append((n.address, [n.address, ",".join(n.links), f"{n.rate:g}/s b{n.burst}", cap, n.office,
                                     "reusable" if n.reusable else "single-use",
                                     styled("enabled" if n.enabled else "disabled")]))
        self.show_rows(rows)


class QueuePanel(Static):
    """Messages by state, plus the delivery ratio."""

    def show(self, status: StatusView) -> None:
        t = Text()
        q = status.queue
        for i, state in enumerate(QUEUE_ORDER):
            t.append(f"{state:<11}", style=STATE_STYLE.get(state, ""))
            t.append(f"{q.get(state, 0):>6,}")
            t.append("\n" if i % 2 else "  ")
        ratio = delivery_ratio(q)
        t.append("delivery ratio ")
        t.append("—" if ratio is None else f"{ratio:.1%}", style="bold")
        t.append(f"   inbound {status.inbound_total:,}")
        self.update(t)


def alerts_for(status: StatusView) -> list[tuple[str, str]]:
    """(severity, text) for what an operator must look at."""
    out: list[tuple[str, str]] = []
    for link in status.links:
        if link.enabled and link.state.value == "down":
            out.append(("error", f"Link {link.name} is down: {link.reason or 'no reason given'}"))
        elif link.state.value == "throttled":
            out.append(("warning", f"Link {link.name} is throttled by the carrier (rate {link.rate or 0:g}/s)"))
    for n in status.numbers:
        if n.daily_cap and n.used_today >= n.daily_cap:
            out.append(("warning", f"Number {n.address} reached its daily cap ({n.daily_cap})"))
    if status.unmatched_receipts:
        out.append(("warning", f"{status.unmatched_receipts} unmatched receipt(s): press u to review"))
    return out


class AlertsPanel(Static):
    def show(self, alerts: list[tuple[str, str]]) -> None:
        if not alerts:
            self.update(Text("✓ No alerts", style="green"))
            return
        t = Text()
        for i, (sev, text) in enumerate(alerts):
            if i:
                t.append("\n")
            t.append("✖ " if sev == "error" else "▲ ", style="bold red" if sev == "error" else "bold yellow")
            t.append(text)
        self.update(t)
