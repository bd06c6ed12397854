"""The ``sim_inbound`` socket op: a message "from a phone" on the simulated carrier.

Testing a two-way flow (a keyword, an answer to a campaign question, an unsolicited message to a
number's inbox) needs someone to text us. On the sim link that someone is this op: the message is
handed to the link, which delivers it exactly as it delivers its simulated replies, so everything
downstream (attribution, keywords, conversations, the assistant) sees a real inbound message.
Only sim links take it: on an SMPP or modem link it would be a forged carrier message.
"""

from __future__ import annotations

from .. import phones
from .. import protocol as P
from ..control.access import Principal
from ..control.handlers import handles
from ..errors import BadRequest, GatewayError, NotFound
from ..models import Role


class NotSim(GatewayError):
    code = "not_sim"


def _pick_link(gw, number, name: str | None):
    """The sim link the message arrives on: ``name``, or the number's first sim link."""
    if name is not None:
        lr = gw.links.get(name)
        if lr is None:
            raise NotFound(f"no link {name!r}")
        if name not in number.links:
            raise BadRequest(f"link {name!r} does not serve {number.address} (its links: {', '.join(number.links)})")
        if lr.link.kind != "sim":
            raise NotSim(f"link {name!r} is a {lr.link.kind} link; sim inbound works on sim links only")
        return lr
    for link_name in number.links:
        lr = gw.links.get(link_name)
        if lr is not None and lr.link.kind == "sim":
            return lr
    kinds = ", ".join(f"{n} ({gw.links[n].link.kind})" for n in number.links if n in gw.links)
    raise NotSim(f"{number.address} has no sim link (links: {kinds or 'none'}); sim inbound works on sim links only")


@handles(P.SimInbound, Role.ADMIN)
async def sim_inbound(gw, who: Principal, req: P.SimInbound) -> P.SimInboundView:
    if not req.text:
        raise BadRequest("text is empty", "empty_text")
    if len(req.text) > gw.cfg.queue.max_text_chars:
        raise BadRequest(f"text is {len(req.text)} characters; the limit is {gw.cfg.queue.max_text_chars}",
                         "text_too_long")
    sender = phones.normalise(req.sender, gw.cfg.default_region)
    number = gw.cfg.number(req.to.strip())
    if number is None:
        try:
            number = gw.cfg.number(phones.normalise(req.to, gw.cfg.default_region))
        except phones.InvalidNumber:
            number = None
    if number is None:
        raise BadRequest(f"unknown number {req.to!r}: not in [[numbers]]", "unknown_number")
    lr = _pick_link(gw, number, req.link)
    if not lr.enabled:
        raise GatewayError(f"link {lr.link.name!r} is disabled", "link_disabled")
    msg = await lr.link.inject(sender, number.address, req.text)

    def read(db):
        return db.execute("SELECT id, received_at, campaign_id, conversation_id, keyword FROM inbound"
                          " WHERE dedup_key = ?", (msg.dedup_key,)).fetchone()

    row = await gw.store.read(read)
    return P.SimInboundView(
        inbound_id=row[0] if row else None, link=lr.link.name, sender=sender, to=number.address, text=req.text,
        received_at=row[1] if row else msg.received_at, campaign_id=row[2] if row else None,
        conversation_id=row[3] if row else None, keyword=row[4] if row else None)


def install(gw) -> None:
    """Nothing to set up: the handler registers on import (extensions.MODULES imports us)."""
