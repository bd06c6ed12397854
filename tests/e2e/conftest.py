"""Real ``gatewayd`` processes with temp sockets and state dirs, driven by ``gatewayctl``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gatewayd.ctl import Client, CtlError

BIN = Path(sys.executable).parent


class Daemon:
    def __init__(self, tmp: Path, config_text: str) -> None:
        self.dir = tmp
        self.config = tmp / "gatewayd.toml"
        self.config.write_text(textwrap.dedent(config_text))
        self.socket = str(tmp / "gw.sock")
        self.state = str(tmp / "state")
        self.log = tmp / "gatewayd.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Daemon":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "gatewayd"), "--config", str(self.config), "--state-dir", self.state,
                 "--socket", self.socket], stdout=log, stderr=log)
        return self.wait_socket(self.proc, timeout)

    def wait_socket(self, proc: subprocess.Popen, timeout: float = 30.0) -> "Daemon":
        """Wait until ``proc`` (started here or by the test itself) serves its socket."""
        self.proc = proc
        deadline = time.monotonic() + timeout
        while True:   # the socket appears only once the daemon is ready
            if self.proc.poll() is not None:
                raise AssertionError(f"gatewayd exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                Client(self.socket, timeout=5).close()
                return self
            except CtlError:
                if time.monotonic() > deadline:
                    raise AssertionError("gatewayd did not become ready") from None
                time.sleep(0.05)

    def ctl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([str(BIN / "gatewayctl"), "--socket", self.socket, *args], input=input,
                             capture_output=True, text=True, timeout=120)
        if check and res.returncode != 0:
            raise AssertionError(f"gatewayctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def ctl_json(self, *args: str):
        return json.loads(self.ctl("--json", *args).stdout)

    def call(self, op: str, **fields):
        c = Client(self.socket)
        try:
            return c.call(op, **fields)
        finally:
            c.close()

    def wait(self, predicate, timeout: float = 60.0) -> dict:
        """Re-check ``predicate(status)`` after every event the daemon publishes (no blind sleeps)."""
        deadline = time.monotonic() + timeout
        st = self.call("status")
        if predicate(st):
            return st
        c = Client(self.socket, timeout=1.0)
        try:
            c.call("subscribe", since=st["last_cursor"])
            while time.monotonic() < deadline:
                try:
                    c._line()
                except (TimeoutError, OSError):
                    pass
                st = self.call("status")
                if predicate(st):
                    return st
        finally:
            c.close()
        raise AssertionError(f"condition not reached in {timeout}s; last status queue={st['queue']}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def daemon_factory(tmp_path):
    made: list[Daemon] = []

    def make(config_text: str, name: str = "d") -> Daemon:
        d = Daemon(tmp_path / name if name != "d" else tmp_path, config_text)
        d.dir.mkdir(parents=True, exist_ok=True)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
