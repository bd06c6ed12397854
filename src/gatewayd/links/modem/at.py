"""Sans-I/O parser for what a GSM modem says on its serial line (3GPP TS 27.007 / 27.005).

Feed it bytes as they arrive, get events back. Modems interleave unsolicited result codes
(+CMTI, +CDS, RING, +CREG...) with the answer to the command in flight, echo commands, and
emit line noise when a USB adapter hiccups or the baud rate is wrong; the parser never raises
on any input and classifies each line on its own, so a URC in the middle of a response still
surfaces as a URC. The driver tells it which response prefix the running command expects
(``+CREG`` for ``AT+CREG?``), since the same text is a URC otherwise.
"""

from __future__ import annotations

import re

import msgspec

#: URCs whose next line is a PDU (TS 27.005 §3.4.1).
TWO_LINE_URCS = frozenset({"+CMT", "+CDS", "+CBM"})
#: Information/URC names recognised as unsolicited when no command expects them.
URC_NAMES = frozenset(
    {"+CMTI", "+CMT", "+CDS", "+CDSI", "+CBM", "+CBMI", "RING", "+CRING", "+CREG", "+CGREG", "+CEREG",
     "+CSQ", "+CIEV", "+CLIP", "^SMMEMFULL"}
)
MAX_LINE = 4096


class Final(msgspec.Struct, frozen=True):
    """A final result code: the command is over."""

    ok: bool
    kind: str                 # "OK", "ERROR", "CME", "CMS"
    code: int | None = None
    text: str = ""
    transient: bool = True

    @property
    def label(self) -> str:
        return self.kind if self.code is None else f"{self.kind} {self.code}"

    @property
    def throttle(self) -> bool:
        return self.kind == "CMS" and self.code in CMS_THROTTLE


class Info(msgspec.Struct, frozen=True):
    """An information line belonging to the command in flight (or a PDU line)."""

    text: str


class Prompt(msgspec.Struct, frozen=True):
    """The ``> `` prompt after AT+CMGS=<len>: send the PDU and Ctrl-Z now."""


class Urc(msgspec.Struct, frozen=True):
    """An unsolicited result code. ``args`` is the text after ``name: ``; ``pdu`` the hex
    line that follows a two-line URC (+CMT, +CDS)."""

    name: str
    args: str = ""
    pdu: str | None = None


class Garbage(msgspec.Struct, frozen=True):
    """Bytes that are not a plausible modem line (noise, wrong baud rate, binary)."""

    data: bytes


Event = Final | Info | Prompt | Urc | Garbage

# --- error code meanings: (text, transient). Transient = another try (maybe another modem) may work.
CMS_ERRORS: dict[int, tuple[str, bool]] = {
    1: ("unassigned (unallocated) number", False),
    8: ("operator determined barring", False),
    10: ("call barred", False),
    21: ("short message transfer rejected", False),
    27: ("destination out of service", True),
    28: ("unidentified subscriber", False),
    29: ("facility rejected", False),
    30: ("unknown subscriber", False),
    38: ("network out of order", True),
    41: ("temporary failure", True),
    42: ("congestion", True),
    47: ("resources unavailable, unspecified", True),
    50: ("requested facility not subscribed", False),
    69: ("requested facility not implemented", False),
    81: ("invalid short message transfer reference value", False),
    95: ("invalid message, unspecified", False),
    96: ("invalid mandatory information", False),
    97: ("message type non-existent or not implemented", False),
    98: ("message not compatible with short message protocol state", False),
    99: ("information element non-existent or not implemented", False),
    111: ("protocol error, unspecified", False),
    127: ("interworking, unspecified", True),
    300: ("ME failure", True),
    301: ("SMS service of ME reserved", True),
    302: ("operation not allowed", False),
    303: ("operation not supported", False),
    304: ("invalid PDU mode parameter", False),
    305: ("invalid text mode parameter", False),
    310: ("SIM not inserted", True),
    311: ("SIM PIN required", True),
    312: ("PH-SIM PIN required", True),
    313: ("SIM failure", True),
    314: ("SIM busy", True),
    315: ("SIM wrong", True),
    316: ("SIM PUK required", True),
    317: ("SIM PIN2 required", True),
    318: ("SIM PUK2 required", True),
    320: ("memory failure", True),
    321: ("invalid memory index", False),
    322: ("memory full", True),
    330: ("SMSC address unknown", True),
    331: ("no network service", True),
    332: ("network timeout", True),
    340: ("no +CNMA acknowledgement expected", False),
    500: ("unknown error", True),
}
#: RP-causes (TS 24.011 annex E, passed through as +CMS ERROR by TS 27.005 3.2.5) that mean "the
#: network is busy", not "this message is wrong": 42 congestion ("cannot be serviced because of
#: high traffic"), 47 resources unavailable. Flow control: never an attempt (sending/flow.py).
#: 41 temporary failure and 38 network out of order are a network fault, retried as attempts.
CMS_THROTTLE = frozenset({42, 47})

CME_ERRORS: dict[int, tuple[str, bool]] = {
    0: ("phone failure", True),
    1: ("no connection to phone", True),
    2: ("phone-adaptor link reserved", True),
    3: ("operation not allowed", False),
    4: ("operation not supported", False),
    5: ("PH-SIM PIN required", True),
    10: ("SIM not inserted", True),
    11: ("SIM PIN required", True),
    12: ("SIM PUK required", True),
    13: ("SIM failure", True),
    14: ("SIM busy", True),
    15: ("SIM wrong", True),
    16: ("incorrect password", False),
    17: ("SIM PIN2 required", True),
    18: ("SIM PUK2 required", True),
    20: ("memory full", True),
    21: ("invalid index", False),
    22: ("not found", False),
    23: ("memory failure", True),
    24: ("text string too long", False),
    25: ("invalid characters in text string", False),
    26: ("dial string too long", False),
    27: ("invalid characters in dial string", False),
    30: ("no network service", True),
    31: ("network timeout", True),
    32: ("network not allowed - emergency calls only", True),
    100: ("unknown", True),
}


def classify(kind: str, rest: str) -> Final:
    """Build a Final for ``+CME ERROR: <rest>`` / ``+CMS ERROR: <rest>`` (numeric or verbose)."""
    table = CME_ERRORS if kind == "CME" else CMS_ERRORS
    rest = rest.strip()
    if rest.isdigit():
        code = int(rest)
        text, transient = table.get(code, ("unknown error code", True))
        return Final(ok=False, kind=kind, code=code, text=text, transient=transient)
    lowered = rest.lower()
    for code, (text, transient) in table.items():
        if text.lower() == lowered:
            return Final(ok=False, kind=kind, code=code, text=text, transient=transient)
    return Final(ok=False, kind=kind, code=None, text=rest or "unknown error", transient=True)


_FINALS = {
    "OK": Final(ok=True, kind="OK"),
    "ERROR": Final(ok=False, kind="ERROR", text="command rejected", transient=True),
    "NO CARRIER": Final(ok=False, kind="ERROR", text="no carrier", transient=True),
}


_ECHO_RE = re.compile(r"^AT([+&^%$#*]|[A-Z]\d*$|$)", re.IGNORECASE)


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch == "\t" for ch in text)


class AtParser:
    """Line splitter and classifier. ``expect`` is the response prefix of the command in flight
    (e.g. ``"+CSQ"``); ``echo`` is the last command sent, dropped if the modem echoes it."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending_urc: Urc | None = None   # a two-line URC waiting for its PDU line
        self.expect: str | None = None
        self.echo: str | None = None

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while True:
            idx = min((i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0), default=-1)
            if idx < 0:
                break
            raw = bytes(self._buf[:idx])
            del self._buf[: idx + 1]
            self._line(raw, events)
        rest = bytes(self._buf).lstrip(b"\r\n")
        if rest in (b">", b"> "):
            self._buf.clear()
            events.append(Prompt())
        elif rest.startswith(b"> ") and self._pending_urc is None:
            # Some modems do not pause after the prompt; anything after it is noise.
            self._buf.clear()
            events.append(Prompt())
        elif len(self._buf) > MAX_LINE:
            events.append(Garbage(bytes(self._buf)))
            self._buf.clear()
        return events

    def _line(self, raw: bytes, events: list[Event]) -> None:
        if not raw.strip():
            return
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            events.append(Garbage(raw))
            return
        if not _printable(line):
            events.append(Garbage(raw))
            return
        if self._pending_urc is not None:
            urc, self._pending_urc = self._pending_urc, None
            if _is_hex(line):
                events.append(msgspec.structs.replace(urc, pdu=line))
                return
            events.append(urc)   # PDU line missing: surface the header, then classify this line
        if line.startswith(">") and line[1:].strip() == "":
            events.append(Prompt())
            return
        if self.echo and line.upper() == self.echo.upper():
            return
        if _ECHO_RE.match(line):
            return   # echo of an earlier command (before ATE0 took effect)
        final = _FINALS.get(line)
        if final is not None:
            events.append(final)
            return
        for kind in ("CME", "CMS"):
            prefix = f"+{kind} ERROR:"
            if line.startswith(prefix):
                events.append(classify(kind, line[len(prefix):]))
                return
        name, sep, args = line.partition(":")
        name = name.strip()
        if self.expect and name == self.expect:
            events.append(Info(line))
            return
        if name in URC_NAMES and (sep or name == "RING"):
            urc = Urc(name=name, args=args.strip())
            if name in TWO_LINE_URCS:
                self._pending_urc = urc
            else:
                events.append(urc)
            return
        events.append(Info(line))


def _is_hex(line: str) -> bool:
    return len(line) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in line)


def split_args(args: str) -> list[str]:
    """``"SM",3`` -> ``["SM", "3"]``; quotes removed, commas inside quotes kept."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out
