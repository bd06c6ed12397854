"""``make demo``: run gatewayd on conf/demo.toml with the simulated carrier, open the TUI on it,
and stop the daemon when the TUI exits.

A little background traffic (a message every few seconds, a share of recipients answering) keeps
the dashboard alive so a newcomer sees sends, receipts and replies move without typing anything.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import config as config_mod
from .ctl import Client, CtlError

DEMO_TEXTS = [
    "Hi {name}, your appointment is confirmed for tomorrow at 10:00. Reply YES to confirm.",
    "Hello {name}! Our spring sale starts today: 20% off everything. Reply STOP to opt out.",
    "{name}, your parcel is out for delivery. Track it at example.com/t/{n}",
    "Grüße {name} — Ihr Termin ist bestätigt. Antworten Sie mit JA.",
    "Hi {name} 👋 thanks for joining! Reply HELP for help.",
]
NAMES = ["Ada", "Grace", "Linus", "Ken", "Barbara", "Dennis", "Margaret", "Alan"]


def _wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gatewayd exited with code {proc.returncode}; see run/demo/gatewayd.log")
        try:
            Client(path, timeout=2).close()
            return
        except CtlError:
            time.sleep(0.1)
    raise SystemExit(f"gatewayd did not open {path} within {timeout:.0f}s")


def _traffic(sock: str, senders: list[str], stop: threading.Event, every: float) -> None:
    rng = random.Random()
    n = 0
    while not stop.wait(every):
        n += 1
        try:
            c = Client(sock, timeout=5)
            try:
                c.call("send", **{"from": rng.choice(senders), "to": f"+1415555{rng.randrange(1000, 9999)}",
                                  "text": rng.choice(DEMO_TEXTS).format(name=rng.choice(NAMES), n=n),
                                  "priority": "bulk"})
            finally:
                c.close()
        except (CtlError, OSError):
            pass   # the daemon may be restarting; the TUI shows that


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gatewayd-demo")
    p.add_argument("--config", default="conf/demo.toml")
    p.add_argument("--no-traffic", action="store_true", help="do not send background demo traffic")
    p.add_argument("--every", type=float, default=3.0, help="seconds between demo messages")
    args = p.parse_args(argv)
    cfg = config_mod.load(args.config)
    sock = os.path.abspath(cfg.control.socket)
    Path(cfg.state_dir).mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    log_path = Path(cfg.state_dir).parent / "gatewayd.log"
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen([str(bindir / "gatewayd"), "--config", args.config, "--socket", sock],
                                  stdout=log, stderr=log)
    stop = threading.Event()
    try:
        _wait_for_socket(sock, daemon)
        print(f"gatewayd running (pid {daemon.pid}), log in {log_path}; opening the TUI…")
        if not args.no_traffic:
            senders = [n.address for n in cfg.numbers]
            threading.Thread(target=_traffic, args=(sock, senders, stop, args.every), daemon=True).start()
        tui = subprocess.run([str(bindir / "gatewaytui"), "--socket", sock])
        return tui.returncode
    finally:
        stop.set()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        print(f"gatewayd stopped (exit {daemon.returncode}).")


if __name__ == "__main__":
    sys.exit(main())
