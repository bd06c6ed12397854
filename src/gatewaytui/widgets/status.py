"""Widgets that draw a ``status`` snapshot: links, numbers, queue by state, alerts.

They are pure views of :class:`StatusView`: ``show(status)`` redraws them, and tables keep the
cursor on the same row key across redraws so a refresh every two seconds never steals the
operator's place.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

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


#: Columns of the links table as (key, label). The narrow set is what an operator must see at
#: 80x24 without scrolling sideways; the wide set adds the rest once the table has room for it.
NARROW_COLUMNS = [("link", "Link"), ("state", "State"), ("window", "Window"), ("signal", "Signal"),
                  ("spark", "Last 60 s")]
WIDE_COLUMNS = [("link", "Link"), ("kind", "Kind"), ("state", "State"), ("window", "Window"), ("rate", "Rate/s"),
                ("sent", "Sent/min"), ("signal", "Signal"), ("spark", "Last 60 s"), ("detail", "Detail")]
WIDE_FROM = 100                 # table width (cells) from which the wide set is shown
SPARK = {False: (10, 6), True: (12, 5)}    # wide? -> (cells, seconds per cell): always the last 60 s
FLEXIBLE = ("state", "detail")  # columns cut (with …) to what is left, in this order of priority


def state_text(link: LinkView) -> Text:
    """State with what an operator acts on: the reason when down, the slowed rate when throttled."""
    if not link.enabled:
        return styled("disabled")
    state = link.state.value
    t = styled(state)
    if state == "throttled":
        t.append(f" {link.rate:g}/s" if link.rate is not None else "")
    elif state == "down" or (state != "up" and link.reason):
        t.append(f": {link.reason or 'no reason given'}")
    return t


def _detail(link: LinkView) -> str:
    d = link.detail
    if d.get("signal") is not None:                       # modems: network operator and registration
        reg = f" ({d['registration']})" if d.get("registration") else ""
        return f"{d.get('operator') or '?'}{reg}"
    if "host" in d:                                       # SMPP: where it binds
        return f"{d.get('bind', '')} {d['host']}".strip()
    return ""


def _window(link: LinkView) -> str:
    """In flight / the window in force; "of N" when the SMSC narrowed it (ESME_RMSGQFUL)."""
    narrowed = link.max_window and link.max_window != link.window
    return f"{link.in_flight}/{link.window}" + (f" of {link.max_window}" if narrowed else "")


def _rate(link: LinkView) -> str:
    """The rate learned from the carrier (— while not limited), whole numbers above 10/s."""
    if link.rate is None:
        return "—"
    return f"{link.rate:.0f}" if link.rate >= 10 else f"{link.rate:.1f}".rstrip("0").rstrip(".")


class LinksTable(KeyedTable):
    """One row per link, sized to the table's width so nothing an operator needs is off-screen.

    Columns are chosen by width (narrow/wide sets above, ``Signal`` only when a link has one) and
    the free-text columns are cut to what is left; the per-link sparklines are redrawn in place
    every second and on live batches, without rebuilding rows.
    """

    _links: list[LinkView] = []               # as last shown, for redraws on resize
    _columns: list[tuple[str, str]] = []
    _wide = False

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.set_interval(1.0, self.refresh_sparks)

    def on_resize(self) -> None:
        if self._links:
            self.show(self._links)

    def show(self, links: list[LinkView]) -> None:
        self._links = list(links)
        width = self.scrollable_content_region.width
        self._wide = width >= WIDE_FROM
        has_signal = any(x.detail.get("signal") is not None for x in links)
        columns = [c for c in (WIDE_COLUMNS if self._wide else NARROW_COLUMNS) if c[0] != "signal" or has_signal]
        if columns != self._columns:
            self.clear(columns=True)
            for key, label in columns:
                self.add_column(label, key=key)
            self._columns = columns
        rows = [(x.name, self._cells(x)) for x in links]
        self._fit(rows, width)
        self.show_rows([(key, [cells[k] for k, _ in columns]) for key, cells in rows])

    def _cells(self, link: LinkView) -> dict[str, str | Text]:
        signal = link.detail.get("signal")
        return {"link": link.name, "kind": link.kind, "state": state_text(link),
                "window": _window(link), "rate": _rate(link),
                "sent": str(link.sent_last_min), "signal": "" if signal is None else f"{signal} dBm",
                "spark": self._spark(link.name), "detail": _detail(link)}

    def _fit(self, rows: list[tuple[str, dict]], width: int) -> None:
        """Cut the flexible columns so that every column fits ``width`` (cell padding included)."""
        pad = 2 * self.cell_padding
        labels = dict(self._columns)
        for _, cells in rows:
            for key in FLEXIBLE:
                cells[key] = Text(cells[key]) if isinstance(cells[key], str) else cells[key]
        natural = {k: max([len(label)] + [Text(c[k]).cell_len if isinstance(c[k], str) else c[k].cell_len
                                          for _, c in rows]) for k, label in self._columns}
        left = width - sum(natural[k] + pad for k in labels if k not in FLEXIBLE) - 1   # 1: spare
        for key in (k for k in FLEXIBLE if k in labels):
            room = max(len(labels[key]), min(natural[key], left - pad))
            left -= room + pad
            for _, cells in rows:
                cells[key].truncate(room, overflow="ellipsis")

    def _spark(self, name: str) -> Text:
        throughput = getattr(self.app, "link_throughput", {})
        now = self.app.clock() if hasattr(self.app, "clock") else 0.0
        cells, per_cell = SPARK[self._wide]
        line = throughput[name].spark(now, cells, per_cell) if name in throughput else " " * cells
        return Text(line, style="green")

    def refresh_sparks(self) -> None:
        """Move the sparklines along (time passes, events arrive) without rebuilding the rows."""
        if not self._columns or "spark" not in dict(self._columns):
            return
        for link in self._links:
            try:
                self.update_cell(link.name, "spark", self._spark(link.name))
            except CellDoesNotExist:      # row not drawn yet: the next show() draws it
                pass


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
