"""The GSM 03.38 7-bit default alphabet (3GPP TS 23.038 §6.2.1) and septet packing.

Sans-I/O and table-driven, written out here rather than borrowed from smpplib, because the
segment count (pacing, billing) depends on knowing exactly which characters cost one septet,
which cost two (extension table, sent as ESC 0x1B + code) and which do not fit at all.

"Unpacked" septets are one byte per septet (0x00-0x7F): the form SMPP uses for data_coding 0.
"Packed" is the 7-bit packing of TS 23.038 §6.1.2.1.1 that modems and TPDUs carry.
"""

from __future__ import annotations

ESC = 0x1B

#: The default alphabet, indexed by septet. 0x1B is the escape to the extension table (not a
#: character); it is shown as a space here only to keep the table 128 entries long.
DEFAULT_ALPHABET: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"           # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"          # 0x10-0x1F (0x1B: escape)
    " !\"#¤%&'()*+,-./"            # 0x20-0x2F
    "0123456789:;<=>?"             # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"             # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"             # 0x50-0x5F
    "¿abcdefghijklmno"             # 0x60-0x6F
    "pqrstuvwxyzäöñüà"             # 0x70-0x7F
)
assert len(DEFAULT_ALPHABET) == 128

#: The extension table: code after ESC -> character. 0x0A is form feed (page break);
#: 0x0D (CR2) and 0x1B (a further table) are reserved and decode as per 23.038 (see decode).
EXTENSION: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC: dict[str, int] = {ch: code for code, ch in enumerate(DEFAULT_ALPHABET) if code != ESC}
_EXT: dict[str, int] = {ch: code for code, ch in EXTENSION.items()}
#: Septet cost of every representable character.
_COST: dict[str, int] = {**{ch: 1 for ch in _BASIC}, **{ch: 2 for ch in _EXT}}


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    cost = _COST
    return all(ch in cost for ch in text)


def char_cost(ch: str) -> int:
    """Septets one character costs (1, or 2 for extension characters); ValueError otherwise."""
    try:
        return _COST[ch]
    except KeyError:
        raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) is not in the GSM 7-bit alphabet") from None


def septet_len(text: str) -> int:
    """Number of septets ``text`` encodes to (extension characters count 2)."""
    return sum(char_cost(ch) for ch in text)


def encode(text: str) -> bytes:
    """Text -> unpacked septets; extension characters become ESC + code. ValueError if not GSM-7."""
    out = bytearray()
    for ch in text:
        code = _BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        code = _EXT.get(ch)
        if code is None:
            char_cost(ch)  # raises the descriptive ValueError
        out += bytes((ESC, code))
    return bytes(out)


def decode(septets: bytes) -> str:
    """Unpacked septets -> text, tolerantly (what arrives from carriers is not always clean).

    Per TS 23.038: an ESC followed by a code the extension table does not define shows the
    default-alphabet character for that code; ESC ESC (reserved for another table) and a
    trailing lone ESC show as a space. Bytes above 0x7F are not septets: ValueError.
    """
    out: list[str] = []
    i, n = 0, len(septets)
    while i < n:
        code = septets[i]
        if code > 0x7F:
            raise ValueError(f"byte 0x{code:02X} at offset {i} is not a 7-bit septet")
        if code != ESC:
            out.append(DEFAULT_ALPHABET[code])
            i += 1
            continue
        if i + 1 >= n:
            out.append(" ")
            break
        nxt = septets[i + 1]
        if nxt > 0x7F:
            raise ValueError(f"byte 0x{nxt:02X} at offset {i + 1} is not a 7-bit septet")
        if nxt in EXTENSION:
            out.append(EXTENSION[nxt])
        elif nxt == ESC:
            out.append(" ")
        else:
            out.append(DEFAULT_ALPHABET[nxt])
        i += 2
    return "".join(out)


def pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets 7 bits each, least significant bit first (TS 23.038 §6.1.2.1.1).

    ``fill_bits`` (0..6) zero bits come first, so that after a UDH of n octets the first septet
    starts on a septet boundary: fill_bits = (7 - (n * 8) % 7) % 7. No CR padding is added
    when the last 7 bits are spare: in SMS the TP-UDL gives the septet count.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for i, s in enumerate(septets):
        if s > 0x7F:
            raise ValueError(f"byte 0x{s:02X} at offset {i} is not a 7-bit septet")
        acc |= s << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Inverse of :func:`pack`: read ``count`` septets after ``fill_bits`` bits of ``data``."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if fill_bits + 7 * count > 8 * len(data):
        raise ValueError(f"{len(data)} octets cannot hold {count} septets after {fill_bits} fill bits")
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))
