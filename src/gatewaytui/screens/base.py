"""Base for the App's top-level screens: the shared frame, live batches and role checks.

Each mode screen composes its body between the :class:`TopBar`/:class:`Banner` and the footer,
receives :class:`LiveBatch` messages while visible, and reloads when it becomes visible again
(it missed batches while hidden). Role checks hide actions a user may not perform rather than
letting the daemon refuse them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer

from gatewayd.models import Role

from ..widgets.chrome import Banner, TopBar

if TYPE_CHECKING:
    from ..app import GatewayApp


class ReportsWorkerErrors:
    """Mixin: worker state messages do not bubble, so nodes that run workers forward failures."""

    def on_worker_state_changed(self, event) -> None:
        self.app.worker_failed(event)  # type: ignore[attr-defined]


class GatewayScreen(ReportsWorkerErrors, Screen):
    MODE = ""
    #: action name -> minimum role; checked by :meth:`check_action`.
    ROLE_ACTIONS: dict[str, Role] = {}

    @property
    def gw(self) -> "GatewayApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Banner()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.watch(self.app, "identity", lambda _: self.refresh_bindings(), init=False)

    def on_screen_suspend(self) -> None:
        # A dialog over this screen keeps it current; another mode means it will miss live batches.
        self._covered_by_modal = isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        if not getattr(self, "_covered_by_modal", False):
            self.reload()
        self._covered_by_modal = False

    def reload(self) -> None:
        """Fetch what this screen shows (it may have missed live batches while hidden)."""

    def action_tab(self, delta: int) -> None:
        """Cycle the screen's TabbedContent (screens with tabs bind ``[`` and ``]`` to this)."""
        from textual.widgets import ContentSwitcher, TabbedContent, Tabs

        tabs = self.query_one(TabbedContent)
        panes = [c.id for c in tabs.query_one(ContentSwitcher).children if c.id]
        if tabs.active in panes:
            # Focus the tab bar first: a focused widget in the old pane would pull it back.
            tabs.query_one(Tabs).focus()
            tabs.active = panes[(panes.index(tabs.active) + delta) % len(panes)]
            self.call_after_refresh(self._focus_active_pane, tabs)

    def _focus_active_pane(self, tabs) -> None:
        from textual.widgets import DataTable

        pane = tabs.get_pane(tabs.active) if tabs.active else None
        tables = [t for t in pane.query(DataTable) if t.display] if pane is not None else []
        if tables:
            tables[0].focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needed = self.ROLE_ACTIONS.get(action)
        if needed is not None and not self.gw.can(needed):
            return False
        return True
