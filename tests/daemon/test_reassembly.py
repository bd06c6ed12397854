"""Concatenated inbound SMS: a reply in three parts reaches the inbox as one message, or, if a
part never comes, as what arrived flagged with the missing parts, never silently lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.models import Encoding
from gatewayd.links.reassembly import Reassembler, build_udh, parse_udh
from gatewayd.sending import gsm7, segments

FAST = settings(max_examples=200, deadline=None)
KEY = ("smpp1", "+447700900001", "+447700900999")


def test_single_part_returns_at_once() -> None:
    r = Reassembler()
    assert r.add(KEY, ref=0, total=1, index=1, text="hi", now=0.0) == "hi"
    assert len(r) == 0 and r.next_deadline() is None


def test_out_of_order_parts_join_in_index_order() -> None:
    r = Reassembler()
    assert r.add(KEY, 7, 3, 3, "C", now=0.0) is None
    assert r.add(KEY, 7, 3, 1, "A", now=1.0) is None
    assert r.add(KEY, 7, 3, 2, "B", now=2.0) == "ABC"
    assert len(r) == 0
    assert r.expire(now=10_000.0) == []


def test_duplicate_part_is_ignored() -> None:
    r = Reassembler()
    assert r.add(KEY, 7, 2, 1, "A", now=0.0) is None
    assert r.add(KEY, 7, 2, 1, "A", now=1.0) is None
    assert r.add(KEY, 7, 2, 2, "B", now=2.0) == "AB"


def test_redelivered_part_after_completion_is_not_a_new_fragment() -> None:
    r = Reassembler(timeout_s=300)
    r.add(KEY, 7, 2, 1, "A", now=0.0)
    assert r.add(KEY, 7, 2, 2, "B", now=1.0) == "AB"
    assert r.add(KEY, 7, 2, 2, "B", now=30.0) is None  # SMSC resent: our resp was late
    assert len(r) == 0 and r.expire(now=1_000.0) == []


def test_reused_ref_with_new_text_is_a_new_message() -> None:
    r = Reassembler(timeout_s=300)
    r.add(KEY, 7, 2, 1, "A", now=0.0)
    assert r.add(KEY, 7, 2, 2, "B", now=1.0) == "AB"
    assert r.add(KEY, 7, 2, 1, "X", now=5.0) is None
    assert r.add(KEY, 7, 2, 2, "B", now=6.0) == "XB"


def test_streams_and_refs_do_not_mix() -> None:
    r = Reassembler()
    other = ("smpp1", "+447700900002", "+447700900999")
    r.add(KEY, 7, 2, 1, "A", now=0.0)
    r.add(other, 7, 2, 1, "x", now=0.0)
    r.add(KEY, 8, 2, 1, "P", now=0.0)
    assert r.add(other, 7, 2, 2, "y", now=1.0) == "xy"
    assert r.add(KEY, 8, 2, 2, "Q", now=1.0) == "PQ"
    assert r.add(KEY, 7, 2, 2, "B", now=1.0) == "AB"


@pytest.mark.parametrize(("total", "index"), [(0, 1), (3, 0), (3, 4), (1, 2), (-1, -1)])
def test_index_out_of_range(total: int, index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Reassembler().add(KEY, 1, total, index, "x", now=0.0)


def test_timeout_delivers_what_arrived_with_missing_parts() -> None:
    r = Reassembler(timeout_s=300)
    r.add(KEY, 9, 4, 4, "D", now=0.0)
    r.add(KEY, 9, 4, 1, "A", now=10.0)
    assert r.next_deadline() == 300.0
    assert r.expire(now=299.9) == []
    assert r.expire(now=300.0) == [(KEY, "AD", [2, 3])]
    assert len(r) == 0 and r.next_deadline() is None
    # a straggler after the timeout starts afresh rather than resurrecting the old group
    assert r.add(KEY, 9, 4, 2, "B", now=301.0) is None
    assert r.expire(now=601.0) == [(KEY, "B", [1, 3, 4])]


def test_expire_returns_oldest_first_and_keeps_young_groups() -> None:
    r = Reassembler(timeout_s=60)
    r.add(("a",), 1, 2, 1, "a1", now=0.0)
    r.add(("b",), 1, 2, 2, "b2", now=5.0)
    r.add(("c",), 1, 2, 1, "c1", now=50.0)
    assert r.expire(now=70.0) == [(("a",), "a1", [2]), (("b",), "b2", [1])]
    assert len(r) == 1 and r.next_deadline() == 110.0


def test_over_capacity_evicts_oldest_without_waiting_for_timeout() -> None:
    r = Reassembler(timeout_s=300, max_pending=2)
    for i, t in enumerate([0.0, 1.0, 2.0]):
        r.add((f"s{i}",), 1, 3, 1, f"part of {i}", now=t)
    deadline = r.next_deadline()
    assert deadline is not None and deadline <= 2.0  # expire is due now
    assert r.expire(now=2.0) == [(("s0",), "part of 0", [2, 3])]
    assert len(r) == 2 and r.next_deadline() == 301.0


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        Reassembler(timeout_s=0)
    with pytest.raises(ValueError):
        Reassembler(max_pending=0)


# --- UDH ---------------------------------------------------------------------------------


def test_build_udh_8_and_16_bit() -> None:
    assert build_udh(0xCC, 3, 1).hex() == "050003cc0301"
    assert build_udh(0x1234, 3, 2).hex() == "0608041234" "0302"
    assert len(build_udh(255, 2, 2)) == 6 and len(build_udh(256, 2, 2)) == 7


@pytest.mark.parametrize(("ref", "total", "index"), [(-1, 2, 1), (65536, 2, 1), (1, 2, 3), (1, 0, 0), (1, 256, 1)])
def test_build_udh_rejects_bad_values(ref: int, total: int, index: int) -> None:
    with pytest.raises(ValueError):
        build_udh(ref, total, index)


@pytest.mark.parametrize(
    ("ud", "info", "rest"),
    [
        ("050003cc0302" "6869", {"ref": 0xCC, "total": 3, "index": 2}, "6869"),
        ("06080412340302", {"ref": 0x1234, "total": 3, "index": 2}, ""),
        # application port addressing (IEI 0x05) before the concatenation IE is skipped
        ("0b05040b8423f00003aa0201" "ff", {"ref": 0xAA, "total": 2, "index": 1}, "ff"),
        ("0605040b8423f0" "00", {}, "00"),           # no concatenation IE
        ("050003cc0300", {}, ""),                    # index 0: ignore the IE (TS 23.040)
        ("050003cc0004", {}, ""),                    # total 0
        ("0400020102", {}, ""),                       # wrong IEDL for IEI 0x00: ignored
        ("00" "41", {}, "41"),                       # empty UDH
    ],
)
def test_parse_udh(ud: str, info: dict, rest: str) -> None:
    assert parse_udh(bytes.fromhex(ud)) == (info, bytes.fromhex(rest))


@pytest.mark.parametrize("ud", ["", "05", "050003cc03", "0300", "03000501", "0100"])
def test_parse_udh_malformed_raises_value_error(ud: str) -> None:
    with pytest.raises(ValueError):
        parse_udh(bytes.fromhex(ud))


@FAST
@given(st.binary(max_size=40))
def test_parse_udh_only_ever_raises_value_error(ud: bytes) -> None:
    try:
        info, rest = parse_udh(ud)
    except ValueError:
        return
    assert set(info) in (set(), {"ref", "total", "index"})
    assert len(rest) == len(ud) - 1 - ud[0]


@FAST
@given(ref=st.integers(0, 0xFFFF), total=st.integers(1, 255), data=st.data())
def test_udh_round_trip(ref: int, total: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(1, total))
    assert parse_udh(build_udh(ref, total, index) + b"tail") == ({"ref": ref, "total": total, "index": index}, b"tail")


@FAST
@given(
    text=st.text(alphabet=st.sampled_from(list("abc €{}[]@Ñ\n")), min_size=161, max_size=700),
    order=st.randoms(use_true_random=False),
)
def test_long_gsm_message_survives_the_air_in_any_order(text: str, order) -> None:
    """Segment, add the UDH, pack with fill bits as a modem TPDU would, shuffle, reassemble."""
    parts = segments.split(text)
    wire = []
    for i, part in enumerate(parts, 1):
        udh = build_udh(42, len(parts), i)
        fill = (7 - len(udh) * 8 % 7) % 7
        septets = segments.encode_segment(part, Encoding.GSM7)
        assert len(udh) * 8 + fill + 7 * len(septets) <= 140 * 8  # fits one TPDU
        wire.append((udh + gsm7.pack(septets, fill), len(septets), fill))
    order.shuffle(wire)
    r = Reassembler()
    results = []
    for ud, count, fill in wire:
        info, rest = parse_udh(ud)
        body = gsm7.decode(gsm7.unpack(rest, count, fill))
        results.append(r.add(KEY, info["ref"], info["total"], info["index"], body, now=0.0))
    assert results[-1] == text and results[:-1] == [None] * (len(wire) - 1)
