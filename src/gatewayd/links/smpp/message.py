"""Short messages in SMPP terms: our segments to submit_sm fields, and deliver_sm/data_sm to text.

Addresses (TON/NPI, unless the link's config overrides them):

=====================  ===  ===  =======================================================
address                TON  NPI  why
=====================  ===  ===  =======================================================
``+4915...`` (E.164)   1    1    international/ISDN; the ``+`` is stripped
``12345``, ``0151...`` 0    1    unknown/ISDN: a short code or national number, the SMSC
                                 knows its own numbering plan better than we do
``ACME``               5    0    alphanumeric sender (at most 11 characters on air)
=====================  ===  ===  =======================================================

Coding (``default_coding`` says what data_coding 0 means at this carrier): GSM-7 segments go as
unpacked septets with dc 0x00 (``gsm7``), as Latin-1 dc 0x03 (``latin1``) or IA5 dc 0x01
(``ascii``) when every character exists there, else UCS-2 dc 0x08; UCS-2 segments as UTF-16BE
dc 0x08. Inbound dc 0 is read the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ...config import SmppConfig
from ...models import Encoding
from ...sending.segments import decode_payload, encode_segment
from ..base import OutSegment
from ..reassembly import build_udh, parse_udh
from .codec import Pdu

DC_DEFAULT, DC_IA5, DC_LATIN1, DC_UCS2 = 0x00, 0x01, 0x03, 0x08
ESM_UDHI = 0x40
MAX_SHORT_MESSAGE = 254          # octets; anything longer travels in message_payload
MAX_VALIDITY_S = 99 * 86400      # relative validity_period counts at most 99 days in its DD field


def address(addr: str, ton: int | None, npi: int | None) -> tuple[str, int, int]:
    """(address as sent, TON, NPI) per the table above; configured values win."""
    addr = addr.strip()
    if addr.startswith("+") and addr[1:].isdigit():
        auto = (addr[1:], 1, 1)
    elif addr.isdigit():
        auto = (addr, 0, 1)
    else:
        auto = (addr, 5, 0)
    return auto[0], auto[1] if ton is None else ton, auto[2] if npi is None else npi


def validity_period(seconds: int | None) -> str | None:
    """Relative ``YYMMDDhhmmss000R`` (SMPP 3.4 §7.1.1) for the message's remaining TTL, kept
    within 1 minute (SMSCs refuse shorter ones as ESME_RINVEXPIRY) and 99 days."""
    if seconds is None:
        return None
    s = max(60, min(int(seconds), MAX_VALIDITY_S))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{s:02d}000R"


def encode_text(text: str, encoding: Encoding, default_coding: str) -> tuple[bytes, int]:
    """(octets, data_coding) for one segment's text on this carrier."""
    if Encoding(encoding) is Encoding.GSM7:
        if default_coding == "gsm7":
            return encode_segment(text, Encoding.GSM7), DC_DEFAULT
        charset, dc = ("latin-1", DC_LATIN1) if default_coding == "latin1" else ("ascii", DC_IA5)
        try:
            return text.encode(charset), dc
        except UnicodeEncodeError:
            pass  # e.g. "€" or Greek capitals: GSM-7 has them, Latin-1/IA5 do not
    return encode_segment(text, Encoding.UCS2), DC_UCS2


def submit_params(seg: OutSegment, cfg: SmppConfig) -> dict[str, Any]:
    """The submit_sm fields for one segment (or one whole message in ``payload`` mode)."""
    src, src_ton, src_npi = address(seg.sender, cfg.source_ton, cfg.source_npi)
    dst, dst_ton, dst_npi = address(seg.recipient, cfg.dest_ton, cfg.dest_npi)
    data, dc = encode_text(seg.text, seg.encoding, cfg.default_coding)
    params: dict[str, Any] = dict(
        source_addr=src, source_addr_ton=src_ton, source_addr_npi=src_npi,
        destination_addr=dst, dest_addr_ton=dst_ton, dest_addr_npi=dst_npi,
        esm_class=0, registered_delivery=1, data_coding=dc,
        validity_period=validity_period(seg.validity_s),
    )
    if seg.count > 1 and cfg.long_messages == "udh":
        # 8-bit reference always: the segmenter sized parts for a 6-octet UDH (153/67 units).
        data = build_udh(seg.ref & 0xFF, seg.count, seg.index) + data
        params["esm_class"] = ESM_UDHI
    elif seg.count > 1 and cfg.long_messages == "sar":
        params.update(sar_msg_ref_num=seg.ref & 0xFFFF, sar_total_segments=seg.count,
                      sar_segment_seqnum=seg.index)
    if cfg.long_messages == "payload" or len(data) > MAX_SHORT_MESSAGE:
        params["message_payload"] = data
    else:
        params["short_message"] = data
    return params


@dataclass(frozen=True, slots=True)
class MoPart:
    """One deliver_sm/data_sm of a mobile-originated message, decoded."""

    sender: str
    recipient: str
    text: str
    ref: int | None       # concatenation, from UDH or SAR TLVs; None for a single message
    total: int
    index: int
    digest: str           # identifies this PDU's content, for recognising SMSC redelivery


def _e164(addr: str, ton: int) -> str:
    return f"+{addr}" if ton == 1 and addr.isdigit() else addr


def user_data(pdu: Pdu) -> bytes:
    payload = pdu.tlvs.get("message_payload")
    return payload if payload else pdu.get("short_message", b"")


def decode_text(data: bytes, dc: int, default_coding: str) -> str:
    if dc == DC_DEFAULT and default_coding == "latin1":
        return data.decode("latin-1")
    if dc == DC_DEFAULT and default_coding == "ascii":
        return data.decode("ascii", "replace")
    return decode_payload(data, dc)


def receipt_text(data: bytes, dc: int) -> str:
    """Receipt texts are written by SMSC software in ASCII whatever dc says: reading dc 0 as
    GSM-7 would turn ``submit_date`` into ``submit§date``."""
    if dc in (DC_DEFAULT, DC_IA5, DC_LATIN1):
        return data.decode("latin-1")
    return decode_payload(data, dc)


def mo_part(pdu: Pdu, default_coding: str) -> MoPart:
    """Decode an MO deliver_sm/data_sm; raises ValueError on a broken UDH."""
    data = user_data(pdu)
    dc = pdu.get("data_coding", 0)
    ref, total, index = None, 1, 1
    ud = data
    if pdu.get("esm_class", 0) & ESM_UDHI:
        info, ud = parse_udh(data)
        if info:
            ref, total, index = info["ref"], info["total"], info["index"]
    elif "sar_msg_ref_num" in pdu.tlvs:
        ref = pdu.tlvs["sar_msg_ref_num"]
        total = pdu.tlvs.get("sar_total_segments", 1) or 1
        index = pdu.tlvs.get("sar_segment_seqnum", 1) or 1
        if not 1 <= index <= total:
            raise ValueError(f"SAR segment {index} of {total}")
    sender = _e164(pdu.get("source_addr", ""), pdu.get("source_addr_ton", 0))
    recipient = _e164(pdu.get("destination_addr", ""), pdu.get("dest_addr_ton", 0))
    digest = hashlib.blake2b(
        b"\0".join((sender.encode(), recipient.encode(), bytes([dc & 0xFF]), data,
                    repr((ref, total, index)).encode())), digest_size=12).hexdigest()
    return MoPart(sender, recipient, decode_text(ud, dc, default_coding), ref, total, index, digest)
