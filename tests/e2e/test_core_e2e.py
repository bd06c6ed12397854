"""End to end: the real daemon process, the sim carrier, gatewayctl, SIGKILL and restart."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter

import pytest

pytestmark = pytest.mark.e2e

FROM = "+14155550100"


def config(window: int = 50, dlr_delay: float = 0.05, journal: str | None = None, rate: int = 5000,
           burst: int = 500) -> str:
    j = f'journal = "{journal}"' if journal else ""
    return f"""
    [[links]]
    name = "sim"
    kind = "sim"
    window = {window}
    dlr_delay_s = {dlr_delay}
    delivered = 1.0
    undelivered = 0.0
    rejected = 0.0
    seed = 3
    {j}

    [[numbers]]
    address = "{FROM}"
    links = ["sim"]
    rate = {rate}
    burst = {burst}
    """


def batch(n: int, prefix: str = "k") -> str:
    return "".join(json.dumps({"from": FROM, "to": f"+1415555{1000 + i % 8000:04d}", "text": f"msg {i}",
                               "key": f"{prefix}{i}"}) + "\n" for i in range(n))


def test_thousand_messages_via_gatewayctl_batch_are_all_delivered(daemon_factory):
    d = daemon_factory(config()).start()
    out = d.ctl("send", "--batch", "-", input=batch(1000))
    assert "accepted 1000" in out.stdout
    st = d.wait(lambda s: s["queue"].get("delivered") == 1000)
    assert sum(st["queue"].values()) == 1000
    # sending the same batch again (same keys) creates nothing new
    again = json.loads(d.ctl("--json", "send", "--batch", "-", input=batch(1000)).stdout)
    assert again["duplicates"] == 1000 and again["accepted"] == 0
    msgs = d.ctl_json("messages", "--state", "delivered", "--limit", "5")
    assert len(msgs["items"]) == 5 and msgs["next_before_id"]


def test_gatewayctl_reports_daemon_not_running(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    res = subprocess.run([str(Path(sys.executable).parent / "gatewayctl"), "--socket", str(tmp_path / "none.sock"),
                          "status"], capture_output=True, text=True)
    assert res.returncode == 3 and "not running" in res.stderr


def test_sigkill_mid_drain_loses_nothing_and_duplicates_stay_within_window(daemon_factory, tmp_path):
    window = 50
    journal = tmp_path / "sim-journal.txt"
    d = daemon_factory(config(window=window, dlr_delay=0.0, journal=str(journal), rate=3000))
    d.start()
    d.ctl("send", "--batch", "-", input=batch(10_000))
    d.wait(lambda s: s["queue"].get("delivered", 0) + s["queue"].get("sent", 0) >= 2500)
    assert d.kill(signal.SIGKILL) == -signal.SIGKILL
    d.start()     # restart on the same state: crash recovery runs before anything is sent
    d.wait(lambda s: s["queue"].get("queued", 0) == 0 and s["queue"].get("sending", 0) == 0, timeout=120)
    d.stop()

    db = sqlite3.connect(f"{d.state}/gatewayd.db")
    states = dict(db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
    assert sum(states.values()) == 10_000, states                      # none lost
    assert set(states) <= {"sent", "delivered"}, states                # all went out
    flagged = {r[0] for r in db.execute("SELECT id FROM messages WHERE possible_duplicate = 1")}
    submits = Counter(int(line.split()[0]) for line in journal.read_text().splitlines())
    assert set(submits) == {r[0] for r in db.execute("SELECT id FROM messages")}   # every one reached the carrier
    duplicates = {mid for mid, n in submits.items() if n > 1}
    assert len(duplicates) <= window, len(duplicates)
    assert duplicates <= flagged                                       # and every duplicate is flagged
    assert len(flagged) <= window


def test_online_backup_while_sending(daemon_factory, tmp_path):
    d = daemon_factory(config()).start()
    d.ctl("send", "--batch", "-", input=batch(2000, prefix="b"))
    target = tmp_path / "backup.db"
    out = d.ctl("backup", str(target))           # taken while the queue drains
    assert "backup written" in out.stdout
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM messages").fetchone()[0] == 2000
    refused = d.ctl("backup", str(target), check=False)      # never overwrite a backup
    assert refused.returncode == 1 and "exists" in refused.stderr


def test_message_queued_past_its_ttl_expires_instead_of_going_out_late(daemon_factory):
    d = daemon_factory(config(rate=1, burst=1)).start()     # 1 segment/s: a backlog builds up
    d.ctl("send", "--batch", "-", input=batch(30, prefix="t"))
    late = d.ctl_json("send", "--from", FROM, "--to", "+14155559000", "--text", "time-bound", "--ttl", "2",
                      "--priority", "bulk")
    d.wait(lambda s: s["queue"].get("expired", 0) == 1, timeout=30)
    detail = d.ctl_json("message", str(late["id"]))
    assert detail["message"]["state"] == "expired"
    assert all(s["carrier_id"] is None for s in detail["segments"])     # never handed to the carrier


def test_second_daemon_on_the_same_state_is_refused_before_touching_it(daemon_factory):
    import subprocess
    import sys
    from pathlib import Path

    d = daemon_factory(config(rate=1, burst=1)).start()
    d.ctl("send", "--batch", "-", input=batch(20, prefix="s"))
    second = subprocess.run([str(Path(sys.executable).parent / "gatewayd"), "--config", str(d.config),
                             "--state-dir", d.state, "--socket", str(d.dir / "other.sock")],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "another gatewayd is using" in second.stderr
    # the running daemon's in-flight messages were not "recovered" by the intruder
    st = d.call("status")
    assert sum(st["queue"].values()) == 20 and d.proc.poll() is None
    assert not d.ctl_json("messages", "--limit", "50")["items"][0]["possible_duplicate"]
