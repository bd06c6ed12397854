"""Domain enums and value structs shared by the daemon, the wire schema and the TUI.

Only msgspec and the standard library here: the TUI imports this module.
"""

from __future__ import annotations

import enum

import msgspec


class MsgState(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"          # handed to a link, no answer yet
    SENT = "sent"                # carrier accepted: delivered (unconfirmed)
    DELIVERED = "delivered"      # DLR DELIVRD: delivered (confirmed)
    UNDELIVERED = "undelivered"  # DLR UNDELIV/EXPIRED/REJECTD/DELETED/UNKNOWN
    FAILED = "failed"            # rejected at submit, carries the reason
    EXPIRED = "expired"          # TTL passed while queued
    UNREACHABLE = "unreachable"  # recipient suppressed
    IGNORED = "ignored"          # sender/link/campaign disabled
    CANCELLED = "cancelled"      # withdrawn by an operator before it was sent


#: States after which nothing more happens to a message without an operator's retry.
#: ``sent`` is not final: a receipt may still move it to delivered/undelivered.
FINAL_STATES = frozenset(
    {
        MsgState.DELIVERED,
        MsgState.UNDELIVERED,
        MsgState.FAILED,
        MsgState.EXPIRED,
        MsgState.UNREACHABLE,
        MsgState.IGNORED,
        MsgState.CANCELLED,
    }
)
#: States in which the message left our hands (counted as "attempted").
ATTEMPTED_STATES = frozenset({MsgState.SENT, MsgState.DELIVERED, MsgState.UNDELIVERED, MsgState.FAILED})


class Priority(enum.IntEnum):
    BULK = 0           # campaign traffic
    TRANSACTIONAL = 1  # single sends from scripts
    INTERACTIVE = 2    # agent / assistant replies
    COMPLIANCE = 3     # STOP/START/HELP confirmations: ahead of everything, never capped (SPEC §11)

    @classmethod
    def parse(cls, value: str | int) -> "Priority":
        if isinstance(value, int):
            return cls(value)
        return cls[value.upper()]


class Encoding(str, enum.Enum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


class LinkState(str, enum.Enum):
    STARTING = "starting"
    BINDING = "binding"
    UP = "up"
    THROTTLED = "throttled"
    DOWN = "down"
    DISABLED = "disabled"


class ReceiptStat(str, enum.Enum):
    """Final delivery states as carriers report them (SMPP 3.4 appendix B)."""

    DELIVRD = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIV = "UNDELIV"
    ACCEPTD = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTD = "REJECTD"
    ENROUTE = "ENROUTE"


#: Receipt stats that mean "will never be delivered".
UNDELIVERED_STATS = frozenset(
    {ReceiptStat.UNDELIV, ReceiptStat.EXPIRED, ReceiptStat.REJECTD, ReceiptStat.DELETED, ReceiptStat.UNKNOWN}
)


class Role(str, enum.Enum):
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


class SegmentInfo(msgspec.Struct, frozen=True):
    """What the segmenter tells a client before sending (compose counters, previews)."""

    encoding: Encoding
    segments: int
    units: int            # septets for GSM-7, UTF-16 code units for UCS-2
    per_segment: int      # capacity of each segment at this count (160/153, 70/67)
    remaining: int        # units left in the last segment
