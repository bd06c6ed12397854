"""fastpdu, the hand-written hot-path PDUs, held to smpplib both ways: what it encodes is smpplib's
bytes, what it decodes from smpplib's bytes is what smpplib (and our general decoder) reads there,
and on any other bytes it answers exactly as the general decoder does, DecodeError included."""

from __future__ import annotations

import struct

import pytest
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.links.smpp import codec, fastpdu

ASCII = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
LATIN1 = st.text(alphabet=st.characters(min_codepoint=0x01, max_codepoint=0xFF), max_size=30)
BYTE = st.integers(0, 255)


def _tlv_value(kind: str, size: int, text: st.SearchStrategy, least: int, most: int) -> st.SearchStrategy:
    if kind == "int":
        return st.integers(0, 256 ** size - 1)
    if kind == "str":
        return text.filter(lambda t: least <= len(t) <= most)
    return st.binary(min_size=size, max_size=size) if size else st.binary(min_size=least, max_size=300)


def sm_params(command: str, text: st.SearchStrategy = ASCII, *, smpplib: bool = True) -> st.SearchStrategy:
    """Any submit_sm / deliver_sm field set: mandatory fields (some left out) and any of its TLVs
    (flags aside: smpplib cannot parse its own). What smpplib refuses or drops is left out when
    the bytes go to smpplib: a TLV with an empty value (it writes none, we write a zero-length
    one), a C-string TLV longer than smpplib's maximum (it cuts, codec and fastpdu do not) and
    short_message together with message_payload (SMPP 3.4 §5.3.2.32: one or the other)."""
    layout = codec._layout(command).optional
    tlvs = {name: _tlv_value(kind, size, text, 1 if smpplib else 0,
                             layout[name].max - 1 if smpplib and layout[name].max else 10_000)
            for name, _, kind, size in fastpdu._TLVS[codec.COMMAND_IDS[command]] if kind != "flag"}
    mandatory = dict(
        service_type=text, source_addr_ton=BYTE, source_addr_npi=BYTE, source_addr=text, dest_addr_ton=BYTE,
        dest_addr_npi=BYTE, destination_addr=text, esm_class=BYTE, protocol_id=BYTE, priority_flag=BYTE,
        schedule_delivery_time=text, validity_period=text, registered_delivery=BYTE,
        replace_if_present_flag=BYTE, data_coding=BYTE, sm_default_msg_id=BYTE,
        short_message=st.binary(max_size=254),
    )
    fields = st.fixed_dictionaries({}, optional={**mandatory, **tlvs})
    if smpplib:
        fields = fields.filter(lambda p: not (p.get("short_message") and "message_payload" in p))
    return fields


class _Client:
    def next_sequence(self) -> int:   # smpplib's parser asks its client for one
        return 1


def _smpplib_reads(raw: bytes):
    return smpplib.smpp.parse_pdu(raw, client=_Client())


def _same_as_smpplib(pdu: codec.Pdu, raw: bytes) -> None:
    ref = _smpplib_reads(raw)
    assert (pdu.sequence, pdu.status) == (ref.sequence, ref.status)
    for name, value in {**pdu.params, **pdu.tlvs}.items():
        theirs = getattr(ref, name)
        assert (value.encode("latin-1") if isinstance(value, str) else value) == theirs, name


SEQ = st.integers(1, 0x7FFFFFFF)
STATUS = st.sampled_from([codec.ROK, codec.RTHROTTLED, codec.RINVDSTADR])


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["submit_sm", "deliver_sm"]), SEQ, st.data())
def test_sm_encodes_to_smpplibs_bytes_and_reads_back(command, seq, data):
    params = data.draw(sm_params(command))
    encode = fastpdu.encode_submit_sm if command == "submit_sm" else fastpdu.encode_deliver_sm
    raw = encode(seq, **params)
    assert raw == codec.encode_with_smpplib(command, seq, **params)
    pdu = fastpdu.decode(raw)
    assert pdu == codec.decode(raw)
    _same_as_smpplib(pdu, raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["submit_sm", "deliver_sm"]), SEQ, st.data(),
       st.lists(st.tuples(st.integers(0x1400, 0x3FFF), st.binary(max_size=20)), max_size=3))
def test_sm_matches_the_general_codec_for_any_latin1_and_vendor_tlvs(command, seq, data, vendor):
    params = data.draw(sm_params(command, LATIN1, smpplib=False))
    encode = fastpdu.encode_submit_sm if command == "submit_sm" else fastpdu.encode_deliver_sm
    raw = encode(seq, extra_tlvs=tuple(vendor), **params)
    assert raw == codec.encode(command, seq, extra_tlvs=tuple(vendor), **params)
    assert fastpdu.decode(raw) == codec.decode(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["submit_sm_resp", "deliver_sm_resp"]), SEQ, STATUS,
       st.one_of(st.none(), st.text(alphabet="0123456789abcdefABCDEF-", max_size=80)))
def test_responses_encode_to_smpplibs_bytes_and_read_back(command, seq, status, message_id):
    encode = fastpdu.encode_submit_sm_resp if command == "submit_sm_resp" else fastpdu.encode_deliver_sm_resp
    raw = encode(seq, status=status, message_id=message_id)
    assert raw == codec.encode_with_smpplib(command, seq, status=status, message_id=message_id)
    assert raw == codec.resp_with_id(command[:-5], seq, status=status, message_id=(message_id or "")[:64])
    pdu = fastpdu.decode(raw)
    assert pdu == codec.decode(raw)
    _same_as_smpplib(pdu, raw)


def _outcome(decode, raw: bytes):
    try:
        return decode(raw)
    except codec.DecodeError as exc:
        return ("DecodeError", exc.status, exc.sequence)


HOT = [fastpdu.SUBMIT_SM, fastpdu.SUBMIT_SM_RESP, fastpdu.DELIVER_SM, fastpdu.DELIVER_SM_RESP]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(HOT), STATUS, st.binary(max_size=300))
def test_any_body_decodes_exactly_as_the_general_codec(command_id, status, body):
    raw = struct.pack(">LLLL", 16 + len(body), command_id, status, 11) + body
    assert _outcome(fastpdu.decode, raw) == _outcome(codec.decode, raw)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["submit_sm", "deliver_sm"]), st.data(), st.integers(0, 400), st.booleans())
def test_cut_or_padded_pdus_decode_exactly_as_the_general_codec(command, data, cut, pad):
    """Real PDUs cut short (or with octets after them), their length fixed: every early-exit path."""
    raw = codec.encode(command, 5, **data.draw(sm_params(command, smpplib=False)))
    body = raw[16:16 + cut] + (b"\x00\x1e\x00" if pad else b"")
    raw = struct.pack(">LLLL", 16 + len(body), codec.COMMAND_IDS[command], 0, 5) + body
    assert _outcome(fastpdu.decode, raw) == _outcome(codec.decode, raw)


def test_a_receipt_as_the_benchmark_smsc_sends_it():
    """Byte by byte as bench/fastsmsc.c (and most SMSCs) build a receipt: no smpplib involved."""
    text = (b"id:440002 sub:001 dlvrd:001 submit date:2612031730 done date:2612031730 stat:DELIVRD err:000"
            b" text:bench message 1")
    body = (b"\0" + b"\x01\x01" + b"14155550123\0" + b"\x01\x01" + b"14155550100\0" + b"\x04\x00\x00"
            + b"\0\0" + b"\x00\x00\x00\x00" + bytes([len(text)]) + text
            + b"\x00\x1e\x00\x07" + b"440002\0" + b"\x04\x27\x00\x01\x02")
    raw = struct.pack(">LLLL", 16 + len(body), 0x00000005, 0, 1) + body
    pdu = fastpdu.decode(raw)
    assert pdu == codec.decode(raw)
    assert (pdu.get("esm_class"), pdu.get("source_addr"), pdu.tlvs) == (
        4, "14155550123", {"receipted_message_id": "440002", "message_state": 2})


def test_other_commands_and_broken_lengths_go_to_the_general_codec():
    enquire = codec.empty("enquire_link", 3)
    assert fastpdu.decode(enquire) == codec.decode(enquire)
    with pytest.raises(codec.DecodeError):
        fastpdu.decode(codec.encode("submit_sm", 7, short_message=b"x")[:-1])


def test_encoding_an_unknown_field_is_refused():
    with pytest.raises(ValueError):
        fastpdu.encode_submit_sm(1, destination="typo")
    with pytest.raises(ValueError):   # a deliver_sm TLV that submit_sm has not got
        fastpdu.encode_submit_sm(1, receipted_message_id="1")
