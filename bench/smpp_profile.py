"""Where gatewayd's time goes under SMPP load: py-spy on the daemon and on its SMPP worker.

    python bench/smpp_profile.py [--window 100] [--messages 20000] [--out DIR] [--top 20]

One gatewayd run against the benchmark SMSC (as bench/smpp_vs_kannel.py runs it), with
``py-spy record --nonblocking`` attached to the daemon and to the worker process for the whole
run (all threads: the event loop and the SQLite writer). Prints, per process, the functions with
the most samples on CPU at the top of the stack ("self") and anywhere in the stack ("total"),
as shares of that process's samples; the raw collapsed stacks stay in DIR for flame graphs.
py-spy comes with the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_LINE = re.compile(r":\d+\)$")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        print("error: py-spy not installed: pip install -e '.[bench]'", file=sys.stderr)
        raise SystemExit(2)
    return found


def record(pid: int, prefix: Path, n: int) -> subprocess.Popen:
    """Sample ``pid`` until it exits; collapsed stacks to ``prefix``.txt."""
    return subprocess.Popen([_py_spy(), "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                             "--format", "raw", "--output", f"{prefix}.txt"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{prefix}.log", "wb"))


def top(path: Path, k: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, top-k by self, top-k by total) from one collapsed-stack file, per function."""
    self_, total = Counter(), Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        samples += c
        self_[frames[-1]] += c
        for f in set(frames):
            total[f] += c
    return samples, self_.most_common(k), total.most_common(k)


def report(out: Path, window: int, k: int = 15) -> None:
    for name in ("daemon", "worker"):
        path = out / f"w{window}-{name}.txt"
        if not path.exists():
            print(f"  (no profile for the {name}: see {path.with_suffix('.log')})")
            continue
        samples, by_self, by_total = top(path, k)
        print(f"\npy-spy, window {window}, {name}: {samples} samples on CPU")
        print("  self%  function")
        for f, c in by_self:
            print(f"  {100 * c / samples:5.1f}  {f}")
        print("  total% function")
        for f, c in by_total:
            print(f"  {100 * c / samples:5.1f}  {f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--out", type=Path)
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args()
    _py_spy()
    from fastsmsc import FastSmsc
    from smpp_vs_kannel import gatewayd_run

    out = args.out or Path(tempfile.mkdtemp(prefix="gatewayd-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    smsc = FastSmsc()
    try:
        r = gatewayd_run(smsc, args.messages, args.window, profile=out)
    finally:
        smsc.stop()
    print(f"profiled run: {r['msg_per_s']:.0f} msg/s, {r['cpu_us']:.0f} us/msg (py-spy adds its own load); "
          f"stacks in {out}")
    report(out, args.window, args.top)


if __name__ == "__main__":
    main()
