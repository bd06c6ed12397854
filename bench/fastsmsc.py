"""The benchmark SMSC (bench/fastsmsc.c) from Python: build it, run it, read its counters and CPU.

Built with ``cc -O2`` into ``build/`` on first use (and again when the source is newer). Without a
C compiler the benchmark cannot be fair (the Python fake SMSC is the bottleneck), so it says so
and exits 2 rather than falling back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "fastsmsc.c"
BINARY = ROOT / "build" / "fastsmsc"
TICK = os.sysconf("SC_CLK_TCK")


def build() -> Path:
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        print(f"error: no C compiler ({cc!r} not found): the benchmark SMSC bench/fastsmsc.c must be built "
              "with `cc -O2`. Install one (Debian: apt-get install gcc) or set CC.", file=sys.stderr)
        raise SystemExit(2)
    BINARY.parent.mkdir(exist_ok=True)
    tmp = BINARY.with_suffix(".tmp")
    r = subprocess.run([cc, "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], capture_output=True, text=True)
    if r.returncode:
        print(f"error: building {SOURCE} failed:\n{r.stderr}", file=sys.stderr)
        raise SystemExit(2)
    tmp.replace(BINARY)
    return BINARY


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of each process, plus its reaped children's (cutime+cstime), from /proc."""
    return sum(cpu_split(pids))


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """(user, kernel) seconds of the processes, reaped children included."""
    user = kernel = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        f = [int(x) for x in stat[stat.rindex(")") + 2:].split()[11:15]]   # fields 14-17
        user += f[0] + f[2]
        kernel += f[1] + f[3]
    return user / TICK, kernel / TICK


def peak_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


class FastSmsc:
    """One SMSC process for the whole benchmark; callers take deltas of its counters."""

    def __init__(self, *, ids: str = "dec", http: bool = True) -> None:
        args = [str(build()), "--port", "0", "--ids", ids]
        if http:
            args += ["--http-port", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.http_port = int(self.proc.stdout.readline()) if http else None

    def stats(self) -> dict[str, int]:
        """The counters, asked for with SIGUSR1 (the SMSC prints one line on stdout)."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the benchmark SMSC exited ({self.proc.poll()})")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}

    def wait_for(self, key: str, target: int, timeout: float, poll: float = 0.02) -> float:
        """Block until counter ``key`` reaches ``target``; returns perf_counter() at that moment."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.stats()[key] >= target:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out waiting for {key} >= {target}: {self.stats()}")
            time.sleep(poll)

    def wait_progress(self, key: str, target: int, stall: float = 10.0, poll: float = 0.05) -> tuple[float, int]:
        """Until ``key`` reaches ``target`` or stops moving for ``stall`` s: (time, value reached)."""
        last, moved = self.stats()[key], time.perf_counter()
        while last < target:
            time.sleep(poll)
            value = self.stats()[key]
            if value != last:
                last, moved = value, time.perf_counter()
            elif time.perf_counter() - moved > stall:
                break
        return moved, last

    def cpu(self) -> float:
        return cpu_seconds([self.proc.pid])

    def ceiling(self, n: int, window: int) -> tuple[float, float]:
        """The bare C client (bench/fastsmsc.c --client): submits/s and receipts/s."""
        out = subprocess.run([str(build()), "--client", str(self.port), str(n), str(window)],
                             capture_output=True, text=True, timeout=600, check=True).stdout
        vals = dict(kv.split("=") for kv in out.split())
        return float(vals["submits_per_s"]), float(vals["receipts_per_s"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
