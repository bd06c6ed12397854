"""Campaign analytics charts: the seed's activity buckets, segments by state, same picture every run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fake_campaigns import CampaignClient
from helpers import until
from test_campaign_detail import app_for, go_tab, open_detail
from textual.app import App

from gatewaytui.views import Activity, Bucket, Performance
from gatewaytui.widgets.charts import ActivityChart, SegmentsChart, bucket_label, nice_ticks, thinned

#: What the daemon sends for each of seed 001's buckets (labels in the campaign's zone).
BUCKETS = {
    "hour": ["2023-11-14T22:00", "2023-11-14T23:00", "2023-11-15T00:00", "2023-11-15T01:00"],
    "day": ["2023-11-14", "2023-11-15", "2023-11-16"],
    "month": ["2023-11", "2023-12", "2024-01"],
    "year": ["2022", "2023", "2024"],
}
SHOWN = {"hour": ["22:00", "23:00", "00:00", "01:00"], "day": ["11-14", "11-15", "11-16"],
         "month": ["2023-11", "2023-12", "2024-01"], "year": ["2022", "2023", "2024"]}


def activity(bucket: str, n: int | None = None) -> Activity:
    labels = BUCKETS[bucket] if n is None else [f"2023-11-{1 + i // 24:02d}T{i % 24:02d}:00" for i in range(n)]
    return Activity(bucket=bucket, tz="UTC", series=[Bucket(label=x, sent=7 * i + 3, received=2 * i)
                                                     for i, x in enumerate(labels)])


@pytest.mark.parametrize("bucket", list(BUCKETS))
def test_bucket_labels_show_what_changes_between_neighbours(bucket):
    assert [bucket_label(x, bucket) for x in BUCKETS[bucket]] == SHOWN[bucket]


def test_ticks_are_whole_numbers_from_zero_that_cover_the_data():
    assert nice_ticks(60, 4) == [0, 20, 40, 60]
    assert nice_ticks(7, 6) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, 4) == [0, 1]
    assert nice_ticks(123_456, 5) == [0, 50_000, 100_000, 150_000]
    assert thinned(["01:00"] * 24, 34) == [0, 5, 10, 15, 20]       # 7 cells a label: 5 fit in 34
    assert thinned(["2023"] * 3, 34) == [0, 1, 2]


class ChartApp(App):
    def __init__(self, act: Activity, perf: Performance | None = None, early: bool = True) -> None:
        super().__init__()
        self.act, self.perf, self.early = act, perf, early

    def compose(self):
        chart = ActivityChart()
        if self.early:                      # data before the first layout, as when the tab opens
            chart.show(self.act)
        yield chart
        if self.perf is not None:
            yield SegmentsChart()

    def on_mount(self) -> None:
        if not self.early:
            self.query_one(ActivityChart).show(self.act)
        if self.perf is not None:
            self.query_one(SegmentsChart).show(self.perf)


async def drawn(act: Activity, size: tuple[int, int], *, early: bool, resize_from=None) -> str:
    app = ChartApp(act, early=early)
    async with app.run_test(size=resize_from or size) as pilot:
        await pilot.pause()
        if resize_from:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        return str(app.query_one(ActivityChart).render())


@pytest.mark.asyncio
@pytest.mark.parametrize("bucket", list(BUCKETS))
async def test_activity_chart_is_the_same_for_the_same_data_whenever_it_arrives(bucket):
    """Axis labels used to depend on the widget's width when the report arrived (0 right after
    the tab opened), so snapshots of the chart differed from run to run."""
    act = activity(bucket)
    first = await drawn(act, (40, 14), early=True)
    assert first == await drawn(act, (40, 14), early=False)
    assert first == await drawn(act, (40, 14), early=True, resize_from=(100, 30))
    assert f"activity per {bucket} (UTC)" in first
    for label in SHOWN[bucket]:
        assert label in first
    assert "." not in first.split("└")[0].split("┌")[1]             # whole-number y ticks only


RENDER = """
import asyncio
from textual.app import App
from gatewaytui.views import Activity, Bucket
from gatewaytui.widgets.charts import ActivityChart
act = Activity(series=[Bucket(label=f"2023-11-14T{h:02d}:00", sent=10 * h, received=3 * h) for h in range(1, 7)])
class A(App):
    def compose(self):
        chart = ActivityChart()
        chart.show(act)
        yield chart
async def main():
    app = A()
    async with app.run_test(size=(40, 14)) as pilot:
        await pilot.pause()
        print(app.query_one(ActivityChart).render())
asyncio.run(main())
"""


def test_same_picture_whatever_the_hash_seed():
    """The cause of the unstable snapshots: bucket labels given to plotext as categories got their
    own ticks, and plotext dropped colliding tick labels in set order, which follows PYTHONHASHSEED."""
    outs = {subprocess.run([sys.executable, "-c", RENDER], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True, timeout=60).stdout for seed in "123"}
    assert len(outs) == 1
    assert outs.pop().rstrip().splitlines()[-1].split() == ["01:00", "03:00", "05:00"]


@pytest.mark.asyncio
async def test_many_buckets_become_lines_with_labels_that_do_not_collide():
    text = await drawn(activity("hour", 24), (40, 14), early=True)
    ticks = text.splitlines()[-1].split()
    assert ticks == ["00:00", "05:00", "10:00", "15:00", "20:00"]


@pytest.mark.asyncio
async def test_segments_chart_has_every_seed_state_with_its_count():
    perf = Performance(segments={"queued": 5, "failed": 15, "delivered_confirmed": 90, "delivered_unconfirmed": 10,
                                 "expired": 2}, total_segments=122)
    app = ChartApp(activity("day"), perf)
    async with app.run_test(size=(40, 24)) as pilot:
        await pilot.pause()
        rows = str(app.query_one(SegmentsChart).render()).splitlines()
    assert rows[0].strip() == "Segments by state"
    by_label = {r[:16].strip(): r[16:] for r in rows[1:]}
    assert list(by_label) == ["queued", "failed", "ignored", "unreachable", "undelivered", "deliv. unconf.",
                              "deliv. confirmed", "expired"]
    counts = {k: int(v.split()[-1]) for k, v in by_label.items()}
    assert counts == {"queued": 5, "failed": 15, "ignored": 0, "unreachable": 0, "undelivered": 0,
                      "deliv. unconf.": 10, "deliv. confirmed": 90, "expired": 2}
    bars = {k: v.count("█") for k, v in by_label.items()}
    assert bars["deliv. confirmed"] > bars["failed"] > bars["queued"] and bars["ignored"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("bucket", ["day", "year"])
async def test_analytics_tab_charts_the_buckets_the_daemon_chose(bucket):
    client = CampaignClient()
    report = client.op_campaign_report

    def with_bucket(req):
        rep = report(req)
        rep["activity"] = {"bucket": bucket, "tz": "UTC",
                           "series": [{"label": x, "sent": 5, "received": 1} for x in BUCKETS[bucket]]}
        return rep

    client.handlers["campaign_report"] = with_bucket
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_detail(pilot, app)
        await go_tab(pilot, app, "analytics")
        await until(pilot, lambda: app.screen.report is not None, what="report")
        await pilot.pause()
        text = str(app.screen.query_one(ActivityChart).render())
        assert f"per {bucket} (UTC)" in text and all(x in text for x in SHOWN[bucket])
        assert "deliv. confirmed" in str(app.screen.query_one(SegmentsChart).render())
