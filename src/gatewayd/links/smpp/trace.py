"""One-line summaries of SMPP PDUs for ``log_level = "debug"`` (headers only: no texts, no numbers).

Enough to follow a session in the journal (bind, each submit and its response by sequence
number, enquire_link, deliver_sm and its answer) without putting message content in the log.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .codec import COMMAND_NAMES, status_name

_HEADER = struct.Struct(">IIII")


def describe(raw: bytes) -> str:
    if len(raw) < _HEADER.size:
        return f"short PDU ({len(raw)} bytes)"
    length, command_id, status, sequence = _HEADER.unpack_from(raw)
    name = COMMAND_NAMES.get(command_id, f"command 0x{command_id:08X}")
    text = f"{name} seq={sequence} len={length}"
    if command_id & 0x80000000 or status:
        text += f" {status_name(status)}"
    return text


def split(data: bytes) -> Iterator[bytes]:
    """The PDUs of a buffer of whole PDUs (what the session's writer sends in one write)."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length = _HEADER.unpack_from(data, pos)[0]
        if length < _HEADER.size:
            return
        yield data[pos: pos + length]
        pos += length
