"""Reassembling concatenated inbound SMS, and the concatenation UDH (TS 23.040 §9.2.3.24.1/.8).

Sans-I/O: the link shells (SMPP: UDH or SAR TLVs; modem: UDH in the TPDU) feed parts with the
time, and call :meth:`Reassembler.expire` at :meth:`Reassembler.next_deadline`. A group that never
completes is not lost: ``expire`` hands back what arrived and which parts are missing, so the
inbox can show it flagged incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IEI_CONCAT_8 = 0x00   # concatenated SM, 8-bit reference
IEI_CONCAT_16 = 0x08  # concatenated SM, 16-bit reference

GroupId = tuple[tuple, int, int]  # (stream key, ref, total)


@dataclass
class _Group:
    started: float
    parts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Collects the parts of concatenated messages per (stream key, ref, total).

    The timeout runs from a group's first part. SMSCs redeliver a part whose response they
    missed: a part equal to one already held is ignored, and so is a repeat of a part of a
    group completed less than the timeout ago (otherwise it would surface as a spurious fragment).
    A different text under a completed group's ref starts a new group: 8-bit refs wrap.
    """

    def __init__(self, timeout_s: float = 300.0, max_pending: int = 10_000) -> None:
        if timeout_s <= 0 or max_pending < 1:
            raise ValueError("timeout_s must be > 0 and max_pending >= 1")
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[GroupId, _Group] = {}    # insertion order == age order
        self._done: dict[GroupId, _Group] = {}       # recently completed, for duplicate detection

    def __len__(self) -> int:
        """Number of incomplete groups held."""
        return len(self._pending)

    def add(self, key: tuple, ref: int, total: int, index: int, text: str, now: float) -> str | None:
        """Add part ``index`` (1-based) of ``total``; return the whole text once all parts are in."""
        if total < 1 or not 1 <= index <= total:
            raise ValueError(f"part {index} of {total} is out of range")
        if total == 1:
            return text
        gid: GroupId = (key, ref, total)
        done = self._done.get(gid)
        if done is not None:
            if now - done.started < self.timeout_s and done.parts.get(index) == text:
                return None
            del self._done[gid]
        group = self._pending.get(gid)
        if group is None:
            group = self._pending[gid] = _Group(started=now)
        if index in group.parts:
            return None
        group.parts[index] = text
        if len(group.parts) < total:
            return None
        del self._pending[gid]
        self._remember(gid, _Group(started=now, parts=group.parts))
        return "".join(group.parts[i] for i in range(1, total + 1))

    def _remember(self, gid: GroupId, group: _Group) -> None:
        self._done[gid] = group
        while len(self._done) > self.max_pending:
            del self._done[next(iter(self._done))]

    def expire(self, now: float) -> list[tuple[tuple, str, list[int]]]:
        """Give up on groups past the timeout, and on the oldest beyond ``max_pending``.

        Returns ``(key, available text joined in order, missing indexes)`` for each, oldest first.
        """
        out: list[tuple[tuple, str, list[int]]] = []
        while self._pending:
            gid, group = next(iter(self._pending.items()))
            overfull = len(self._pending) > self.max_pending
            if not overfull and now - group.started < self.timeout_s:
                break
            del self._pending[gid]
            key, _ref, total = gid
            text = "".join(group.parts[i] for i in sorted(group.parts))
            missing = [i for i in range(1, total + 1) if i not in group.parts]
            out.append((key, text, missing))
        while self._done:
            gid, group = next(iter(self._done.items()))
            if now - group.started < self.timeout_s:
                break
            del self._done[gid]
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has work: the oldest group's timeout, or at once when
        over ``max_pending`` (a time already past). None when nothing is pending."""
        if not self._pending:
            return None
        oldest = next(iter(self._pending.values()))
        if len(self._pending) > self.max_pending:
            return oldest.started
        return oldest.started + self.timeout_s


def parse_udh(ud: bytes) -> tuple[dict, bytes]:
    """Split user data that starts with a UDH into (concatenation info, the rest).

    The info is ``{"ref", "total", "index"}`` from IEI 0x00 or 0x08, or ``{}`` when there is no
    concatenation IE (or it is invalid, e.g. index 0: TS 23.040 says ignore the IE). Unknown
    IEIs are skipped. A truncated UDH or IE raises ValueError.
    """
    if not ud:
        raise ValueError("user data is empty, expected a UDH length octet")
    udhl = ud[0]
    if 1 + udhl > len(ud):
        raise ValueError(f"UDH length {udhl} exceeds the {len(ud) - 1} octets that follow")
    header, rest = ud[1 : 1 + udhl], ud[1 + udhl :]
    info: dict = {}
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            raise ValueError(f"truncated information element at UDH offset {i}")
        iei, iedl = header[i], header[i + 1]
        data = header[i + 2 : i + 2 + iedl]
        if len(data) != iedl:
            raise ValueError(f"IE 0x{iei:02X} claims {iedl} octets, {len(data)} present")
        i += 2 + iedl
        if iei == IEI_CONCAT_8 and iedl == 3:
            ref, total, index = data
        elif iei == IEI_CONCAT_16 and iedl == 4:
            ref, total, index = (data[0] << 8) | data[1], data[2], data[3]
        else:
            continue
        if total >= 1 and 1 <= index <= total:
            info = {"ref": ref, "total": total, "index": index}
    return info, rest


def build_udh(ref: int, total: int, index: int) -> bytes:
    """The UDH (UDHL first) for part ``index`` of ``total``: IEI 0x00 (6 octets) for ref < 256,
    else IEI 0x08 (7 octets, which leaves one unit less for text: see sending.segments)."""
    if not 0 <= ref <= 0xFFFF:
        raise ValueError(f"ref must be 0..65535, got {ref}")
    if not 1 <= index <= total <= 255:
        raise ValueError(f"part {index} of {total} is out of range (1..255)")
    if ref < 256:
        return bytes((5, IEI_CONCAT_8, 3, ref, total, index))
    return bytes((6, IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, total, index))
