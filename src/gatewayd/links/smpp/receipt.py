"""Delivery receipts from an SMSC: the receipt text, the TLVs, and carrier message-id matching.

SMPP 3.4 appendix B only *suggests* the receipt text ``id:IIIIIIIIII sub:SSS dlvrd:DDD submit
date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...``; carriers vary the case
(``ID:``, ``Stat:``, ``Text:``), use underscores (``submit_date``), add seconds to the dates, spell
states out (``DELIVERED``) or leave fields out. The ``receipted_message_id`` and ``message_state``
TLVs, when present, win over the text.

Message ids: many SMSCs answer submit_sm_resp with a hex id and put the same number in decimal in
the receipt (Kannel's ``msg-id-type``), pad with zeros or change case. :func:`normalise_id` gives
one canonical form per configured ``msg_id_format``; with ``auto`` it also gives the other readings
(``alt_ids``) so the core matches whichever way round the carrier does it.
"""

from __future__ import annotations

import calendar
import re

from ...models import ReceiptStat
from ..base import Receipt
from .codec import Pdu

_KEY = re.compile(r"(?i)(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:")

_STATS = {s.value: s for s in ReceiptStat}
_STAT_WORDS = {
    "DELIVERED": ReceiptStat.DELIVRD,
    "UNDELIVERABLE": ReceiptStat.UNDELIV,
    "UNDELIVERED": ReceiptStat.UNDELIV,
    "REJECTED": ReceiptStat.REJECTD,
    "ACCEPTED": ReceiptStat.ACCEPTD,
    "ENROUTE": ReceiptStat.ENROUTE,
    "EXPIRED": ReceiptStat.EXPIRED,
    "DELETED": ReceiptStat.DELETED,
}
#: message_state TLV values (SMPP 3.4 §5.2.28).
MESSAGE_STATES = {
    1: ReceiptStat.ENROUTE,
    2: ReceiptStat.DELIVRD,
    3: ReceiptStat.EXPIRED,
    4: ReceiptStat.DELETED,
    5: ReceiptStat.UNDELIV,
    6: ReceiptStat.ACCEPTD,
    7: ReceiptStat.UNKNOWN,
    8: ReceiptStat.REJECTD,
}
MAX_NUMERIC_ID = 64    # longer ids are opaque strings (and int() refuses > 4300 digits)
_HEX = re.compile(r"[0-9a-f]+")
_DEC = re.compile(r"[0-9]+")


#: The appendix B layout exactly (any case, ``_`` or space in the dates): most receipts, one match.
_STANDARD = re.compile(r"(?is)id:(\S*) sub:(\S*) dlvrd:(\S*) submit[ _]date:(\S*) done[ _]date:(\S*)"
                       r" stat:(\S*) err:(\S*)(?: text:(.*))?")
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err", "text")


def parse_text(text: str) -> dict[str, str]:
    """``{"id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err", "text"}`` as present.

    Keys are matched case-insensitively at word starts; ``text`` takes the rest of the string
    (it may itself contain colons). Unknown words are ignored.
    """
    m = _STANDARD.fullmatch(text)
    if m is not None:
        return {k: v.strip() for k, v in zip(_STANDARD_KEYS, m.groups()) if v is not None}
    return parse_any(text)


def parse_any(text: str) -> dict[str, str]:
    """The general reader behind :func:`parse_text`: keys in any order, spacing or case."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace(" ", "_")
        if key in fields:
            continue
        if key == "text":
            fields[key] = text[m.end():].strip()
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields[key] = text[m.end():end].strip()
    return fields


def parse_stat(word: str | None) -> ReceiptStat:
    if not word:
        return ReceiptStat.UNKNOWN
    word = word.strip().upper()
    return _STATS.get(word) or _STAT_WORDS.get(word) or _STATS.get(word[:7]) or ReceiptStat.UNKNOWN


def parse_date(value: str | None) -> float | None:
    """``YYMMDDhhmm[ss]`` (UTC assumed: SMPP receipts carry no zone) to a Unix time."""
    if not value:
        return None
    digits = value.strip()
    if not (_DEC.fullmatch(digits) and len(digits) in (10, 12)):
        return None
    try:
        y, mo, d, h, mi = (int(digits[i:i + 2]) for i in range(0, 10, 2))
        s = int(digits[10:12]) if len(digits) == 12 else 0
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
            return None
        return float(calendar.timegm((2000 + y, mo, d, h, mi, s, 0, 0, 0)))
    except ValueError:
        return None


def _strip(value: str) -> str:
    return value.lstrip("0") or "0"


def normalise_id(raw: str, fmt: str = "auto") -> tuple[str, tuple[str, ...]]:
    """Canonical carrier id and alternative readings, per ``msg_id_format``.

    ``hex``/``dec``: the number, lowercase hex / decimal, no leading zeros. ``str``: trimmed and
    lowercased. ``auto``: trimmed, lowercased, leading zeros stripped; plus, when the id could be a
    number, its other base (``"1a2b"`` also ``"6699"``; ``"6699"`` also ``"1a2b"``).
    """
    text = raw.strip().strip("\0").strip().lower()
    if fmt == "str" or not text or len(text) > MAX_NUMERIC_ID:
        return text, ()
    if fmt == "hex":
        return (_strip(text), ()) if _HEX.fullmatch(text) else (text, ())
    if fmt == "dec":
        return (_strip(text), ()) if _DEC.fullmatch(text) else (text, ())
    if _HEX.fullmatch(text) is None:
        return text, ()
    primary = _strip(text)
    as_dec = str(int(text, 16))
    if not text.isdigit():
        return primary, (as_dec,) if as_dec != primary else ()
    as_hex = format(int(text), "x")
    return primary, tuple(a for a in dict.fromkeys((as_hex, as_dec)) if a != primary)


def is_receipt(pdu: Pdu) -> bool:
    """deliver_sm with the SMSC-delivery-receipt or intermediate-notification bits, or a data_sm
    that names the message it reports on."""
    esm = pdu.get("esm_class", 0)
    if esm & 0x24:
        return True
    return pdu.command == "data_sm" and "receipted_message_id" in pdu.tlvs


def build(pdu: Pdu, link: str, fmt: str, text: str) -> Receipt:
    """A :class:`Receipt` from a receipt PDU whose short_message/payload decoded to ``text``."""
    fields = parse_text(text)
    tlv_id = pdu.tlvs.get("receipted_message_id")
    raw_id = tlv_id or fields.get("id", "")
    carrier_id, alts = normalise_id(raw_id, fmt) if raw_id else ("", ())
    if tlv_id and fields.get("id"):
        other, other_alts = normalise_id(fields["id"], fmt)
        alts = tuple(dict.fromkeys(a for a in (*alts, other, *other_alts) if a != carrier_id))
    state = pdu.tlvs.get("message_state")
    stat = MESSAGE_STATES.get(state) if state is not None else None
    if stat is None:
        stat = parse_stat(fields.get("stat"))
    err = fields.get("err")
    nec = pdu.tlvs.get("network_error_code")
    if not err and isinstance(nec, bytes) and len(nec) == 3:
        err = str(int.from_bytes(nec[1:], "big"))
    return Receipt(
        link=link,
        carrier_id=carrier_id,
        stat=stat.value,
        err=err or None,
        done_at=parse_date(fields.get("done_date")),
        raw=text,
        alt_ids=alts,
    )
