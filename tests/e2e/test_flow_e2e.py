"""Flow control as an operator sees it: a real ``gatewayd`` against a (simulated) carrier that
throttles, and ``gatewayctl status`` showing the rate the link learned, kept across a restart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

FROM = "+14155550100"

CONFIG = f"""
[[links]]
name = "sim"
kind = "sim"
window = 20
max_tps = 40
dlr_delay_s = 0.05
delivered = 1.0
undelivered = 0.0
rejected = 0.0
seed = 3

[[numbers]]
address = "{FROM}"
links = ["sim"]
rate = 5000
burst = 500
"""


def batch(n: int) -> str:
    return "".join(json.dumps({"from": FROM, "to": f"+1415555{1000 + i:04d}", "text": f"msg {i}"}) + "\n"
                   for i in range(n))


def test_gatewayctl_status_shows_the_learned_rate_and_a_restart_keeps_it(daemon_factory):
    d = daemon_factory(CONFIG)
    d.start()
    d.ctl("send", "--batch", "-", input=batch(300))
    d.wait(lambda s: s["queue"].get("delivered", 0) == 300, timeout=120)
    st = d.call("status")
    assert st["queue"].get("failed", 0) == 0
    rate = st["links"][0]["rate"]
    assert rate is not None and rate < 100                # learned from the throttle answers
    out = d.ctl("status").stdout
    assert "RATE/S" in out and f"{rate:.1f}" in out
    d.stop()                                               # the learned rate is saved on the way out
    with sqlite3.connect(Path(d.state) / "gatewayd.db") as db:
        stored = db.execute("SELECT rate FROM link_flow WHERE link = 'sim'").fetchone()[0]
    assert stored is not None and stored < 100
    d.start()
    assert d.call("status")["links"][0]["rate"] == stored
