"""Compose a single SMS: sender, recipient, text, with a live encoding and segment counter.

The counter asks the daemon (``analyse``) rather than re-implementing GSM 03.38 here, so what
the operator sees is exactly what the segmenter will do. Requests are debounced: typing fast
sends one ``analyse`` after a short pause, and a newer answer always wins. The screen returns a
:class:`Send` request (or None); the App sends it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Label, Select, TextArea

from gatewayd import protocol as P
from gatewayd.models import SegmentInfo

from .base import ReportsWorkerErrors

DEBOUNCE_S = 0.3


def counter_text(info: SegmentInfo | None, text: str) -> Text:
    if not text:
        return Text("empty message", style="dim")
    if info is None:
        return Text("counting…", style="dim")
    enc = "GSM-7" if info.encoding.value == "gsm7" else "UCS-2 (Unicode)"
    unit = "septets" if info.encoding.value == "gsm7" else "units"
    t = Text()
    t.append(f"{info.segments} segment{'s' if info.segments != 1 else ''}", style="bold")
    t.append(f" · {enc} · {info.units} {unit} · {info.remaining} left in this segment ({info.per_segment}/seg)")
    if info.encoding.value == "ucs2":
        t.append("\nA non-GSM character forces Unicode: fewer characters per segment.", style="yellow")
    return t


class ComposeScreen(ReportsWorkerErrors, ModalScreen[P.Send | None]):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, numbers: list[str], *, sender: str | None = None, to: str = "", text: str = "") -> None:
        super().__init__(classes="modal")
        self.numbers = numbers
        self.initial = (sender, to, text)
        self.info: SegmentInfo | None = None
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        sender, to, text = self.initial
        options = [(n, n) for n in self.numbers]
        with Vertical(classes="dialog", id="compose"):
            yield Label("New message", classes="dialog-title")
            with Horizontal(classes="row"):
                yield Label("From", classes="field-label")
                yield Select(options, value=sender or (self.numbers[0] if self.numbers else Select.NULL),
                             allow_blank=not self.numbers, id="compose-from", prompt="sender number")
            with Horizontal(classes="row"):
                yield Label("To", classes="field-label")
                yield Input(to, placeholder="+14155550123", id="compose-to")
            yield TextArea(text, id="compose-text", soft_wrap=True, show_line_numbers=False)
            yield Label(counter_text(None, text), id="compose-counter")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (ctrl+s)", variant="primary", id="compose-send")
                yield Button("Cancel (esc)", id="compose-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compose-to" if not self.initial[1] else "#compose-text").focus()
        if self.initial[2]:
            self._schedule()

    @on(TextArea.Changed, "#compose-text")
    def _text_changed(self) -> None:
        self.info = None
        self._schedule()

    def _schedule(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        text = self.query_one("#compose-text", TextArea).text
        if not text:
            self.query_one("#compose-counter", Label).update(counter_text(None, ""))
            return
        self.query_one("#compose-counter", Label).update(counter_text(None, text))
        self._debounce = self.set_timer(DEBOUNCE_S, self._analyse)

    @work(exclusive=True, group="analyse", exit_on_error=False)
    async def _analyse(self) -> None:
        text = self.query_one("#compose-text", TextArea).text
        info = await self.app.call(P.Analyse(text=text), SegmentInfo)  # type: ignore[attr-defined]
        if info is not None and text == self.query_one("#compose-text", TextArea).text:
            self.info = info
            self.query_one("#compose-counter", Label).update(counter_text(info, text))

    @on(Button.Pressed, "#compose-send")
    def action_send(self) -> None:
        sender = self.query_one("#compose-from", Select).value
        to = self.query_one("#compose-to", Input).value.strip()
        text = self.query_one("#compose-text", TextArea).text
        problems = []
        if not isinstance(sender, str):
            problems.append("choose a sender number")
        if not to:
            problems.append("enter a recipient")
        if not text:
            problems.append("write a message")
        if problems:
            self.notify("Cannot send yet: " + ", ".join(problems) + ".", severity="warning")
            return
        self.dismiss(P.Send(sender=str(sender), to=to, text=text))

    @on(Button.Pressed, "#compose-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
