"""Links and numbers: state, pacing and daily caps, with enable/disable for admins.

Disabling changes what happens to traffic, so it always asks first and says what will happen;
the action is hidden from agents and viewers (the daemon would refuse it anyway).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from gatewayd import protocol as P
from gatewayd.models import Role

from ..widgets.status import LinksTable, NumbersTable
from .base import GatewayScreen
from .modals import ConfirmScreen

_CONSEQUENCE = {
    ("link", False): "Nothing more is submitted on link {name}; messages fail over to other links of their "
                     "number, or wait (and may expire) when it has none.",
    ("number", False): "Messages from {name} are no longer sent: queued ones end as 'ignored', and campaigns "
                       "on this number are suspended.",
    ("link", True): "Link {name} starts submitting again.",
    ("number", True): "Messages from {name} are sent again (ignored ones are not resent; retry them).",
}


class LinksScreen(GatewayScreen):
    MODE = "links"
    BINDINGS = [Binding("e", "toggle", "Enable/disable"), Binding("r", "refresh", "Refresh")]
    ROLE_ACTIONS = {"toggle": Role.ADMIN}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="links-box", classes="box"):
            yield LinksTable(id="links-table")
        with Vertical(id="numbers-box", classes="box"):
            yield NumbersTable(id="numbers-table")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#links-box").border_title = "Links (tab switches table)"
        self.query_one("#numbers-box").border_title = "Numbers"
        self.watch(self.app, "status", self._show)
        self.query_one(LinksTable).focus()

    def _show(self, status: P.StatusView | None) -> None:
        if status is not None:
            self.query_one(LinksTable).show(status.links)
            self.query_one(NumbersTable).show(status.numbers)

    def reload(self) -> None:
        self.gw.refresh_status()

    def on_live_batch(self, _msg) -> None:
        self.query_one(LinksTable).refresh_sparks()

    def action_refresh(self) -> None:
        self.reload()

    def _selected(self) -> tuple[str, str, bool] | None:
        status = self.gw.status
        if status is None:
            return None
        if self.focused is self.query_one(NumbersTable):
            key = self.query_one(NumbersTable).selected_key
            num = next((n for n in status.numbers if n.address == key), None)
            return ("number", num.address, num.enabled) if num else None
        key = self.query_one(LinksTable).selected_key
        link = next((x for x in status.links if x.name == key), None)
        return ("link", link.name, link.enabled) if link else None

    def action_toggle(self) -> None:
        sel = self._selected()
        if sel is None:
            return
        kind, name, enabled = sel
        verb = "Disable" if enabled else "Enable"
        text = _CONSEQUENCE[(kind, not enabled)].format(name=name)

        def answered(yes: bool | None) -> None:
            if yes:
                self._set(kind, name, not enabled)

        self.app.push_screen(ConfirmScreen(f"{verb} {kind} {name}?", text, yes=verb), answered)

    @work(group="set-enabled", exit_on_error=False)
    async def _set(self, kind: str, name: str, enabled: bool) -> None:
        req = P.SetEnabled(kind=kind, name=name, enabled=enabled)  # type: ignore[arg-type]
        if await self.gw.do(req):
            self.notify(f"{kind.capitalize()} {name} {'enabled' if enabled else 'disabled'}.")
        self.gw.refresh_status()
