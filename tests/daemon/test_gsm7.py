"""GSM 03.38 alphabet and septet packing: the bytes a handset or SMSC will actually read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.sending import gsm7

GSM_CHARS = [c for i, c in enumerate(gsm7.DEFAULT_ALPHABET) if i != gsm7.ESC] + list(gsm7.EXTENSION.values())
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400)
FAST = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("@", 0x00), ("£", 0x01), ("$", 0x02), ("¥", 0x03), ("è", 0x04), ("Ç", 0x09), ("\n", 0x0A),
        ("\r", 0x0D), ("Δ", 0x10), ("_", 0x11), ("Ω", 0x15), ("Ξ", 0x1A), ("É", 0x1F), (" ", 0x20),
        ("¤", 0x24), ("¡", 0x40), ("A", 0x41), ("Ä", 0x5B), ("Ö", 0x5C), ("Ñ", 0x5D), ("Ü", 0x5E),
        ("§", 0x5F), ("¿", 0x60), ("a", 0x61), ("ä", 0x7B), ("ö", 0x7C), ("ñ", 0x7D), ("ü", 0x7E),
        ("à", 0x7F),
    ],
)
def test_default_alphabet_positions(char: str, code: int) -> None:
    assert gsm7.encode(char) == bytes([code])
    assert gsm7.decode(bytes([code])) == char


@pytest.mark.parametrize(
    ("char", "code"),
    [("\f", 0x0A), ("^", 0x14), ("{", 0x28), ("}", 0x29), ("\\", 0x2F), ("[", 0x3C), ("~", 0x3D),
     ("]", 0x3E), ("|", 0x40), ("€", 0x65)],
)
def test_extension_characters_cost_two_septets(char: str, code: int) -> None:
    assert gsm7.encode(char) == bytes([0x1B, code])
    assert gsm7.septet_len(char) == 2
    assert gsm7.decode(bytes([0x1B, code])) == char


def test_tables_are_complete_and_unambiguous() -> None:
    assert len(set(GSM_CHARS)) == 127 + 10
    assert set(gsm7.DEFAULT_ALPHABET[0x10:0x1B]) == set("ΔΦΓΛΩΠΨΣΘΞ_")


@pytest.mark.parametrize("text", ["`", "ç", "ê", "α", "€uro é ê", "😀", "\t", "Ä\u0308", "ú"])
def test_characters_outside_the_alphabet_are_refused(text: str) -> None:
    assert not gsm7.is_gsm7(text)
    with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
        gsm7.septet_len(text)
    with pytest.raises(ValueError):
        gsm7.encode(text)


def test_septet_len_counts_escapes() -> None:
    assert gsm7.septet_len("") == 0
    assert gsm7.septet_len("Price: 5€ [net]") == 15 + 3
    assert gsm7.is_gsm7("Hej Åsa! Grüße, señor Ñandu: ¿qué tal? ΔΩ @home $5 £3 ¥1 §2")


def test_decode_is_tolerant_of_reserved_escapes() -> None:
    # TS 23.038: unknown ESC x shows the default character x; ESC ESC and a lone ESC show a space.
    assert gsm7.decode(b"\x1b\x41BC") == "ABC"
    assert gsm7.decode(b"a\x1b\x1bb") == "a b"
    assert gsm7.decode(b"end\x1b") == "end "
    with pytest.raises(ValueError, match="not a 7-bit septet"):
        gsm7.decode(b"caf\xe9")


@pytest.mark.parametrize(
    ("text", "fill", "packed"),
    [
        ("hellohello", 0, "e8329bfd4697d9ec37"),   # TS 23.038 / GSM 03.38 example
        ("12345678", 0, "31d98c56b3dd70"),          # 8 septets fill exactly 7 octets
        ("1234567", 0, "31d98c56b3dd00"),           # 7 septets: 49 bits -> 7 octets
        ("A", 1, "82"),                             # one fill bit after a 6-octet UDH
        ("hellohello", 1, "d06536fb8d2eb3d96f"),
        ("@", 6, "0000"),                            # 13 bits -> 2 octets
        ("", 0, ""),
        ("", 3, "00"),
    ],
)
def test_pack_vectors(text: str, fill: int, packed: str) -> None:
    septets = gsm7.encode(text)
    assert gsm7.pack(septets, fill).hex() == packed
    assert gsm7.unpack(bytes.fromhex(packed), len(septets), fill) == septets


def _pack_by_bits(septets: bytes, fill: int) -> bytes:
    """Independent reference: a bit string, LSB first, per TS 23.038 §6.1.2.1.1."""
    bits = "0" * fill + "".join(format(s, "07b")[::-1] for s in septets)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))


@FAST
@given(septets=st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), fill=st.integers(0, 6))
def test_pack_matches_reference_and_unpacks(septets: bytes, fill: int) -> None:
    packed = gsm7.pack(septets, fill)
    assert packed == _pack_by_bits(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert gsm7.unpack(packed, len(septets), fill) == septets


@FAST
@given(text=gsm_text)
def test_encode_decode_round_trip(text: str) -> None:
    septets = gsm7.encode(text)
    assert len(septets) == gsm7.septet_len(text)
    assert all(s <= 0x7F for s in septets)
    assert gsm7.decode(septets) == text


def test_pack_and_unpack_reject_bad_arguments() -> None:
    with pytest.raises(ValueError):
        gsm7.pack(b"\x80")
    with pytest.raises(ValueError):
        gsm7.pack(b"a", fill_bits=7)
    with pytest.raises(ValueError):
        gsm7.unpack(b"\x00", 1, fill_bits=-1)
    with pytest.raises(ValueError, match="cannot hold"):
        gsm7.unpack(bytes.fromhex("31d98c56b3dd"), 8)
