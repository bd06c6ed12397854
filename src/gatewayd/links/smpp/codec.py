"""SMPP 3.4 PDUs: bytes in, plain :class:`Pdu` objects out. The only module that imports smpplib.

smpplib knows every command's field layout (order, types, sizes, TLV tags), but its parser trips
on what real SMSCs send (a C-string without its NUL yields a negative length, a truncated field
raises ``struct.error``, an unknown TLV raises, ``receipted_message_id`` loses its last character
when the NUL is missing), its sequence numbers come from a global dummy client, and its
``generate()`` costs ~100 µs per submit_sm. So smpplib supplies the layouts (and a reference
encoder the tests compare against byte for byte); packing and parsing are ours, from those
layouts. Parsing is tolerant: a PDU that still makes no sense raises :class:`DecodeError` carrying
its sequence number, so the session can answer ``generic_nack`` and stay up. :class:`Framer` cuts
the byte stream into PDUs and refuses absurd lengths before buffering anything (memory stays
bounded whatever the peer sends).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from smpplib import command as _command
from smpplib import command_codes as _codes
from smpplib import consts as _consts
from smpplib.ptypes import ostr as _ostr

MAX_PDU = 64 * 1024   # far above any real PDU: carriers cap message_payload at a few KiB
HEADER = struct.Struct(">LLLL")

COMMAND_IDS: dict[str, int] = dict(_codes.commands)
COMMAND_NAMES: dict[int, str] = {v: k for k, v in COMMAND_IDS.items()}
TLV_TAGS: dict[str, int] = dict(_consts.OPTIONAL_PARAMS)
TLV_NAMES: dict[int, str] = {v: k for k, v in TLV_TAGS.items()}

# Command status values we act on (SMPP 3.4 §5.1.3).
ROK = 0x00
RINVMSGLEN = 0x01
RINVCMDLEN = 0x02
RINVCMDID = 0x03
RINVBNDSTS = 0x04
RALYBND = 0x05
RSYSERR = 0x08
RINVDSTADR = 0x0B
RBINDFAIL = 0x0D
RINVPASWD = 0x0E
RMSGQFUL = 0x14
RSUBMITFAIL = 0x45
RTHROTTLED = 0x58
RX_T_APPN = 0x64
RX_P_APPN = 0x65
RDELIVERYFAILURE = 0xFE
RUNKNOWNERR = 0xFF

STATUS_NAMES: dict[int, str] = {
    value: name[len("SMPP_"):]
    for name, value in vars(_consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}

#: Temporary errors: the same submit may succeed later, so the dispatcher retries it. This is
#: Kannel's table (smpp_status_to_smscconn_failure_reason: RMSGQFUL, RTHROTTLED, RX_T_APPN and
#: RSYSERR are temporary, the rest rejects) plus RINVBNDSTS, which says our *session* is in the
#: wrong state, not that the message is bad. RSUBMITFAIL (0x45) stays permanent as in Kannel:
#: carriers use it for routing and credit refusals that a resend does not fix.
TRANSIENT_STATUSES = frozenset({RINVBNDSTS, RSYSERR, RMSGQFUL, RTHROTTLED, RX_T_APPN})
#: Temporary errors that mean "slow down": the whole link backs off, not just this message.
THROTTLE_STATUSES = frozenset({RMSGQFUL, RTHROTTLED})

BIND_COMMANDS = {
    "transceiver": "bind_transceiver",
    "transmitter": "bind_transmitter",
    "receiver": "bind_receiver",
}


class FramingError(Exception):
    """The byte stream cannot be cut into PDUs any more: drop the connection."""


class DecodeError(Exception):
    """One PDU is unusable; the stream is still in sync. Answer with ``generic_nack``."""

    def __init__(self, message: str, *, command_id: int, sequence: int, status: int = RINVCMDID) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.sequence = sequence
        self.status = status


@dataclass(slots=True)
class Pdu:
    """A decoded PDU. Mandatory C-strings are ``str``; ``short_message`` stays ``bytes``."""

    command: str
    sequence: int
    status: int = ROK
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[str, Any] = field(default_factory=dict)
    unknown_tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return bool(COMMAND_IDS[self.command] & 0x80000000)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name)
        if value is None:
            value = self.tlvs.get(name)
        return default if value is None else value


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED(0x00000058)``: the name operators search for, and the number."""
    return f"{STATUS_NAMES.get(status, 'ESME_UNKNOWN')}(0x{status:08X})"


def status_text(status: int) -> str:
    return _consts.DESCRIPTIONS.get(status, f"carrier-specific error 0x{status:X}")


def classify(status: int) -> tuple[bool, bool]:
    """``(transient, throttle)`` for a failed submit."""
    return status in TRANSIENT_STATUSES, status in THROTTLE_STATUSES


class Sequencer:
    """Sequence numbers 1..0x7FFFFFFF, wrapping (SMPP 3.4 §5.1.4); one per session."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def next(self) -> int:
        seq = self._next
        self._next = seq + 1 if seq < 0x7FFFFFFF else 1
        return seq


class Framer:
    """Cuts a TCP byte stream into whole PDUs. Buffers at most one PDU plus one read."""

    def __init__(self, max_length: int = MAX_PDU) -> None:
        self.max_length = max_length
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        while len(buf) >= 4:
            length = int.from_bytes(buf[:4], "big")
            if length < 16 or length > self.max_length:
                raise FramingError(f"command_length {length} outside 16..{self.max_length}")
            if len(buf) < length:
                break
            out.append(bytes(buf[:length]))
            del buf[:length]
        return out


# --- layouts ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str        # "int" | "str" | "ostr" | "flag"
    size: int        # octets of an int; 0 otherwise
    max: int         # longest C-string including its NUL; 0 when unbounded


@dataclass(frozen=True, slots=True)
class _Layout:
    mandatory: tuple[_Field, ...]
    optional: dict[str, _Field]          # TLVs this command may carry, in smpplib's order


_LAYOUTS: dict[str, _Layout] = {}


def _layout(name: str) -> _Layout:
    """The command's fields from smpplib's tables (order, types, sizes, which are TLVs)."""
    cached = _LAYOUTS.get(name)
    if cached is None:
        cmd = _command.factory(name, sequence=1)
        mandatory, optional = [], {}
        for fname in cmd.params_order:
            param = cmd.params[fname]
            kind = {int: "int", str: "str", _ostr: "ostr"}.get(param.type, "flag")
            f = _Field(fname, kind, getattr(param, "size", 0), getattr(param, "max", 0))
            if cmd.field_is_optional(fname):
                optional[fname] = f
            else:
                mandatory.append(f)
        cached = _LAYOUTS[name] = _Layout(tuple(mandatory), optional)
    return cached


# --- decoding ---------------------------------------------------------------------------------

_UNSUPPORTED = frozenset(("outbind", "replace_sm", "replace_sm_resp", "cancel_sm", "cancel_sm_resp",
                          "submit_multi", "submit_multi_resp"))


def decode(raw: bytes) -> Pdu:
    """Decode one framed PDU; raise :class:`DecodeError` (with its sequence) if it is unusable."""
    length, command_id, status, sequence = HEADER.unpack_from(raw)
    name = COMMAND_NAMES.get(command_id)
    if name is None or name in _UNSUPPORTED:
        raise DecodeError(f"unsupported command_id 0x{command_id:08X}", command_id=command_id, sequence=sequence)
    if length != len(raw):
        raise DecodeError("command_length does not match", command_id=command_id, sequence=sequence,
                          status=RINVCMDLEN)
    pdu = Pdu(name, sequence, status)
    if length == 16:
        return pdu   # header only: enquire_link, unbind, generic_nack, error responses
    body = raw[16:]
    n = len(body)
    layout = _layout(name)
    fields = layout.mandatory
    last = len(fields) - 1
    params = pdu.params
    pos = 0
    try:
        for i, f in enumerate(fields):
            if pos >= n:
                break  # error responses often carry no body at all
            kind = f.kind
            if kind == "int":
                size = f.size
                if size == 1:
                    params[f.name] = body[pos]
                else:
                    if pos + size > n:
                        raise ValueError(f"{f.name} truncated")
                    params[f.name] = int.from_bytes(body[pos:pos + size], "big")
                pos += size
            elif kind == "str":
                end = body.find(b"\0", pos)
                if end < 0:
                    if i != last:
                        raise ValueError(f"{f.name} has no NUL terminator")
                    end = n  # a last C-string without its NUL (seen in submit_sm_resp)
                params[f.name] = body[pos:end].decode("latin-1")
                pos = end + 1 if end < n else n
            else:
                size = params.get("sm_length", 0)
                if pos + size > n:
                    raise ValueError(f"{f.name} truncated: sm_length {size}")
                params[f.name] = body[pos:pos + size]
                pos += size
        if pos < n:
            _decode_tlvs(pdu, body, pos, layout.optional)
    except ValueError as exc:
        raise DecodeError(f"{name}: {exc}", command_id=command_id, sequence=sequence,
                          status=RINVCMDLEN) from None
    return pdu


def _decode_tlvs(pdu: Pdu, body: bytes, pos: int, optional: dict[str, _Field]) -> None:
    """Optional parameters; unknown tags are kept aside, C-strings without NUL are accepted."""
    while pos + 4 <= len(body):
        tag, size = struct.unpack_from(">HH", body, pos)
        pos += 4
        value = body[pos:pos + size]
        if len(value) != size:
            raise ValueError(f"TLV 0x{tag:04X} truncated")
        pos += size
        tname = TLV_NAMES.get(tag)
        f = optional.get(tname) if tname else None
        if f is None:
            pdu.unknown_tlvs[tag] = value
        elif f.kind == "int":
            pdu.tlvs[tname] = int.from_bytes(value, "big") if value else 0
        elif f.kind == "str":
            pdu.tlvs[tname] = value.split(b"\0", 1)[0].decode("latin-1")
        else:
            pdu.tlvs[tname] = value
    if pos != len(body):
        raise ValueError(f"{len(body) - pos} stray octets after the TLVs")


# --- encoding ---------------------------------------------------------------------------------

def _header(command: str, sequence: int, status: int = ROK, body: bytes = b"") -> bytes:
    return HEADER.pack(16 + len(body), COMMAND_IDS[command], status, sequence) + body


def encode(command: str, sequence: int, *, status: int = ROK,
           extra_tlvs: tuple[tuple[int, bytes], ...] = (), **params: Any) -> bytes:
    """Encode a PDU from smpplib's layout. ``extra_tlvs`` appends raw (e.g. vendor) TLVs.

    C-strings are ``str`` (Latin-1), cut to the field's maximum as smpplib does; octet strings are
    ``bytes``; ``sm_length`` is computed; None means absent. Packing is ours rather than
    smpplib's ``generate()``, which costs ~100 µs per submit_sm (it walks and re-sets every field);
    tests check that both produce the same bytes.
    """
    layout = _layout(command)
    body = bytearray()
    for f in layout.mandatory:
        value = params.get(f.name)
        if f.kind == "int":
            if f.name == "sm_length":
                value = len(params.get("short_message") or b"")
            body += (value or 0).to_bytes(f.size, "big")
        elif f.kind == "str":
            raw = (value or "").encode("latin-1")
            body += (raw[:f.max - 1] if f.max else raw) + b"\0"
        elif value:
            body += value
    unknown = set(params) - {f.name for f in layout.mandatory} - set(layout.optional)
    if unknown:
        raise ValueError(f"{command} has no field {sorted(unknown)}")
    for name, f in layout.optional.items():
        value = params.get(name)
        if value is None:
            continue
        if f.kind == "int":
            data = value.to_bytes(f.size, "big")
        elif f.kind == "str":
            data = value.encode("latin-1") + b"\0"
        elif f.kind == "flag":
            data = b""
        else:
            data = bytes(value)
        body += struct.pack(">HH", TLV_TAGS[name], len(data)) + data
    for tag, data in extra_tlvs:
        body += struct.pack(">HH", tag, len(data)) + data
    return _header(command, sequence, status, bytes(body))


def encode_with_smpplib(command: str, sequence: int, *, status: int = ROK, **params: Any) -> bytes:
    """The reference encoder (slow): for tests that hold :func:`encode` to smpplib's output."""
    cmd = _command.factory(command, sequence=sequence, **{k: v for k, v in params.items() if v is not None})
    cmd.sequence = sequence       # smpplib ignores the keyword and takes a global counter
    cmd.status = status
    return cmd.generate()


def bind(mode: str, sequence: int, *, system_id: str, password: str, system_type: str = "") -> bytes:
    return encode(BIND_COMMANDS[mode], sequence, system_id=system_id, password=password,
                  system_type=system_type, interface_version=0x34, addr_ton=0, addr_npi=0, address_range="")


def bind_resp(command: str, sequence: int, *, status: int = ROK, system_id: str = "") -> bytes:
    return _header(f"{command}_resp", sequence, status, system_id.encode("latin-1") + b"\0")


def resp_with_id(command: str, sequence: int, *, status: int = ROK, message_id: str = "") -> bytes:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp: body is one C-string message_id."""
    return _header(f"{command}_resp", sequence, status, message_id.encode("latin-1") + b"\0")


def empty(command: str, sequence: int, *, status: int = ROK) -> bytes:
    """Header-only PDUs: enquire_link(_resp), unbind(_resp), generic_nack."""
    return _header(command, sequence, status)


def generic_nack(sequence: int, status: int = RINVCMDID) -> bytes:
    return _header("generic_nack", sequence, status)
