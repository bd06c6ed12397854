"""Smoke test of the demo's pieces in a real terminal: gatewayd on a copy of conf/demo.toml and
gatewaytui in a tmux pane at 80x24, read back with capture-pane.

Uses a private tmux server (``-L``) and stops only what it started: the tmux server by its
socket name and the daemon by PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from daemon import BIN, ROOT, Daemon
from helpers import read_table

pytestmark = pytest.mark.e2e
TMUX = shutil.which("tmux")


def wait_screen(tmux: list[str], target: str, cond, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", target], capture_output=True, text=True).stdout
        if cond(screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"screen never matched; last screen:\n{screen}")


def link_up(screen: str, name: str) -> bool:
    return any(r["Link"] == name and r["State"] == "up" for r in read_table(screen, "Link", "State", "Last 60 s"))


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (this test drives a real terminal with tmux)")
def test_demo_dashboard_in_tmux_shows_link_up_and_sent_message():
    d = Daemon()
    d.config.write_text((ROOT / "conf" / "demo.toml").read_text())
    d.start()
    name = f"gwtui-smoke-{os.getpid()}"
    tmux = [TMUX, "-L", name, "-f", "/dev/null"]
    try:
        env = {**os.environ, "TERM": "xterm-256color"}
        subprocess.run([*tmux, "new-session", "-d", "-s", name, "-x", "80", "-y", "24",
                        f"{BIN / 'gatewaytui'} --socket {d.socket}"], check=True, env=env)
        # Panels fill in as their data arrives: wait for the whole dashboard, not its first row.
        screen = wait_screen(tmux, name, lambda s: "Queue" in s and "+14155550100" in s and link_up(s, "sim"))
        assert "Queue" in screen and "+14155550100" in screen
        assert "root·admin" in screen or "·admin" in screen
        d.ctl("send", "--from", "+14155550100", "--to", "+14155550142", "--text", "smoke test")
        # The send shows up in sim's own sparkline, on screen at 80 columns.
        wait_screen(tmux, name, lambda s: any(r["Link"] == "sim" and r["Last 60 s"]
                                              for r in read_table(s, "Link", "State", "Last 60 s")))
        subprocess.run([*tmux, "send-keys", "-t", name, "m"], check=True)
        screen = wait_screen(tmux, name, lambda s: "+14155550142" in s and "smoke test" in s)
        assert "Messages" in screen.splitlines()[0]
        subprocess.run([*tmux, "send-keys", "-t", name, "q"], check=True)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        d.cleanup()
