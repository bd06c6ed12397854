"""Sans-I/O bookkeeping for live views: throughput buckets and event batches.

The daemon can emit thousands of events a second during a campaign; repainting per event would
freeze the UI. The stream worker collects events into a :class:`Batch` and hands the UI one batch
per tick; screens read summaries from the batch (which ids changed, how many were sent) instead of
walking raw events. Nothing here touches Textual or sockets, so it is tested with plain values.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from gatewayd.protocol import Event

#: States that count as "sent" for throughput (the carrier accepted or rejected the submit).
_SENT_STATES = {"sent", "failed"}


class Throughput:
    """Per-second counts of sent messages over a sliding window, for the sparkline."""

    def __init__(self, window_s: int = 60) -> None:
        self.window_s = window_s
        self._buckets: deque[tuple[int, int]] = deque()   # (second, count), ascending

    def add(self, at: float, n: int = 1) -> None:
        sec = math.floor(at)
        if self._buckets and self._buckets[-1][0] == sec:
            self._buckets[-1] = (sec, self._buckets[-1][1] + n)
        elif self._buckets and self._buckets[-1][0] > sec:
            # late event (replay): find its bucket or drop it when older than the window
            for i, (s, c) in enumerate(self._buckets):
                if s == sec:
                    self._buckets[i] = (s, c + n)
                    return
        else:
            self._buckets.append((sec, n))
        while len(self._buckets) > self.window_s * 2:
            self._buckets.popleft()

    def series(self, now: float, width: int | None = None) -> list[float]:
        """Counts for the last ``width`` seconds ending at ``now`` (oldest first)."""
        width = width or self.window_s
        end = math.floor(now)
        counts = dict(self._buckets)
        return [float(counts.get(s, 0)) for s in range(end - width + 1, end + 1)]

    def rate(self, now: float, over_s: int = 10) -> float:
        return sum(self.series(now, over_s)) / over_s

    def spark(self, now: float, cells: int = 12, per_cell_s: int = 5) -> str:
        """A text sparkline of the last ``cells * per_cell_s`` seconds (fits a table cell)."""
        series = self.series(now, cells * per_cell_s)
        sums = [sum(series[i:i + per_cell_s]) for i in range(0, len(series), per_cell_s)]
        top = max(sums) or 1.0
        return "".join(_BARS[0] if v == 0 else _BARS[min(len(_BARS) - 1, 1 + int(v / top * (len(_BARS) - 2)))]
                       for v in sums)


_BARS = " ▁▂▃▄▅▆▇█"


@dataclass
class Batch:
    """Events gathered since the last UI tick, pre-digested for screens."""

    events: list[Event] = field(default_factory=list)
    message_states: dict[int, str] = field(default_factory=dict)   # id -> latest state
    new_message_ids: set[int] = field(default_factory=set)
    inbound: list[Event] = field(default_factory=list)
    link_changed: bool = False
    campaign_ids: set[int] = field(default_factory=set)
    conversation_ids: set[int] = field(default_factory=set)
    lists_changed: bool = False       # contacts imported: drafts' readiness may have changed
    unmatched_receipts: int = 0
    alerts: list[str] = field(default_factory=list)

    def add(self, ev: Event) -> None:
        self.events.append(ev)
        d = ev.data
        t = ev.type
        if t == "message.state":
            mid = d.get("id")
            if isinstance(mid, int):
                self.message_states[mid] = str(d.get("state"))
                if d.get("state") == "queued":
                    self.new_message_ids.add(mid)
            if isinstance(d.get("campaign_id"), int):
                self.campaign_ids.add(d["campaign_id"])
        elif t == "inbound":
            self.inbound.append(ev)
            if isinstance(d.get("conversation_id"), int):
                self.conversation_ids.add(d["conversation_id"])
        elif t == "receipt":
            if d.get("matched") is False:
                self.unmatched_receipts += 1
        elif t == "link.state":
            self.link_changed = True
            if d.get("state") == "down":
                self.alerts.append(f"link {d.get('link')} down: {d.get('reason') or 'no reason given'}")
        elif t == "number.cap_reached":
            self.alerts.append(f"number {d.get('number') or d.get('address')} reached its daily cap")
        elif t.startswith("campaign."):
            if isinstance(d.get("id"), int):
                self.campaign_ids.add(d["id"])
            elif isinstance(d.get("campaign_id"), int):
                self.campaign_ids.add(d["campaign_id"])
            if t == "campaign.status" and d.get("status") == "suspended":
                self.alerts.append(f"campaign {d.get('name') or d.get('id')} suspended: "
                                   f"{d.get('reason') or 'no reason given'}")
        elif t == "contacts.imported":
            self.lists_changed = True
        elif t.startswith("conversation."):
            cid = d.get("id", d.get("conversation_id"))
            if isinstance(cid, int):
                self.conversation_ids.add(cid)

    def sent_times(self) -> list[float]:
        return [e.at for e in self.events
                if e.type == "message.state" and e.data.get("state") in _SENT_STATES]

    def sent_by_link(self) -> list[tuple[str, float]]:
        """(link, time) of each carrier answer, for the per-link sparklines."""
        return [(str(e.data["link"]), e.at) for e in self.events
                if e.type == "message.state" and e.data.get("state") in _SENT_STATES and e.data.get("link")]

    def __len__(self) -> int:
        return len(self.events)
