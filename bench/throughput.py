"""Messages per second through the sim link with persistence on, and memory vs queue length.

    python bench/throughput.py [--messages 20000] [--runs 3] [--queue-sizes 10000,300000,1000000]

For each run a fresh ``gatewayd`` process (sim link, receipts after 50 ms, every state change
committed) gets N messages through the socket (``send_batch``); we time enqueue, the drain until
every message is *sent*, and until every receipt has made it *delivered*. The ceiling, measured in
the same run, is the sim link alone (submit in a loop, nothing persisted): the ratio says how much
of the link's speed the durable queue keeps. Then the memory check: RSS of a daemon holding a
small queue vs ones holding more (``--queue-sizes``, paced to 1/s so they stay queued); the queue
lives in SQLite, so RSS levels off at the page-cache cap instead of growing with the queue.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gatewayd.ctl import Client, CtlError  # noqa: E402

FROM = "+14155550100"


def config(rate: float, window: int = 100) -> str:
    return f"""
[[links]]
name = "sim"
kind = "sim"
window = {window}
dlr_delay_s = 0.05
delivered = 1.0
undelivered = 0.0
rejected = 0.0
seed = 1

[[numbers]]
address = "{FROM}"
links = ["sim"]
rate = {rate}
burst = 1000
"""


def start(tmp: Path, rate: float) -> subprocess.Popen:
    (tmp / "gw.toml").write_text(config(rate))
    proc = subprocess.Popen([str(BIN / "gatewayd"), "--config", str(tmp / "gw.toml"), "--state-dir",
                             str(tmp / "state"), "--socket", str(tmp / "gw.sock"), "--log-level", "warning"],
                            stderr=open(tmp / "log", "ab"))
    for _ in range(300):
        try:
            Client(str(tmp / "gw.sock")).close()
            return proc
        except CtlError:
            time.sleep(0.05)
    raise SystemExit("daemon did not start")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def enqueue(sock: str, n: int, offset: int = 0) -> float:
    c = Client(sock, timeout=600)
    t0 = time.perf_counter()
    for start_i in range(0, n, 5000):
        chunk = [{"from": FROM, "to": f"+1415555{(i % 9000) + 1000:04d}", "text": f"bench message {i}",
                  "priority": "bulk"} for i in range(offset + start_i, offset + min(n, start_i + 5000))]
        c.call("send_batch", messages=chunk)
    c.close()
    return time.perf_counter() - t0


def wait_state(sock: str, key: str, n: int, timeout: float = 900) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        c = Client(sock)
        q = c.call("status")["queue"]
        c.close()
        done = q.get(key, 0) + (q.get("delivered", 0) if key == "sent" else 0)
        if done >= n:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {n} {key}")


def one_run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proc = start(tmp, rate=1e6)
        try:
            sock = str(tmp / "gw.sock")
            t_enq = enqueue(sock, n)
            t0 = time.perf_counter()
            t_sent = wait_state(sock, "sent", n)
            t_deliv = wait_state(sock, "delivered", n) + t_sent
            peak = rss_mb(proc.pid, "VmHWM")
            return {"enqueue_per_s": n / t_enq, "sent_per_s": n / t_sent, "delivered_per_s": n / t_deliv,
                    "peak_rss_mb": peak, "elapsed": time.perf_counter() - t0}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


async def _ceiling(n: int) -> float:
    """The sim link by itself: what the queue could do if persistence were free."""
    from gatewayd.config import SimConfig
    from gatewayd.links.base import OutSegment
    from gatewayd.links.sim import SimLink
    from gatewayd.models import Encoding

    class NullSink:
        async def receipt(self, r): ...
        async def inbound(self, m): ...
        def status(self, s): ...

    link = SimLink(SimConfig(name="sim", dlr_delay_s=0.05, delivered=1.0, undelivered=0, rejected=0), NullSink())
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        limit = trio.Semaphore(100)
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            async with limit:
                await link.submit(OutSegment(segment_id=i, message_id=i, sender=FROM, recipient="+14155551000",
                                             index=1, count=1, ref=0, encoding=Encoding.GSM7, text="x"))

        async with trio.open_nursery() as inner:
            for i in range(n):
                await limit.acquire()
                limit.release()
                inner.start_soon(one, i)
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return n / elapsed


def memory_check(sizes: list[int]) -> list[float]:
    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            proc = start(tmp, rate=1.0)
            try:
                enqueue(str(tmp / "gw.sock"), n)
                time.sleep(2)   # let the lane claim/settle
                out.append(rss_mb(proc.pid))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--queue-sizes", default="10000,300000,1000000",
                   help="queued-message counts for the memory check (comma-separated)")
    args = p.parse_args()
    runs = []
    for i in range(args.runs):
        r = one_run(args.messages)
        runs.append(r)
        print(f"run {i + 1}: enqueue {r['enqueue_per_s']:.0f}/s, sent {r['sent_per_s']:.0f}/s, "
              f"delivered {r['delivered_per_s']:.0f}/s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    ceilings = [trio.run(_ceiling, args.messages) for _ in range(args.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ceiling = statistics.median(ceilings)
    print(f"\nmedian of {args.runs} runs, {args.messages} messages each:")
    print(f"  enqueue (committed before reply)   {med['enqueue_per_s']:8.0f} msg/s")
    print(f"  submitted (every state persisted)  {med['sent_per_s']:8.0f} msg/s")
    print(f"  delivered (receipts persisted)     {med['delivered_per_s']:8.0f} msg/s")
    print(f"  sim link alone (ceiling)           {ceiling:8.0f} msg/s   -> queue keeps "
          f"{med['sent_per_s'] / ceiling:.1%} of it")
    print(f"  peak RSS                           {med['peak_rss_mb']:8.0f} MB")
    sizes = [int(x) for x in args.queue_sizes.split(",") if x]
    print("\nRSS of an idle daemon holding N queued messages (the queue lives in SQLite; SQLite's page")
    print("cache is capped at 8 MB per connection, so RSS should level off rather than track N):")
    for n, mb in zip(sizes, memory_check(sizes)):
        print(f"  {n:>10,} queued: {mb:5.0f} MB")


if __name__ == "__main__":
    main()
