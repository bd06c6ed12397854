"""TS 23.040 PDU codec: published vectors, round trips and a decoder that only raises ValueError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.links.modem import pdu
from gatewayd.sending import gsm7


def test_hellohello_submit_vector():
    # The classic example (dreamfabric "SMS and the PDU format"): to +46708251358, 4 days validity.
    hex_pdu, length = pdu.encode_submit("+46708251358", "hellohello", srr=False, validity_s=4 * 86400)
    assert hex_pdu == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert length == 23          # what AT+CMGS=<length> gets: octets after the SCA
    back = pdu.decode(hex_pdu)
    assert isinstance(back, pdu.Submit)
    assert (back.recipient, back.text, back.validity) == ("+46708251358", "hellohello", 0xAA)


def test_deliver_vector_with_timezone():
    # dreamfabric's SMS-DELIVER: SMSC +27381000015, sender 27838890001, 1999-03-29 15:16:59 +02:00.
    msg = pdu.decode("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    assert isinstance(msg, pdu.Deliver)
    assert msg.smsc == "+27381000015"
    assert msg.sender == "27838890001"
    assert msg.text == "hellohello"
    assert msg.timestamp == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))


def test_negative_timezone_and_alphanumeric_sender():
    ts = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    msg = pdu.decode(pdu.encode_deliver("MyBank", "Your code is 1234", timestamp=ts))
    assert (msg.sender, msg.text, msg.timestamp) == ("MyBank", "Your code is 1234", ts)


def test_status_report_decode_and_stat_mapping():
    ts = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    done = ts + timedelta(seconds=42)
    rep = pdu.decode(pdu.encode_status_report(0x2A, "+15559876543", 0x00, timestamp=ts, discharged=done))
    assert isinstance(rep, pdu.StatusReport)
    assert (rep.mr, rep.recipient, rep.status, rep.discharged) == (42, "+15559876543", 0, done)
    assert pdu.report_stat(0x00) == ("DELIVRD", True)
    assert pdu.report_stat(0x20) == ("ENROUTE", False)      # SC still trying: not final
    assert pdu.report_stat(0x46) == ("EXPIRED", True)
    assert pdu.report_stat(0x41)[0] == "REJECTD"
    assert pdu.report_stat(0x45) == ("UNDELIV", True)
    assert pdu.report_stat(0x65) == ("UNDELIV", True)


def test_submit_requests_status_report_and_numbers_keep_their_type():
    intl = pdu.decode(pdu.encode_submit("+447700900123", "x")[0])
    national = pdu.decode(pdu.encode_submit("07700900123", "x")[0])
    assert intl.srr and intl.recipient == "+447700900123"
    assert national.recipient == "07700900123"
    assert pdu.encode_submit("07700900123", "x")[0][8:10] == "81"     # TON unknown, ISDN plan
    with pytest.raises(ValueError):
        pdu.encode_submit("not-a-number", "x")


def test_sca_field_when_smsc_given():
    hex_pdu, length = pdu.encode_submit("+46708251358", "hi", smsc="+46707010000")
    assert hex_pdu.startswith("07916407070100F0")
    assert len(hex_pdu) // 2 - 8 == length
    assert pdu.decode(hex_pdu).smsc == "+46707010000"


def test_concatenated_gsm7_has_correct_fill_bits_and_extension_chars():
    text = "€" * 76 + "x"          # 153 septets: a full middle segment of a long message
    assert gsm7.septet_len(text) == 153
    hex_pdu, _ = pdu.encode_submit("+15550001", text, concat=pdu.Concat(ref=7, total=3, index=2))
    back = pdu.decode(hex_pdu)
    assert back.text == text and back.concat == pdu.Concat(7, 3, 2)
    udl_and_udh = bytes.fromhex(hex_pdu)[11:18]     # UDL then the 6-octet UDH
    assert udl_and_udh == bytes((160, 5, 0, 3, 7, 3, 2))
    big = pdu.decode(pdu.encode_submit("+15550001", "a" * 152, concat=pdu.Concat(ref=0x1234, total=2, index=1))[0])
    assert big.concat == pdu.Concat(0x1234, 2, 1) and big.text == "a" * 152


def test_ucs2_with_concatenation_and_emoji():
    text = "Привет 👋" + "ж" * 58
    back = pdu.decode(pdu.encode_submit("+15550001", text, ucs2=True, concat=pdu.Concat(9, 2, 2))[0])
    assert (back.text, back.dcs, back.concat) == (text, 8, pdu.Concat(9, 2, 2))


def test_oversized_user_data_is_refused():
    with pytest.raises(ValueError):
        pdu.encode_submit("+1555", "a" * 161)
    with pytest.raises(ValueError):
        pdu.encode_submit("+1555", "ж" * 71, ucs2=True)


def test_validity_from_ttl_never_exceeds_it():
    for ttl in (60, 600, 3600, 12 * 3600, 13 * 3600, 86400, 3 * 86400, 33 * 86400, 40 * 86400, 10**8):
        vp = pdu.validity_octet(ttl)
        assert pdu.validity_seconds(vp) <= max(ttl, 300), ttl
    assert pdu.validity_octet(4 * 86400) == 0xAA
    assert pdu.validity_octet(86400) == 167


def test_deliver_concat_parts_8_and_16_bit():
    part = pdu.decode(pdu.encode_deliver("+15551234567", "part two", concat=pdu.Concat(0x0102, 3, 2)))
    assert part.concat == pdu.Concat(0x0102, 3, 2) and part.text == "part two"
    ucs = pdu.decode(pdu.encode_deliver("+15551234567", "día ☀", concat=pdu.Concat(5, 2, 1), ucs2=True))
    assert ucs.concat == pdu.Concat(5, 2, 1) and ucs.text == "día ☀"


GSM_CHARS = st.sampled_from(list(gsm7.DEFAULT_ALPHABET.replace("\x1b", "")) + list(gsm7.EXTENSION.values()))
NUMBERS = st.from_regex(r"\+?[1-9][0-9]{3,14}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    number=NUMBERS,
    text=st.lists(GSM_CHARS, max_size=70).map("".join),
    concat=st.none() | st.builds(pdu.Concat, st.integers(0, 65535), st.integers(2, 255), st.just(1)),
    ttl=st.none() | st.integers(60, 10**8),
)
def test_gsm7_submit_round_trip(number, text, concat, ttl):
    back = pdu.decode(pdu.encode_submit(number, text, concat=concat, validity_s=ttl)[0])
    assert (back.recipient, back.text, back.concat) == (number, text, concat)


@settings(max_examples=200, deadline=None)
@given(number=NUMBERS, text=st.text(max_size=33), concat=st.none() | st.builds(pdu.Concat, st.integers(0, 65535),
                                                                                 st.integers(2, 9), st.integers(1, 2)))
def test_ucs2_submit_round_trip(number, text, concat):
    try:
        text.encode("utf-16-be")
    except UnicodeEncodeError:      # lone surrogates are not text we would ever send
        return
    back = pdu.decode(pdu.encode_submit(number, text, ucs2=True, concat=concat)[0])
    assert (back.recipient, back.text) == (number, text)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=180), st.booleans())
def test_decoder_raises_only_value_error(data, sca):
    try:
        pdu.decode(data, sca=sca)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.binary(min_size=1, max_size=60))
def test_decoder_on_mutated_valid_pdus(pos, junk):
    base = bytes.fromhex(pdu.encode_deliver("+15551234567", "hello world", concat=pdu.Concat(1, 2, 1), smsc="+4917600"))
    mutated = base[: pos % len(base)] + junk + base[pos % len(base) + len(junk):]
    try:
        pdu.decode(mutated.hex())
    except ValueError:
        pass
