"""A fake GSM modem on a pseudo-terminal, speaking the AT subset gatewayd uses in PDU mode.

It runs in its own thread (so the daemon under test does real serial I/O against it) and is
reached through a symlink path, like /dev/serial/by-id/...: ``disappear()`` closes the pty and
removes the link (a USB unplug), ``reappear()`` makes a fresh pty under the same path. Faults:
``hang`` (silence), ``error_storm`` (ERROR to everything), ``garbage`` (noise instead of
answers), ``signal_loss()`` (no signal, deregistered, +CREG URC), ``cms_error`` (reject sends).

Standalone for end-to-end tests and the benchmark::

    python tests/fakes/modem.py --link /tmp/x/modem0 [--send-time 0.5]
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import threading
import time
import tty
from dataclasses import dataclass, field
from datetime import datetime, timezone

from gatewayd.links.modem import pdu
from gatewayd.links.modem.pdu import Concat, encode_deliver, encode_status_report

SMSC = "+491760000443"


def tpdu_len(hex_pdu: str) -> int:   # the <length> modems print: octets after the SCA field
    return len(hex_pdu) // 2 - int(hex_pdu[:2], 16) - 1


@dataclass
class Sent:
    mr: int
    submit: pdu.Submit
    at: float


@dataclass
class FakeModem:
    path: str
    send_time: float = 0.0
    pin: str | None = None
    storage_size: int = 20
    report_delay: float = 0.2
    report_status: int = 0x00           # TP-ST for automatic status reports (None: no reports)
    reject_cnmi_ds2: bool = False       # forces +CDS direct reports
    direct_cmt: bool = False            # +CMT instead of storage + +CMTI
    urc_mid_response: bool = False      # URCs are wedged into the next multi-line answer
    report_national: bool = False       # status reports show the recipient without "+<cc>"
    # faults
    hang: bool = False
    error_storm: bool = False
    garbage: bool = False
    cms_error: int | None = None
    echo_on: bool = True
    # observable state
    sent: list[Sent] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    pin_attempts: list[str] = field(default_factory=list)
    acks: int = 0
    resets: int = 0
    deleted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.storage: dict[int, tuple[int, str]] = {}   # index -> (stat, pdu)
        self.sim = "SIM PIN" if self.pin else "READY"
        self.csq, self.creg = 20, 1
        self.creg_n, self.cnmi = 0, (0, 0, 0, 0, 0)
        self.mr = 0
        self._lock = threading.RLock()
        self._master = self._slave = -1
        self._inbuf = bytearray()
        self._prompt: int | None = None
        self._urcs: list[bytes] = []
        self._timers: list[tuple[float, object]] = []
        self._cnma_due = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "FakeModem":
        self.reappear()
        self._thread = threading.Thread(target=self._loop, name=f"fake-modem {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._wake()
        if self._thread:
            self._thread.join(5)
        self.disappear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> "FakeModem":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def disappear(self) -> None:
        """USB unplug: the fd dies under the reader and the device path vanishes."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1
            if os.path.lexists(self.path):
                os.unlink(self.path)
        self._wake()

    def reappear(self) -> None:
        with self._lock:
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            tmp = f"{self.path}.tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.path)
            self._master, self._slave = master, slave
            self._inbuf.clear()
            self._prompt = None
            self.creg_n, self.cnmi = 0, (0, 0, 0, 0, 0)
            self.echo_on = True
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # --- test controls ------------------------------------------------------------------------
    def signal_loss(self, lost: bool = True) -> None:
        with self._lock:
            self.csq, self.creg = (99, 2) if lost else (20, 1)
            if self.creg_n:
                self._urc(f"+CREG: {self.creg}")

    def receive_sms(self, sender: str, text: str, *, concat: tuple[int, int, int] | None = None,
                    ucs2: bool = False) -> list[int]:
        """The network delivers one SMS (or one part, ``concat=(ref, total, index)``). Returns the
        storage indices used ([] when delivered directly or refused because storage is full)."""
        return self.receive_pdu(encode_deliver(sender, text, concat=Concat(*concat) if concat else None,
                                               ucs2=ucs2, smsc=SMSC))

    def fill_silently(self, sender: str, count: int) -> None:
        """Messages that landed in storage without a +CMTI (lost URC, or before we started)."""
        with self._lock:
            for i in range(count):
                self._store(0, encode_deliver(sender, f"silent {i}", smsc=SMSC))

    def receive_pdu(self, hex_pdu: str) -> list[int]:
        with self._lock:
            if self.direct_cmt or self.cnmi[1] == 2:
                self._cnma_due += 1
                self._urc(f"+CMT: ,{tpdu_len(hex_pdu)}\r\n{hex_pdu}")
                return []
            index = self._store(0, hex_pdu)
            if index is None:
                return []
            if self.cnmi[1] == 1:
                self._urc(f'+CMTI: "SM",{index}')
            return [index]

    def _store(self, stat: int, hex_pdu: str) -> int | None:
        for index in range(1, self.storage_size + 1):
            if index not in self.storage:
                self.storage[index] = (stat, hex_pdu)
                return index
        return None   # memory full: the network keeps it for later

    def _urc(self, text: str) -> None:
        self._urcs.append(f"\r\n{text}\r\n".encode())
        self._wake()

    # --- the serial side ----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._master >= 0:
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        registered = -1
        while not self._stop:
            with self._lock:
                if registered != self._master:
                    if registered >= 0:
                        try:
                            sel.unregister(registered)
                        except (KeyError, ValueError):
                            pass
                    if self._master >= 0:
                        sel.register(self._master, selectors.EVENT_READ)
                    registered = self._master
                now = time.monotonic()
                due = [t for t in self._timers if t[0] <= now]
                self._timers = [t for t in self._timers if t[0] > now]
                for _when, fn in due:
                    fn()  # type: ignore[operator]
                if self._urcs and self._prompt is None and not self.hang:
                    if not self.urc_mid_response:
                        self._write(b"".join(self._urcs))
                        self._urcs.clear()
                timeout = min((t[0] for t in self._timers), default=now + 0.5) - now
            for key, _ in sel.select(max(0.0, timeout)):
                if key.fd == self._wake_r:
                    os.read(self._wake_r, 1024)
                    continue
                with self._lock:
                    if key.fd != self._master:
                        continue
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self._input(data)
        sel.close()

    def _input(self, data: bytes) -> None:
        if b"AT+CFUN=1,1\r" in data:     # a reset gets through whatever state the firmware is in
            self.resets += 1
            self.hang = self.error_storm = self.garbage = False
            self._inbuf.clear()
            self._prompt = None
            self._write(b"\r\nOK\r\n")
            return
        if self.hang:
            return
        self._inbuf += data
        while True:
            if self._prompt is not None:
                end = min((i for i in (self._inbuf.find(b"\x1a"), self._inbuf.find(b"\x1b")) if i >= 0), default=-1)
                if end < 0:
                    return
                body, cancel = bytes(self._inbuf[:end]), self._inbuf[end] == 0x1B
                del self._inbuf[: end + 1]
                length, self._prompt = self._prompt, None
                if not cancel:
                    self._cmgs(body.decode(errors="replace").strip(), length)
                continue
            idx = self._inbuf.find(b"\r")
            if idx < 0:
                return
            line = self._inbuf[:idx].decode(errors="replace").strip().lstrip("\x1b")
            del self._inbuf[: idx + 1]
            if line:
                self._command(line)

    def _reply(self, *lines: str, final: str = "OK") -> None:
        if self.garbage:
            self._write(bytes(range(0x80, 0xC0)) + b"\r\n\xff\xfe\r\n")
            return
        out = [f"\r\n{line}\r\n".encode() for line in lines]
        if self._urcs and self.urc_mid_response:
            out[1:1] = self._urcs   # wedge URCs after the first line of the answer
            self._urcs.clear()
        self._write(b"".join(out) + f"\r\n{final}\r\n".encode())

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if self.echo_on:
            self._write(line.encode() + b"\r")
        if self.error_storm:
            return self._reply(final="ERROR")
        cmd = line.upper()
        if not cmd.startswith("AT"):
            return self._reply(final="ERROR")
        body = line[2:]
        if cmd in ("AT", "ATZ") or cmd.startswith(("AT+CMEE", "AT+CMGF", "AT+CSCA", "AT+CMMS", "AT+CSMP", "AT+CSCS")):
            return self._reply()
        if cmd in ("ATE0", "ATE1"):
            self.echo_on = cmd == "ATE1"
            return self._reply()
        if self.sim != "READY" and cmd.startswith(("AT+CMGS", "AT+CMGR", "AT+CMGL", "AT+CPMS", "AT+CNMI")):
            return self._reply(final="+CMS ERROR: 311" if self.sim == "SIM PIN" else "+CMS ERROR: 316")
        if cmd == "AT+CPIN?":
            return self._reply(f"+CPIN: {self.sim}")
        if cmd.startswith("AT+CPIN="):
            given = body.split("=", 1)[1].strip('"')
            self.pin_attempts.append(given)
            if self.sim != "SIM PIN":
                return self._reply(final="+CME ERROR: 3")
            if given == self.pin:
                self.sim = "READY"
                return self._reply()
            if len(self.pin_attempts) >= 3:
                self.sim = "SIM PUK"
            return self._reply(final="+CME ERROR: 16")
        if cmd.startswith("AT+CPMS="):
            n, t = len(self.storage), self.storage_size
            return self._reply(f"+CPMS: {n},{t},{n},{t},{n},{t}")
        if cmd == "AT+CPMS?":
            n, t = len(self.storage), self.storage_size
            return self._reply(f'+CPMS: "SM",{n},{t},"SM",{n},{t},"SM",{n},{t}')
        if cmd.startswith("AT+CNMI="):
            vals = tuple(int(v or 0) for v in body.split("=", 1)[1].split(","))
            if self.reject_cnmi_ds2 and len(vals) > 3 and vals[3] == 2:
                return self._reply(final="+CMS ERROR: 303")
            self.cnmi = (vals + (0,) * 5)[:5]
            return self._reply()
        if cmd.startswith("AT+CREG="):
            self.creg_n = int(body.split("=", 1)[1] or 0)
            return self._reply()
        if cmd == "AT+CREG?":
            return self._reply(f"+CREG: {self.creg_n},{self.creg}")
        if cmd == "AT+CSQ":
            return self._reply(f"+CSQ: {self.csq},99")
        if cmd == "AT+COPS?":
            return self._reply('+COPS: 0,0,"FakeNet",2' if self.creg in (1, 5) else "+COPS: 0")
        if cmd == "AT+CGSN":
            return self._reply("356938035643809")
        if cmd == "AT+CIMI":
            return self._reply("310150123456789")
        if cmd == "AT+CCID":
            return self._reply("+CCID: 8901260123456789012")
        if cmd.startswith("AT+CMGS="):
            self._prompt = int(body.split("=", 1)[1])
            self._write(b"\r\n> ")
            return None
        if cmd.startswith("AT+CMGR="):
            entry = self.storage.get(int(body.split("=", 1)[1]))
            if entry is None:
                return self._reply(final="+CMS ERROR: 321")
            return self._reply(f"+CMGR: {entry[0]},,{tpdu_len(entry[1])}", entry[1])
        if cmd.startswith("AT+CMGD="):
            index = int(body.split("=", 1)[1].split(",")[0])
            self.storage.pop(index, None)
            self.deleted.append(index)
            return self._reply()
        if cmd.startswith("AT+CMGL"):
            lines = []
            for index, (stat, hex_pdu) in sorted(self.storage.items()):
                lines += [f"+CMGL: {index},{stat},,{tpdu_len(hex_pdu)}", hex_pdu]
            return self._reply(*lines)
        if cmd == "AT+CNMA":
            if self._cnma_due:
                self._cnma_due -= 1
                self.acks += 1
                return self._reply()
            return self._reply(final="+CMS ERROR: 340")
        return self._reply(final="ERROR")

    def _cmgs(self, hex_pdu: str, length: int) -> None:
        try:
            submit = pdu.decode(hex_pdu)
            sca_len = int(hex_pdu[:2], 16) + 1
            if not isinstance(submit, pdu.Submit) or len(hex_pdu) // 2 - sca_len != length:
                raise ValueError("length mismatch")
        except ValueError:
            return self._reply(final="+CMS ERROR: 304")
        if self.cms_error is not None:
            return self._reply(final=f"+CMS ERROR: {self.cms_error}")
        self.mr = (self.mr + 1) % 256
        mr = self.mr

        def done() -> None:
            if self.hang or self._master < 0:
                return
            self.sent.append(Sent(mr=mr, submit=submit, at=time.time()))
            self._reply(f"+CMGS: {mr}")
            if submit.srr and self.report_status is not None:
                self._timers.append((time.monotonic() + self.report_delay, lambda: self._report(mr, submit)))

        self._timers.append((time.monotonic() + self.send_time, done))

    def _report(self, mr: int, submit: pdu.Submit) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        recipient = submit.recipient[2:] if self.report_national else submit.recipient
        hex_pdu = encode_status_report(mr, recipient, self.report_status, timestamp=now, discharged=now)
        ds = self.cnmi[3]
        if ds == 1:
            self._cnma_due += 1
            self._urc(f"+CDS: {tpdu_len(hex_pdu)}\r\n{hex_pdu}")
        elif ds == 2:
            index = self._store(0, hex_pdu)
            if index is not None:
                self._urc(f'+CDSI: "SM",{index}')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--link", required=True, help="symlink path to create for the pty")
    ap.add_argument("--send-time", type=float, default=0.0, help="seconds each send takes")
    ap.add_argument("--report-delay", type=float, default=0.2)
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with FakeModem(args.link, send_time=args.send_time, report_delay=args.report_delay):
        print(f"fake modem on {args.link}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
