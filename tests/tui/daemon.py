"""A real gatewayd process for TUI end-to-end tests: temp config, state dir and a short socket path.

Started and stopped by PID only. Readiness is the socket answering ``hello`` (polled with a
deadline); the daemon creates the socket only once it serves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gatewayd.ctl import Client, CtlError

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
default_region = "US"
log_level = "info"

[[links]]
name = "sim"
kind = "sim"
window = 50
max_tps = 500
dlr_delay_s = 0.3
delivered = 1.0
undelivered = 0.0
rejected = 0.0
reply_share = {reply_share}
reply_delay_s = 0.5
replies = ["Yes"]
price_per_segment = 0.0075
seed = 7

[[numbers]]
address = "+14155550100"
links = ["sim"]
rate = 50
burst = 50
office = "main"

[control]
socket_mode = {socket_mode}
{socket_group}

[access]
{access}
"""



class Daemon:
    def __init__(self, reply_share: float = 0.0, *, access: str = "", socket_mode: int = 0o660,
                 socket_group: str | None = None,
                 extra: str = "") -> None:
        """``access`` is the body of ``[access]``; ``socket_mode`` and a traversable directory
        (``open_to_others``) let another user connect; ``extra`` appends tables (more numbers)."""
        self.dir = Path(tempfile.mkdtemp(prefix="gwtui"))
        self.config = self.dir / "gatewayd.toml"
        self.config.write_text(CONFIG.format(reply_share=reply_share, access=access, socket_mode=oct(socket_mode),
                                             socket_group=f'socket_group = "{socket_group}"' if socket_group else "")
                               + extra)
        self.socket = str(self.dir / "s.sock")
        self.state = str(self.dir / "state")
        self.log = self.dir / "gatewayd.log"
        self.proc: subprocess.Popen | None = None

    def open_to_others(self) -> "Daemon":
        """Let other users reach the socket by path (search only: they cannot list the state)."""
        os.chmod(self.dir, 0o711)
        return self

    def start(self, timeout: float = 30.0) -> "Daemon":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(BIN / "gatewayd"), "--config", str(self.config), "--state-dir",
                                          self.state, "--socket", self.socket], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gatewayd exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                Client(self.socket, timeout=5).close()
                return self
            except CtlError:
                if time.monotonic() > deadline:
                    raise AssertionError("gatewayd did not become ready") from None
                time.sleep(0.05)

    def ctl(self, *args: str) -> str:
        res = subprocess.run([str(BIN / "gatewayctl"), "--socket", self.socket, *args], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        for p in sorted(self.dir.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() else os.rmdir(p)
        os.rmdir(self.dir)
