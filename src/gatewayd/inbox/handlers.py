"""Control-socket handlers for the inbox: thin async shells over :mod:`.triage`.

Reads run on the reader connection; writes are one store op each (committed, with their event,
before the reply). State-changing requests need the agent role, which is also what makes the core
record them in the audit log.
"""

from __future__ import annotations

from .. import protocol as P
from ..control.access import Principal, assignees
from ..control.handlers import handles
from ..errors import BadRequest, Conflict
from ..models import Role
from . import conversations as cv
from . import keywords, triage


def _limit(n: int) -> None:
    if not 1 <= n <= 500:
        raise BadRequest("limit must be between 1 and 500")


@handles(P.InboxList)
async def inbox_list(gw, who: Principal, req: P.InboxList) -> P.ConversationPage:
    _limit(req.limit)
    return await gw.store.read(triage.list_page, who, req)


@handles(P.InboxShow)
async def inbox_show(gw, who: Principal, req: P.InboxShow) -> P.ConversationDetail:
    _limit(req.limit)
    return await gw.store.read(triage.detail, who, req)


async def _view(gw, who: Principal, conversation_id: int) -> P.ConversationView:
    def q(db):
        row = cv.get(db, conversation_id)
        return cv.view(row, cv.tags(db, conversation_id))

    return await gw.store.read(q)


@handles(P.InboxReply, Role.AGENT)
async def inbox_reply(gw, who: Principal, req: P.InboxReply) -> dict:
    number = gw.cfg.number((await _view(gw, who, req.conversation_id)).number)
    lane = gw.dispatcher.lanes.get(number.address) if number else None
    if number is not None and (not number.enabled or (lane is not None and not lane.enabled)):
        # Refused rather than queued as ignored: the conversation must keep showing it is unanswered.
        raise Conflict(f"number {number.address} is disabled: the reply would not be sent", "number_disabled")
    mid = await gw.store.run(triage.reply, who, req.conversation_id, req.text, gw.cfg)
    if number is not None:
        gw.dispatcher.kick(number.address)
    return {"conversation_id": req.conversation_id, "message_id": mid, "state": "queued"}


@handles(P.InboxTag, Role.AGENT)
async def inbox_tag(gw, who: Principal, req: P.InboxTag) -> dict:
    tags = await gw.store.run(triage.tag, who, req.conversation_id, req.tag)
    return {"conversation_id": req.conversation_id, "tags": tags}


@handles(P.InboxUntag, Role.AGENT)
async def inbox_untag(gw, who: Principal, req: P.InboxUntag) -> dict:
    tags = await gw.store.run(triage.untag, who, req.conversation_id, req.tag)
    return {"conversation_id": req.conversation_id, "tags": tags}


@handles(P.InboxAssign, Role.AGENT)
async def inbox_assign(gw, who: Principal, req: P.InboxAssign) -> P.ConversationView:
    await gw.store.run(triage.assign, who, req.conversation_id, req.user, gw.cfg)
    return await _view(gw, who, req.conversation_id)


@handles(P.InboxAssignees)
async def inbox_assignees(gw, who: Principal, req: P.InboxAssignees) -> list[P.AssigneeView]:
    return [P.AssigneeView(user=u, role=r, offices=list(o), limited=lim)
            for u, r, o, lim in assignees(gw.cfg.access, who)]


@handles(P.InboxOperatedBy, Role.AGENT)
async def inbox_operated_by(gw, who: Principal, req: P.InboxOperatedBy) -> P.ConversationView:
    await gw.store.run(triage.operated_by, who, req.conversation_id, req.operated_by)
    return await _view(gw, who, req.conversation_id)


@handles(P.InboxAttention, Role.AGENT)
async def inbox_attention(gw, who: Principal, req: P.InboxAttention) -> P.ConversationView:
    await gw.store.run(triage.attention, who, req.conversation_id, req.on)
    return await _view(gw, who, req.conversation_id)


@handles(P.InboxRead, Role.AGENT)
async def inbox_read(gw, who: Principal, req: P.InboxRead) -> P.ConversationView:
    await gw.store.run(triage.mark_read, who, req.conversation_id, req.read)
    return await _view(gw, who, req.conversation_id)


@handles(P.InboxOptOut, Role.AGENT)
async def inbox_opt_out(gw, who: Principal, req: P.InboxOptOut) -> dict:
    scope = await gw.store.run(triage.opt_out, who, req.conversation_id, req.scope, req.reason)
    return {"conversation_id": req.conversation_id, "opted_out": True, "scope": scope}


@handles(P.InboxKeywords)
async def inbox_keywords(gw, who: Principal, req: P.InboxKeywords) -> list[P.AutoReplyView]:
    return await gw.store.read(keywords.listing)


@handles(P.InboxKeywordSet, Role.ADMIN)
async def inbox_keyword_set(gw, who: Principal, req: P.InboxKeywordSet) -> P.AutoReplyView:
    if req.number is not None and gw.cfg.number(req.number) is None:
        raise BadRequest(f"unknown number {req.number!r}: not in [[numbers]]", "unknown_number")
    return await gw.store.run(keywords.put, req.keyword, req.reply, req.number, who.user, gw.cfg)


@handles(P.InboxKeywordRemove, Role.ADMIN)
async def inbox_keyword_remove(gw, who: Principal, req: P.InboxKeywordRemove) -> dict:
    await gw.store.run(keywords.remove, req.keyword, req.number, who.user)
    return {"keyword": keywords.normalise(req.keyword), "number": req.number, "removed": True}
