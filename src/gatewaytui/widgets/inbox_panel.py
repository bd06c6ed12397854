"""The triage panel: conversation list on the left, the open thread and a reply box on the right.

Used by the Inbox screen (all inboxes the user may see) and by a campaign's Activity tab
(``campaign_id`` set). Sections follow seed 001: Needs attention first (it opens there when any
conversation needs attention), then Agent-operated and Assistant-operated; empty sections are
left out of the section bar. Lists are keyset pages from ``inbox_list`` and never load everything.
Every action works on the open conversation and keeps the operator's place; ``j``/``k`` move on.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from gatewayd import protocol as P
from gatewayd.models import Role

from ..screens.base import ReportsWorkerErrors
from .format import STATE_ICON, clip, when

SECTIONS = [("needs_attention", "! Needs attention"), ("agent", "Agent-operated"), ("assistant", "Assistant-operated")]
STATUS_STYLE = {"received": "cyan", "pending": "blue", "sent": "green", "delivered": "bold green",
                "undelivered": "red", "failed": "bold red"}
PAGE = 50


def thread_text(d: P.ConversationDetail) -> Text:
    c = d.conversation
    t = Text()
    name = f"{c.first_name} {c.last_name}".strip() or c.phone
    t.append(name, style="bold")
    t.append(f"  {c.phone} → {c.number}")
    if c.campaign_id is not None:
        t.append(f" · campaign #{c.campaign_id}")
    t.append(f"\n{'Assistant' if c.operated_by == 'assistant' else 'Agent'}-operated")
    if c.needs_attention:
        t.append(f" · ! needs attention ({c.attention_reason or 'flagged'})", style="bold yellow")
    if c.assignee:
        t.append(f" · assigned to {c.assignee}")
    if c.tags:
        t.append(" · tags: " + ", ".join(c.tags), style="magenta")
    if c.opted_out:
        t.append(" · OPTED OUT", style="bold red")
    if c.status == "closed":
        t.append(" · closed", style="dim")
    if d.next_before:
        t.append("\n… older messages: [ loads them", style="dim")
    for m in d.messages:
        t.append("\n")
        if m.direction == "in":
            t.append(f"← {when(m.at)} ", style="cyan")
            t.append(m.text)
            continue
        icon = STATE_ICON.get(m.status, "·")
        t.append(f"→ {when(m.at)} {icon} {m.status}", style=STATUS_STYLE.get(m.status, ""))
        if m.source or m.created_by:
            t.append(f" [{m.created_by or m.source}]", style="dim")
        t.append(f" {m.text}")
        if m.status in ("undelivered", "failed") and (m.error_text or m.error_code):
            t.append(f"\n    reason: {m.error_code or ''} {m.error_text or ''}".rstrip(), style="red")
    for a in d.answers[-3:]:
        t.append(f"\n  answer step {a.step}: {a.value or a.raw}" + ("" if a.valid else f" (invalid: {a.reason})"),
                 style="dim" if a.valid else "yellow")
    return t


def assign_choices(people: list[P.AssigneeView], me: str,
                   current: str | None) -> tuple[list[tuple[str | None, Text]], int]:
    """The assign picker's rows: me first (when I may take conversations), colleagues, then
    Unassign when assigned; and the row to start on, the first that would change something."""
    rows: list[tuple[str | None, Text]] = []
    for p in sorted(people, key=lambda p: p.user != me):
        label = Text(f"me ({p.user})" if p.user == me else p.user, style="bold")
        label.append(f"  {p.role.value}" + "".join(f" · {o}" for o in p.offices), style="dim")
        if p.user == current:
            label.append("  (assigned)", style="green")
        rows.append((p.user, label))
    if current is not None:
        rows.append((None, Text(f"Unassign (now {current})", style="yellow")))
    return rows, next((i for i, (user, _) in enumerate(rows) if user != current), 0)


class InboxPanel(ReportsWorkerErrors, Widget):
    BINDINGS = [
        Binding("r", "reply", "Reply"),
        Binding("j", "next", "Next"),
        Binding("k", "prev", "Prev", show=False),
        Binding("t", "tag", "Tag"),
        Binding("T", "untag", "Untag", show=False),
        Binding("a", "assign", "Assign…"),
        Binding("b", "operated_by", "Agent/Bot"),
        Binding("exclamation_mark", "attention", "Attention", key_display="!"),
        Binding("x", "opt_out", "Opt out"),
        Binding("u", "unread", "Unread", show=False),
        Binding("0", "section('')", "All", show=False),
        Binding("1", "section('needs_attention')", "Needs attention", show=False),
        Binding("2", "section('agent')", "Agent", show=False),
        Binding("3", "section('assistant')", "Assistant", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("right_square_bracket", "older", "More", key_display="]", show=False),
    ]
    CHANGES = ("reply", "tag", "untag", "assign", "operated_by", "attention", "opt_out", "unread")

    def __init__(self, campaign_id: int | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.campaign_id = campaign_id
        self.section: str | None = None
        self.auto_section = True
        self.search: str | None = None
        self.tags: list[str] | None = None
        self.pages: list[str | None] = [None]
        self.next_before: str | None = None
        self.items: list[P.ConversationView] = []
        self.counts: dict[str, int] = {}
        self.detail: P.ConversationDetail | None = None
        self.stale = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="ib-left"):
                yield Static("", id="ib-sections")
                yield Input(placeholder="name or phone… #tag (Enter)", id="ib-search", classes="search")
                yield DataTable(id="ib-list", cursor_type="row")
            with Vertical(id="ib-right"):
                with VerticalScroll(id="ib-thread-box"):
                    yield Static("Select a conversation.", id="ib-thread")
                yield Input(placeholder="reply… (Enter sends, Esc back to the list)", id="ib-reply")

    def on_mount(self) -> None:
        table = self.query_one("#ib-list", DataTable)
        table.add_column("", key="flag", width=1)
        table.add_column("Contact", key="who", width=14)
        table.add_column("Last", key="last")
        table.add_column("When", key="when", width=11)
        # identity may arrive after mount (a quick "i" at start): the reply box follows the role
        self.watch(self.app, "identity", lambda _: setattr(self.query_one("#ib-reply"), "display",
                                                           self.app.can(Role.AGENT)))  # type: ignore[attr-defined]
        self.set_interval(1.0, self._reload_if_stale)

    @property
    def gw(self):
        return self.app

    # ---- loading ---------------------------------------------------------------------------

    def reload(self) -> None:
        self.load_list()

    @work(exclusive=True, group="inbox-list", exit_on_error=False)
    async def load_list(self) -> None:
        req = P.InboxList(section=self.section, tags=self.tags, search=self.search,  # type: ignore[arg-type]
                          campaign_id=self.campaign_id, before=self.pages[-1], limit=PAGE)
        page = await self.gw.call(req, P.ConversationPage)
        if page is None:
            return
        if self.auto_section and self.section is None and page.counts.get("needs_attention"):
            self.section = "needs_attention"
            self.auto_section = False
            self.load_list()
            return
        self.auto_section = False
        self.items, self.counts, self.next_before = page.items, page.counts, page.next_before
        table = self.query_one("#ib-list", DataTable)
        keep = table.cursor_row
        current = self.detail.conversation.id if self.detail else None
        ids = [c.id for c in page.items]
        # A reload never changes the open conversation: the cursor follows it (or keeps its place).
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for c in page.items:
                flag = Text("!", style="bold yellow") if c.needs_attention else Text("•" if c.unread else " ", "cyan")
                who = Text(clip(f"{c.first_name} {c.last_name}".strip() or c.phone, 14),
                           style="bold" if c.unread else "")
                last = ("← " if c.last_direction == "in" else "→ ") + clip(c.last_text, 40)
                table.add_row(flag, who, last, when(c.last_message_at), key=str(c.id))
            if page.items:
                row = ids.index(current) if current in ids else min(keep, len(ids) - 1)
                table.move_cursor(row=row, animate=False)
        self._sections()
        if self.detail is None and page.items:
            self.open(page.items[min(keep, len(page.items) - 1)].id)

    def _sections(self) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        total = sum(self.counts.values())
        parts = [("", f"0 All {total}")] + [(k, f"{i} {label} {self.counts.get(k, 0)}")
                                            for i, (k, label) in enumerate(SECTIONS, 1) if self.counts.get(k)]
        for key, label in parts:
            on = (self.section or "") == key
            t.append(f" {label} ", style="reverse bold" if on else ("yellow" if key == "needs_attention" else ""))
        self.query_one("#ib-sections", Static).update(t)

    @work(exclusive=True, group="inbox-thread", exit_on_error=False)
    async def open(self, conversation_id: int) -> None:
        detail = await self.gw.call(P.InboxShow(conversation_id=conversation_id), P.ConversationDetail)
        if detail is None:
            return
        self.detail = detail
        self.query_one("#ib-thread", Static).update(thread_text(detail))
        self.query_one("#ib-thread-box", VerticalScroll).scroll_end(animate=False)
        if detail.conversation.unread and self.app.can(Role.AGENT):  # type: ignore[attr-defined]
            await self.gw.call(P.InboxRead(conversation_id=conversation_id, read=True), quiet=True)
        self.screen.refresh_bindings()

    def on_live(self, batch) -> None:
        if batch.conversation_ids or batch.inbound:
            self.stale = True
            if self.detail and self.detail.conversation.id in batch.conversation_ids:
                self.open(self.detail.conversation.id)

    def _reload_if_stale(self) -> None:
        if self.stale:
            self.stale = False
            self.load_list()

    @on(DataTable.RowHighlighted, "#ib-list")
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and (self.detail is None or str(self.detail.conversation.id) != event.row_key.value):
            self.open(int(event.row_key.value))

    @on(DataTable.RowSelected, "#ib-list")
    def _selected(self, _event) -> None:
        self.action_reply()

    @on(Input.Submitted, "#ib-search")
    def _search(self, event: Input.Submitted) -> None:
        words = event.value.split()
        self.tags = [w[1:] for w in words if w.startswith("#") and len(w) > 1] or None
        self.search = " ".join(w for w in words if not w.startswith("#")) or None
        self.pages = [None]
        self.query_one("#ib-list").focus()
        self.load_list()

    @on(Input.Submitted, "#ib-reply")
    def _reply(self, event: Input.Submitted) -> None:
        if self.detail and event.value.strip():
            self._change(P.InboxReply(conversation_id=self.detail.conversation.id, text=event.value.strip()),
                         "Reply queued.")
            event.input.value = ""

    def on_key(self, event) -> None:
        if event.key == "escape" and self.app.focused is self.query_one("#ib-reply"):
            self.query_one("#ib-list").focus()
            event.stop()

    # ---- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.CHANGES:
            if not self.app.can(Role.AGENT):  # type: ignore[attr-defined]
                return False
            if self.detail is None:
                return None
            c = self.detail.conversation
            if action == "attention":
                return c.operated_by == "agent" or None
            if action == "opt_out":
                return (not c.opted_out) or None
        return True

    def action_search(self) -> None:
        self.query_one("#ib-search").focus()

    def action_section(self, section: str) -> None:
        self.section = section or None
        self.auto_section = False
        self.pages = [None]
        self.detail = None
        self.load_list()

    def action_older(self) -> None:
        if self.next_before:
            self.pages.append(self.next_before)
            self.load_list()

    def _move(self, delta: int) -> None:
        table = self.query_one("#ib-list", DataTable)
        if self.detail is not None and self.items and all(c.id != self.detail.conversation.id for c in self.items):
            # the open conversation left this section (answered): the one under the cursor is next
            self.open(self.items[min(table.cursor_row, len(self.items) - 1)].id)
            table.focus()
            return
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))
            table.focus()

    def action_next(self) -> None:
        self._move(1)

    def action_prev(self) -> None:
        self._move(-1)

    def action_reply(self) -> None:
        if self.detail is not None and self.app.can(Role.AGENT):  # type: ignore[attr-defined]
            self.query_one("#ib-reply").focus()

    def action_tag(self) -> None:
        from ..screens.modals import PromptScreen

        if self.detail is None:
            return
        if len(self.detail.conversation.tags) >= 3:
            self.notify("A conversation has at most 3 tags: remove one first (T).", severity="warning")
            return
        cid = self.detail.conversation.id

        def done(tag: str | None) -> None:
            if tag:
                self._change(P.InboxTag(conversation_id=cid, tag=tag), f"Tagged {tag!r}.")

        self.app.push_screen(PromptScreen("Add a tag", "up to 30 characters", hint="At most 3 tags."), done)

    def action_untag(self) -> None:
        from ..screens.modals import PromptScreen

        if self.detail is None or not self.detail.conversation.tags:
            return
        cid, tags = self.detail.conversation.id, self.detail.conversation.tags

        def done(tag: str | None) -> None:
            if tag:
                self._change(P.InboxUntag(conversation_id=cid, tag=tag), f"Removed tag {tag!r}.")

        self.app.push_screen(PromptScreen("Remove which tag?", value=tags[-1], hint=", ".join(tags)), done)

    def action_assign(self) -> None:
        if self.detail is not None:
            self._pick_assignee(self.detail.conversation)

    @work(exclusive=True, group="inbox-assignees", exit_on_error=False)
    async def _pick_assignee(self, c: P.ConversationView) -> None:
        from ..screens.modals import Picked, PickScreen

        people = await self.gw.call(P.InboxAssignees(), list[P.AssigneeView])
        if people is None:
            return
        me = self.app.identity.user  # type: ignore[attr-defined]
        choices, start = assign_choices(people, me, c.assignee)

        def done(picked: Picked | None) -> None:
            if picked is not None and picked.value != c.assignee:
                user = picked.value
                said = "Unassigned." if user is None else "Assigned to you." if user == me else f"Assigned to {user}."
                self._change(P.InboxAssign(conversation_id=c.id, user=user), said)

        who = f"{c.first_name} {c.last_name}".strip() or c.phone
        self.app.push_screen(PickScreen(f"Assign the conversation with {who} to…", choices, start=start), done)

    def action_operated_by(self) -> None:
        if self.detail is None:
            return
        c = self.detail.conversation
        new = "assistant" if c.operated_by == "agent" else "agent"
        self._change(P.InboxOperatedBy(conversation_id=c.id, operated_by=new), f"Now {new}-operated.")  # type: ignore[arg-type]

    def action_attention(self) -> None:
        if self.detail is None:
            return
        c = self.detail.conversation
        self._change(P.InboxAttention(conversation_id=c.id, on=not c.needs_attention),
                     "Needs attention." if not c.needs_attention else "Attention cleared.")

    def action_unread(self) -> None:
        if self.detail is not None:
            self._change(P.InboxRead(conversation_id=self.detail.conversation.id, read=False), "Marked unread.")

    def action_opt_out(self) -> None:
        from ..screens.modals import ConfirmScreen

        if self.detail is None:
            return
        c = self.detail.conversation
        scope = f"campaign #{c.campaign_id}" if c.campaign_id is not None else f"number {c.number}"

        def done(yes: bool | None) -> None:
            if yes:
                self._change(P.InboxOptOut(conversation_id=c.id), f"{c.phone} opted out.")

        self.app.push_screen(ConfirmScreen(f"Opt out {c.phone}?", f"No more messages of {scope} will be sent to "
                                           "this contact. An admin can lift it on the Contacts screen.",
                                           yes="Opt out"), done)

    @work(group="inbox-change", exit_on_error=False)
    async def _change(self, req: P.Request, done: str) -> None:
        if not await self.gw.do(req):
            return
        self.notify(done, timeout=3)
        if self.detail is not None:
            self.open(self.detail.conversation.id)
        self.stale = True
