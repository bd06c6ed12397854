"""Scripts: reusable message templates of one or more steps (SPEC §5, seed 004).

A step is ``{"text", "delay_s", "question", "choices", "answer_timeout_s"}``: ``delay_s`` is the
wait after the previous step went out (ignored on step 1); ``question`` is null for a Nudge step,
else ``yes_no``, ``choice`` (with ``choices``) or ``open`` — the assistant (inbox issue) answers
those; here they are stored and validated. ``answer_timeout_s`` (questions only, default
:data:`DEFAULT_ANSWER_TIMEOUT_S`) is how long an assistant-operated campaign waits for the answer
before the recipient counts as unanswered. A script is *interactive* when any step asks.

Templates use ``{field}``: ``first_name``, ``last_name``, ``phone`` and any imported column
(``{zip_code}``); ``{{`` and ``}}`` are literal braces. A field that is empty for a contact takes
the campaign's (then the script's) default; with no default the campaign cannot launch, and the
refusal lists the contacts affected.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from ..errors import BadRequest, NotFound
from ..sending import segments as seg_mod
from ..store.store import Tx

TYPES = ("nudge", "interactive")
QUESTIONS = (None, "yes_no", "choice", "open")
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
BUILTIN_FIELDS = ("first_name", "last_name", "phone")
DEFAULT_ANSWER_TIMEOUT_S = 3 * 86400.0


def placeholders(text: str) -> list[str]:
    return [m.group(1) for m in _FIELD.finditer(text) if m.group(1)]


def render(text: str, values: dict[str, Any], defaults: dict[str, str] | None = None) -> str:
    """Fill ``{field}``s. Raises KeyError(field) for an empty field without a default."""
    defaults = defaults or {}

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name is None:
            return m.group(0)[0]
        value = values.get(name)
        if value in (None, ""):
            if name in defaults:
                return str(defaults[name])
            raise KeyError(name)
        return str(value)

    return _FIELD.sub(sub, text)


def contact_values(row: sqlite3.Row | dict) -> dict[str, Any]:
    fields = row["fields"]
    values = json.loads(fields) if isinstance(fields, str) else dict(fields or {})
    values.update(first_name=row["first_name"], last_name=row["last_name"], phone=row["phone"])
    return values


def validate(name: str, type_: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised steps, or BadRequest naming the step and the problem."""
    if not name or not name.strip():
        raise BadRequest("a script needs a name")
    if type_ not in TYPES:
        raise BadRequest(f"type must be 'nudge' or 'interactive', not {type_!r}")
    if not steps:
        raise BadRequest("a script needs at least one step")
    out = []
    for i, st in enumerate(steps, 1):
        if not isinstance(st, dict):
            raise BadRequest(f"step {i}: expected a table/object")
        text = str(st.get("text") or "")
        if not text.strip():
            raise BadRequest(f"step {i}: text is empty")
        try:
            delay = float(st.get("delay_s") or 0)
        except (TypeError, ValueError):
            raise BadRequest(f"step {i}: delay_s must be a number of seconds") from None
        if not delay >= 0:
            raise BadRequest(f"step {i}: delay_s must not be negative")
        q = st.get("question")
        if q not in QUESTIONS:
            raise BadRequest(f"step {i}: question must be yes_no, choice or open")
        choices = [str(c) for c in st.get("choices") or []]
        if q == "choice" and len(choices) < 2:
            raise BadRequest(f"step {i}: a choice question needs at least two choices")
        if q is not None and type_ == "nudge":
            raise BadRequest(f"step {i}: asks a question, so the script type must be 'interactive'")
        step = {"text": text, "delay_s": delay, "question": q, "choices": choices}
        if q is not None:
            try:
                timeout = float(st.get("answer_timeout_s") or DEFAULT_ANSWER_TIMEOUT_S)
            except (TypeError, ValueError):
                raise BadRequest(f"step {i}: answer_timeout_s must be a number of seconds") from None
            if not timeout > 0:
                raise BadRequest(f"step {i}: answer_timeout_s must be positive")
            step["answer_timeout_s"] = timeout
        out.append(step)
    return out


def create(tx: Tx, name: str, type_: str, steps: list[dict[str, Any]], defaults: dict[str, str] | None,
           by: str | None) -> int:
    steps = validate(name, type_, steps)
    if tx.db.execute("SELECT 1 FROM scripts WHERE name = ?", (name,)).fetchone():
        raise BadRequest(f"a script named {name!r} exists", "exists")
    sid = tx.db.execute(
        "INSERT INTO scripts(name, type, steps, defaults, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
        (name, type_, json.dumps(steps, ensure_ascii=False), json.dumps(defaults or {}), by, tx.now, tx.now),
    ).lastrowid
    tx.emit("script.created", id=sid, name=name, by=by)
    return sid


def resolve(db: sqlite3.Connection, ref: str | int) -> sqlite3.Row:
    """A script by id or name."""
    row = None
    if isinstance(ref, int) or str(ref).isdigit():
        row = db.execute("SELECT * FROM scripts WHERE id = ?", (int(ref),)).fetchone()
    if row is None:
        row = db.execute("SELECT * FROM scripts WHERE name = ?", (str(ref),)).fetchone()
    if row is None:
        raise NotFound(f"no script {ref!r}")
    return row


def script_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "type": row["type"], "steps": json.loads(row["steps"]),
            "defaults": json.loads(row["defaults"]), "created_by": row["created_by"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def steps_of(db: sqlite3.Connection, script_id: int) -> list[dict[str, Any]]:
    row = db.execute("SELECT steps FROM scripts WHERE id = ?", (script_id,)).fetchone()
    return json.loads(row[0]) if row else []


def preview(text: str, values: dict[str, Any], defaults: dict[str, str], price: float) -> dict[str, Any]:
    """The rendered message for one contact with encoding, segment count and cost."""
    try:
        rendered = render(text, values, defaults)
        missing = None
    except KeyError as exc:
        rendered, missing = None, exc.args[0]
    if rendered is None:
        return {"text": None, "missing_field": missing, "encoding": None, "segments": 0, "cost": 0.0}
    info = seg_mod.analyse(rendered)
    return {"text": rendered, "missing_field": None, "encoding": info.encoding.value, "segments": info.segments,
            "units": info.units, "cost": round(info.segments * price, 6)}
