"""Finding contacts by what people type: every phone a user gives is normalised the way the
import normalised it (issue 18.5), so "(202) 555-0131" finds +12025550131.

- :func:`find`: a contact by phone (any format, the default region for numbers without
  +country) or by contact id;
- :func:`search_term`: a name-or-phone search; text that is a phone number (or its digits)
  matches the stored E.164 form;
- :func:`check_region`: a CSV import's region must be one phonenumbers knows, before anything
  is created (issue 18.4).
"""

from __future__ import annotations

import re
import sqlite3

import phonenumbers

from ..errors import BadRequest, NotFound
from ..phones import InvalidNumber, normalise

_PHONEISH = re.compile(r"^[\d\s().+\-]+$")


def check_region(region: str | None) -> str | None:
    """The region in phonenumbers' spelling (``US``), or BadRequest naming the problem."""
    if region is None:
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise BadRequest(f"unknown region {region!r}: expected a two-letter ISO 3166 country code such as US,"
                         " GB or DE", "bad_region")
    return code


def find(db: sqlite3.Connection, ref: str | int, region: str) -> sqlite3.Row:
    """The contact ``ref`` names: a phone number in any format, or a contact id."""
    text = str(ref).strip()
    try:
        phone = normalise(text, region)
    except InvalidNumber as exc:
        phone, why = None, exc.message
    else:
        why = ""
        row = db.execute("SELECT * FROM contacts WHERE phone = ?", (phone,)).fetchone()
        if row is not None:
            return row
    if text.isdigit():
        row = db.execute("SELECT * FROM contacts WHERE id = ?", (int(text),)).fetchone()
        if row is not None:
            return row
    if phone is not None:
        raise NotFound(f"no contact with phone {phone} (from {text!r})")
    raise NotFound(f"no contact {text!r}: not a contact id, and not a phone number ({why})")


def search_term(search: str | None, region: str) -> str | None:
    """What to match names and phones against: a phone in E.164, formatting stripped from a
    partial phone, or the text as given."""
    if not search or not _PHONEISH.match(search):
        return search
    try:
        return normalise(search, region)
    except InvalidNumber:
        digits = re.sub(r"\D", "", search)
        return digits or search
