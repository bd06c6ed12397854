"""The frame around every screen: a top bar (where you are, who you are) and the reconnect banner.

Operators work over SSH in 80 columns, so the top bar is one line: the screens with their keys,
the Unix user and role from ``hello``, and a connection dot. The banner takes a line only while
the daemon is unreachable, and says so plainly, so a stale screen is never mistaken for a quiet one.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TopBar(Static):
    """One-line navigation and identity bar; follows the App's identity and connection state."""

    def __init__(self, mode: str) -> None:
        super().__init__(id="topbar")
        self.mode = mode

    def on_mount(self) -> None:
        self.watch(self.app, "identity", lambda _: self._render_bar(), init=False)
        self.watch(self.app, "connected", lambda _: self._render_bar(), init=False)
        self._render_bar()

    def _render_bar(self) -> None:
        from ..app import NAV

        app = self.app
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" gatewayd ", style="bold reverse")
        for mode, key, label in NAV:
            t.append(" ")
            style = "bold underline" if mode == self.mode else ""
            i = label.lower().find(key)
            t.append(label[:i], style=style)
            t.append(label[i], style=f"{style} bold cyan".strip())
            t.append(label[i + 1:], style=style)
        ident = getattr(app, "identity", None)
        who = f"{ident.user}·{ident.role.value}" if ident else "…"
        live = getattr(app, "connected", False)
        right = Text.assemble(" ", (who, "bold"), " ", ("●" if live else "○", "green" if live else "red"))
        pad = max(1, self.size.width - t.cell_len - right.cell_len) if self.size.width else 1
        t.append(" " * pad)
        t.append_text(right)
        self.update(t)

    def on_resize(self) -> None:
        self._render_bar()


class Banner(Static):
    """Shown only while the daemon is unreachable (text from ``App.banner``)."""

    def __init__(self) -> None:
        super().__init__(id="banner")

    def on_mount(self) -> None:
        self.watch(self.app, "banner", self._show)

    def _show(self, text: str) -> None:
        self.update(Text(f"⚠ {text}") if text else "")   # daemon text is not markup
        self.display = bool(text)
