"""Issue 16's benchmark: gatewayd vs Kannel 1.4.5 end to end with receipts, on an SMSC that is not
the bottleneck.

    python bench/smpp_vs_kannel.py [--windows 10,100] [--sizes 20000,100000] [--runs 3] [--quick]
                                   [--no-kannel] [--kannel-store file|none] [--profile DIR]

One benchmark SMSC for the whole run (bench/fastsmsc.c, built with ``cc -O2`` on first use; exit 2
without a compiler): single-threaded C, every submit_sm answered at once with a submit_sm_resp
and a delivery receipt (text + receipted_message_id/message_state TLVs), batched writes.

For each window and N, ``--runs`` times, in turn (so load drifts hit both alike):
- gatewayd: a fresh daemon (one SMPP link, transceiver, ``window``, its link in a worker process
  as by default) gets N messages over its socket (``send_batch``, 5,000 a call, as
  ``gatewayctl send --batch`` does); timed from the first call until the SMSC has received a
  ``deliver_sm_resp`` for every receipt. gatewayd answers a receipt only after committing it, so
  that is "every receipt persisted"; the daemon's queue status is checked to agree at the end.
- Kannel: bearerbox + smsbox, N messages by mtbatch, timed the same way (see kannel_baseline.py
  for what "final" means there and how Kannel is configured).
- the ceiling: a bare SMPP client in C (bench/fastsmsc.c --client: same window, receipts
  answered) and gatewayd's own codec in a bare trio client (bench/smpp_throughput.py), same N.
CPU per message: utime+stime deltas from /proc over the timed interval, for the daemon and its
SMPP worker (children included), for bearerbox + smsbox, and for the SMSC. Peak RSS: VmHWM.
Medians of the runs. The table is what issue 16's goals are judged on; wall-clock figures on a
shared machine are noisy, CPU per message much less so.

``--profile DIR``: py-spy (``pip install -e '.[bench]'``) records the daemon and the worker during
one extra gatewayd run per window and prints the top functions (see bench/smpp_profile.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kannel_baseline  # noqa: E402
import smpp_throughput  # noqa: E402
from fastsmsc import FastSmsc, cpu_seconds, cpu_split, peak_rss_mb  # noqa: E402
from gatewayd.ctl import Client  # noqa: E402


def gatewayd_run(smsc: FastSmsc, n: int, window: int, profile: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="gatewayd-bench-") as d:
        tmp = Path(d)
        # The SMSC's ids are small decimal counters: with "auto", receipt "10" also reads as hex
        # 0x10 = 16 and may match segment 16's id. Configured as an operator would for a carrier
        # known to use decimal ids (Kannel's msg-id-type left unset compares the strings as they are).
        proc = smpp_throughput.start_daemon(tmp, smsc.port, window, link_extra='msg_id_format = "dec"')
        sock = str(tmp / "gw.sock")
        spies = []
        try:
            pids = [proc.pid, *smpp_throughput.children(proc.pid)]
            if profile is not None:
                import smpp_profile
                spies = [smpp_profile.record(pid, profile / f"w{window}-{name}", n)
                         for pid, name in zip(pids, ("daemon", "worker"))]
            base = smsc.stats()
            cpu0, smsc_cpu0, worker0, split0 = cpu_seconds(pids), smsc.cpu(), cpu_seconds(pids[1:]), cpu_split(pids)
            t0 = time.perf_counter()
            c = Client(sock, timeout=600)
            for s in range(0, n, 5000):
                c.call("send_batch", messages=[
                    {"from": smpp_throughput.FROM, "to": f"+1415{5550000 + i % 1_000_000:07d}",
                     "text": f"bench message {i}", "priority": "bulk"} for i in range(s, min(n, s + 5000))])
            c.close()
            t1 = smsc.wait_for("receipt_acks", base["receipt_acks"] + n, timeout=900)
            cpu1, smsc_cpu1, worker1, split1 = cpu_seconds(pids), smsc.cpu(), cpu_seconds(pids[1:]), cpu_split(pids)
            rss = peak_rss_mb(pids)
            for _ in range(100):   # the receipt was answered after its commit: status must agree
                delivered = smpp_throughput.queue(sock).get("delivered", 0)
                if delivered >= n:
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"gatewayd: SMSC saw {n} receipts answered but only {delivered} delivered")
            return {"msg_per_s": n / (t1 - t0), "cpu_us": (cpu1 - cpu0) / n * 1e6,
                    "worker_cpu_us": (worker1 - worker0) / n * 1e6,
                    "kernel_share": (split1[1] - split0[1]) / max(cpu1 - cpu0, 1e-9),
                    "smsc_cpu_us": (smsc_cpu1 - smsc_cpu0) / n * 1e6, "peak_rss_mb": rss}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            for spy in spies:
                spy.wait(timeout=120)


def med(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r]
    return statistics.median(vals) if vals else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--windows", default="10,100")
    p.add_argument("--sizes", help="N values (default 20000,100000)")
    p.add_argument("--runs", type=int, help="runs per figure, medians printed (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: N = 5,000 and 20,000, 1 run (unless --sizes / --runs say otherwise)")
    p.add_argument("--no-kannel", action="store_true")
    p.add_argument("--kannel-store", choices=("file", "none"), default="file",
                   help="Kannel's store-type (file: queued messages survive a crash, like gatewayd)")
    p.add_argument("--no-python-ceiling", action="store_true", help="skip the bare trio/codec client")
    p.add_argument("--profile", type=Path, help="also py-spy one gatewayd run per window into this dir")
    args = p.parse_args()
    # Stopped with SIGTERM: unwind, so every child (SMSC, daemons, Kannel) is stopped by its handle.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.sizes = args.sizes or ("5000,20000" if args.quick else "20000,100000")
    args.runs = args.runs or (1 if args.quick else 3)
    windows = [int(w) for w in args.windows.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    kannel_why = "--no-kannel" if args.no_kannel else kannel_baseline.available()
    if kannel_why:
        print(f"Kannel column skipped: {kannel_why}", flush=True)

    load0 = os.getloadavg()
    smsc = FastSmsc()
    results: dict[tuple[int, int], dict[str, list[dict]]] = {}
    try:
        for window in windows:
            for n in sizes:
                res = results[(window, n)] = {"gw": [], "kannel": [], "c": [], "py": []}
                for run in range(args.runs):
                    gw = gatewayd_run(smsc, n, window)
                    res["gw"].append(gw)
                    k = {} if kannel_why else kannel_baseline.one_run(smsc, n, window,
                                                                      store=args.kannel_store == "file")
                    res["kannel"].append(k)
                    c_sub, c_rec = smsc.ceiling(n, window)
                    res["c"].append({"sub": c_sub, "rec": c_rec})
                    py = (0.0, 0.0) if args.no_python_ceiling else \
                        trio.run(smpp_throughput.bare_client, smsc.port, n, window)
                    res["py"].append({"sub": py[0], "rec": py[1]})
                    kline = (f"Kannel {k['msg_per_s']:6.0f}/s (dlr-url {k['http_per_s']:.0f}/s, "
                             f"{k['http_missing']} not fetched) "
                             f"{k['cpu_us']:4.0f} us/msg RSS {k['peak_rss_mb']:.0f} MB, "
                             f"SMSC {k['smsc_cpu_us']:.0f} us/msg"
                             if k else "Kannel -")
                    print(f"w={window:<3} N={n:<7} run {run + 1}: gatewayd {gw['msg_per_s']:6.0f}/s "
                          f"{gw['cpu_us']:4.0f} us/msg RSS {gw['peak_rss_mb']:.0f} MB, SMSC {gw['smsc_cpu_us']:.0f} "
                          f"us/msg | {kline} | bare C {c_rec:.0f}/s, bare codec {py[1]:.0f}/s", flush=True)
        if args.profile:
            import smpp_profile
            args.profile.mkdir(parents=True, exist_ok=True)
            for window in windows:
                gatewayd_run(smsc, sizes[0], window, profile=args.profile)
                smpp_profile.report(args.profile, window)
    finally:
        smsc.stop()

    print(f"\nSMPP end to end with receipts, medians of {args.runs} run(s). Load average (1 min) "
          f"{load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores: "
          "wall clock on a shared machine is noisy, CPU us/msg much less so.")
    print(f"Kannel 1.4.5: bearerbox + smsbox, mtbatch, store-type {args.kannel_store}, dlr-storage internal.")
    head = (f"{'window':>6} {'N':>7} {'gatewayd':>9} {'Kannel':>8} {'ratio':>6} {'gw CPU':>7} {'K CPU':>7} "
            f"{'SMSC ceiling':>13} {'codec ceil':>10}")
    print(head)
    print(f"{'':>6} {'':>7} {'msg/s':>9} {'msg/s':>8} {'':>6} {'us/msg':>7} {'us/msg':>7} {'msg/s (C)':>13} "
          f"{'msg/s (py)':>10}")
    for (window, n), res in results.items():
        gw, k = med(res["gw"], "msg_per_s"), med(res["kannel"], "msg_per_s")
        print(f"{window:>6} {n:>7} {gw:>9.0f} {k:>8.0f} {gw / k:>6.2f} {med(res['gw'], 'cpu_us'):>7.0f} "
              f"{med(res['kannel'], 'cpu_us'):>7.0f} {med(res['c'], 'rec'):>13.0f} {med(res['py'], 'rec'):>10.0f}")
    print("\nalso (medians): SMSC CPU us/msg while serving gatewayd / Kannel (its HTTP sink included); "
          "peak RSS gatewayd (daemon + worker) / Kannel (bearerbox + smsbox); Kannel until every report "
          "reached its dlr-url")
    for (window, n), res in results.items():
        print(f"  w={window:<3} N={n:<7} SMSC {med(res['gw'], 'smsc_cpu_us'):.0f} / "
              f"{med(res['kannel'], 'smsc_cpu_us'):.0f} us/msg; gatewayd CPU of it in the SMPP worker "
              f"{med(res['gw'], 'worker_cpu_us'):.0f} us/msg, in the kernel {med(res['gw'], 'kernel_share'):.0%}; "
              f"RSS {med(res['gw'], 'peak_rss_mb'):.0f} / "
              f"{med(res['kannel'], 'peak_rss_mb'):.0f} MB; "
              f"Kannel dlr-url {med(res['kannel'], 'http_per_s'):.0f} msg/s")


if __name__ == "__main__":
    main()
