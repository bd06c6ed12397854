"""The virtual assistant's reading of a reply to an interactive step (sans-I/O: text in, verdict out).

People answer "Yes" as "yep", "Y", "yes please", "Sure!" or "👍", and a choice as "2", "2)",
"option 2", "b" or the choice's own words. What the assistant cannot read with confidence is not
guessed at: it is an invalid answer, and the conversation goes to a human (Needs attention).
The database side (storing the answer, advancing the script) lives in :mod:`.intake`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import msgspec

YES = frozenset({
    "yes", "y", "yeah", "yea", "yep", "yup", "ya", "yah", "sure", "ok", "okay", "k", "kk", "certainly",
    "absolutely", "definitely", "of course", "correct", "right", "affirmative", "indeed", "yes please",
    "sure thing", "sounds good", "i do", "i will", "i am", "si", "sí", "oui", "ja", "👍", "✅",
})
NO = frozenset({
    "no", "n", "nope", "nah", "na", "no thanks", "no thank you", "not now", "not really", "negative", "never",
    "i don't", "i dont", "i do not", "i won't", "i wont", "i will not", "non", "nein", "👎", "❌",
})
_POLITE = re.compile(r"\b(thanks|thank you|thx|ty|please|pls)\b")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class Verdict(msgspec.Struct, frozen=True):
    """What the assistant made of one reply."""

    valid: bool
    value: str | None = None      # "yes"/"no", the chosen option's text, or the open text
    reason: str = ""              # why it is invalid, for the operator who takes over


def normalise(text: str) -> str:
    """Lower case, NFKC, trimmed, inner whitespace collapsed, trailing punctuation dropped."""
    t = unicodedata.normalize("NFKC", text or "").strip().lower()
    t = re.sub(r"\s+", " ", t)
    return t.strip(" .!?,;:~-")


def yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when it is neither or both."""
    t = normalise(text)
    if not t:
        return None
    if t in YES:
        return True
    if t in NO:
        return False
    # "Yes, thanks" / "no thank you!" / "yes yes": strip politeness and repeats, then look again.
    core = normalise(_POLITE.sub(" ", t))
    words = [w.strip(".,!?") for w in core.split()]
    if words and len(set(words)) == 1 and words[0] in YES | NO:
        return words[0] in YES
    if core in YES:
        return True
    if core in NO:
        return False
    # A leading yes/no followed by more words ("yes I will be there") counts only when nothing
    # contradicts it later.
    first = words[0] if words else ""
    rest = set(words[1:])
    if first in YES and not rest & {"no", "not", "nope", "don't", "dont", "can't", "cant", "won't", "wont"}:
        return True
    if first in NO and not rest & {"yes", "yeah", "yep"}:
        return False
    return None


def choice(text: str, choices: list[str]) -> int | None:
    """Index of the chosen option: by number ("2", "#2", "option 2"), by letter ("b") or by its
    text (exact, or the only option the reply contains). None when unclear or out of range."""
    t = normalise(text)
    if not t or not choices:
        return None
    m = re.fullmatch(r"(?:option|choice|number|no\.?|#)?\s*(\d{1,2})\)?", t)
    if m:
        n = int(m.group(1))
        return n - 1 if 1 <= n <= len(choices) else None
    if len(t) == 1 and t in _LETTERS[: len(choices)] and len(choices) <= len(_LETTERS):
        return _LETTERS.index(t)
    m = re.fullmatch(r"([a-z])\)", t)
    if m and m.group(1) in _LETTERS[: len(choices)]:
        return _LETTERS.index(m.group(1))
    options = [normalise(c) for c in choices]
    if t in options:
        return options.index(t)
    contained = [i for i, o in enumerate(options) if o and re.search(rf"\b{re.escape(o)}\b", t)]
    return contained[0] if len(contained) == 1 else None


def interpret(step: dict[str, Any] | None, text: str) -> Verdict:
    """Read ``text`` as the answer to ``step`` (a script step: {"question", "choices", ...})."""
    question = (step or {}).get("question")
    if not question:
        return Verdict(False, reason="the last message asked no question: open reply for a person")
    if question == "yes_no":
        yn = yes_no(text)
        if yn is None:
            return Verdict(False, reason="expected yes or no")
        return Verdict(True, "yes" if yn else "no")
    if question == "choice":
        choices = [str(c) for c in (step or {}).get("choices") or []]
        i = choice(text, choices)
        if i is None:
            listing = ", ".join(f"{n}) {c}" for n, c in enumerate(choices, 1))
            return Verdict(False, reason=f"expected one of {listing}")
        return Verdict(True, choices[i])
    if question == "open":
        value = (text or "").strip()
        if not value:
            return Verdict(False, reason="empty answer")
        return Verdict(True, value)
    return Verdict(False, reason=f"unknown question type {question!r}")
