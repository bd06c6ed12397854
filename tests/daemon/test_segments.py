"""Encoding choice and segmentation: what the operator is billed for and what the phone shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.models import Encoding
from gatewayd.sending import gsm7, segments

FAST = settings(max_examples=200, deadline=None)
GSM_BASIC = [c for i, c in enumerate(gsm7.DEFAULT_ALPHABET) if i != gsm7.ESC]
# Mixes that hit the awkward cases often: extension chars, non-GSM BMP chars, emoji.
pieces = st.one_of(
    st.sampled_from(GSM_BASIC),
    st.sampled_from(list(gsm7.EXTENSION.values())),
    st.sampled_from(["й", "ç", "中", "\u200d", "😀", "👍🏽", "𝄞", "\ud83d\ude00"]),
    st.characters(),
)
texts = st.one_of(
    st.lists(pieces, max_size=400).map("".join),
    st.lists(st.sampled_from(GSM_BASIC + list(gsm7.EXTENSION.values())), max_size=500).map("".join),
    st.text(max_size=300),
)


def units(text: str, enc: Encoding) -> int:
    if enc is Encoding.GSM7:
        return gsm7.septet_len(text)
    return len(text.encode("utf-16-be", "surrogatepass")) // 2


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("", Encoding.GSM7),
        ("Hello {name}, 5€ off [today]", Encoding.GSM7),
        ("ΔΦΓΛΩΠΨΣΘΞ Ç", Encoding.GSM7),
        ("ç", Encoding.UCS2),                 # only capital Ç is in GSM 03.38
        ("Привет", Encoding.UCS2),
        ("ok 👍", Encoding.UCS2),
        ("tab\there", Encoding.UCS2),
    ],
)
def test_choose_encoding(text: str, encoding: Encoding) -> None:
    assert segments.choose_encoding(text) is encoding


@pytest.mark.parametrize(
    ("text", "count", "units", "per_segment", "remaining"),
    [
        ("", 1, 0, 160, 160),
        ("a" * 160, 1, 160, 160, 0),
        ("a" * 161, 2, 161, 153, 145),
        ("a" * 158 + "€", 1, 160, 160, 0),
        ("a" * 159 + "€", 2, 161, 153, 145),
        ("a" * 306, 2, 306, 153, 0),
        ("a" * 307, 3, 307, 153, 152),
        ("й" * 70, 1, 70, 70, 0),
        ("й" * 71, 2, 71, 67, 63),
        ("й" * 68 + "😀", 1, 70, 70, 0),
        ("й" * 69 + "😀", 2, 71, 67, 63),
        ("😀" * 35, 1, 70, 70, 0),
        ("😀" * 36, 2, 72, 67, 61),           # 33 emoji (66 units) fit a part, not 33.5
    ],
)
def test_analyse_boundaries(text: str, count: int, units: int, per_segment: int, remaining: int) -> None:
    info = segments.analyse(text)
    assert (info.segments, info.units, info.per_segment, info.remaining) == (count, units, per_segment, remaining)
    assert len(segments.split(text)) == count


def test_escape_sequence_is_never_split_at_153() -> None:
    text = "a" * 152 + "€" + "b" * 20
    parts = segments.split(text)
    assert parts == ["a" * 152, "€" + "b" * 20]
    assert [gsm7.encode(p)[:1] for p in parts] == [b"a", b"\x1b"]
    assert segments.analyse(text).segments == 2


def test_escape_sequences_can_cost_an_extra_segment() -> None:
    # A part holds 76 euros (152 septets): half of an escape sequence cannot fill septet 153.
    assert segments.analyse("€" * 80).segments == 1
    assert segments.split("€" * 81) == ["€" * 76, "€" * 5]
    assert segments.analyse("€" * 153).segments == 3  # 306 septets, yet not 2 segments


def test_emoji_is_never_split_at_67() -> None:
    text = "й" * 66 + "😀" + "й" * 10
    parts = segments.split(text)
    assert parts == ["й" * 66, "😀" + "й" * 10]
    assert [len(segments.encode_segment(p, Encoding.UCS2)) for p in parts] == [132, 24]


def test_surrogate_pair_as_two_code_points_stays_together() -> None:
    # Text decoded with 'surrogatepass' elsewhere may hold a pair as two code points.
    raw = "й" * 66 + "\ud83d\ude00" + "й" * 10
    parts = segments.split(raw)
    assert parts[0] == "й" * 66 and parts[1].startswith("\ud83d\ude00")
    assert segments.analyse(raw).units == 78


def test_forced_encoding() -> None:
    assert segments.split("abc", Encoding.UCS2) == ["abc"]
    assert segments.analyse("a" * 71, Encoding.UCS2).segments == 2
    with pytest.raises(ValueError):
        segments.split("Привет", Encoding.GSM7)


def test_encode_segment() -> None:
    assert segments.encode_segment("5€", Encoding.GSM7) == b"\x35\x1b\x65"
    assert segments.encode_segment("@", Encoding.GSM7) == b"\x00"
    assert segments.encode_segment("😀a", Encoding.UCS2) == bytes.fromhex("d83dde000061")


@pytest.mark.parametrize(
    ("data", "dc", "text"),
    [
        (b"\x00\x35\x1b\x65\x02", 0x00, "@5€$"),       # SMSC default: unpacked GSM-7
        (bytes("café", "latin-1"), 0x00, "café"),      # SMSC sending Latin-1 as "default"
        (b"Hello", 0x01, "Hello"),
        (b"\xff", 0x01, "\ufffd"),
        (bytes("café", "latin-1"), 0x03, "café"),
        (bytes.fromhex("d83dde000061"), 0x08, "😀a"),
        (bytes.fromhex("0061d83d"), 0x08, "a\ufffd"),  # lone high surrogate
        (bytes.fromhex("006100"), 0x08, "a\ufffd"),    # odd trailing byte
        (b"\x01\xab", 0x04, "01ab"),
        (b"\x01\xab", 0x02, "01ab"),
        (bytes("Пр", "iso8859-5"), 0x06, "Пр"),
        (bytes.fromhex("0048"), 0x18, "H"),            # GSM DCS: UCS-2, class 0 (flash)
        (b"Hi", 0xF0, "Hi"),                           # GSM DCS: GSM-7, class 0
        (b"\x01\x02", 0xF5, "0102"),                   # GSM DCS: 8-bit, class 1
        (bytes("é", "latin-1"), 0x09, "é"),            # unknown -> Latin-1
    ],
)
def test_decode_payload(data: bytes, dc: int, text: str) -> None:
    assert segments.decode_payload(data, dc) == text


@FAST
@given(data=st.binary(max_size=200), dc=st.integers(0, 255))
def test_decode_payload_never_raises(data: bytes, dc: int) -> None:
    assert isinstance(segments.decode_payload(data, dc), str)


@FAST
@given(text=texts)
def test_split_properties(text: str) -> None:
    enc = segments.choose_encoding(text)
    parts = segments.split(text)
    info = segments.analyse(text)
    assert "".join(parts) == text
    assert info.encoding is enc and info.segments == len(parts)
    assert info.units == units(text, enc)
    single, multi = segments.LIMITS[enc]
    limit = single if len(parts) == 1 else multi
    assert info.per_segment == limit
    assert info.remaining == limit - units(parts[-1], enc)
    for i, part in enumerate(parts):
        assert units(part, enc) <= limit
        if i + 1 < len(parts):
            assert not ("\ud800" <= part[-1] <= "\udbff" and "\udc00" <= parts[i + 1][0] <= "\udfff")
        if len(parts) > 1:
            assert part, "no empty parts in a multipart message"
        if i + 1 < len(parts):
            # greedy is exact: the next character would not have fitted, so no segment is wasted
            nxt = parts[i + 1]
            first = nxt[:2] if "\ud800" <= nxt[0] <= "\udbff" and "\udc00" <= nxt[1:2] <= "\udfff" else nxt[0]
            assert units(part, enc) + units(first, enc) > limit
        data = segments.encode_segment(part, enc)
        if enc is Encoding.GSM7:
            assert gsm7.decode(data) == part  # no dangling ESC
        else:
            assert len(data) == 2 * units(part, enc)
            assert data.decode("utf-16-be", "surrogatepass") == part.encode("utf-16-be", "surrogatepass").decode(
                "utf-16-be", "surrogatepass"
            )
