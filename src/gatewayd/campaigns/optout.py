"""Keywords a contact can text us (SPEC §5, §11): opt out, opt back in, ask for help.

A keyword is the *whole* message, ignoring case, whitespace, accents and surrounding punctuation
("stop", " Stop. ", "opt out" = OPTOUT, "arrêt" = ARRET); "please stop texting me" is an
ordinary reply for a human to read. The words come from ``[optout]`` (the FCC's and CTIA's list
by default) plus the number's own ``[numbers.optout]`` words (another language), which are added,
never substituted: the regulators' words keep working on every number.

- stop words: opt out with ``optout.scope`` (default ``campaign``: the attributed campaign, as
  in seed 000). A STOP that no campaign can claim falls back to scope ``number`` — the contact
  clearly wants no more from that number, and there is no campaign to scope it to.
  stopall words always mean ``all``.
- start words: lift the suppressions that stop messages from this number (and ``all``); it is an
  opt-in for that number in the consent ledger. Join words (a keyword join, "text JOIN to
  72345") do the same, answered with ``joined`` instead of ``resubscribed``.
- help words: answer with the help text.

``inbound.keyword`` gets the canonical word (STOP, STOPALL, START, HELP; a join is START) whatever the contact
typed, so reports and the inbox need not know every language; the text keeps what they wrote.

Exactly one confirmation goes back per opt-out: a STOP that changes nothing (the contact is
already opted out at that scope or wider) is recorded in the consent ledger but not answered
again. Confirmations go at ``COMPLIANCE`` priority, ahead of agent replies and bulk traffic,
and are never held by quiet hours (those apply to campaign steps only) or by a number's daily
cap (the dispatcher claims them even then). They carry ``source = 'keyword'`` and the attributed
campaign, so they are neither agent nor assistant responses in analytics but do keep the
conversation attributed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import normalise_keyword
from ..contacts import suppression
from ..models import Priority
from ..store import messages as mq
from ..store.store import Tx
from . import steps

STOP, STOPALL, START, HELP = "STOP", "STOPALL", "START", "HELP"
JOIN = "JOIN"   # a keyword join: an opt-in like START, stored as START, answered with ``joined``
#: Canonical keywords that are requests to the gateway, not answers to a campaign.
REQUESTS = frozenset({START, HELP})
normalise_word = normalise_keyword


@dataclass(frozen=True)
class Keywords:
    """The words one number answers, and its reply texts."""

    words: dict[str, str]          # normalised word -> canonical keyword
    confirmation: str
    resubscribed: str
    joined: str
    help: str


_CACHE: dict[tuple[int, str], Keywords] = {}


def keywords_for(cfg, number: str | None) -> Keywords:
    """The global lists plus ``number``'s own; cached per config object (a reload is a new one)."""
    key = (id(cfg), number or "")
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    o = cfg.optout
    own = cfg.number(number).optout if number and cfg.number(number) is not None else None
    words: dict[str, str] = {}
    for kind, canon in (("stop_words", STOP), ("stopall_words", STOPALL), ("start_words", START),
                        ("join_words", JOIN), ("help_words", HELP)):
        for w in [*getattr(o, kind), *(getattr(own, kind) if own else [])]:
            words.setdefault(normalise_word(w), canon)
    hit = Keywords(words, (own and own.confirmation) or o.confirmation, (own and own.resubscribed) or o.resubscribed,
                   (own and own.joined) or o.joined, (own and own.help) or o.help)
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = hit
    return hit


def reserved_words(cfg) -> set[str]:
    """Every word any number treats as a keyword (the inbox's auto-replies may not take them)."""
    out = set(keywords_for(cfg, None).words)
    for n in cfg.numbers:
        out |= set(keywords_for(cfg, n.address).words)
    return out


def keyword_of(text: str, number: str | None = None, cfg=None) -> str | None:
    """The canonical keyword ``text`` is on ``number``, or None."""
    word = normalise_word(text)
    if not word or len(word) > 40:
        return None
    kind = keywords_for(cfg or steps.RUNTIME.cfg, number).words.get(word)
    return START if kind == JOIN else kind


def _reply(tx: Tx, row: dict[str, Any], contact_id: int | None, text: str) -> None:
    if not text or steps.RUNTIME.cfg.number(row["recipient"]) is None:
        return
    mq.enqueue(tx, [mq.NewMessage(
        sender=row["recipient"], recipient=row["sender"], text=text, priority=Priority.COMPLIANCE,
        ttl_s=steps.RUNTIME.cfg.queue.default_ttl_s, key=f"kw:{row['id']}", source="keyword",
        campaign_id=row["campaign_id"], contact_id=contact_id)])


def handle(tx: Tx, row: dict[str, Any], contact_id: int | None) -> str | None:
    """Act on a keyword reply; sets ``row["keyword"]``. Returns the canonical keyword or None."""
    cfg = steps.RUNTIME.cfg
    phone, number, cid = row["sender"], row["recipient"], row["campaign_id"]
    kw = keywords_for(cfg, number)
    word = normalise_word(row["text"])
    kind = kw.words.get(word) if word and len(word) <= 40 else None
    if kind is None:
        return None
    canon = START if kind == JOIN else kind
    row["keyword"] = canon
    evidence = {"inbound_id": row["id"], "evidence": row["text"], "how": f"keyword {word}"}
    if canon in (STOP, STOPALL):
        scope = "all" if canon == STOPALL else cfg.optout.scope
        if scope == "campaign" and cid is None:
            scope = "number"
        new = suppression.opt_out(tx, phone, scope, campaign_id=cid, number=number, reason=f"replied {word}",
                                  source="keyword", by=phone, evidence=evidence)
        if new:
            _reply(tx, row, contact_id, kw.confirmation)
    elif canon == START:
        suppression.opt_in(tx, phone, number=number, source="keyword", by=phone, evidence=evidence)
        _reply(tx, row, contact_id, kw.joined if kind == JOIN else kw.resubscribed)
    else:
        _reply(tx, row, contact_id, kw.help)
    return canon
