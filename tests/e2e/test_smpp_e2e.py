"""End to end over SMPP: the real gatewayd process bound to the fake SMSC process on loopback,
driven by gatewayctl. Receipts (hex ids in responses, decimal in receipts), a long and a UCS-2
message, a carrier rejection with its reason, an MO reply landing in the inbox, and an SMSC
restart that the link rides out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

FROM = "+14155550100"
SMSC = Path(__file__).resolve().parents[1] / "fakes" / "smsc.py"


class SmscProcess:
    def __init__(self, *args: str, port: int = 0) -> None:
        self.args = args
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> "SmscProcess":
        self.proc = subprocess.Popen([sys.executable, str(SMSC), "--port", str(self.port), *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"fake SMSC did not start: {self.proc.stderr.read()}")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def smsc_factory():
    made: list[SmscProcess] = []

    def make(*args: str, port: int = 0) -> SmscProcess:
        s = SmscProcess(*args, port=port)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.stop()


def config(port: int) -> str:
    return f"""
    [[links]]
    name = "carrier"
    kind = "smpp"
    host = "127.0.0.1"
    port = {port}
    system_id = "esme"
    password = "secret"
    window = 20
    reconnect_min_s = 0.2
    reconnect_max_s = 1.0
    msg_id_format = "auto"

    [[numbers]]
    address = "{FROM}"
    links = ["carrier"]
    rate = 2000
    burst = 200
    """


def batch(rows: list[tuple[str, str]], prefix: str) -> str:
    return "".join(json.dumps({"from": FROM, "to": to, "text": text, "key": f"{prefix}{i}"}) + "\n"
                   for i, (to, text) in enumerate(rows))


def link_state(status: dict) -> str:
    links = status["links"]
    row = links["carrier"] if isinstance(links, dict) else next(lk for lk in links if lk["name"] == "carrier")
    return row["state"]


def test_messages_go_out_over_smpp_and_receipts_come_back(daemon_factory, smsc_factory):
    smsc = smsc_factory("--dlr-delay", "0.05", "--resp-ids", "hex", "--dlr-ids", "dec",
                        "--reject", "+1415555999=0x0B", "--echo")
    d = daemon_factory(config(smsc.port)).start()
    d.wait(lambda s: link_state(s) == "up", timeout=30)

    rows = [(f"+1415555{1000 + i:04d}", f"hello {i}") for i in range(300)]
    rows += [("+14155552000", "long " * 80), ("+14155552001", "Привет, как дела? 👋"),
             ("+14155559999", "to a number the carrier refuses"), ("+14155552002", "ECHO are you there?")]
    out = json.loads(d.ctl("--json", "send", "--batch", "-", input=batch(rows, "a")).stdout)
    assert out["accepted"] == len(rows)
    st = d.wait(lambda s: s["queue"].get("delivered", 0) == len(rows) - 1 and s["queue"].get("failed") == 1)
    assert sum(st["queue"].values()) == len(rows)

    failed = d.ctl_json("messages", "--state", "failed")["items"]
    assert len(failed) == 1 and failed[0]["recipient"] == "+14155559999"
    detail = d.ctl_json("message", str(failed[0]["id"]))
    assert "ESME_RINVDSTADR(0x0000000B)" in json.dumps(detail)

    long = d.ctl_json("messages", "--to", "+14155552000")["items"][0]
    assert long["state"] == "delivered" and long.get("segments", 3) == 3

    d.wait(lambda s: "re: ECHO are you there?" in json.dumps(d.ctl_json("inbox", "list"), ensure_ascii=False))


def test_link_rides_out_an_smsc_restart(daemon_factory, smsc_factory):
    smsc = smsc_factory("--dlr-delay", "0.05")
    d = daemon_factory(config(smsc.port)).start()
    d.wait(lambda s: link_state(s) == "up", timeout=30)
    d.ctl("send", "--batch", "-", input=batch([(f"+1415555{1000 + i:04d}", f"one {i}") for i in range(50)], "b"))
    d.wait(lambda s: s["queue"].get("delivered", 0) == 50)

    port = smsc.port
    smsc.stop()
    d.wait(lambda s: link_state(s) == "down", timeout=30)
    d.ctl("send", "--batch", "-", input=batch([(f"+1415556{1000 + i:04d}", f"two {i}") for i in range(50)], "c"))
    smsc_factory("--dlr-delay", "0.05", port=port)
    st = d.wait(lambda s: s["queue"].get("delivered", 0) == 100, timeout=60)
    assert link_state(st) == "up" and sum(st["queue"].values()) == 100


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return out


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_sigkill_mid_run_over_smpp_loses_nothing_and_takes_the_link_worker_along(daemon_factory, smsc_factory,
                                                                                   tmp_path):
    """The link's worker process sees the daemon's end of the pipe close and exits (no orphan
    session); after a restart every message reaches a final state, each reached the SMSC, and
    what went twice is flagged and within the window plus the claim-ahead."""
    import sqlite3
    import time
    from collections import Counter

    from gatewayd.sending.router import AHEAD_WINDOWS

    window, n = 20, 3000
    journal = tmp_path / "smsc-journal.txt"
    smsc = smsc_factory("--dlr-delay", "0", "--journal", str(journal))
    d = daemon_factory(config(smsc.port)).start()
    d.wait(lambda s: link_state(s) == "up", timeout=30)
    [worker] = _children(d.proc.pid)
    d.ctl("send", "--batch", "-", input=batch([(f"+1415555{1000 + i % 2000:04d}", f"k{i}") for i in range(n)], "k"))
    d.wait(lambda s: s["queue"].get("delivered", 0) + s["queue"].get("sent", 0) >= 800)
    assert d.kill(signal.SIGKILL) == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while not _gone(worker):
        assert time.monotonic() < deadline, "the SMPP link worker outlived its daemon"
        time.sleep(0.05)

    d.start()
    d.wait(lambda s: s["queue"].get("queued", 0) == 0 and s["queue"].get("sending", 0) == 0, timeout=120)
    d.stop()
    db = sqlite3.connect(f"{d.state}/gatewayd.db")
    states = dict(db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
    assert sum(states.values()) == n and set(states) <= {"sent", "delivered"}, states
    texts = dict(db.execute("SELECT text, possible_duplicate FROM messages").fetchall())
    submits = Counter(journal.read_text().split())
    assert set(submits) == set(texts)                          # every one reached the SMSC
    duplicates = {t for t, k in submits.items() if k > 1}
    assert all(texts[t] for t in duplicates)                    # every duplicate is flagged
    assert len([t for t, flag in texts.items() if flag]) <= window * (1 + AHEAD_WINDOWS)
