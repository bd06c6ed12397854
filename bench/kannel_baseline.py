"""Kannel 1.4.5 (bearerbox + smsbox, MT injected with mtbatch) against the benchmark SMSC.

What we run (a temp dir per run, every port on 127.0.0.1, children stopped when the run ends):
bearerbox with one SMPP 3.4 smsc group (transceiver mode, ``max-pending-submits`` = the window,
no throughput cap), ``dlr-storage = internal``, and by default ``store-type = file`` (Kannel's own
way of not losing queued messages across a crash: the nearest thing to gatewayd persisting every
state; ``store=False`` drops it). smsbox is connected (it receives the delivery reports and calls
the dlr-url, which is the benchmark SMSC's HTTP sink). No sms-service: this is MT only. mtbatch
connects to bearerbox's smsbox port and pushes N messages with ``-D 3`` (receipt on delivery or
failure) and a dlr-url, as in issue 16.

"Every receipt final" for Kannel: the SMSC has received a ``deliver_sm_resp`` for every receipt.
Kannel sends it after it has matched the receipt against its DLR storage (the entry is removed)
and queued the report for smsbox: the point at which gatewayd, which answers a receipt only after
committing it, counts a receipt as persisted. We also record when smsbox has delivered every
report to the dlr-url (``http_per_s``), which is later and has no gatewayd counterpart (smsbox
does not retry a failed dlr-url fetch by default: reports it could not deliver are counted in
``http_missing``, never waited for).

CPU is bearerbox + smsbox (utime+stime from /proc) over the same interval; mtbatch is the client,
like the benchmark's socket client on the gatewayd side, and is not counted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from fastsmsc import FastSmsc, cpu_seconds, peak_rss_mb

FROM = "14155550100"
TOOLS = ("bearerbox", "smsbox", "mtbatch")


def available() -> str | None:
    """None if Kannel is installed, else why not (the benchmark then skips its column)."""
    missing = [t for t in TOOLS if not (shutil.which(t) or Path("/usr/sbin", t).exists())]
    return f"Kannel not installed (missing {', '.join(missing)}; Debian: kannel, kannel-extras)" if missing else None


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp: Path, smsc_port: int, window: int, admin: int, box: int, store: bool) -> str:
    store_lines = f'store-type = file\nstore-location = "{tmp}/kannel.store"\n' if store else ""
    return f"""
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = {box}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
dlr-storage = internal
{store_lines}log-file = "{tmp}/bearerbox.log"
log-level = 2

group = smsc
smsc = smpp
smsc-id = fast
host = 127.0.0.1
port = {smsc_port}
transceiver-mode = true
smsc-username = bench
smsc-password = bench
system-type = "bench"
interface-version = 34
max-pending-submits = {window}
log-level = 2

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
log-file = "{tmp}/smsbox.log"
log-level = 2
"""


def _status(admin: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/status.txt?password=bench", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def one_run(smsc: FastSmsc, n: int, window: int, *, store: bool = True, timeout: float = 900) -> dict:
    with tempfile.TemporaryDirectory(prefix="kannel-bench-") as d:
        tmp = Path(d)
        admin, box = _free_port(), _free_port()
        conf = tmp / "kannel.conf"
        conf.write_text(config(tmp, smsc.port, window, admin, box, store))
        (tmp / "content.txt").write_text("bench message\n")
        (tmp / "receivers.txt").write_text("".join(f"1415{5550000 + i % 1_000_000:07d}\n" for i in range(n)))
        out = open(tmp / "stderr", "wb")
        procs: list[subprocess.Popen] = []
        try:
            procs.append(subprocess.Popen([_tool("bearerbox"), "-v", "4", str(conf)], stdout=out, stderr=out))
            _wait(lambda: "online" in _status(admin), "bearerbox's SMSC connection online", tmp)
            procs.append(subprocess.Popen([_tool("smsbox"), "-v", "4", str(conf)], stdout=out, stderr=out))
            _wait(lambda: "smsbox:(none), IP" in _status(admin), "smsbox connected", tmp)
            pids = [p.pid for p in procs]
            base = smsc.stats()
            cpu0, smsc_cpu0 = cpu_seconds(pids), smsc.cpu()
            t0 = time.perf_counter()
            mt = subprocess.Popen([_tool("mtbatch"), "-v", "4", "-b", "127.0.0.1", "-p", str(box), "-f", FROM,
                                   "-D", "3", "-u", f"http://127.0.0.1:{smsc.http_port}/dlr?id=%I&s=%d",
                                   str(tmp / "content.txt"), str(tmp / "receivers.txt")], stdout=out, stderr=out)
            t1 = smsc.wait_for("receipt_acks", base["receipt_acks"] + n, timeout)
            cpu1, smsc_cpu1 = cpu_seconds(pids), smsc.cpu()
            t2, got = smsc.wait_progress("http_requests", base["http_requests"] + n)
            http_missing = base["http_requests"] + n - got
            mt.wait(timeout=60)
            after = smsc.stats()
            if after["submits"] - base["submits"] != n:
                raise SystemExit(f"Kannel submitted {after['submits'] - base['submits']} of {n}")
            return {"msg_per_s": n / (t1 - t0), "http_per_s": n / (t2 - t0) if not http_missing else float("nan"),
                    "http_missing": http_missing,
                    "cpu_us": (cpu1 - cpu0) / n * 1e6, "smsc_cpu_us": (smsc_cpu1 - smsc_cpu0) / n * 1e6,
                    "peak_rss_mb": peak_rss_mb(pids)}
        finally:
            for p in reversed(procs):   # smsbox first, then bearerbox
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            out.close()


def _wait(predicate, what: str, tmp: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            log = (tmp / "bearerbox.log").read_text()[-2000:] if (tmp / "bearerbox.log").exists() else ""
            raise SystemExit(f"Kannel: timed out waiting for {what}\n{log}")
        time.sleep(0.1)
