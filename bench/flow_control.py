"""Carrier flow control: how much of what a throttling SMSC allows the daemon actually uses.

    python bench/flow_control.py [--rates 300,1000] [--models bucket,fixed,sliding] [--runs 3]
                                 [--messages 6000] [--window 10]

For each allowed rate and carrier model a fresh fake SMSC (tests/fakes/smsc.py) throttles above
that rate with ESME_RTHROTTLED, counting submits as a token bucket (burst = one second), a fixed
one-second window or a sliding one (tests/fakes/carrier.py); a fresh ``gatewayd`` (one smpp link,
window 10, **no rate configured**, the number unpaced) gets N messages over its socket and has
to find the rate on its own. The SMSC writes every submit_sm's arrival time and answer, so the
figures are what the carrier saw:

- achieved msg/s: accepted submits / (last accepted - first submit) at the SMSC;
- share of allowed: achieved / allowed rate;
- throttle answers: all of them, and those after the first second as a share of the submits
  after the first second (the first second is the probe's to find the rate);
- failed: messages that ended ``failed`` (must be 0);
- end to end: N / (first enqueue -> every message sent), the queue's own view.

Medians of ``--runs`` runs. Baseline in the same run: the same daemon against an SMSC that does
not throttle at all, the ceiling of this machine at this window; "of possible" is the achieved
rate over the lower of the allowed rate and that ceiling (on a busy shared machine the ceiling
can be below 1,000/s, and then no flow control reaches 90 % of it).
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))
from gatewayd.ctl import Client, CtlError  # noqa: E402

FROM = "+14155550100"
LOG_LEVEL = "warning"
KEEP: Path | None = None      # --keep DIR: copy each run's daemon log and SMSC timeline there


def start_smsc(tmp: Path, rate: float | None, model: str) -> tuple[subprocess.Popen, int]:
    limit = ["--tps", str(rate), "--limit", model] if rate else []
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / "smsc.py"), "--port", "0",
                             "--dlr-delay", "-1", *limit, "--timeline", str(tmp / "timeline")],
                            stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def start_daemon(tmp: Path, port: int, window: int, max_rate: float | None) -> subprocess.Popen:
    cap = f"max_rate = {max_rate}" if max_rate else ""
    (tmp / "gw.toml").write_text(f"""
[[links]]
name = "carrier"
kind = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "bench"
password = "bench"
window = {window}
{cap}

[[numbers]]
address = "{FROM}"
links = ["carrier"]
rate = 1000000
burst = 100000
""")
    proc = subprocess.Popen([str(BIN / "gatewayd"), "--config", str(tmp / "gw.toml"), "--state-dir",
                             str(tmp / "state"), "--socket", str(tmp / "gw.sock"), "--log-level", LOG_LEVEL],
                            stderr=open(tmp / "log", "ab"))
    for _ in range(600):
        try:
            status = call(str(tmp / "gw.sock"), "status")
            if all(r["state"] == "up" for r in status["links"]):
                return proc
        except CtlError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"daemon did not come up:\n{(tmp / 'log').read_text()[-2000:]}")


def call(sock: str, op: str, **kw):
    c = Client(sock, timeout=600)
    try:
        return c.call(op, **kw)
    finally:
        c.close()


def one_run(rate: float | None, model: str, n: int, window: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        smsc, port = start_smsc(tmp, rate, model)
        proc = start_daemon(tmp, port, window, None)
        sock = str(tmp / "gw.sock")
        try:
            t0 = time.perf_counter()
            for s in range(0, n, 5000):
                call(sock, "send_batch", messages=[
                    {"from": FROM, "to": f"+1415{5550000 + i % 1_000_000:07d}", "text": f"flow {i}",
                     "priority": "bulk"} for i in range(s, min(n, s + 5000))])
            while True:
                q = call(sock, "status")["queue"]
                done = q.get("sent", 0) + q.get("delivered", 0) + q.get("failed", 0) + q.get("expired", 0)
                if done >= n:
                    e2e = n / (time.perf_counter() - t0)
                    break
                if time.perf_counter() - t0 > 600:
                    raise SystemExit(f"timed out: {q}")
                time.sleep(0.1)
            learned = call(sock, "status")["links"][0]["rate"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            smsc.terminate()
            smsc.wait(timeout=10)
        if KEEP is not None:
            import shutil
            tag = f"{model}-{rate:.0f}-{time.time():.0f}"
            shutil.copy(tmp / "log", KEEP / f"{tag}.log")
            shutil.copy(tmp / "timeline", KEEP / f"{tag}.timeline")
        lines = [ln.split() for ln in (tmp / "timeline").read_text().splitlines()]
    times = [(float(t), int(st)) for t, st in lines]
    first = times[0][0]
    accepted = [t for t, st in times if st == 0]
    throttled = [t for t, st in times if st != 0]
    after = [st for t, st in times if t - first > 1.0]
    achieved = len(accepted) / (accepted[-1] - first)
    return {"achieved": achieved, "share": achieved / rate if rate else 1.0, "throttles": len(throttled),
            "throttles_after_1s": sum(1 for st in after if st != 0),
            "throttle_share_after_1s": sum(1 for st in after if st != 0) / max(1, len(after)),
            "failed": q.get("failed", 0), "e2e": e2e, "learned": learned or 0.0}


def show(label: str, rate: float, runs: list[dict], ceiling: float) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"  {label:<8} allowed {rate:>5.0f}/s  achieved {med['achieved']:7.1f} msg/s  "
          f"share {med['share']:6.1%}  of possible {med['achieved'] / min(rate, ceiling):6.1%}  throttles {med['throttles']:5.0f} "
          f"(after 1st s {med['throttles_after_1s']:4.0f} = {med['throttle_share_after_1s']:5.2%})  "
          f"failed {max(r['failed'] for r in runs)}  e2e {med['e2e']:6.1f} msg/s  learned {med['learned']:6.1f}/s",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rates", default="300,1000")
    p.add_argument("--models", default="bucket,fixed,sliding")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--messages", type=int, default=6000)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--keep", help="copy each run's daemon log (debug level) and SMSC timeline to this directory")
    args = p.parse_args()
    if args.keep:
        global KEEP, LOG_LEVEL
        KEEP, LOG_LEVEL = Path(args.keep), "debug"
        KEEP.mkdir(parents=True, exist_ok=True)
    print(f"{args.messages} messages per run, window {args.window}, no rate configured; "
          f"medians of {args.runs} runs", flush=True)
    base = [one_run(None, "bucket", args.messages, args.window) for _ in range(args.runs)]
    ceiling = statistics.median(r["achieved"] for r in base)
    each = ", ".join(f"{r['achieved']:.0f}" for r in base)
    print(f"  ceiling: the same daemon, SMSC not throttling: {ceiling:.1f} msg/s (runs: {each})", flush=True)
    for rate in [float(r) for r in args.rates.split(",")]:
        for model in args.models.split(","):
            runs = []
            for i in range(args.runs):
                runs.append(one_run(rate, model, args.messages, args.window))
                r = runs[-1]
                print(f"    run {i + 1} {model} {rate:.0f}/s: {r['achieved']:.1f} msg/s ({r['share']:.1%}), "
                      f"throttles {r['throttles']} ({r['throttles_after_1s']} after 1st s), failed {r['failed']}",
                      flush=True)
            show(model, rate, runs, ceiling)


if __name__ == "__main__":
    main()
