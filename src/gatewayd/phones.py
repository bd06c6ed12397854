"""Phone numbers: everything we store is E.164, normalised once at the edge."""

from __future__ import annotations

import phonenumbers

from .errors import BadRequest


class InvalidNumber(BadRequest):
    code = "invalid_number"


def normalise(raw: str, region: str = "US") -> str:
    """E.164 for a number as people type it ("(415) 555-0100", "+44 20 7946 0958", "0044...").
    Raises InvalidNumber with the reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber("empty phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r}: {exc._msg}") from None
    if not phonenumbers.is_possible_number(num):
        raise InvalidNumber(f"{raw!r}: not a possible number (wrong length)")
    if not phonenumbers.is_valid_number(num):
        raise InvalidNumber(f"{raw!r}: not a valid number for its region")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def as_filter(text: str | None, region: str = "US") -> str | None:
    """A phone given as a filter, in the stored E.164 form: "(202) 555-0131" finds +12025550131.
    Text that is not a phone number (an alphanumeric sender such as ACME) is kept as given."""
    if not text or not text.strip().lstrip("+").replace(" ", "").replace("-", "").replace("(", "").replace(
            ")", "").replace(".", "").isdigit():
        return text
    try:
        return normalise(text, region)
    except InvalidNumber:
        return text


def is_alphanumeric_sender(address: str) -> bool:
    return not address.lstrip("+").isdigit()


def timezone_of(e164: str) -> str | None:
    """The recipient's time zone when the number pins one down (quiet hours)."""
    from phonenumbers import timezone as pn_tz

    try:
        zones = pn_tz.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in zones if z != "Etc/Unknown"]
    return zones[0] if zones else None
