"""3GPP TS 23.040 TPDU codec for PDU mode (AT+CMGF=0): SMS-SUBMIT out, SMS-DELIVER and
SMS-STATUS-REPORT in.

Sans-I/O and strict: decoding raises ``ValueError`` (and nothing else) on any malformed input,
so the modem link can keep a bad PDU in storage and carry on. Hex strings as modems print them
include the SMSC address (SCA) field first; ``decode(..., sca=False)`` reads a bare TPDU.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec

from ...sending import gsm7
from .. import reassembly

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08


class Concat(msgspec.Struct, frozen=True):
    ref: int
    total: int
    index: int


class Deliver(msgspec.Struct, frozen=True):
    """An SMS-DELIVER (mobile-terminated message to us)."""

    sender: str                  # "+E164", national digits, or alphanumeric text
    text: str
    timestamp: datetime          # SCTS, timezone-aware
    dcs: int = 0
    pid: int = 0
    concat: Concat | None = None
    smsc: str = ""
    status_report: bool = False  # TP-SRI


class StatusReport(msgspec.Struct, frozen=True):
    """An SMS-STATUS-REPORT for a message we submitted with TP-SRR."""

    mr: int
    recipient: str
    status: int                  # TP-ST
    timestamp: datetime          # SCTS: when the SC received our submit
    discharged: datetime         # DT: when the final state was reached
    smsc: str = ""


class Submit(msgspec.Struct, frozen=True):
    """An SMS-SUBMIT as decoded (tests, the fake modem)."""

    recipient: str
    text: str
    mr: int = 0
    dcs: int = 0
    srr: bool = False
    validity: int | None = None  # TP-VP relative octet
    concat: Concat | None = None
    smsc: str = ""


# --- addresses (§9.1.2.5) ------------------------------------------------------------------

def _bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1], 16) << 4 | int(digits[i], 16) for i in range(0, len(digits), 2))


def _unbcd(data: bytes, ndigits: int) -> str:
    out = []
    for b in data:
        out.append("0123456789*#abc"[b & 0x0F] if (b & 0x0F) != 0x0F else "")
        out.append("0123456789*#abc"[b >> 4] if (b >> 4) != 0x0F else "")
    return "".join(out)[:ndigits]


def _split_number(number: str) -> tuple[int, str]:
    digits = number.strip().replace(" ", "")
    toa = 0x81
    if digits.startswith("+"):
        toa, digits = 0x91, digits[1:]
    elif digits.startswith("00"):
        toa, digits = 0x91, digits[2:]
    if not digits or not all(c in "0123456789*#" for c in digits) or len(digits) > 20:
        raise ValueError(f"not a phone number: {number!r}")
    return toa, digits.replace("*", "a").replace("#", "b")


def encode_address(number: str) -> bytes:
    """TP-DA: length in digits, type of address, swapped BCD."""
    toa, digits = _split_number(number)
    return bytes((len(digits), toa)) + _bcd(digits)


def encode_sca(number: str | None) -> bytes:
    """The SMSC field AT+CMGS expects in front of the TPDU; empty means "use the SIM's"."""
    if not number:
        return b"\x00"
    toa, digits = _split_number(number)
    body = bytes((toa,)) + _bcd(digits)
    return bytes((len(body),)) + body


def _read_address(data: bytes, pos: int) -> tuple[str, int]:
    ndigits, toa = _take(data, pos, 2)
    nbytes = (ndigits + 1) // 2
    raw = _take(data, pos + 2, nbytes)
    if (toa >> 4) & 0x07 == 0x05:   # alphanumeric, GSM-7 packed (§9.1.2.5)
        text = gsm7.decode(gsm7.unpack(raw, ndigits * 4 // 7))
        return text, pos + 2 + nbytes
    digits = _unbcd(raw, ndigits).replace("a", "*").replace("b", "#")
    prefix = "+" if (toa >> 4) & 0x07 == 0x01 and digits else ""
    return prefix + digits, pos + 2 + nbytes


def _read_sca(data: bytes) -> tuple[str, int]:
    n = _take(data, 0, 1)[0]
    if n == 0:
        return "", 1
    toa = _take(data, 1, 1)[0]
    raw = _take(data, 2, n - 1)
    digits = _unbcd(raw, 2 * (n - 1))
    return ("+" if (toa >> 4) & 0x07 == 1 else "") + digits, 1 + n


def _take(data: bytes, pos: int, n: int) -> bytes:
    if n < 0 or pos + n > len(data):
        raise ValueError(f"PDU truncated at octet {pos} (need {n} more)")
    return data[pos: pos + n]


# --- validity and timestamps ---------------------------------------------------------------

def validity_octet(seconds: float) -> int:
    """Relative TP-VP (§9.2.3.12.1): the longest period not beyond ``seconds`` (min 5 minutes),
    so a message is never delivered after its TTL."""
    minutes = seconds / 60
    days = seconds / 86400
    if days >= 35:
        return min(255, 192 + int(days // 7))
    if days >= 2:
        return min(196, 166 + int(days))
    if minutes >= 750:  # 12h30 and up: 12h + 30-minute steps
        return min(167, 143 + int((minutes - 720) // 30))
    return max(0, min(143, int(minutes // 5) - 1))


def validity_seconds(vp: int) -> int:
    if vp <= 143:
        return (vp + 1) * 300
    if vp <= 167:
        return 43200 + (vp - 143) * 1800
    if vp <= 196:
        return (vp - 166) * 86400
    return (vp - 192) * 7 * 86400


def _swap(b: int) -> int:
    hi, lo = b >> 4, b & 0x0F
    if hi > 9 or lo > 9:
        raise ValueError(f"bad BCD octet 0x{b:02X} in timestamp")
    return lo * 10 + hi


def _read_time(data: bytes, pos: int) -> datetime:
    raw = _take(data, pos, 7)
    y, mo, d, h, mi, s = (_swap(b) for b in raw[:6])
    tzb = raw[6]
    quarters = (tzb & 0x07) * 10 + (tzb >> 4)
    if tzb >> 4 > 9:
        raise ValueError(f"bad time zone octet 0x{tzb:02X}")
    offset = timedelta(minutes=15 * quarters) * (-1 if tzb & 0x08 else 1)
    try:
        return datetime(2000 + y if y < 90 else 1900 + y, mo, d, h, mi, s, tzinfo=timezone(offset))
    except ValueError as exc:
        raise ValueError(f"bad timestamp: {exc}") from None


def encode_time(t: datetime) -> bytes:
    """SCTS/DT field (used by the fake modem and tests)."""
    off = t.utcoffset() or timedelta(0)
    quarters = int(abs(off.total_seconds()) // 900)
    vals = [t.year % 100, t.month, t.day, t.hour, t.minute, t.second]
    out = bytes(((v % 10) << 4) | (v // 10) for v in vals)
    tz = ((quarters % 10) << 4) | (quarters // 10) | (0x08 if off < timedelta(0) else 0)
    return out + bytes((tz,))


# --- user data ---------------------------------------------------------------------------------

def _concat(header: bytes) -> Concat | None:
    info, _ = reassembly.parse_udh(bytes((len(header),)) + header)
    return Concat(**info) if info else None


def _alphabet(dcs: int) -> str:
    group = dcs >> 4
    if group in (0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7):
        return {0: "gsm7", 1: "8bit", 2: "ucs2", 3: "gsm7"}[(dcs >> 2) & 0x03]
    if group in (0xC, 0xD):
        return "gsm7"
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def _read_ud(data: bytes, pos: int, dcs: int, udhi: bool) -> tuple[str, Concat | None]:
    udl = _take(data, pos, 1)[0]
    body = data[pos + 1:]
    alphabet = _alphabet(dcs)
    header = b""
    if udhi:
        hl = _take(body, 0, 1)[0]
        header = _take(body, 1, hl)
    if alphabet == "gsm7":
        hdr_bits = 8 * (len(header) + 1) if udhi else 0
        skip = (hdr_bits + 6) // 7              # septets taken by the header incl. fill bits
        if udl < skip:
            raise ValueError("TP-UDL shorter than the user data header")
        fill = skip * 7 - hdr_bits
        septets = gsm7.unpack(body[len(header) + 1 if udhi else 0:], udl - skip, fill)
        text = gsm7.decode(septets)
    else:
        payload = _take(body, 0, udl)[len(header) + 1 if udhi else 0:]
        if alphabet == "ucs2":
            text = payload[: len(payload) // 2 * 2].decode("utf-16-be", errors="replace")
        else:
            text = payload.decode("latin-1")
    return text, _concat(header) if udhi else None


# --- encode / decode ---------------------------------------------------------------------------

def encode_submit(
    recipient: str,
    text: str,
    *,
    ucs2: bool = False,
    concat: Concat | None = None,
    srr: bool = True,
    validity_s: float | None = None,
    smsc: str | None = None,
    mr: int = 0,
) -> tuple[str, int]:
    """SMS-SUBMIT as the hex string for AT+CMGS and the TPDU length (octets after the SCA)."""
    udh = reassembly.build_udh(concat.ref, concat.total, concat.index) if concat else b""
    fo = 0x01 | (0x20 if srr else 0) | (0x40 if udh else 0) | (0x10 if validity_s is not None else 0)
    tpdu = bytearray((fo, mr & 0xFF))
    tpdu += encode_address(recipient)
    tpdu += bytes((0x00, DCS_UCS2 if ucs2 else DCS_GSM7))
    if validity_s is not None:
        tpdu.append(validity_octet(validity_s))
    udl, ud = _user_data(text, ucs2, udh)
    tpdu.append(udl)
    tpdu += ud
    return (encode_sca(smsc) + bytes(tpdu)).hex().upper(), len(tpdu)


def _user_data(text: str, ucs2: bool, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD): UCS-2 counts octets; GSM-7 counts septets, the UDH padded with fill bits."""
    if ucs2:
        ud = udh + text.encode("utf-16-be")
        if len(ud) > 140:
            raise ValueError(f"UCS-2 user data of {len(ud)} octets exceeds 140")
        return len(ud), ud
    fill = (7 - len(udh) * 8 % 7) % 7
    septets = gsm7.encode(text)
    udl = (len(udh) * 8 + fill) // 7 + len(septets)
    if udl > 160:
        raise ValueError(f"GSM-7 user data of {udl} septets exceeds 160")
    return udl, udh + gsm7.pack(septets, fill)


def encode_deliver(sender: str, text: str, *, timestamp: datetime | None = None, concat: Concat | None = None,
                   ucs2: bool = False, smsc: str | None = None) -> str:
    """SMS-DELIVER as a modem shows it (SCA first). For fakes and tests: what the network sends us."""
    ts = timestamp or datetime.now(timezone.utc).replace(microsecond=0)
    udh = reassembly.build_udh(concat.ref, concat.total, concat.index) if concat else b""
    if sender.lstrip("+").isdigit():
        oa = encode_address(sender)
    else:   # alphanumeric originator: TON 5, GSM-7 packed, length in semi-octets
        packed = gsm7.pack(gsm7.encode(sender))
        oa = bytes((len(packed) * 2, 0xD0)) + packed
    udl, ud = _user_data(text, ucs2, udh)
    tpdu = bytes((0x04 | (0x40 if udh else 0),)) + oa + bytes((0, DCS_UCS2 if ucs2 else DCS_GSM7))
    return (encode_sca(smsc) + tpdu + encode_time(ts) + bytes((udl,)) + ud).hex().upper()


def encode_status_report(mr: int, recipient: str, status: int, *, timestamp: datetime, discharged: datetime,
                         smsc: str | None = None) -> str:
    """SMS-STATUS-REPORT (SCA first), as a modem shows it after +CDS or in storage."""
    body = bytes((0x06, mr)) + encode_address(recipient) + encode_time(timestamp) + encode_time(discharged)
    return (encode_sca(smsc) + body + bytes((status,))).hex().upper()


def decode(pdu: str | bytes, *, sca: bool = True) -> Deliver | StatusReport | Submit:
    """Decode a TPDU (hex text or bytes). Raises ValueError on anything malformed."""
    try:
        data = bytes.fromhex(pdu) if isinstance(pdu, str) else bytes(pdu)
        return _decode(data, sca)
    except ValueError:
        raise
    except (IndexError, KeyError, OverflowError, UnicodeError, TypeError) as exc:
        raise ValueError(f"malformed PDU: {exc!r}") from None


def _decode(data: bytes, sca: bool) -> Deliver | StatusReport | Submit:
    smsc, pos = _read_sca(data) if sca else ("", 0)
    fo = _take(data, pos, 1)[0]
    mti = fo & 0x03
    pos += 1
    if mti == 0x00:
        sender, pos = _read_address(data, pos)
        pid, dcs = _take(data, pos, 2)
        ts = _read_time(data, pos + 2)
        text, concat = _read_ud(data, pos + 9, dcs, bool(fo & 0x40))
        return Deliver(sender=sender, text=text, timestamp=ts, dcs=dcs, pid=pid, concat=concat,
                       smsc=smsc, status_report=bool(fo & 0x20))
    if mti == 0x02:
        mr = _take(data, pos, 1)[0]
        recipient, pos = _read_address(data, pos + 1)
        ts = _read_time(data, pos)
        dt = _read_time(data, pos + 7)
        st = _take(data, pos + 14, 1)[0]
        return StatusReport(mr=mr, recipient=recipient, status=st, timestamp=ts, discharged=dt, smsc=smsc)
    if mti == 0x01:
        mr = _take(data, pos, 1)[0]
        recipient, pos = _read_address(data, pos + 1)
        _pid, dcs = _take(data, pos, 2)
        pos += 2
        vpf = (fo >> 3) & 0x03
        validity = None
        if vpf == 0x02:
            validity = _take(data, pos, 1)[0]
            pos += 1
        elif vpf in (0x01, 0x03):
            _take(data, pos, 7)
            pos += 7
        text, concat = _read_ud(data, pos, dcs, bool(fo & 0x40))
        return Submit(recipient=recipient, text=text, mr=mr, dcs=dcs, srr=bool(fo & 0x20),
                      validity=validity, concat=concat, smsc=smsc)
    raise ValueError(f"unsupported message type indicator {mti}")


# --- status mapping (§9.2.3.15) ----------------------------------------------------------------

def report_stat(st: int) -> tuple[str, bool]:
    """TP-ST -> (receipt stat, final). 0x00-0x1F done, 0x20-0x3F still trying, 0x40-0x7F failed."""
    if st <= 0x1F:
        return "DELIVRD", True
    if st <= 0x3F:
        return "ENROUTE", False
    if st in (0x46, 0x66):
        return "EXPIRED", True
    if st in (0x47, 0x48):
        return "DELETED", True
    if st in (0x41, 0x42, 0x43):
        return "REJECTD", True
    if st <= 0x7F:
        return "UNDELIV", True
    return "UNKNOWN", True
