"""A fake control-socket client for Pilot tests: an in-memory gateway behind the Client interface.

Results go through msgspec the same way the real client's do (to builtins and back into the
typed view), so a field the TUI reads but the schema lacks fails here too. Tests push events and
connection changes into the stream, make ops fail with a code, and read back the requests sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import msgspec

from gatewayd import protocol as P
from gatewayd.models import Encoding, LinkState, MsgState, Role, SegmentInfo
from gatewaytui.client import Connection, RequestError

T0 = 1_700_000_000.0   # fixed clock for deterministic screens (2023-11-14, never "today")


def analyse(text: str) -> SegmentInfo:
    """Good enough for the fake: ASCII counts as GSM-7, anything else UCS-2."""
    if all(ord(c) < 128 for c in text):
        units, single, multi, enc = len(text), 160, 153, Encoding.GSM7
    else:
        units, single, multi, enc = len(text.encode("utf-16-le")) // 2, 70, 67, Encoding.UCS2
    per = single if units <= single else multi
    segs = max(1, -(-units // per))
    return SegmentInfo(enc, segs, units, per, per * segs - units)


def message(mid: int, state: str = "delivered", *, to: str | None = None, text: str | None = None,
            at: float | None = None) -> P.MessageView:
    at = at if at is not None else T0 + mid
    return P.MessageView(id=mid, key=None, sender="+14155550100", recipient=to or f"+1415555{mid:04d}",
                         text=text or f"hello {mid}", state=MsgState(state), priority="transactional",
                         encoding="gsm7", segments=1, created_at=at, updated_at=at, expires_at=None, attempts=1,
                         link="sim", error_code=None, error_text=None, possible_duplicate=False)


def link(name: str = "sim", state: str = "up", *, enabled: bool = True, reason: str = "") -> P.LinkView:
    return P.LinkView(name=name, kind="sim", state=LinkState(state), reason=reason, enabled=enabled, window=50,
                      in_flight=3, rate=200.0, detail={}, sent_last_min=120, price_per_segment=0.0075)


def number(address: str = "+14155550100", **kw: Any) -> P.NumberView:
    base = dict(address=address, links=["sim"], rate=20.0, burst=40, daily_cap=1000, used_today=12, enabled=True,
                reusable=True, office="main")
    base.update(kw)
    return P.NumberView(**base)


class FakeClient:
    def __init__(self, *, role: str = "admin", messages: int = 0, user: str = "alice") -> None:
        self.cursor: int | None = None
        self.identity = P.Identity(user=user, uid=1000, role=Role(role), offices=["main"], limited=False,
                                   version="0.1.0")
        self.status = P.StatusView(
            version="0.1.0", started_at=T0, links=[link()], numbers=[number(), number("ACME", daily_cap=None)],
            queue={"queued": 5, "sending": 2, "sent": 10, "delivered": 80, "undelivered": 3, "failed": 1},
            segments={}, sent_per_s=2.0, delivered_per_s=1.5, inbound_total=7, unmatched_receipts=0,
            last_cursor=100)
        self.messages: dict[int, P.MessageView] = {i: message(i) for i in range(1, messages + 1)}
        self.receipts: list[P.ReceiptView] = []
        self.requests: list[P.Request] = []
        self.failures: dict[str, RequestError] = {}
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self._stream: asyncio.Queue[P.Event | Connection] = asyncio.Queue()
        self._cursor = 100
        self.subscribed_since: list[int | None] = []

    # ---- Client interface ---------------------------------------------------------------

    async def call(self, req: P.Request, result_type: type | None = None) -> Any:
        self.requests.append(req)
        await asyncio.sleep(0)
        op = req.__struct_config__.tag
        if op in self.failures:
            raise self.failures[op]
        handler = self.handlers.get(op) or getattr(self, f"op_{op}", None)
        if handler is None:
            raise RequestError("unknown_op", f"unknown op {op!r}")
        result = msgspec.to_builtins(handler(req))
        return result if result_type is None else P.decode_result(result, result_type)

    async def stream(self, since: int | None = None):
        self.subscribed_since.append(self.cursor if since is None else since)
        yield Connection(up=True)
        while True:
            item = await self._stream.get()
            if isinstance(item, P.Event):
                self.cursor = item.cursor
            yield item

    async def close(self) -> None:
        pass

    # ---- test controls ------------------------------------------------------------------

    def push(self, type_: str, *, at: float | None = None, **data: Any) -> P.Event:
        """Queue an event, stamped now unless ``at`` is given (snapshots need fixed times)."""
        self._cursor += 1
        ev = P.Event(cursor=self._cursor, at=time.time() if at is None else at, type=type_, data=data)
        self._stream.put_nowait(ev)
        return ev

    def go_down(self, detail: str = "gatewayd is not running at /tmp/x.sock", attempt: int = 1) -> None:
        self._stream.put_nowait(Connection(up=False, detail=detail, attempt=attempt))

    def come_back(self) -> None:
        self._stream.put_nowait(Connection(up=True))

    def set_message(self, mid: int, state: str, **changes: Any) -> P.MessageView:
        self.messages[mid] = msgspec.structs.replace(self.messages[mid], state=MsgState(state), **changes)
        return self.messages[mid]

    def sent(self, op: str) -> list[P.Request]:
        return [r for r in self.requests if r.__struct_config__.tag == op]

    # ---- ops ----------------------------------------------------------------------------

    def op_hello(self, req: P.Hello) -> P.Identity:
        return self.identity

    def op_status(self, req: P.Status) -> P.StatusView:
        return self.status

    def op_list_messages(self, req: P.ListMessages) -> P.MessagePage:
        items = sorted(self.messages.values(), key=lambda m: -m.id)
        if req.state is not None:
            items = [m for m in items if m.state == req.state]
        if req.recipient:
            items = [m for m in items if m.recipient == req.recipient]
        if req.before_id is not None:
            items = [m for m in items if m.id < req.before_id]
        page = items[: req.limit]
        more = len(items) > req.limit
        return P.MessagePage(items=page, next_before_id=page[-1].id if more and page else None)

    def op_get_message(self, req: P.GetMessage) -> P.MessageDetail:
        m = self.messages.get(req.message_id)
        if m is None:
            raise RequestError("not_found", f"no message {req.message_id}")
        segs = [P.SegmentView(index=1, state=m.state.value, carrier_id="1a2b", link="sim", submitted_at=m.created_at,
                              done_at=m.updated_at, receipt_stat="DELIVRD", error_code=None, error_text=None)]
        hist = [P.HistoryEntry(at=m.created_at, state="queued", detail=""),
                P.HistoryEntry(at=m.created_at, state="sent", detail="accepted by sim"),
                P.HistoryEntry(at=m.updated_at, state=m.state.value, detail="receipt DELIVRD")]
        return P.MessageDetail(message=m, segments=segs, history=hist)

    def op_analyse(self, req: P.Analyse) -> SegmentInfo:
        return analyse(req.text)

    def op_send(self, req: P.Send) -> P.MessageView:
        mid = max(self.messages, default=0) + 1
        m = message(mid, "queued", to=req.to, text=req.text)
        self.messages[mid] = m
        return m

    def op_cancel(self, req: P.Cancel) -> P.MessageView:
        m = self.messages[req.message_id]
        self.messages[m.id] = msgspec.structs.replace(m, state=MsgState.CANCELLED)
        return self.messages[m.id]

    def op_retry(self, req: P.Retry) -> P.MessageView:
        m = self.messages[req.message_id]
        self.messages[m.id] = msgspec.structs.replace(m, state=MsgState.QUEUED)
        return self.messages[m.id]

    def op_set_enabled(self, req: P.SetEnabled) -> dict:
        if req.kind == "link":
            self.status.links = [msgspec.structs.replace(x, enabled=req.enabled) if x.name == req.name else x
                                 for x in self.status.links]
        else:
            self.status.numbers = [msgspec.structs.replace(x, enabled=req.enabled) if x.address == req.name else x
                                   for x in self.status.numbers]
        return {"kind": req.kind, "name": req.name, "enabled": req.enabled}

    def op_list_receipts(self, req: P.ListReceipts) -> list[P.ReceiptView]:
        return self.receipts[: req.limit]


# ---- campaigns, contacts, inbox -----------------------------------------------------------------

def campaign(cid: int, name: str, status: str, **kw: Any) -> dict:
    actions = {"draft": ["view", "edit", "clone", "launch", "archive"],
               "scheduled": ["view", "clone", "pause", "stop", "archive"],
               "sending": ["view", "clone", "pause", "stop", "archive"],
               "paused": ["view", "clone", "resume", "stop", "archive"],
               "suspended": ["view", "clone", "resume", "stop", "archive"],
               "finished": ["view", "clone", "archive"], "archived": ["view", "clone"]}[status]
    base = dict(id=cid, name=name, status=status, status_reason="", script_id=1, list_id=1, number="+14155550100",
                office="main", operated_by="agent", tags=["spring"], stop_on_reply=False, schedule_at=None,
                cron=None, tz="UTC", next_run=None, created_at=T0, updated_at=T0 + 60, launched_at=None,
                actions=actions, created_by="alice")
    base.update(kw)
    return base


def conversation(cid: int, first: str, *, attention: bool = False, operated_by: str = "agent", unread: int = 0,
                 campaign_id: int | None = 1, tags: list[str] | None = None) -> P.ConversationView:
    return P.ConversationView(
        id=cid, number="+14155550100", phone=f"+1415555{cid:04d}", contact_id=cid, first_name=first,
        last_name="Doe", campaign_id=campaign_id, office="main", inbox=["office:main"], assignee=None,
        operated_by=operated_by, section="needs_attention" if attention else operated_by,  # type: ignore[arg-type]
        needs_attention=attention, attention_reason="new message from the contact" if attention else None,
        unread=unread, status="open", opted_out=False, tags=tags or [], last_text=f"reply from {first}",
        last_direction="in", last_message_at=T0 + cid, created_at=T0, updated_at=T0 + cid)


class CampaignClient(FakeClient):
    """FakeClient plus an in-memory campaign/contact/inbox backend."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.campaigns: dict[int, dict] = {
            1: campaign(1, "Spring sale", "sending", launched_at=T0 + 30),
            2: campaign(2, "Weekly digest", "scheduled", cron="0 9 * * 1", next_run=T0 + 86400 * 2, tags=[]),
            3: campaign(3, "Draft idea", "draft", number=None, list_id=None),
            4: campaign(4, "Old news", "archived", launched_at=T0 - 86400),
        }
        self.not_ready = {3: ["no contact list chosen", "no number chosen"]}
        self.lists_ = [{"id": 1, "name": "vip", "contacts": 3, "created_at": T0}]
        self.scripts = [{"id": 1, "name": "welcome", "type": "nudge", "steps": [{"text": "Hi {first_name}!"}],
                         "defaults": {}}]
        self.contacts = [{"id": i, "phone": f"+1415555020{i}", "first_name": n, "last_name": "Doe",
                          "fields": {"city": "Paris"}, "created_at": T0} for i, n in ((1, "Ada"), (2, "Bob"), (3, "Cy"))]
        self.suppressions_ = [{"id": 1, "phone": "+14155550203", "scope": "all", "campaign_id": None, "number": None,
                               "reason": "asked by phone", "source": "operator", "created_at": T0, "created_by": "bob"},
                              {"id": 2, "phone": "+14155550209", "scope": "number", "campaign_id": None,
                               "number": "+14155550100", "reason": "failed in 7 campaigns", "source": "auto",
                               "created_at": T0, "created_by": None}]
        self.conversations = {1: conversation(1, "Ada", attention=True, unread=2),
                              2: conversation(2, "Bob"), 3: conversation(3, "Cy", operated_by="assistant")}
        self.threads: dict[int, list[P.ThreadItem]] = {
            cid: [P.ThreadItem(direction="out", id=10 + cid, at=T0, text="Hi! Are you coming?", status="delivered",
                               source="campaign"),
                  P.ThreadItem(direction="in", id=20 + cid, at=T0 + 60, text=f"reply from {c.first_name}",
                               status="received")]
            for cid, c in self.conversations.items()}
        self.threads[2].insert(0, P.ThreadItem(direction="out", id=99, at=T0 - 60, text="first try",
                                               status="undelivered", error_code="0x0b",
                                               error_text="unknown subscriber"))

    # campaigns
    def op_campaign_list(self, req: P.CampaignList) -> list[dict]:
        rows = [c for c in self.campaigns.values() if not req.status or c["status"] in req.status]
        if req.search:
            rows = [c for c in rows if req.search.lower() in c["name"].lower()]
        if req.tag:
            rows = [c for c in rows if req.tag in c["tags"]]
        return sorted(rows, key=lambda c: -c["updated_at"])

    def op_campaign_show(self, req: P.CampaignShow) -> dict:
        c = dict(self.campaigns[req.campaign_id], list="vip", script="welcome", recipients={"done": 2, "pending": 1})
        if c["status"] == "draft":
            c["not_ready"] = self.not_ready.get(req.campaign_id, [])
        return c

    def op_campaign_action(self, req: P.CampaignAction) -> dict:
        c = self.campaigns[req.campaign_id]
        if req.action == "clone":
            nid = max(self.campaigns) + 1
            self.campaigns[nid] = campaign(nid, c["name"] + " (copy)", "draft")
            return self.campaigns[nid]
        new = {"pause": "paused", "resume": "sending", "archive": "archived", "stop": "stopped",
               "launch": "sending"}[req.action]
        self.campaigns[req.campaign_id] = campaign(req.campaign_id, c["name"], new)
        return self.campaigns[req.campaign_id]

    def op_campaign_create(self, req: P.CampaignCreate) -> dict:
        nid = max(self.campaigns) + 1
        self.campaigns[nid] = campaign(nid, req.fields.name or "?", "sending" if req.launch else "draft",
                                       number=req.fields.number, tags=req.fields.tags or [])
        return self.campaigns[nid]

    def op_campaign_edit(self, req: P.CampaignEdit) -> dict:
        self.campaigns[req.campaign_id]["name"] = req.fields.name or self.campaigns[req.campaign_id]["name"]
        return self.campaigns[req.campaign_id]

    def op_campaign_report(self, req: P.CampaignReport) -> dict:
        rep = {"campaign_id": req.campaign_id, "name": "Spring sale", "status": "sending",
               "send_status": {"total": 120, "succeeded": 100, "failed": 15, "pending": 5, "unreachable": 2,
                               "ignored": 0},
               "engagement": {"contacts_sent": 118, "contacts_responded": 30, "opt_outs": 4, "rate": 0.2542},
               "responses": {"contact": 41, "agent": 12, "assistant": 20, "median_agent_response_s": 185.0},
               "activity": {"bucket": "hour", "tz": "UTC", "series": [
                   {"label": f"2023-11-14T{h:02d}:00", "start": T0 + h * 3600, "sent": 10 * h, "received": 3 * h}
                   for h in range(1, 7)]},
               "performance": {"segments": {"queued": 5, "failed": 15, "delivered_confirmed": 90,
                                            "delivered_unconfirmed": 10}, "total_segments": 120, "cost": 0.9}}
        if req.csv:
            rep["csv"] = "section,key,value\nsend_status,total,120\n"
        return rep

    def op_campaign_contacts(self, req: P.CampaignContacts) -> list[dict]:
        states = {1: ("delivered", None), 2: ("undelivered", "unknown subscriber"), 3: ("queued", None)}
        return [{"contact_id": c["id"], "phone": c["phone"], "first_name": c["first_name"], "last_name": "Doe",
                 "created_at": T0, "state": "done", "step": 1, "message_state": states[c["id"]][0],
                 "failed_reason": states[c["id"]][1], "fields": {}}
                for c in self.contacts if c["id"] > req.after_id][: req.limit]

    def op_script_preview(self, req: P.ScriptPreview) -> dict:
        c = next(c for c in self.contacts if c["phone"] == req.contact)
        return {"text": f"Hi {c['first_name']}!", "missing_field": None, "encoding": "gsm7", "segments": 1,
                "units": 6, "cost": 0.0075, "phone": c["phone"]}

    def op_script_list(self, req) -> list[dict]:
        return self.scripts

    def op_script_create(self, req: P.ScriptCreate) -> dict:
        s = {"id": len(self.scripts) + 1, "name": req.name, "type": req.type, "steps": req.steps, "defaults": {}}
        self.scripts.append(s)
        return s

    # contacts
    def op_lists(self, req) -> list[dict]:
        return self.lists_

    def op_contacts_list(self, req: P.ContactsList) -> list[dict]:
        rows = [c for c in self.contacts if c["id"] > req.after_id]
        if req.search:
            rows = [c for c in rows if req.search.lower() in
                    f"{c['first_name']} {c['last_name']} {c['phone']}".lower()]
        return rows[: req.limit]

    def op_contacts_fields(self, req) -> list[str]:
        return ["city"]

    def op_contacts_import(self, req: P.ContactsImport) -> dict:
        invalid = [{"row": req.first_row + i, "reason": f"{r[2]!r}: not a possible number"}
                   for i, r in enumerate(req.rows) if not r[2].startswith("+")]
        ok = len(req.rows) - len(invalid)
        if not any(x["name"] == req.list_name for x in self.lists_):
            self.lists_.append({"id": len(self.lists_) + 1, "name": req.list_name, "contacts": 0, "created_at": T0})
        next(x for x in self.lists_ if x["name"] == req.list_name)["contacts"] += ok
        return {"list": req.list_name, "imported": ok, "merged": 0, "invalid": invalid}

    def op_suppressions(self, req: P.Suppressions) -> list[dict]:
        return [s for s in self.suppressions_ if not req.phone or s["phone"] == req.phone]

    def op_opt_in(self, req: P.OptIn) -> dict:
        self.suppressions_ = [s for s in self.suppressions_ if s["phone"] != req.phone]
        return {"phone": req.phone, "lifted": 1}

    def op_opt_out(self, req: P.OptOut) -> dict:
        return {"phone": req.phone, "scope": req.scope, "created": True}

    # inbox
    def op_inbox_list(self, req: P.InboxList) -> P.ConversationPage:
        items = [c for c in self.conversations.values() if req.campaign_id in (None, c.campaign_id)]
        if req.search:
            items = [c for c in items if req.search.lower() in (c.first_name + c.phone).lower()]
        if req.tags:
            items = [c for c in items if set(req.tags) & set(c.tags)]
        counts: dict[str, int] = {}
        for c in items:
            counts[c.section] = counts.get(c.section, 0) + 1
        if req.section:
            items = [c for c in items if c.section == req.section]
        items.sort(key=lambda c: -c.last_message_at)
        return P.ConversationPage(items=items[: req.limit], counts=counts, next_before=None)

    def op_inbox_show(self, req: P.InboxShow) -> P.ConversationDetail:
        return P.ConversationDetail(conversation=self.conversations[req.conversation_id],
                                    messages=self.threads[req.conversation_id], next_before=None, answers=[])

    def _conv(self, cid: int, **changes: Any) -> dict:
        c = msgspec.structs.replace(self.conversations[cid], **changes)
        section = "needs_attention" if c.needs_attention else c.operated_by
        self.conversations[cid] = msgspec.structs.replace(c, section=section)
        return {"ok": True}

    def op_inbox_reply(self, req: P.InboxReply) -> dict:
        self.threads[req.conversation_id].append(P.ThreadItem(direction="out", id=500, at=T0 + 120, text=req.text,
                                                              status="pending", source="agent", created_by="alice"))
        return self._conv(req.conversation_id, needs_attention=False, last_text=req.text, last_direction="out")

    def op_inbox_tag(self, req: P.InboxTag) -> dict:
        return self._conv(req.conversation_id, tags=[*self.conversations[req.conversation_id].tags, req.tag])

    def op_inbox_untag(self, req: P.InboxUntag) -> dict:
        return self._conv(req.conversation_id,
                          tags=[t for t in self.conversations[req.conversation_id].tags if t != req.tag])

    def op_inbox_assign(self, req: P.InboxAssign) -> dict:
        return self._conv(req.conversation_id, assignee=req.user)

    def op_inbox_operated_by(self, req: P.InboxOperatedBy) -> dict:
        return self._conv(req.conversation_id, operated_by=req.operated_by)

    def op_inbox_attention(self, req: P.InboxAttention) -> dict:
        return self._conv(req.conversation_id, needs_attention=req.on)

    def op_inbox_read(self, req: P.InboxRead) -> dict:
        return self._conv(req.conversation_id, unread=0 if req.read else 1)

    def op_inbox_opt_out(self, req: P.InboxOptOut) -> dict:
        return self._conv(req.conversation_id, opted_out=True)
