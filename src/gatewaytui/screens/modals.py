"""Small modal screens that return typed values: confirmation, choice, help, unmatched receipts.

A modal never performs the action it asks about: it returns the answer (``bool``) and the caller
does the work, so every destructive action has one confirmation path and one code path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, OptionList, Static

from gatewayd.protocol import ReceiptView


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no with an explanation of the consequences. ``y`` confirms, ``n``/Esc cancels."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, explanation: str, yes: str = "Yes") -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.explanation = explanation
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(Text(self.explanation), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class HelpScreen(ModalScreen[None]):
    """Every key that works on the screen underneath, with what it does."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, under: Screen) -> None:
        super().__init__(classes="modal")
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Label(f"Keys — {self.under.__class__.__name__.removesuffix('Screen')}", classes="dialog-title")
            table = DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "Action")
            seen = set()
            for key, active in self.under.active_bindings.items():
                b = active.binding
                desc = b.description or b.action
                if (b.action, desc) in seen or not active.enabled:
                    continue
                seen.add((b.action, desc))
                table.add_row(Text(b.key_display or self.app.get_key_display(b), style="bold cyan"), desc)
            for line in ("d m l c i o: switch screens", "ctrl+p: command palette (screens, campaigns)",
                         "enter: open the selected row", "esc: close a dialog"):
                k, _, v = line.partition(": ")
                table.add_row(Text(k, style="bold cyan"), v)
            yield table
            yield Label("Press Esc or ? to close.", classes="dialog-hint")

    def action_dismiss(self) -> None:
        self.dismiss(None)


class ReceiptsScreen(ModalScreen[None]):
    """Receipts that matched no message: kept by the daemon, shown so they are not forgotten."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, receipts: list[ReceiptView]) -> None:
        super().__init__(classes="modal")
        self.receipts = receipts

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="receipts"):
            yield Label(f"Unmatched delivery receipts ({len(self.receipts)})", classes="dialog-title")
            table = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Received", "Link", "Carrier id", "Stat", "Err", "Raw")
            for r in self.receipts:
                table.add_row(time.strftime("%m-%d %H:%M:%S", time.localtime(r.received_at)), r.link,
                              r.carrier_id, r.stat, r.err or "", r.raw[:60])
            yield table
            if not self.receipts:
                yield Label("None: every receipt matched a message.")

    def action_dismiss(self) -> None:
        self.dismiss(None)


class PromptScreen(ModalScreen["str | None"]):
    """Ask for one line of text (a tag, a file path). Enter returns it, Esc returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "", hint: str = "") -> None:
        super().__init__(classes="modal")
        self.title_text, self.placeholder, self.value, self.hint = title, placeholder, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="prompt"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            if self.hint:
                yield Label(Text(self.hint), classes="dialog-hint")

    def on_input_submitted(self, event) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Picked:
    """A :class:`PickScreen` answer; ``value`` may itself be None (e.g. "unassign"), which is why
    a cancelled pick is None rather than a bare None value."""

    value: str | None


class PickScreen(ModalScreen["Picked | None"]):
    """Choose one of a few labelled values by keyboard: type to filter, ↑/↓ to move, Enter to pick.

    Starts on ``start`` (an index) so the likely choice is one Enter away; Esc returns None.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("down", "move(1)", show=False),
                Binding("up", "move(-1)", show=False)]

    def __init__(self, title: str, choices: list[tuple[str | None, "Text | str"]], *, start: int = 0,
                 hint: str = "") -> None:
        super().__init__(classes="modal")
        self.title_text, self.choices, self.start, self.hint = title, choices, start, hint
        self.shown = list(range(len(choices)))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="pick"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(placeholder="type to filter…", id="pick-filter")
            yield OptionList(*[label for _, label in self.choices], id="pick-list")
            yield Label(Text(self.hint or "↑/↓ move · Enter picks · Esc cancels"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#pick-list", OptionList).highlighted = min(self.start, len(self.choices) - 1)
        self.query_one("#pick-filter").focus()

    def on_input_changed(self, event) -> None:
        needle = event.value.strip().lower()
        self.shown = [i for i, (_, label) in enumerate(self.choices) if needle in str(label).lower()]
        options = self.query_one("#pick-list", OptionList)
        options.clear_options()
        options.add_options([self.choices[i][1] for i in self.shown])
        options.highlighted = 0 if self.shown else None

    def action_move(self, delta: int) -> None:
        options = self.query_one("#pick-list", OptionList)
        if self.shown:
            options.highlighted = max(0, min(len(self.shown) - 1, (options.highlighted or 0) + delta))

    def on_input_submitted(self, _event) -> None:
        index = self.query_one("#pick-list", OptionList).highlighted
        if index is not None and self.shown:
            self.dismiss(Picked(self.choices[self.shown[index]][0]))

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(Picked(self.choices[self.shown[event.option_index]][0]))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """Read-only text in a dialog (SMS preview, import report)."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, body: "Text | str") -> None:
        super().__init__(classes="modal")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll

        with Vertical(classes="dialog", id="text-dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(id="text-body"):
                yield Static(self.body)
            yield Label("Esc closes.", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
