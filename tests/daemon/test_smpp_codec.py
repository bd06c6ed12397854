"""The sans-I/O SMPP cores: framing, PDU decoding quirks, receipts, ids, submit fields, MO parts.
Plus hypothesis fuzzing: whatever bytes arrive, the reader never crashes and never hoards memory."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.config import SmppConfig
from gatewayd.links.base import OutSegment
from gatewayd.links.smpp import codec, message, receipt
from gatewayd.links.smpp.session import Session
from gatewayd.models import Encoding


def cfg(**kw) -> SmppConfig:
    return SmppConfig(name="c", host="h", system_id="s", password="p", **kw)


def seg(text="Hi", *, sender="+15550000001", to="+15551112222", index=1, count=1, ref=5,
        encoding=Encoding.GSM7, validity_s=None) -> OutSegment:
    return OutSegment(segment_id=1, message_id=1, sender=sender, recipient=to, index=index, count=count,
                      ref=ref, encoding=encoding, text=text, validity_s=validity_s)


# --- framing and decoding ---------------------------------------------------------------------

def test_framer_cuts_pdus_however_the_bytes_arrive():
    stream = codec.empty("enquire_link", 1) + codec.resp_with_id("submit_sm", 2, message_id="ab12") * 2
    for size in (1, 3, 16, 17, len(stream)):
        framer, out = codec.Framer(), []
        for i in range(0, len(stream), size):
            out += framer.feed(stream[i:i + size])
        assert [codec.decode(p).command for p in out] == ["enquire_link", "submit_sm_resp", "submit_sm_resp"]


@pytest.mark.parametrize("length", [0, 15, codec.MAX_PDU + 1, 0xFFFFFFFF])
def test_framer_refuses_absurd_lengths_before_buffering(length):
    with pytest.raises(codec.FramingError):
        codec.Framer().feed(struct.pack(">L", length))


def test_submit_sm_resp_without_nul_keeps_its_whole_id():
    raw = struct.pack(">LLLL", 16 + 6, 0x80000004, 0, 9) + b"0A1B2C"
    assert codec.decode(raw).get("message_id") == "0A1B2C"


def test_error_response_with_empty_body_decodes():
    pdu = codec.decode(struct.pack(">LLLL", 16, 0x80000004, codec.RTHROTTLED, 3))
    assert (pdu.command, pdu.status, pdu.get("message_id")) == ("submit_sm_resp", codec.RTHROTTLED, None)


def test_receipted_message_id_without_nul_and_unknown_tlvs():
    raw = codec.encode("deliver_sm", 5, esm_class=4, short_message=b"id:1 stat:DELIVRD",
                       extra_tlvs=((0x001E, b"ABC123"), (0x1401, b"vendor")))
    pdu = codec.decode(raw)
    assert pdu.tlvs["receipted_message_id"] == "ABC123"   # smpplib would say "ABC12"
    assert pdu.unknown_tlvs == {0x1401: b"vendor"}


@pytest.mark.parametrize("raw,status", [
    (struct.pack(">LLLL", 16, 0x00000099, 0, 7), codec.RINVCMDID),                     # unknown command
    (struct.pack(">LLLL", 18, 0x00000005, 0, 7) + b"\x01\x02", codec.RINVCMDLEN),      # C-string without NUL
    (codec.encode("deliver_sm", 7, short_message=b"x")[:-1], codec.RINVCMDLEN),       # length mismatch
    (codec.encode("deliver_sm", 7, short_message=b"x") + b"\x04\x24\x00", codec.RINVCMDLEN),  # stray octets
    (codec.encode("deliver_sm", 7, short_message=b"x", extra_tlvs=((0x0424, b"abc"),))[:-1]
     .replace(b"\x00\x00\x00\x3a", b"\x00\x00\x00\x39", 1), codec.RINVCMDLEN),          # truncated TLV
])
def test_broken_pdus_raise_decode_error_with_their_sequence(raw, status):
    with pytest.raises(codec.DecodeError) as info:
        codec.decode(raw)
    assert info.value.sequence == 7 and info.value.status == status


@pytest.mark.parametrize("command,params", [
    ("submit_sm", dict(source_addr="ACME", source_addr_ton=5, destination_addr="4915112345678", dest_addr_ton=1,
                       dest_addr_npi=1, esm_class=0x40, registered_delivery=1, data_coding=8,
                       validity_period="000001000000000R", short_message=b"\x05\x00\x03\x07\x02\x01hi")),
    ("submit_sm", dict(destination_addr="1", sar_msg_ref_num=300, sar_total_segments=3, sar_segment_seqnum=2,
                       message_payload=b"x" * 300)),
    ("deliver_sm", dict(source_addr="1", esm_class=4, short_message=b"id:1 stat:DELIVRD",
                        receipted_message_id="abc", message_state=2)),
    ("bind_transceiver", dict(system_id="a-very-long-system-id", password="longpassword", system_type="",
                              interface_version=0x34)),
    ("data_sm", dict(source_addr="1", destination_addr="2", message_payload=b"hello", sar_msg_ref_num=1)),
])
def test_our_packer_matches_smpplib_byte_for_byte(command, params):
    assert codec.encode(command, 42, **params) == codec.encode_with_smpplib(command, 42, **params)


def test_bind_says_smpp_3_4():
    pdu = codec.decode(codec.bind("transmitter", 1, system_id="esme", password="pw"))
    assert (pdu.command, pdu.get("interface_version"), pdu.get("system_id")) == ("bind_transmitter", 0x34, "esme")


def test_encoding_an_unknown_field_is_refused():
    with pytest.raises(ValueError):
        codec.encode("submit_sm", 1, destination="typo")


def test_sequence_numbers_wrap_within_31_bits():
    seq = codec.Sequencer(0x7FFFFFFE)
    assert [seq.next() for _ in range(3)] == [0x7FFFFFFE, 0x7FFFFFFF, 1]


def test_encoded_pdus_carry_our_sequence_not_a_global_one():
    assert [codec.decode(codec.encode("submit_sm", n, short_message=b"x")).sequence for n in (5, 1, 99)] == [5, 1, 99]


@pytest.mark.parametrize("status,name,transient,throttle", [
    (0x58, "ESME_RTHROTTLED(0x00000058)", True, True),
    (0x14, "ESME_RMSGQFUL(0x00000014)", True, True),
    (0x08, "ESME_RSYSERR(0x00000008)", True, False),
    (0x64, "ESME_RX_T_APPN(0x00000064)", True, False),
    (0x0B, "ESME_RINVDSTADR(0x0000000B)", False, False),
    (0x0A, "ESME_RINVSRCADR(0x0000000A)", False, False),
    (0x01, "ESME_RINVMSGLEN(0x00000001)", False, False),
    (0x45, "ESME_RSUBMITFAIL(0x00000045)", False, False),
    (0x400, "ESME_UNKNOWN(0x00000400)", False, False),
])
def test_status_table(status, name, transient, throttle):
    assert codec.status_name(status) == name
    assert codec.classify(status) == (transient, throttle)
    assert codec.status_text(status)


# --- receipts and ids ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,stat,err,rid", [
    ("id:0A1B sub:001 dlvrd:001 submit date:2311221200 done date:2311221201 stat:DELIVRD err:000 text:Hi",
     "DELIVRD", "000", "a1b"),
    ("ID:123 SUB:1 DLVRD:0 SUBMIT DATE:2311221200 DONE DATE:2311221201 STAT:UNDELIV ERR:012 TEXT:x",
     "UNDELIV", "012", "123"),
    ("id:77 submit_date:231122120000 done_date:231122120100 stat:REJECTD err:0 Text:a: b stat:DELIVRD",
     "REJECTD", "0", "77"),
    ("id:99 stat:DELIVERED", "DELIVRD", None, "99"),
    ("Id:abc-42 Stat:EXPIRED", "EXPIRED", None, "abc-42"),
    ("id:5 dlvrd:000", "UNKNOWN", None, "5"),
])
def test_receipt_text_variants(text, stat, err, rid):
    pdu = codec.decode(codec.encode("deliver_sm", 1, esm_class=4, short_message=text.encode()))
    r = receipt.build(pdu, "c", "auto", text)
    assert (r.stat, r.err, r.carrier_id, r.raw) == (stat, err, rid, text)


def test_receipt_tlvs_win_over_the_text_and_the_text_id_becomes_an_alternative():
    text = "id:6699 stat:UNDELIV err:001 done date:2311221201"
    pdu = codec.decode(codec.encode("deliver_sm", 1, esm_class=4, short_message=text.encode(),
                                    receipted_message_id="1A2B", message_state=2))
    r = receipt.build(pdu, "c", "auto", text)
    assert (r.carrier_id, r.stat) == ("1a2b", "DELIVRD")
    assert "6699" in r.alt_ids and r.done_at == 1700654460.0


def test_network_error_code_fills_a_missing_err():
    pdu = codec.decode(codec.encode("deliver_sm", 1, esm_class=4, short_message=b"id:1 stat:UNDELIV",
                                    extra_tlvs=((0x0423, b"\x03\x00\x22"),)))
    assert receipt.build(pdu, "c", "auto", "id:1 stat:UNDELIV").err == "34"


@pytest.mark.parametrize("raw,fmt,primary,alts", [
    ("0A1B", "hex", "a1b", ()),
    ("000123", "dec", "123", ()),
    ("AbC-01", "str", "abc-01", ()),
    ("0A1B", "auto", "a1b", ("2587",)),
    ("2587", "auto", "2587", ("a1b", "9607")),
    ("00000000", "auto", "0", ()),
    (" 7f\x00", "auto", "7f", ("127",)),
    ("msg-1", "auto", "msg-1", ()),
])
def test_message_id_normalisation(raw, fmt, primary, alts):
    assert receipt.normalise_id(raw, fmt) == (primary, alts)


def test_hex_response_matches_decimal_receipt_and_back():
    for resp, dlr in (("1F000", "126976"), ("126976", "1F000"), ("001F000", "0126976")):
        stored = receipt.normalise_id(resp)[0]
        primary, alts = receipt.normalise_id(dlr)
        assert stored in (primary, *alts)


# --- submit fields ------------------------------------------------------------------------------

@pytest.mark.parametrize("addr,expect", [
    ("+4915112345678", ("4915112345678", 1, 1)),
    ("12345", ("12345", 0, 1)),
    ("ACME Ltd", ("ACME Ltd", 5, 0)),
])
def test_ton_npi_auto(addr, expect):
    assert message.address(addr, None, None) == expect


def test_configured_ton_npi_win():
    p = message.submit_params(seg(), cfg(source_ton=3, source_npi=0, dest_ton=2, dest_npi=8))
    assert (p["source_addr_ton"], p["source_addr_npi"], p["dest_addr_ton"], p["dest_addr_npi"]) == (3, 0, 2, 8)
    assert p["source_addr"] == "15550000001"


@pytest.mark.parametrize("seconds,vp", [
    (3600, "000000010000000R"), (90061, "000001010101000R"), (5, "000000000100000R"),
    (10**9, "000099000000000R"), (None, None),
])
def test_validity_period_is_relative(seconds, vp):
    assert message.validity_period(seconds) == vp


@pytest.mark.parametrize("text,encoding,coding,data,dc", [
    ("Hi @ you", Encoding.GSM7, "gsm7", b"Hi \x00 you", 0x00),
    ("café", Encoding.GSM7, "latin1", "café".encode("latin-1"), 0x03),
    ("5 €", Encoding.GSM7, "latin1", "5 €".encode("utf-16-be"), 0x08),
    ("plain", Encoding.GSM7, "ascii", b"plain", 0x01),
    ("Привет", Encoding.UCS2, "gsm7", "Привет".encode("utf-16-be"), 0x08),
])
def test_data_coding_per_carrier_rules(text, encoding, coding, data, dc):
    assert message.encode_text(text, encoding, coding) == (data, dc)


def test_submit_params_defaults():
    p = message.submit_params(seg("Hi", validity_s=7200), cfg())
    assert p["registered_delivery"] == 1 and p["esm_class"] == 0 and p["short_message"] == b"Hi"
    assert p["validity_period"] == "000000020000000R" and "message_payload" not in p


def test_udh_reference_is_always_8_bit_because_parts_were_sized_for_it():
    p = message.submit_params(seg("x", index=1, count=2, ref=0x1234), cfg())
    assert p["esm_class"] == 0x40 and p["short_message"][:6] == bytes([5, 0, 3, 0x34, 2, 1])


def test_oversized_short_message_moves_to_message_payload():
    p = message.submit_params(seg("ж" * 200, encoding=Encoding.UCS2), cfg())
    assert "short_message" not in p and len(p["message_payload"]) == 400


def test_inbound_dc0_follows_default_coding():
    pdu = codec.decode(codec.encode("deliver_sm", 1, source_addr="4915100", source_addr_ton=1,
                                    short_message="Grüße".encode("latin-1")))
    assert message.mo_part(pdu, "latin1").text == "Grüße"
    assert message.mo_part(pdu, "latin1").sender == "+4915100"


def test_broken_udh_in_mo_is_a_value_error():
    pdu = codec.decode(codec.encode("deliver_sm", 1, esm_class=0x40, short_message=b"\x09\x00\x03"))
    with pytest.raises(ValueError):
        message.mo_part(pdu, "gsm7")


# --- fuzzing ------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_framer_and_decoder_only_raise_their_own_errors(chunks):
    framer = codec.Framer(max_length=4096)
    for chunk in chunks:
        try:
            pdus = framer.feed(chunk)
        except codec.FramingError:
            return
        assert len(framer._buf) < 4096 + 300
        for raw in pdus:
            try:
                codec.decode(raw)
            except codec.DecodeError:
                pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["auto", "hex", "dec", "str"]),
       st.one_of(st.none(), st.text(alphabet="0123456789abcdefABCDEF", max_size=5000)))
def test_fuzz_any_receipt_text_builds_a_receipt(text, fmt, tlv_id):
    pdu = codec.Pdu("deliver_sm", 1, params={"esm_class": 4}, tlvs={"receipted_message_id": tlv_id} if tlv_id else {})
    r = receipt.build(pdu, "c", fmt, text)
    assert r.raw == text and r.stat in {s.value for s in receipt.ReceiptStat}


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200),
       st.dictionaries(st.sampled_from(["sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum"]),
                       st.integers(0, 300)),
       st.sampled_from(["gsm7", "latin1", "ascii"]))
def test_fuzz_any_mo_decodes_or_raises_value_error(esm, dc, data, sar, coding):
    pdu = codec.Pdu("deliver_sm", 1, params={"esm_class": esm, "data_coding": dc, "short_message": data,
                                             "source_addr": "1", "source_addr_ton": 1}, tlvs=dict(sar))
    try:
        part = message.mo_part(pdu, coding)
    except ValueError:
        return
    assert isinstance(part.text, str) and 1 <= part.index <= part.total


_IDS = sorted(codec.COMMAND_NAMES)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_IDS), st.integers(0, 0xFFFFFFFF), st.binary(max_size=400))
def test_fuzz_well_framed_bodies_decode_or_raise_decode_error(command_id, status, body):
    raw = struct.pack(">LLLL", 16 + len(body), command_id, status, 11) + body
    try:
        pdu = codec.decode(raw)
    except codec.DecodeError as exc:
        assert exc.sequence == 11
    else:
        assert pdu.sequence == 11


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_IDS + [0x99, 0x80000099]), st.binary(max_size=120)), max_size=6))
def test_fuzz_session_reader_survives_any_well_framed_pdu(pdus):
    """Whatever well-framed PDUs the SMSC sends, the session stays up and still answers."""

    async def main() -> None:
        client, server = trio.testing.memory_stream_pair()

        async def on_deliver(pdu):
            return codec.ROK

        session = Session(client, name="fuzz", on_deliver=on_deliver, enquire_link_s=1000, response_timeout_s=5)
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            for command_id, body in pdus:
                if command_id == 0x00000006:       # unbind legitimately ends the session
                    continue
                await server.send_all(struct.pack(">LLLL", 16 + len(body), command_id, 0, 3) + body)
            await server.send_all(codec.empty("enquire_link", 777))
            framer = codec.Framer()
            with trio.fail_after(5):
                while True:
                    got = [codec.decode(p) for p in framer.feed(await server.receive_some())]
                    if any(p.command == "enquire_link_resp" and p.sequence == 777 for p in got):
                        break
            assert not session.closed.is_set()
            session.close("done")

    trio.run(main)


_WORD = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc", "Zl", "Zp")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORD, min_size=7, max_size=7), st.one_of(st.none(), st.text(max_size=40)),
       st.sampled_from([" ", "_"]), st.booleans())
def test_standard_receipt_fast_path_reads_what_the_general_reader_reads(values, text, sep, upper):
    keys = ["id", "sub", "dlvrd", f"submit{sep}date", f"done{sep}date", "stat", "err"]
    if upper:
        keys = [k.upper() for k in keys]
    line = " ".join(f"{k}:{v}" for k, v in zip(keys, values)) + ("" if text is None else f" text:{text}")
    assert receipt.parse_text(line) == receipt.parse_any(line)


def test_id_readings_hex_and_decimal_both_ways():
    assert receipt.normalise_id("0001A2B") == ("1a2b", ("6699",))
    assert receipt.normalise_id("6699") == ("6699", ("1a2b", "26265"))
    assert receipt.normalise_id("msg-7") == ("msg-7", ())
    assert receipt.normalise_id("0") == ("0", ())
