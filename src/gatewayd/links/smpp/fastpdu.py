"""Hand-written packing and parsing for the four PDUs of the hot path: submit_sm, submit_sm_resp,
deliver_sm, deliver_sm_resp.

:mod:`codec` walks smpplib's field layout for every PDU, which the profile of issue 16 shows as
a real share of the SMPP worker's CPU (``encode`` ~12 %, ``decode`` ~9 %). Here the mandatory
fields of these four commands are spelled out once (SMPP 3.4 §4.4.1, §4.4.2, §4.6.1, §4.6.2;
submit_sm and deliver_sm share one layout), and the field limits and TLV tables still come from
smpplib through :mod:`codec`, so both modules agree by construction on what a field is.

Encoders give the same bytes as ``codec.encode`` (and so smpplib's ``generate()``): C-strings in
Latin-1 cut to smpplib's maximum, ``sm_length`` computed, TLVs in smpplib's order, then
``extra_tlvs``. :func:`decode` parses a well-formed PDU of these commands itself and hands
anything else (other commands, a missing NUL, a short body, a truncated TLV, stray octets) to
``codec.decode``, so every tolerance and every :class:`codec.DecodeError` stays exactly as the
general decoder has it. tests/daemon/test_smpp_fastpdu.py holds both directions to smpplib.
Not wired into the session yet: that is a separate, measured change.
"""

from __future__ import annotations

import struct
from typing import Any

from . import codec
from .codec import Pdu

_HEADER = struct.Struct(">LLLL")
_TLV = struct.Struct(">HH")

SUBMIT_SM = codec.COMMAND_IDS["submit_sm"]
SUBMIT_SM_RESP = codec.COMMAND_IDS["submit_sm_resp"]
DELIVER_SM = codec.COMMAND_IDS["deliver_sm"]
DELIVER_SM_RESP = codec.COMMAND_IDS["deliver_sm_resp"]

#: The mandatory fields of submit_sm and deliver_sm, in order, with smpplib's kinds.
_SM_FIELDS = tuple(f.name for f in codec._layout("submit_sm").mandatory)
assert _SM_FIELDS == tuple(f.name for f in codec._layout("deliver_sm").mandatory)
_SM_NAMES = frozenset(_SM_FIELDS)

# C-string limits (including the NUL) from smpplib: cut to max - 1 characters as it does.
_MAX = {f.name: f.max for f in codec._layout("submit_sm").mandatory if f.kind == "str"}
_ST, _SRC, _DST = _MAX["service_type"] - 1, _MAX["source_addr"] - 1, _MAX["destination_addr"] - 1
_SCHED, _VALID = _MAX["schedule_delivery_time"] - 1, _MAX["validity_period"] - 1
_ID_MAX = codec._layout("submit_sm_resp").mandatory[0].max - 1


def _tlv_table(command: str) -> tuple[tuple[str, int, str, int], ...]:
    """(name, tag, kind, size) of the command's TLVs, in smpplib's order (the encoding order)."""
    return tuple((f.name, codec.TLV_TAGS[f.name], f.kind, f.size) for f in codec._layout(command).optional.values())


_TLVS = {SUBMIT_SM: _tlv_table("submit_sm"), DELIVER_SM: _tlv_table("deliver_sm")}
_TLV_NAMES = {cid: frozenset(t[0] for t in table) for cid, table in _TLVS.items()}
_TLV_BY_TAG = {cid: {tag: (name, kind) for name, tag, kind, _ in table} for cid, table in _TLVS.items()}


def _cstr(value: str | None, limit: int) -> bytes:
    return value.encode("latin-1")[:limit] + b"\0" if value else b"\0"


def _encode_sm(command_id: int, sequence: int, status: int, params: dict[str, Any],
               extra_tlvs: tuple[tuple[int, bytes], ...]) -> bytes:
    g = params.get
    optional = [k for k in params if k not in _SM_NAMES]
    unknown = [k for k in optional if k not in _TLV_NAMES[command_id]]
    if unknown:
        raise ValueError(f"{codec.COMMAND_NAMES[command_id]} has no field {sorted(unknown)}")
    sm = g("short_message") or b""
    parts = [
        _cstr(g("service_type"), _ST),
        bytes((g("source_addr_ton") or 0, g("source_addr_npi") or 0)),
        _cstr(g("source_addr"), _SRC),
        bytes((g("dest_addr_ton") or 0, g("dest_addr_npi") or 0)),
        _cstr(g("destination_addr"), _DST),
        bytes((g("esm_class") or 0, g("protocol_id") or 0, g("priority_flag") or 0)),
        _cstr(g("schedule_delivery_time"), _SCHED),
        _cstr(g("validity_period"), _VALID),
        bytes((g("registered_delivery") or 0, g("replace_if_present_flag") or 0, g("data_coding") or 0,
               g("sm_default_msg_id") or 0, len(sm))),
        sm,
    ]
    if optional or extra_tlvs:   # the common submit has no TLV at all
        for name, tag, kind, size in _TLVS[command_id]:
            value = g(name)
            if value is None:
                continue
            if kind == "int":
                data = value.to_bytes(size, "big")
            elif kind == "str":
                data = value.encode("latin-1") + b"\0"
            elif kind == "flag":
                data = b""
            else:
                data = bytes(value)
            parts.append(_TLV.pack(tag, len(data)))
            parts.append(data)
        for tag, data in extra_tlvs:
            parts.append(_TLV.pack(tag, len(data)))
            parts.append(data)
    body = b"".join(parts)
    return _HEADER.pack(16 + len(body), command_id, status, sequence) + body


def encode_submit_sm(sequence: int, *, status: int = codec.ROK,
                     extra_tlvs: tuple[tuple[int, bytes], ...] = (), **params: Any) -> bytes:
    """Same bytes as ``codec.encode("submit_sm", sequence, **params)``."""
    return _encode_sm(SUBMIT_SM, sequence, status, params, extra_tlvs)


def encode_deliver_sm(sequence: int, *, status: int = codec.ROK,
                      extra_tlvs: tuple[tuple[int, bytes], ...] = (), **params: Any) -> bytes:
    """Same bytes as ``codec.encode("deliver_sm", sequence, **params)`` (an SMSC's side)."""
    return _encode_sm(DELIVER_SM, sequence, status, params, extra_tlvs)


def _encode_resp(command_id: int, sequence: int, status: int, message_id: str | None) -> bytes:
    body = _cstr(message_id, _ID_MAX)
    return _HEADER.pack(16 + len(body), command_id, status, sequence) + body


def encode_submit_sm_resp(sequence: int, *, status: int = codec.ROK, message_id: str | None = "") -> bytes:
    return _encode_resp(SUBMIT_SM_RESP, sequence, status, message_id)


def encode_deliver_sm_resp(sequence: int, *, status: int = codec.ROK, message_id: str | None = "") -> bytes:
    return _encode_resp(DELIVER_SM_RESP, sequence, status, message_id)


# --- decoding ---------------------------------------------------------------------------------

class _Fallback(Exception):
    """Not the plain well-formed case: let codec.decode judge it."""


def _decode_sm(raw: bytes, command_id: int, status: int, sequence: int) -> Pdu:
    find = raw.find
    n = len(raw)
    p: dict[str, Any] = {}
    e = find(b"\0", 16)
    if e < 0 or e + 3 > n:
        raise _Fallback
    p["service_type"] = raw[16:e].decode("latin-1")
    p["source_addr_ton"], p["source_addr_npi"] = raw[e + 1], raw[e + 2]
    s = e + 3
    e = find(b"\0", s)
    if e < 0 or e + 3 > n:
        raise _Fallback
    p["source_addr"] = raw[s:e].decode("latin-1")
    p["dest_addr_ton"], p["dest_addr_npi"] = raw[e + 1], raw[e + 2]
    s = e + 3
    e = find(b"\0", s)
    if e < 0 or e + 4 > n:
        raise _Fallback
    p["destination_addr"] = raw[s:e].decode("latin-1")
    p["esm_class"], p["protocol_id"], p["priority_flag"] = raw[e + 1], raw[e + 2], raw[e + 3]
    s = e + 4
    e = find(b"\0", s)
    if e < 0:
        raise _Fallback
    p["schedule_delivery_time"] = raw[s:e].decode("latin-1")
    s = e + 1
    e = find(b"\0", s)
    if e < 0 or e + 6 > n:
        raise _Fallback
    p["validity_period"] = raw[s:e].decode("latin-1")
    (p["registered_delivery"], p["replace_if_present_flag"], p["data_coding"], p["sm_default_msg_id"],
     size) = raw[e + 1:e + 6]
    p["sm_length"] = size
    s = e + 6
    if s + size > n or (size == 0 and s == n):
        raise _Fallback   # truncated; or no short_message octets at all, which codec leaves out
    p["short_message"] = raw[s:s + size]
    pdu = Pdu(codec.COMMAND_NAMES[command_id], sequence, status, p)
    pos = s + size
    if pos < n:
        by_tag = _TLV_BY_TAG[command_id]
        tlvs = pdu.tlvs
        while pos + 4 <= n:
            tag, size = _TLV.unpack_from(raw, pos)
            pos += 4
            if pos + size > n:
                raise _Fallback
            value = raw[pos:pos + size]
            pos += size
            known = by_tag.get(tag)
            if known is None:
                pdu.unknown_tlvs[tag] = value
                continue
            name, kind = known
            if kind == "int":
                tlvs[name] = int.from_bytes(value, "big") if value else 0
            elif kind == "str":
                tlvs[name] = value.split(b"\0", 1)[0].decode("latin-1")
            else:
                tlvs[name] = value
        if pos != n:
            raise _Fallback
    return pdu


def _decode_resp(raw: bytes, command_id: int, status: int, sequence: int) -> Pdu:
    n = len(raw)
    pdu = Pdu(codec.COMMAND_NAMES[command_id], sequence, status)
    if n == 16:
        return pdu
    if raw[n - 1] != 0 or raw.find(b"\0", 16) != n - 1:
        raise _Fallback   # no NUL (tolerated by codec), or octets after it
    pdu.params["message_id"] = raw[16:n - 1].decode("latin-1")
    return pdu


_DECODERS = {SUBMIT_SM: _decode_sm, DELIVER_SM: _decode_sm,
             SUBMIT_SM_RESP: _decode_resp, DELIVER_SM_RESP: _decode_resp}


def decode(raw: bytes) -> Pdu:
    """``codec.decode``, faster for well-formed PDUs of the four hot commands (same result)."""
    length, command_id, status, sequence = _HEADER.unpack_from(raw)
    fast = _DECODERS.get(command_id)
    if fast is not None and length == len(raw):
        try:
            return fast(raw, command_id, status, sequence)
        except _Fallback:
            pass
    return codec.decode(raw)
