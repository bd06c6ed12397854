"""Operations as a new operator meets them, on real gatewayd processes: a second instance started
by mistake, a metrics port in use, what the journal gets, and a big ordinary batch file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
FROM = "+14155550100"

CONFIG = f"""
[[links]]
name = "sim"
kind = "sim"
dlr_delay_s = 0.05
delivered = 1.0
undelivered = 0.0
rejected = 0.0

[[numbers]]
address = "{FROM}"
links = ["sim"]
rate = 1000
burst = 1000
"""


def _run(config: Path, state: Path, sock: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "gatewayd"), "--config", str(config), "--state-dir", str(state),
                           "--socket", sock], capture_output=True, text=True, timeout=60, env=env)


def test_a_second_instance_on_the_same_socket_touches_nothing(daemon_factory, tmp_path):
    first = daemon_factory(CONFIG).start()
    other_state = tmp_path / "other-state"
    res = _run(first.config, other_state, first.socket)
    assert res.returncode == 1
    assert f"another gatewayd is listening on {first.socket}" in res.stderr
    assert "link sim" not in res.stderr          # it brought no link up
    assert not other_state.exists()              # nor took a lock or opened a database
    assert os.path.exists(first.socket)          # and the first one's socket is still there
    assert first.call("status")["links"][0]["state"] == "up"
    # A stale socket (a crashed daemon) is still replaced: nobody answers on it.
    first.stop()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(first.socket)
    stale.close()
    first.start()
    assert first.call("status")["version"]


def test_metrics_port_in_use_exits_2_with_the_reason(daemon_factory, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        d = daemon_factory(CONFIG + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        res = _run(d.config, Path(d.state), d.socket)
    finally:
        taken.close()
    assert res.returncode == 2, res.stderr
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}: Address already in use" in res.stderr
    assert "Traceback" not in res.stderr and "link sim" not in res.stderr
    assert not os.path.exists(d.socket)


def test_journal_gets_priorities_link_down_as_warning_and_a_final_stopped_line(daemon_factory, tmp_path):
    modem = """
    [[links]]
    name = "gsm"
    kind = "modem"
    device = "/dev/gatewayd-test-no-such-modem"
    number = "+14155550101"
    reconnect_min_s = 30.0
    """
    d = daemon_factory(CONFIG + modem)
    log_path = tmp_path / "journal.txt"
    with open(log_path, "wb") as log:
        st = os.fstat(log.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        proc = subprocess.Popen([str(BIN / "gatewayd"), "--config", str(d.config), "--state-dir", d.state,
                                 "--socket", d.socket], stdout=log, stderr=log, env=env)
        d.proc = proc
        try:
            d.wait_socket(proc)
            d.wait(lambda s: any(lk["name"] == "gsm" and lk["state"] == "down" for lk in s["links"]))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = log_path.read_text().splitlines()
    assert lines and all(line[:3] in {"<7>", "<6>", "<4>", "<3>", "<2>"} for line in lines), lines[:5]
    down = [ln for ln in lines if "link gsm: down" in ln]
    assert down and down[0].startswith("<4>WARNING")
    assert "cannot open /dev/gatewayd-test-no-such-modem: No such file or directory" in down[0]
    assert not any("Errno" in ln for ln in lines)
    assert any(ln.startswith("<6>INFO") and "link sim: up" in ln and not ln.endswith(" ") for ln in lines)
    assert "stopped (exit 0)" in lines[-1] and lines[-1].startswith("<6>")


def test_an_ordinary_big_batch_file_is_sent_in_requests_under_the_line_limit(daemon_factory, tmp_path):
    d = daemon_factory(CONFIG + "\n[control]\nmax_line_bytes = 262144\n").start()
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"from": FROM, "to": f"+1415555{1000 + i:04d}", "text": "a" * 300,
                                         "key": f"b{i}"}) + "\n" for i in range(5000)))
    out = d.ctl("--json", "send", "--batch", str(batch))
    res = json.loads(out.stdout)
    assert (res["accepted"], res["rejected"]) == (5000, 0)
    assert sum(d.call("status")["queue"].values()) == 5000


def test_state_is_private_and_only_the_socket_is_given_to_the_operators_group(daemon_factory, tmp_path):
    import grp
    import stat

    try:
        group = grp.getgrnam("nogroup")
    except KeyError:
        pytest.skip("no group 'nogroup'")
    if os.geteuid() != 0:
        pytest.skip("needs root to give the socket to a group it is not in")
    d = daemon_factory(CONFIG + '\n[control]\nsocket_group = "nogroup"\n')
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    d.socket = str(run / "gw.sock")
    state = Path(d.state)
    state.mkdir(mode=0o750)                        # as an older install left it
    lock = state / "gatewayd.db.lock"
    lock.touch(mode=0o666)
    os.chmod(lock, 0o660)                          # a group member could flock it
    d.start()
    d.ctl("send", "--from", FROM, "--to", "+14155550123", "--text", "hi")

    def mode(p: Path | str) -> int:
        return stat.S_IMODE(os.stat(p).st_mode)

    assert mode(state) == 0o700 and mode(lock) == 0o600
    for f in state.iterdir():                      # the database, its -wal and -shm
        assert mode(f) & 0o077 == 0, f
    sock = os.stat(d.socket)
    assert sock.st_gid == group.gr_gid and mode(d.socket) == 0o660
    assert os.stat(run).st_gid == group.gr_gid and mode(run) == 0o750
    assert "made it 0700" in d.log.read_text()


def _wait_log(d, text: str, timeout: float = 30.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = d.log.read_text()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{d.log.read_text()[-2000:]}")


def test_sighup_adds_a_number_that_sends_and_refuses_a_window_change_by_name(daemon_factory):
    d = daemon_factory(CONFIG).start()
    new = "+14155550177"
    d.config.write_text(d.config.read_text() + f'\n[[numbers]]\naddress = "{new}"\nlinks = ["sim"]\nrate = 100\n')
    d.proc.send_signal(signal.SIGHUP)
    d.wait(lambda s: new in [n["address"] for n in s["numbers"]])
    d.ctl("send", "--from", new, "--to", "+14155550123", "--text", "from the new number")
    d.wait(lambda s: s["queue"].get("delivered") == 1)
    d.config.write_text(d.config.read_text().replace('kind = "sim"', 'kind = "sim"\nwindow = 3'))
    d.proc.send_signal(signal.SIGHUP)
    log = _wait_log(d, "reload refused")
    assert "links[0].window" in log.split("reload refused")[-1]
    assert d.call("status")["links"][0]["window"] == 50      # still the running value


def test_a_socket_path_that_is_a_regular_file_is_never_replaced(daemon_factory):
    d = daemon_factory(CONFIG)
    Path(d.socket).write_text("not a socket")
    res = _run(d.config, Path(d.state), d.socket)
    assert res.returncode == 2 and "exists and is not a socket" in res.stderr
    assert "link sim" not in res.stderr and not Path(d.state).exists()     # checked before anything
    assert Path(d.socket).read_text() == "not a socket"
