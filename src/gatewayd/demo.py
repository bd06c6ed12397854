"""``make demo``: run gatewayd on conf/demo.toml with the simulated carrier, seed the demo's
story (conf/demo/story.toml, see :mod:`gatewayd.demo_story`), open the TUI on it, and stop the
daemon when the TUI exits.

The story is seeded once per state directory (``--reset``, ``make demo-reset``, starts over from
an empty one). Its lists, scripts and campaigns exist before the TUI opens; its timeline (people
answering and writing in, a campaign archived once its replies came in) plays while it runs.
A little background traffic (a code or notification every few seconds from the alphanumeric
sender) keeps the dashboard moving.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import config as config_mod
from .ctl import Client, CtlError
from .demo_story import Story, StoryError, reply_wait

DEMO_TEXTS = [
    "Your Bayview Dental portal code is {code}. It expires in 10 minutes.",
    "Hi {name}, your invoice #{n} from Bayview Dental is ready: example.com/i/{n}",
    "{name}, your X-ray results are in your patient portal.",
    "Grüße {name} — Ihr Termin bei Bayview Dental ist bestätigt.",
    "Hi {name} 👋 your new patient form is saved. See you soon!",
]
MARKER = ".made-by-gatewayd-demo"     # in a state dir the demo created: --reset may delete it
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
                c.call("send", **{"from": rng.choice(senders), "to": f"+1415555{rng.randrange(6000, 9999)}",
                                  "text": rng.choice(DEMO_TEXTS).format(name=rng.choice(NAMES), n=1000 + n,
                                                                        code=rng.randrange(100000, 999999)),
                                  "priority": "transactional"})
            finally:
                c.close()
        except (CtlError, OSError):
            pass   # the daemon may be restarting; the TUI shows that


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gatewayd-demo")
    p.add_argument("--config", default="conf/demo.toml")
    p.add_argument("--no-traffic", action="store_true", help="do not send background demo traffic")
    p.add_argument("--every", type=float, default=4.0, help="seconds between demo messages")
    p.add_argument("--story", help="the story to seed (default: demo/story.toml next to the config)")
    p.add_argument("--no-story", action="store_true", help="do not seed the demo story")
    p.add_argument("--reset", action="store_true",
                   help="delete the demo's state directory first, so the story is seeded from the start")
    args = p.parse_args(argv)
    cfg = config_mod.load(args.config)
    sock = os.path.abspath(cfg.control.socket)
    if args.reset:
        _reset(cfg, sock)
    if not Path(cfg.state_dir).exists():
        Path(cfg.state_dir).mkdir(parents=True)
        (Path(cfg.state_dir) / MARKER).write_text("created by `make demo`; `make demo-reset` deletes this directory\n")
    bindir = Path(sys.executable).parent
    log_path = Path(cfg.state_dir).parent / "gatewayd.log"
    story_path = Path(args.story) if args.story else Path(args.config).parent / "demo" / "story.toml"
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen([str(bindir / "gatewayd"), "--config", args.config, "--socket", sock],
                                  stdout=log, stderr=log)
    stop = threading.Event()
    try:
        _wait_for_socket(sock, daemon)
        print(f"gatewayd running (pid {daemon.pid}), log in {log_path}")
        story = None if args.no_story else _prepare(story_path, sock, cfg)
        seed_log = Path(cfg.state_dir).parent / "seed.log"
        if story is not None:
            story.log = _appender(seed_log)
            threading.Thread(target=_play, args=(story, stop), daemon=True).start()
        if not args.no_traffic:
            senders = [n.address for n in cfg.numbers if not n.address.lstrip("+").isdigit()] or \
                [n.address for n in cfg.numbers]
            threading.Thread(target=_traffic, args=(sock, senders, stop, args.every), daemon=True).start()
        print("opening the TUI…")
        tui = subprocess.run([str(bindir / "gatewaytui"), "--socket", sock])
        if story is not None:
            print(f"the demo story's log: {seed_log}")
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


def _prepare(path: Path, sock: str, cfg) -> Story | None:
    """Seed what exists at once (printed: the import report with its invalid rows); None when
    the story cannot be read or seeded, in which case the demo still opens on what there is."""
    try:
        story = Story(path, sock, region=cfg.default_region, reply_wait_s=reply_wait(cfg))
        print(f"seeding the demo story from {path} (once per state directory)…")
        report = story.prepare()
    except (StoryError, CtlError) as exc:
        print(f"demo story not seeded: {exc}", file=sys.stderr)
        return None
    if not report["campaigns"] and all("existing" in x for x in report["lists"]):
        print("the story was seeded before: nothing added (make demo-reset starts over)")
    return story


def _play(story: Story, stop: threading.Event) -> None:
    """The story's timeline, in the background: nothing it raises may reach the TUI's terminal."""
    try:
        story.play(stop=stop.is_set)
    except Exception as exc:   # the demo goes on without the rest of its story
        story.log(f"demo story stopped: {type(exc).__name__}: {exc}")


def _appender(path: Path):
    def log(line: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    return log


def _reset(cfg, sock: str) -> None:
    """Start the demo over: its state directory goes. Refused while a daemon answers on it, for a
    config with anything but sim links, and for a directory the demo did not create (no MARKER):
    ``--config`` may point anywhere, and a production database is never a demo's to delete."""
    state = Path(cfg.state_dir)
    if any(not isinstance(lk, config_mod.SimConfig) for lk in cfg.links) or (
            state.exists() and not (state / MARKER).exists()):
        raise SystemExit(f"--reset deletes only a demo's own state ({state} was not made by the demo:"
                         f" no {MARKER}); refusing")
    try:
        Client(sock, timeout=2).close()
    except CtlError:
        pass
    else:
        raise SystemExit(f"a gatewayd is running on {sock}: quit that demo first")
    if state.exists():
        shutil.rmtree(state)
        print(f"removed {state}")
    seed_log = state.parent / "seed.log"
    if seed_log.exists():
        seed_log.unlink()


if __name__ == "__main__":
    sys.exit(main())
