"""Requests that only the simulated carrier answers (demos and tests)."""

from __future__ import annotations

import msgspec

from .base import Request

__all__ = ["SimInbound", "SimInboundView"]


class SimInbound(Request, tag="sim_inbound"):
    """Admin: deliver ``text`` as if the phone ``from`` had texted our number ``to``, on a sim link
    of that number (``link``: which one, when it has several). It goes the way every inbound
    message goes (campaign attribution, STOP/HELP keywords, the inbox) and is committed before the
    reply. Refused with ``not_sim`` when the number (or ``link``) is not served by a sim link:
    a real carrier's traffic is never faked. Returns :class:`SimInboundView`."""

    sender: str = msgspec.field(name="from")
    to: str
    text: str
    link: str | None = None


class SimInboundView(msgspec.Struct, kw_only=True):
    inbound_id: int | None            # None: a redelivery the store already had (never for sim inbound)
    link: str
    sender: str = msgspec.field(name="from")
    to: str
    text: str
    received_at: float
    campaign_id: int | None
    conversation_id: int | None
    keyword: str | None
