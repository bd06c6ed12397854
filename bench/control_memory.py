"""Daemon memory under many control connections that each send a big line without a newline.

    python bench/control_memory.py [--connections 400] [--line-mb 1] [--runs 3]

The scenario of issue 19 item 4: N connections each send ``line-mb`` MB and no newline, then all
close. We print the daemon's RSS (VmRSS) idle, while the connections are held, and once they are
closed, for two daemons in the same run: one at the defaults (``max_connections = 64``), one with
the cap raised to N (the worst an operator can configure: every connection buffers up to
``max_line_bytes``). Before the fix: 61 MB idle, 478 MB held, 470 MB after close. Medians of
``--runs`` runs.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gatewayd.ctl import Client, CtlError  # noqa: E402

CONFIG = """
[[links]]
name = "sim"
kind = "sim"
[[numbers]]
address = "+14155550100"
links = ["sim"]
[control]
max_line_bytes = {max_line}
{cap}
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def settle(pid: int, seconds: float = 1.5) -> float:
    time.sleep(seconds)    # a benchmark, not a test: let the daemon read, refuse and free
    return rss_mb(pid)


def one_run(connections: int, line_mb: float, cap: int | None) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        max_line = int(line_mb * 1024 * 1024)
        (d / "gw.toml").write_text(CONFIG.format(max_line=max_line, cap=f"max_connections = {cap}" if cap else ""))
        sock = str(d / "gw.sock")
        proc = subprocess.Popen([str(BIN / "gatewayd"), "--config", str(d / "gw.toml"), "--state-dir",
                                 str(d / "state"), "--socket", sock], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    Client(sock, timeout=5).close()
                    break
                except CtlError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            idle = settle(proc.pid)
            chunk = b"x" * 65536
            clients = []
            for _ in range(connections):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock)
                s.setblocking(False)
                clients.append([s, max_line])      # bytes still to send: exactly one line, no newline
            while any(left > 0 for _, left in clients):
                for c in clients:
                    if c[1] > 0:
                        try:
                            c[1] -= c[0].send(chunk[: c[1]])
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:            # refused (busy) and closed by the daemon
                            c[1] = 0
                time.sleep(0)
            held = settle(proc.pid)
            for s, _ in clients:
                s.close()
            after = settle(proc.pid)
            return idle, held, after, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=400)
    ap.add_argument("--line-mb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"{a.connections} connections x {a.line_mb:g} MB without a newline; RSS in MB, median of {a.runs} runs")
    for label, cap in (("default cap (64)", None), (f"cap raised to {a.connections}", a.connections)):
        runs = [one_run(a.connections, a.line_mb, cap) for _ in range(a.runs)]
        idle, held, after = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"  {label:22s} idle {idle:6.1f}   held {held:6.1f}   after close {after:6.1f}")


if __name__ == "__main__":
    main()
