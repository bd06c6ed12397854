"""End-to-end SMPP throughput: the real daemon against the fake SMSC on loopback, with receipts.

    python bench/smpp_throughput.py [--messages 10000] [--runs 3] [--window 50] [--sizes 10000,100000]
                                    [--inline-too]

One fake SMSC process (tests/fakes/smsc.py: accepts everything, receipt right after each
submit_sm_resp). For each run a fresh ``gatewayd`` (one smpp link, transceiver, ``--window``;
every state change committed) gets N messages over the socket; we time from the first enqueue to
every message *submitted* (sent or delivered) and to every receipt *persisted* (delivered), and
read the peak RSS (VmHWM) of the daemon plus its SMPP link worker process. The ceiling, measured
in the same run against the same SMSC with the same window: a bare client using only the codec
(bind, blast submit_sm, answer deliver_sm, nothing stored). ``--inline-too`` also runs the daemon
with the link in the daemon's own process (``isolated = false``) each run, for the A/B. Last, memory vs N:
peak RSS of one run per ``--sizes`` entry.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))
from gatewayd.config import SmppConfig  # noqa: E402
from gatewayd.ctl import Client, CtlError  # noqa: E402
from gatewayd.links.base import OutSegment  # noqa: E402
from gatewayd.links.smpp import codec, message  # noqa: E402
from gatewayd.models import Encoding  # noqa: E402

FROM = "+14155550100"
DAEMON = [str(BIN / "gatewayd")]     # a profiler can wrap it (see /tmp-style harnesses)


def start_smsc() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / "smsc.py"), "--port", "0",
                             "--dlr-delay", "0"], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def start_daemon(tmp: Path, port: int, window: int, isolated: bool = True, link_extra: str = "") -> subprocess.Popen:
    (tmp / "gw.toml").write_text(f"""
[[links]]
name = "carrier"
kind = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "bench"
password = "bench"
window = {window}
isolated = {str(isolated).lower()}
{link_extra}

[[numbers]]
address = "{FROM}"
links = ["carrier"]
rate = 1000000
burst = 100000
""")
    proc = subprocess.Popen([*DAEMON, "--config", str(tmp / "gw.toml"), "--state-dir",
                             str(tmp / "state"), "--socket", str(tmp / "gw.sock"), "--log-level", "warning"],
                            stderr=open(tmp / "log", "ab"))
    sock = str(tmp / "gw.sock")
    for _ in range(600):
        try:
            c = Client(sock)
            links = c.call("status")["links"]
            c.close()
            rows = links.values() if isinstance(links, dict) else links
            if all(r["state"] == "up" for r in rows):
                return proc
        except CtlError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"daemon did not come up:\n{(tmp / 'log').read_text()[-2000:]}")


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak RSS of ``pid`` plus its children (the SMPP link's worker process, ``isolated``)."""
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


def children(pid: int) -> list[int]:
    """Listed per thread (trio starts processes from a worker thread), so read every task's."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return out


def queue(sock: str) -> dict[str, int]:
    c = Client(sock)
    try:
        return c.call("status")["queue"]
    finally:
        c.close()


def one_run(port: int, n: int, window: int, isolated: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proc = start_daemon(tmp, port, window, isolated)
        sock = str(tmp / "gw.sock")
        try:
            c = Client(sock, timeout=600)
            t0 = time.perf_counter()
            for s in range(0, n, 5000):
                c.call("send_batch", messages=[
                    {"from": FROM, "to": f"+1415{5550000 + i % 1_000_000:07d}", "text": f"bench message {i}",
                     "priority": "bulk"} for i in range(s, min(n, s + 5000))])
            c.close()
            t_sent = t_deliv = None
            while t_deliv is None:
                q = queue(sock)
                now = time.perf_counter() - t0
                if t_sent is None and q.get("sent", 0) + q.get("delivered", 0) >= n:
                    t_sent = now
                if q.get("delivered", 0) >= n:
                    t_deliv = now
                if now > 900:
                    raise SystemExit(f"timed out: {q}")
                time.sleep(0.1)   # status is not free: poll gently
            return {"submits_per_s": n / t_sent, "receipts_per_s": n / t_deliv, "peak_rss_mb": rss_mb(proc.pid)}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


async def bare_client(port: int, n: int, window: int) -> tuple[float, float]:
    """The ceiling: codec only, same window, submits encoded exactly as the link encodes them."""
    cfg = SmppConfig(name="bare", host="127.0.0.1", port=port, system_id="bare", password="bare")
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    seq, framer = codec.Sequencer(), codec.Framer()
    await stream.send_all(codec.bind("transceiver", seq.next(), system_id="bare", password="bare"))
    while not framer.feed(await stream.receive_some(65536)):
        pass
    slots = trio.Semaphore(window)
    done = trio.Event()
    times: dict[str, float] = {}
    counts = {"acks": 0, "receipts": 0}
    lock = trio.Lock()
    t0 = time.perf_counter()

    async def reader() -> None:
        while True:
            for raw in framer.feed(await stream.receive_some(65536)):
                pdu = codec.decode(raw)
                if pdu.command == "submit_sm_resp":
                    slots.release()
                    counts["acks"] += 1
                    if counts["acks"] == n:
                        times["sent"] = time.perf_counter() - t0
                elif pdu.command == "deliver_sm":
                    async with lock:
                        await stream.send_all(codec.resp_with_id("deliver_sm", pdu.sequence))
                    counts["receipts"] += 1
                    if counts["receipts"] == n:
                        times["delivered"] = time.perf_counter() - t0
                        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        for i in range(n):
            await slots.acquire()
            seg = OutSegment(segment_id=i, message_id=i, sender=FROM, recipient=f"+1415{5550000 + i:07d}",
                             index=1, count=1, ref=0, encoding=Encoding.GSM7, text=f"bench message {i}")
            raw = codec.encode("submit_sm", seq.next(), **message.submit_params(seg, cfg))
            async with lock:
                await stream.send_all(raw)
        await done.wait()
        nursery.cancel_scope.cancel()
    await stream.aclose()
    return n / times["sent"], n / times["delivered"]


async def link_alone(port: int, n: int, window: int) -> tuple[float, float]:
    """Diagnostic: SmppLink itself (session, codec, receipt parsing) with a sink that stores
    nothing, so the gap to the daemon is the queue and the database, not the link."""
    from gatewayd.links.smpp.link import SmppLink

    class NullSink:
        def __init__(self) -> None:
            self.receipts = 0
            self.done = trio.Event()

        async def receipt(self, r) -> None:
            self.count(1)

        async def receipt_batch(self, rs, done) -> None:
            self.count(len(rs))
            done([None] * len(rs))

        def count(self, k: int) -> None:
            self.receipts += k
            if self.receipts >= n:
                self.done.set()

        async def inbound(self, m) -> None: ...

        def status(self, s) -> None: ...

    sink = NullSink()
    link = SmppLink(SmppConfig(name="alone", host="127.0.0.1", port=port, system_id="alone", password="x",
                               window=window), sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        while not link.is_up:
            await trio.sleep(0.01)
        slots = trio.Semaphore(window)
        t0 = time.perf_counter()

        answered = [0]
        all_answered = trio.Event()

        def done(result) -> None:
            slots.release()
            answered[0] += 1
            if answered[0] == n:
                all_answered.set()

        for i in range(n):      # as the dispatcher submits: by callback, window held by the caller
            await slots.acquire()
            link.submit_nowait(OutSegment(segment_id=i, message_id=i, sender=FROM,
                                          recipient=f"+1415{5550000 + i:07d}", index=1, count=1, ref=0,
                                          encoding=Encoding.GSM7, text=f"bench message {i}"), done)
        await all_answered.wait()
        t_sent = time.perf_counter() - t0
        await sink.done.wait()
        t_deliv = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return n / t_sent, n / t_deliv


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--sizes", default="10000,100000", help="N values for the memory check ('' to skip)")
    p.add_argument("--inline-too", action="store_true", help="also run with the link in the daemon's process")
    args = p.parse_args()
    smsc, port = start_smsc()
    try:
        runs, ceilings, alone, inline = [], [], [], []
        for i in range(args.runs):
            r = one_run(port, args.messages, args.window)
            runs.append(r)
            if args.inline_too:
                inline.append(one_run(port, args.messages, args.window, isolated=False))
                print(f"run {i + 1}: isolated = false: submits {inline[-1]['submits_per_s']:.0f}/s, "
                      f"receipts {inline[-1]['receipts_per_s']:.0f}/s", flush=True)
            ceilings.append(trio.run(bare_client, port, args.messages, args.window))
            alone.append(trio.run(link_alone, port, args.messages, args.window))
            print(f"run {i + 1}: daemon submits {r['submits_per_s']:.0f}/s, receipts {r['receipts_per_s']:.0f}/s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB; bare client {ceilings[-1][0]:.0f}/s, "
                  f"{ceilings[-1][1]:.0f}/s; link alone {alone[-1][0]:.0f}/s, {alone[-1][1]:.0f}/s", flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        c_sub = statistics.median(c[0] for c in ceilings)
        c_rec = statistics.median(c[1] for c in ceilings)
        print(f"\nmedian of {args.runs} runs, {args.messages} messages each, window {args.window}:")
        print(f"  end-to-end submits (all states persisted)  {med['submits_per_s']:8.0f} msg/s")
        print(f"  end-to-end receipts (delivered persisted)  {med['receipts_per_s']:8.0f} msg/s")
        print(f"  bare codec client ceiling: submits         {c_sub:8.0f} msg/s   -> daemon keeps "
              f"{med['submits_per_s'] / c_sub:.0%}")
        print(f"  bare codec client ceiling: receipts        {c_rec:8.0f} msg/s   -> daemon keeps "
              f"{med['receipts_per_s'] / c_rec:.0%}")
        print(f"  SmppLink alone, nothing stored: submits    {statistics.median(a[0] for a in alone):8.0f} msg/s")
        print(f"  SmppLink alone, nothing stored: receipts   {statistics.median(a[1] for a in alone):8.0f} msg/s")
        print(f"  daemon + link worker peak RSS              {med['peak_rss_mb']:8.0f} MB")
        if inline:
            sub = statistics.median(r["submits_per_s"] for r in inline)
            print(f"  link in the daemon's process: submits      {sub:8.0f} msg/s   -> isolated is "
                  f"{med['submits_per_s'] / sub:.2f}x")
        sizes = [int(s) for s in args.sizes.split(",") if s]
        if sizes:
            print("\nmemory vs N (one run each):")
            for n in sizes:
                r = one_run(port, n, args.window)
                print(f"  N={n:>7,}: peak RSS {r['peak_rss_mb']:.0f} MB, submits {r['submits_per_s']:.0f}/s, "
                      f"receipts {r['receipts_per_s']:.0f}/s", flush=True)
    finally:
        smsc.terminate()
        smsc.wait(timeout=10)


if __name__ == "__main__":
    main()
