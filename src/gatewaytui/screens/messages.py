"""Messages: the live message list, newest first, one page at a time.

A gateway may hold a million messages, so the screen never asks for more than a page
(``list_messages`` with ``before_id``) and keeps a stack of page starts to go back. Live batches
update the state cell of rows on screen in place, and reload the first page when new messages
arrive while the operator is looking at it.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Label

from gatewayd import protocol as P
from gatewayd.models import MsgState

from ..widgets.format import clip, state_text, when
from .base import GatewayScreen

PAGE = 50
_STATES: list[str | None] = [None, *[s.value for s in MsgState]]


class MessagesScreen(GatewayScreen):
    MODE = "messages"
    BINDINGS = [
        Binding("enter", "open", "Detail", show=False),
        Binding("right_square_bracket", "older", "Older", key_display="]"),
        Binding("left_square_bracket", "newer", "Newer", key_display="["),
        Binding("g", "first", "Newest"),
        Binding("s", "cycle_state", "State filter"),
        Binding("slash", "search", "To…", key_display="/"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[int | None] = [None]     # before_id of each page start visited
        self.next_before: int | None = None
        self.state_filter: str | None = None
        self.recipient: str | None = None
        self.ids: set[int] = set()

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="recipient (Enter to filter, empty for all)", id="msg-search", classes="hidden")
        yield Label("", id="msg-caption")
        yield DataTable(id="msg-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        for label, key, width in (("ID", "id", 7), ("Time", "time", 8), ("From", "from", 12), ("To", "to", 13),
                                  ("State", "state", 13), ("Seg", "seg", 3), ("Text", "text", None)):
            table.add_column(label, key=key, width=width)
        table.focus()

    def reload(self) -> None:
        self.load_page()

    def _request(self) -> P.ListMessages:
        state = MsgState(self.state_filter) if self.state_filter else None
        return P.ListMessages(state=state, recipient=self.recipient, before_id=self.pages[-1], limit=PAGE)

    @work(exclusive=True, group="messages-page", exit_on_error=False)
    async def load_page(self) -> None:
        page = await self.gw.call(self._request(), P.MessagePage)
        if page is None:
            return
        self.next_before = page.next_before_id
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        self.ids = set()
        for m in page.items:
            self.ids.add(m.id)
            table.add_row(str(m.id), when(m.created_at), m.sender, m.recipient, state_text(m.state.value),
                          str(m.segments), clip(m.text, 40), key=str(m.id))
        if page.items:
            table.move_cursor(row=min(keep, len(page.items) - 1), animate=False)
        self._caption(len(page.items))

    def _caption(self, n: int) -> None:
        filters = []
        if self.state_filter:
            filters.append(f"state={self.state_filter}")
        if self.recipient:
            filters.append(f"to={self.recipient}")
        where = f"page {len(self.pages)}" + (" (newest)" if len(self.pages) == 1 else "")
        more = "  ] older" if self.next_before else "  (oldest page)"
        text = f"{where} · {n} message(s){more}" + (f" · {' '.join(filters)}" if filters else "")
        self.query_one("#msg-caption", Label).update(text if n else f"No messages. {' '.join(filters)}")

    def on_live_batch(self, msg) -> None:
        batch = msg.batch
        table = self.query_one(DataTable)
        for mid, state in batch.message_states.items():
            if mid in self.ids:
                table.update_cell(str(mid), "state", state_text(state))
        if len(self.pages) == 1 and batch.new_message_ids - self.ids:
            self.load_page()

    def action_older(self) -> None:
        if self.next_before is None:
            self.notify("This is the oldest page.")
            return
        self.pages.append(self.next_before)
        self.load_page()

    def action_newer(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self.load_page()

    def action_first(self) -> None:
        self.pages = [None]
        self.load_page()

    def action_cycle_state(self) -> None:
        i = _STATES.index(self.state_filter)
        self.state_filter = _STATES[(i + 1) % len(_STATES)]
        self.pages = [None]
        self.notify(f"Showing {self.state_filter or 'all states'}", timeout=2)
        self.load_page()

    def action_search(self) -> None:
        box = self.query_one("#msg-search", Input)
        box.remove_class("hidden")
        box.focus()

    @on(Input.Submitted, "#msg-search")
    def _apply_search(self, event: Input.Submitted) -> None:
        self.recipient = event.value.strip() or None
        event.input.add_class("hidden")
        self.pages = [None]
        self.query_one(DataTable).focus()
        self.load_page()

    @on(DataTable.RowSelected, "#msg-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self._open(int(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            self._open(int(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value))

    def _open(self, message_id: int) -> None:
        from .message_detail import MessageDetailScreen

        self.app.push_screen(MessageDetailScreen(message_id))
