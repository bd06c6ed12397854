"""Campaign analytics charts that look the same for the same report, at any terminal size.

The snapshots used to hide them because their x labels changed from run to run: bucket labels
were handed to plotext as bar categories, so plotext made a tick for every bucket and, where
labels collided, dropped some in set order (which follows PYTHONHASHSEED); and the labels kept
were picked from the widget's width when the report arrived rather than when drawn. Now each
chart keeps the report's data and draws it in ``render`` at its real size, on numeric x
positions with tick labels and whole-number y ticks chosen here, so the picture depends only on
(data, size).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget
from textual_plotext import PlotextPlot

from ..views import Activity, Performance

#: Seed 002's segment states in its order, as (report key, label); extra states show when non-zero.
SEGMENT_LABELS = [("queued", "queued"), ("failed", "failed"), ("ignored", "ignored"),
                  ("unreachable", "unreachable"), ("undelivered", "undelivered"),
                  ("delivered_unconfirmed", "deliv. unconf."), ("delivered_confirmed", "deliv. confirmed")]
EXTRA_SEGMENT_LABELS = [("expired", "expired"), ("cancelled", "cancelled")]
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bucket_label(label: str, bucket: str) -> str:
    """Tick text for one activity bucket (seed 001: per hour, day, month or year by active range).

    The daemon labels buckets ``YYYY-MM-DDTHH:00``, ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` in the
    campaign's zone; the chart shows the part that changes between neighbours.
    """
    if bucket == "hour":
        return label[11:16] or label
    if bucket == "day":
        return label[5:10] or label
    return label


def nice_ticks(top: float, most: int) -> list[int]:
    """Integer ticks from 0 that cover ``top`` in steps of 1, 2 or 5 × 10^k, at most ``most`` of them."""
    most = max(2, most)
    step = 1
    while True:
        for m in (1, 2, 5):
            if -(-max(top, 1) // (step * m)) + 1 <= most:
                step *= m
                n = int(-(-max(top, 1) // step))
                return [i * step for i in range(n + 1)]
        step *= 10


def tick_text(v: int) -> str:
    return f"{v / 1000:g}k" if v >= 10_000 else str(v)


def thinned(labels: list[str], room: int) -> list[int]:
    """Indexes of the labels to show so that none collide in ``room`` cells (every n-th one)."""
    if not labels:
        return []
    need = max(map(len, labels)) + 2
    step = max(1, -(-len(labels) * need // max(room, need)))
    return list(range(0, len(labels), step))


class ActivityChart(PlotextPlot):
    """Contact message activity: messages sent and replies received per bucket."""

    activity: Activity | None = None

    def show(self, activity: Activity) -> None:
        self.activity = activity
        self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        act = self.activity
        if act is None:
            return super().render()
        titles = [f"Message activity per {act.bucket} ({act.tz})", f"Activity per {act.bucket} ({act.tz})",
                  f"Per {act.bucket} ({act.tz})", f"Per {act.bucket}"]
        # plotext silently drops a title wider than the plot: take the longest that fits.
        plt.title(next((t for t in titles if len(t) <= self.size.width - 2), titles[-1]))
        series = act.series
        sent = [b.sent for b in series]
        received = [b.received for b in series]
        if series:
            yticks = nice_ticks(max(sent + received), min(6, (self.size.height - 4) // 2))
            y_width = max(len(tick_text(t)) for t in yticks)
            xs = list(range(1, len(series) + 1))
            if len(series) * 3 <= self.size.width - y_width - 3:
                plt.multiple_bar(xs, [sent, received], labels=["sent", "received"])
            else:                                       # too many buckets for bars: lines
                plt.plot(xs, sent, label="sent", marker="hd")
                plt.plot(xs, received, label="received", marker="hd")
            plt.ylim(0, yticks[-1])
            plt.yticks(yticks, [tick_text(t) for t in yticks])
            labels = [bucket_label(b.label, act.bucket) for b in series]
            shown = thinned(labels, self.size.width - y_width - 3)
            plt.xticks([xs[i] for i in shown], [labels[i] for i in shown])
        return super().render()


class SegmentsChart(Widget):
    """Performance in segments by state (seed 002): one bar per state with its count.

    Drawn as text, not with plotext: in the dozen rows an 80x24 screen leaves, plotext's
    horizontal bars drifted a row off their labels, and its axis showed counts as 22.5.
    """

    performance: Performance | None = None

    def show(self, performance: Performance) -> None:
        self.performance = performance
        self.refresh()

    def render(self) -> Text:
        perf = self.performance
        t = Text("Segments by state".center(self.size.width).rstrip() + "\n", style="bold")
        if perf is None:
            return t
        rows = SEGMENT_LABELS + [(k, label) for k, label in EXTRA_SEGMENT_LABELS if perf.segments.get(k)]
        counts = [perf.segments.get(k, 0) for k, _ in rows]
        label_w = max(len(label) for _, label in rows)
        count_w = max(len(f"{c:,}") for c in counts)
        bar_w = max(1, self.size.width - label_w - count_w - 3)
        top = max(counts) or 1
        for (key, label), n in zip(rows, counts):
            t.append(f"{label:>{label_w}} ")
            t.append(_bar(n / top * bar_w).ljust(bar_w), style="red" if key in ("failed", "undelivered") else
                     "green" if key.startswith("delivered") else "cyan")
            t.append(f" {n:>{count_w},}\n")
        return t


def _bar(cells: float) -> str:
    """A bar ``cells`` long in eighths of a cell; a non-zero count always shows a sliver."""
    eighths = max(round(cells * 8), 1 if cells > 0 else 0)
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
