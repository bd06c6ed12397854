"""Campaign scale: import, expansion and report latency for 1,000,000 contacts.

    python bench/campaign_scale.py [--contacts 1000000] [--dir DIR] [--keep]

Runs the same sync code the daemon runs in its store writer, against a real store file (WAL,
``synchronous=NORMAL``), without the socket or a link in the way, and prints:

- import rows/s: CSV generated lazily, parsed and merged in 2,000-row chunks (one transaction each);
- expansion recipients/s: list members to recipient rows (1,000 per transaction), then the first
  step enqueued into the durable queue (rendered, segmented, one message each);
- report latency: the campaign's full analytics report (median of 5) and the performance report
  filtered to the campaign, over all its messages;
- peak memory: the process's maximum RSS, and its growth during the import and the expansion
  (streaming means it must not grow with the number of contacts).

It takes a few minutes for 1,000,000 contacts and several GB of disk; it is not part of
``make test``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gatewayd import config  # noqa: E402
from gatewayd.analytics import reports  # noqa: E402
from gatewayd.campaigns import expand, lifecycle, scripts, steps  # noqa: E402
from gatewayd.contacts import importer  # noqa: E402
from gatewayd.store import messages as mq  # noqa: E402
from gatewayd.store.store import Store  # noqa: E402

NUMBER = "+14155550100"
CFG = f"""
[[links]]
name = "sim"
kind = "sim"
price_per_segment = 0.0075
[[numbers]]
address = "{NUMBER}"
links = ["sim"]
rate = 1000
"""


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Lazy:
    """A CSV file that is never in memory: rows are made as the reader asks for them."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        yield "First Name,Last Name,Phone,Plan,City\n"
        for i in range(self.n):
            yield f"First{i},Last{i},+1{628 + (i // 9_000_000)}{2000000 + i % 8_000_000:07d},gold,SF\n"


def time_reports(store: Store, cid: int) -> None:
    """Worst case for the report: every message attempted (as if the carrier had run), in a mix
    of outcomes, then the full campaign report and the campaign's performance report."""
    for state, cond in (("delivered", "id % 10 < 7"), ("sent", "id % 10 = 7"), ("undelivered", "id % 10 = 8"),
                        ("failed", "id % 10 = 9")):
        store.db.execute(f"UPDATE messages SET state = ?, link = 'sim' WHERE campaign_id = ? AND state <> ? AND {cond}",
                         (state, cid, state))
    store.db.execute("ANALYZE")
    row = store.db.execute("SELECT * FROM campaigns WHERE id = ?", (cid,)).fetchone()
    times, rep = [], {}
    for _ in range(5):
        t0 = time.perf_counter()
        rep = store._read(reports.campaign_report, (row, {"sim": 0.0075}, time.time()))
        times.append(time.perf_counter() - t0)
    ptimes = []
    for _ in range(5):
        t0 = time.perf_counter()
        store._read(lambda db: reports.performance(db, {"sim": 0.0075}, campaign_id=cid), ())
        ptimes.append(time.perf_counter() - t0)
    print(f"report:    campaign report over {rep['send_status']['total']:,} messages"
          f" ({rep['engagement']['contacts_sent']:,} contacts sent): median {statistics.median(times) * 1000:.0f} ms"
          f" (max {max(times) * 1000:.0f} ms); performance report {statistics.median(ptimes) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--dir", help="where to put the database (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--report-only", action="store_true",
                    help="reuse the campaign in --dir (from a --keep run) and time only the reports")
    args = ap.parse_args()
    if args.report_only:
        if not args.dir:
            ap.error("--report-only needs --dir")
        store = Store(Path(args.dir) / "scale.db")
        store.open()
        time_reports(store, store.db.execute("SELECT max(id) FROM campaigns").fetchone()[0])
        store.close()
        return
    n = args.contacts
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="campaign-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = config.parse(CFG)
    steps.RUNTIME.cfg = cfg
    if steps.on_final not in mq.FINAL_HOOKS:
        mq.FINAL_HOOKS.append(steps.on_final)
    store = Store(workdir / "scale.db")
    store.open()
    base = rss_mb()
    print(f"campaign scale: {n:,} contacts in {workdir}")

    t0 = time.perf_counter()
    imported = 0
    for header, first, rows in importer.read_chunks(Lazy(n), importer.CHUNK_ROWS):
        prepared = importer.prepare_rows(header, rows, first, "US")   # the daemon does this off the writer
        res = store.run_sync(importer.store_rows, "all", prepared)
        imported += res["imported"] + res["merged"]
    t_import = time.perf_counter() - t0
    after_import = rss_mb()
    print(f"import:    {imported:,} rows in {t_import:.1f} s = {imported / t_import:,.0f} rows/s"
          f" (peak RSS {after_import:.0f} MB, +{after_import - base:.0f} MB)")

    sid = store.run_sync(scripts.create, "scale", "nudge", [{"text": "Hi {first_name}, your {plan} plan in {city}"}],
                         {}, "bench")
    list_id = store.db.execute("SELECT id FROM lists WHERE name = 'all'").fetchone()[0]
    cid = store.run_sync(lifecycle.create, {"name": "scale", "script_id": sid, "list_id": list_id, "number": NUMBER,
                                            "office": "default"}, "bench")
    store.run_sync(lifecycle.launch, cid, "bench", cfg, lambda a: {"known": True, "enabled": True})
    t0 = time.perf_counter()
    while store.run_sync(expand.expand_batch, cid):
        pass
    t_expand = time.perf_counter() - t0
    t0 = time.perf_counter()
    enqueued = 0
    while True:
        moved = store.run_sync(expand.feed_batch, cid, 5000)
        if not moved:
            break
        enqueued += moved
    t_feed = time.perf_counter() - t0
    after_expand = rss_mb()
    print(f"expansion: {n:,} recipients in {t_expand:.1f} s = {n / t_expand:,.0f} recipients/s")
    print(f"enqueue:   {enqueued:,} messages in {t_feed:.1f} s = {enqueued / t_feed:,.0f} messages/s"
          f" (expansion + enqueue {n / (t_expand + t_feed):,.0f} recipients/s;"
          f" peak RSS {after_expand:.0f} MB, +{after_expand - after_import:.0f} MB)")

    time_reports(store, cid)
    print(f"memory:    peak RSS {rss_mb():.0f} MB")
    store.close()
    if not args.keep and not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
