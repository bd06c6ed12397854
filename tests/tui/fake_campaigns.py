"""The fake's campaign, contact and inbox backend (split from :mod:`fake_client` to keep both short).

Campaign and contact replies are plain dicts, as the daemon sends them; inbox replies are the
protocol views. Every op goes through :meth:`FakeClient.call`, so the same msgspec round trip
applies.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from fake_client import T0, FakeClient, analyse

from gatewayd import protocol as P
from gatewayd.models import Role
from gatewaytui.client import RequestError


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
        self.assignees = [P.AssigneeView(user=u, role=Role(r), offices=["main"]) for u, r in
                          (("alice", "agent"), ("bob", "agent"), ("ops", "admin"))]
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
        return sorted((self._row(c) for c in rows), key=lambda c: -c["updated_at"])

    def _row(self, c: dict) -> dict:
        """What campaign_list sends per row: the list's name and, for drafts, the readiness."""
        names = {x["id"]: x["name"] for x in self.lists_}
        row = dict(c, list=names.get(c["list_id"]))
        if c["status"] == "draft":
            row["not_ready"] = self.not_ready.get(c["id"], [])
        return row

    def op_campaign_show(self, req: P.CampaignShow) -> dict:
        return dict(self._row(self.campaigns[req.campaign_id]), script="welcome", recipients={"done": 2, "pending": 1})

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
        """Renders the asked step of the named script for the contact (fields and built-ins)."""
        c = next(c for c in self.contacts if c["phone"] == req.contact)
        script = next((s for s in self.scripts if req.script in (s["name"], str(s["id"]))), self.scripts[0])
        if not 1 <= req.step <= len(script["steps"]):
            raise RequestError("bad_request", f"step must be between 1 and {len(script['steps'])}")
        values = {**c["fields"], "first_name": c["first_name"], "last_name": c["last_name"], "phone": c["phone"]}
        text = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))),
                      script["steps"][req.step - 1]["text"])
        info = analyse(text)
        return {"text": text, "missing_field": None, "encoding": info.encoding.value, "segments": info.segments,
                "units": info.units, "cost": round(info.segments * 0.0075, 6), "phone": c["phone"]}

    def op_campaign_check(self, req: P.CampaignCheck) -> dict:
        """The daemon's own content checks (default config) on the named scripts."""
        from gatewayd import config
        from gatewayd.campaigns import content

        cfg = config.Config()
        refs = ([req.fields.script] if req.fields.script else []) + [v["script"] for v in req.fields.variants or []]
        texts = [(s["name"], s["steps"], {}) for ref in refs for s in self.scripts if ref in (s["name"], str(s["id"]))]
        checks = content.review(texts, content.rule_set_for(req.fields.hours, cfg), cfg, 0.0075) if texts else []
        return {"hours": req.fields.hours, "checks": checks,
                "blockers": sum(1 for c in checks if c["severity"] == "blocker")}

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

    def op_inbox_assignees(self, req: P.InboxAssignees) -> list[P.AssigneeView]:
        return self.assignees

    def op_inbox_operated_by(self, req: P.InboxOperatedBy) -> dict:
        return self._conv(req.conversation_id, operated_by=req.operated_by)

    def op_inbox_attention(self, req: P.InboxAttention) -> dict:
        return self._conv(req.conversation_id, needs_attention=req.on)

    def op_inbox_read(self, req: P.InboxRead) -> dict:
        return self._conv(req.conversation_id, unread=0 if req.read else 1)

    def op_inbox_opt_out(self, req: P.InboxOptOut) -> dict:
        return self._conv(req.conversation_id, opted_out=True)
