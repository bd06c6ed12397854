"""Choosing an encoding and splitting text into SMS segments (sans-I/O).

The segment count is used for pacing and billing, so it must match what actually goes on the
air: splitting is done here, once, by a greedy packer that never separates an escape sequence
(ESC + extension code) or a UTF-16 surrogate pair, which can make the count larger than
``ceil(units / per_segment)``. ``analyse`` counts by splitting, so the two always agree.

Limits (TS 23.040 user data of 140 octets; a concatenated part carries a 6-octet UDH with an
8-bit reference, see ``links.reassembly.build_udh``):

=========  ======  ==============  ================
encoding   unit    single segment  concatenated part
=========  ======  ==============  ================
GSM7       septet  160             153
UCS2       UTF-16  70              67
=========  ======  ==============  ================

A 16-bit reference (7-octet UDH) would leave only 152 / 66 units, so senders keep the
reference below 256.
"""

from __future__ import annotations

from ..models import Encoding, SegmentInfo
from . import gsm7

#: encoding -> (units in a single segment, units per part of a concatenated message)
LIMITS: dict[Encoding, tuple[int, int]] = {
    Encoding.GSM7: (160, 153),
    Encoding.UCS2: (70, 67),
}


def choose_encoding(text: str) -> Encoding:
    """GSM-7 when every character fits the default alphabet or its extension, else UCS-2."""
    return Encoding.GSM7 if gsm7.is_gsm7(text) else Encoding.UCS2


def _ucs2_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _atoms(text: str, encoding: Encoding) -> list[tuple[str, int]]:
    """The indivisible pieces of ``text`` with their cost in units.

    Python strings hold code points, so a non-BMP character is already one piece of 2 units;
    a surrogate pair that arrived as two code points (e.g. via 'surrogatepass') is glued too.
    """
    if encoding is Encoding.GSM7:
        return [(ch, gsm7.char_cost(ch)) for ch in text]
    atoms: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if "\ud800" <= ch <= "\udbff" and i + 1 < n and "\udc00" <= text[i + 1] <= "\udfff":
            atoms.append((text[i : i + 2], 2))
            i += 2
        else:
            atoms.append((ch, _ucs2_cost(ch)))
            i += 1
    return atoms


def units(text: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that ``text`` occupies."""
    if encoding is Encoding.GSM7:
        return gsm7.septet_len(text)
    return sum(_ucs2_cost(ch) for ch in text)


def _pack(atoms: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """Greedy split into (text, units) parts of at most ``limit`` units each."""
    parts: list[tuple[str, int]] = []
    buf: list[str] = []
    used = 0
    for piece, cost in atoms:
        if used + cost > limit:
            parts.append(("".join(buf), used))
            buf, used = [], 0
        buf.append(piece)
        used += cost
    parts.append(("".join(buf), used))
    return parts


def _parts(text: str, encoding: Encoding) -> list[tuple[str, int]]:
    single, multi = LIMITS[encoding]
    atoms = _atoms(text, encoding)
    total = sum(cost for _, cost in atoms)
    if total <= single:
        return [(text, total)]
    return _pack(atoms, multi)


def split(text: str, encoding: Encoding | None = None) -> list[str]:
    """The text of each segment, in order; ``"".join(split(t)) == t``.

    A message that fits one segment (including the empty message) is returned whole.
    Forcing GSM7 on text that does not fit raises ValueError.
    """
    enc = choose_encoding(text) if encoding is None else Encoding(encoding)
    return [part for part, _ in _parts(text, enc)]


def analyse(text: str, encoding: Encoding | None = None) -> SegmentInfo:
    """Encoding, segment count and the units left in the last segment (compose counters)."""
    enc = choose_encoding(text) if encoding is None else Encoding(encoding)
    parts = _parts(text, enc)
    single, multi = LIMITS[enc]
    per_segment = single if len(parts) == 1 else multi
    return SegmentInfo(
        encoding=enc,
        segments=len(parts),
        units=sum(used for _, used in parts),
        per_segment=per_segment,
        remaining=per_segment - parts[-1][1],
    )


def encode_segment(text: str, encoding: Encoding) -> bytes:
    """Bytes for one segment: unpacked septets for GSM-7, UTF-16BE for UCS-2."""
    if Encoding(encoding) is Encoding.GSM7:
        return gsm7.encode(text)
    return text.encode("utf-16-be", "surrogatepass")


#: SMPP 3.4 §5.2.19 data_coding values with a character set Python knows.
_SMPP_CHARSETS: dict[int, str] = {
    0x01: "ascii",       # IA5 (CCITT T.50) / ASCII
    0x03: "latin-1",     # ISO-8859-1
    0x06: "iso8859-5",   # Cyrillic
    0x07: "iso8859-8",   # Latin/Hebrew
    0x0A: "iso2022-jp",  # Music codes / ISO-2022-JP
    0x0E: "euc-kr",      # KS C 5601
}


def _alphabet(data_coding: int) -> str:
    """Map an SMPP data_coding (or a GSM DCS some SMSCs pass through) to gsm7/ucs2/binary/…"""
    dc = data_coding
    if dc in (0x00,):
        return "gsm7"
    if dc == 0x08:
        return "ucs2"
    if dc in (0x02, 0x04):
        return "binary"
    if dc in _SMPP_CHARSETS:
        return _SMPP_CHARSETS[dc]
    if 0x10 <= dc <= 0x7F and not dc & 0x20:
        # TS 23.038 general data coding group (uncompressed; 0x00-0x0F are SMPP's own values)
        return ("gsm7", "binary", "ucs2", "latin-1")[(dc >> 2) & 0x03]
    if 0x10 <= dc <= 0x7F:
        return "binary"  # compressed: we cannot decompress, keep the bytes visible
    if 0xC0 <= dc <= 0xDF:
        return "gsm7"    # message waiting indication, discard/store, GSM-7
    if 0xE0 <= dc <= 0xEF:
        return "ucs2"    # message waiting indication, store, UCS-2
    if dc >= 0xF0:
        return "binary" if dc & 0x04 else "gsm7"  # data coding / message class group
    return "latin-1"


def decode_payload(data: bytes, data_coding: int) -> str:
    """Text of an inbound short message; never raises on bad bytes.

    ==============================  ==============================================
    data_coding                     decoded as
    ==============================  ==============================================
    0x00 (SMSC default)             GSM-7 unpacked septets; Latin-1 if any byte
                                    is above 0x7F (SMSC configured for Latin-1)
    0x01                            ASCII / IA5 (bad bytes -> U+FFFD)
    0x02, 0x04                      8-bit binary -> lowercase hex text
    0x03                            Latin-1
    0x06 / 0x07 / 0x0A / 0x0E       ISO-8859-5 / ISO-8859-8 / ISO-2022-JP / EUC-KR
    0x08                            UCS-2 as UTF-16BE (odd byte, lone surrogate
                                    -> U+FFFD), so emoji sent as pairs survive
    0x10-0x7F, 0xC0-0xFF            TS 23.038 DCS groups passed through by some
                                    SMSCs: their alphabet bits (GSM-7/8-bit/UCS-2)
    anything else                   Latin-1
    ==============================  ==============================================
    """
    alphabet = _alphabet(data_coding)
    if alphabet == "gsm7":
        if any(b > 0x7F for b in data):
            return data.decode("latin-1")
        return gsm7.decode(data)
    if alphabet == "ucs2":
        return data.decode("utf-16-be", "replace")
    if alphabet == "binary":
        return data.hex()
    return data.decode(alphabet, "replace")
