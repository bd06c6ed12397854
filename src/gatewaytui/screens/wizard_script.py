"""The wizard's "write a new script" pane: a name and one editor per step.

The editors map one-to-one onto the daemon's step model (``ScriptCreate.steps``): ``text``,
``delay_s`` (the wait after the previous step went out; step 1 has none), ``question`` (none,
yes/no, multiple choice with ``choices``, or open text). The daemon has no per-step "only if the
contact has not replied" flag: that is the campaign's *stop on reply* option (Options step),
which stops every later step for a contact who replies, so the pane says so instead of offering
a switch the daemon would ignore. The script type is derived (interactive when a step asks), as
the daemon refuses a question in a nudge script.
"""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static, TextArea

from gatewayd import protocol as P

FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")   # the daemon's placeholder syntax
UNITS = [("minutes", 60), ("hours", 3600), ("days", 86400)]
QUESTIONS = [("plain message", "none"), ("asks yes / no", "yes_no"), ("asks a choice", "choice"),
             ("asks an open question", "open")]


def placeholders(text: str) -> list[str]:
    """Field names in order of first use, as the daemon will look them up."""
    seen: dict[str, None] = {}
    for m in FIELD.finditer(text):
        if m.group(1):
            seen.setdefault(m.group(1))
    return list(seen)


def describe_delay(seconds: float) -> str:
    for name, size in reversed(UNITS):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {name[:-1] if n == 1 else name}"
    return f"{seconds:g} seconds"


class StepEditor(Vertical):
    """One step: its delay (not for step 1), its text with the fields it uses, its question."""

    DEFAULT_CSS = """
    StepEditor { height: auto; border: round $primary 40%; border-title-color: $accent; padding: 0 1; }
    StepEditor .step-row { height: auto; }
    StepEditor .step-after { width: auto; padding: 0 1 0 0; }
    StepEditor .step-delay { width: 8; margin-right: 1; }
    StepEditor .step-unit { width: 14; }
    StepEditor .step-question { width: 28; margin-right: 1; }
    StepEditor .step-choices { width: 1fr; }
    StepEditor .step-text { height: 3; background: $boost; }
    StepEditor .step-fields { height: 1; color: $text-muted; }
    """

    def __init__(self, first: bool, serial: int) -> None:
        super().__init__(id=f"wz-step-{serial}")
        self.first = first

    def compose(self) -> ComposeResult:
        with Horizontal(classes="step-row step-delay-row"):
            yield Label("send after", classes="step-after")
            yield Input("1", placeholder="delay", classes="step-delay", type="number", compact=True)
            yield Select(UNITS, value=86400, allow_blank=False, classes="step-unit", compact=True)
        yield TextArea("", classes="step-text", compact=True)
        yield Static("fields: none", classes="step-fields")
        with Horizontal(classes="step-row"):
            yield Select(QUESTIONS, value="none", allow_blank=False, classes="step-question", compact=True)
            yield Input("", placeholder="choices, comma separated", classes="step-choices", compact=True)

    def on_mount(self) -> None:
        self.query_one(".step-delay-row").display = not self.first
        self.query_one(".step-choices").display = False

    def number(self, n: int) -> None:
        """Steps are renumbered after a removal; step 1 is sent at launch, so it has no delay."""
        self.first = n == 1
        self.border_title = f"Step {n}" + ("  (sent at launch)" if self.first else "")
        self.query_one(".step-delay-row").display = not self.first

    @on(TextArea.Changed, ".step-text")
    def _text_changed(self, event: TextArea.Changed) -> None:
        fields = placeholders(event.text_area.text)
        self.query_one(".step-fields", Static).update("fields: " + (", ".join(fields) or "none"))

    @on(Select.Changed, ".step-question")
    def _question_changed(self, event: Select.Changed) -> None:
        self.query_one(".step-choices").display = event.value == "choice"

    @property
    def text(self) -> str:
        return self.query_one(".step-text", TextArea).text

    def to_step(self, n: int) -> dict | str:
        """The step as the daemon stores it, or a sentence saying what is wrong."""
        text = self.text.strip()
        if not text:
            return f"Step {n} has no text."
        delay = 0.0
        if n > 1:
            raw = self.query_one(".step-delay", Input).value.strip()
            try:
                delay = float(raw) * int(self.query_one(".step-unit", Select).value)  # type: ignore[arg-type]
            except ValueError:
                return f"Step {n}: the delay {raw!r} is not a number."
            if delay < 0:
                return f"Step {n}: the delay cannot be negative."
        q = self.query_one(".step-question", Select).value
        choices = [c.strip() for c in self.query_one(".step-choices", Input).value.split(",") if c.strip()]
        if q == "choice" and len(choices) < 2:
            return f"Step {n}: a choice question needs at least two choices."
        return {"text": text, "delay_s": delay, "question": None if q == "none" else q,
                "choices": choices if q == "choice" else []}


class ScriptWriter(Vertical):
    """Name plus a growing list of :class:`StepEditor`; the screen binds the add/remove keys."""

    DEFAULT_CSS = """
    ScriptWriter { height: auto; }
    ScriptWriter #wz-steps-box { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__(id="wz-writer")
        self._serial = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="new script name", id="wz-script-name")
        yield Static("A reply stops the later steps only with 'stop on reply' (Options step).",
                     classes="dialog-hint")
        yield Vertical(id="wz-steps-box")

    def on_mount(self) -> None:
        self.add_step(focus=False)

    @property
    def editors(self) -> list[StepEditor]:
        return [e for e in self.query(StepEditor) if not e.has_class("-removed")]

    def add_step(self, focus: bool = True) -> StepEditor:
        self._serial += 1
        editor = StepEditor(first=not self.editors, serial=self._serial)
        self.query_one("#wz-steps-box").mount(editor)
        editor.call_after_refresh(self._renumber)
        if focus:
            editor.call_after_refresh(lambda: (editor.query_one(".step-text").focus(),
                                               editor.scroll_visible()))
        return editor

    def remove_step(self) -> str | None:
        """Remove the step holding the focus (else the last); refuses to leave no step."""
        editors = self.editors
        if len(editors) <= 1:
            return "A script needs at least one step."
        focused = self.screen.focused
        target = next((e for e in editors if focused is not None and e in focused.ancestors_with_self), editors[-1])
        index = editors.index(target)
        target.add_class("-removed")   # out of editors() at once: removal finishes later
        target.remove()
        rest = self.editors
        self._renumber()
        rest[min(index, len(rest) - 1)].query_one(".step-text").focus()
        return None

    def _renumber(self) -> None:
        for n, editor in enumerate(self.editors, 1):
            editor.number(n)

    def request(self) -> P.ScriptCreate | str:
        """The ``ScriptCreate`` carrying every step, or what to fix first."""
        name = self.query_one("#wz-script-name", Input).value.strip()
        if not name:
            return "A new script needs a name."
        steps = []
        for n, editor in enumerate(self.editors, 1):
            step = editor.to_step(n)
            if isinstance(step, str):
                return step
            steps.append(step)
        interactive = any(s["question"] for s in steps)
        return P.ScriptCreate(name=name, type="interactive" if interactive else "nudge", steps=steps)
