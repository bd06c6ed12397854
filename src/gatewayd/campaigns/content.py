"""Content checks before launch: what carriers filter and what the rule set requires.

Each check is a *blocker* (launch refused, listed in ``not_ready``), a *warning* (shown, launch
allowed) or off, by ``[content]`` in the config. Checks run on the scripts' step texts (main
script and every A/B variant) with placeholders filled by the defaults, or by 10 characters where
a contact's value would go: segment counts are therefore an estimate per recipient.

- shortener: a public URL shortener's domain anywhere in a step (carriers block shared
  shorteners: CTIA Messaging Principles 2023 and the carriers' 10DLC code of conduct).
- opt_out: the first step of a campaign whose rule set has ``opt_out_required`` has no opt-out
  language matching ``content.opt_out_pattern`` ("Reply STOP to opt out").
- blocked_term: a configured term (SHAFT: sex, hate, alcohol, firearms, tobacco, and the usual
  additions: cannabis, gambling, high-risk finance) as a whole word.
- segments: a step longer than ``content.max_segments``; an ``info`` line always gives the
  segments and cost per recipient.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import BadRequest
from ..sending import segments as seg_mod
from . import scripts
from .rulebook import RuleFileError, RuleSet, load

_HOST = re.compile(r"(?i)(?<![\w@.-])(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?![\w-])")
SAMPLE = "X" * 10


def check_rule_set(name: str, cfg) -> str | None:
    """A campaign's ``hours`` value: "" clears it (the configured default), "none" opts out."""
    name = name.strip()
    if name in ("", "default"):
        return None
    if name == "none":
        return name
    try:
        book = load(cfg.hours.file)
    except RuleFileError as exc:   # config loading checked it; the file changed since
        raise BadRequest(f"the sending-hours rule file is unusable: {exc}", "bad_rule_file") from None
    if name not in book.sets:
        raise BadRequest(f"unknown sending-hours rule set {name!r} (known: {', '.join(sorted(book.sets))}, or none)",
                         "unknown_hours")
    return name


def _sample(text: str, defaults: dict[str, str]) -> str:
    values = {f: defaults.get(f) or SAMPLE for f in scripts.placeholders(text)}
    try:
        return scripts.render(text, values, defaults)
    except KeyError:
        return text


def _finding(check: str, severity: str, message: str, step: int | None = None,
             script: str | None = None) -> dict[str, Any]:
    return {"check": check, "severity": severity, "message": message, "step": step, "script": script}


def review(scripts_: list[tuple[str, list[dict], dict]], rs: RuleSet | None, cfg, price: float) -> list[dict[str, Any]]:
    """Findings for ``[(script name, steps, defaults)]`` (the main script first)."""
    c = cfg.content
    out: list[dict[str, Any]] = []
    shorteners = {d.lower() for d in c.shortener_domains}
    terms = [(t, re.compile(rf"(?i)(?<!\w){re.escape(t)}(?!\w)")) for t in c.terms if t.strip()]
    opt_out = re.compile(c.opt_out_pattern, re.I)
    for name, steps, defaults in scripts_:
        label = f"{name} " if len(scripts_) > 1 else ""
        segs_total = 0
        for i, step in enumerate(steps, 1):
            text = _sample(step.get("text", ""), defaults)
            if c.shorteners != "off":
                for host in dict.fromkeys(h.lower() for h in _HOST.findall(text)):
                    bare = host[4:] if host.startswith("www.") else host
                    if any(bare == d or bare.endswith("." + d) for d in shorteners):
                        out.append(_finding("shortener", c.shorteners,
                                            f"{label}step {i}: {bare} is a public URL shortener, which carriers "
                                            "filter: link to your own domain", i, name))
            if c.blocked_terms != "off":
                for term, rx in terms:
                    if rx.search(text):
                        out.append(_finding("blocked_term", c.blocked_terms,
                                            f"{label}step {i}: {term!r} is a blocked term (content.terms)", i, name))
            info = seg_mod.analyse(text)
            segs_total += info.segments
            if c.segments != "off" and info.segments > c.max_segments:
                out.append(_finding("segments", c.segments,
                                    f"{label}step {i} is about {info.segments} segments "
                                    f"(more than content.max_segments = {c.max_segments})", i, name))
        if rs is not None and rs.opt_out_required and c.opt_out != "off" and steps:
            if not opt_out.search(_sample(steps[0].get("text", ""), defaults)):
                out.append(_finding("opt_out", c.opt_out,
                                    f"{label}step 1 has no opt-out language (e.g. \"Reply STOP to opt out\"), "
                                    f"which the {rs.name!r} sending-hours rule set requires on a first message",
                                    1, name))
        out.append(_finding("cost", "info",
                            f"{label}about {segs_total} segment(s) per recipient over {len(steps)} step(s), "
                            f"≈{segs_total * price:.4f} per recipient at {price:g} per segment", None, name))
    return out


def blockers(findings: list[dict[str, Any]]) -> list[str]:
    return [f"content: {f['message']}" for f in findings if f["severity"] == "blocker"]


def price_of(cfg, number: str | None) -> float:
    n = cfg.number(number) if number else None
    if n is None or not n.links:
        return 0.0
    for link in cfg.links:
        if link.name == n.links[0]:
            return float(getattr(link, "price_per_segment", 0.0))
    return 0.0


def rule_set_for(name: str | None, cfg) -> RuleSet | None:
    name = name or cfg.hours.default
    if not name or name == "none":
        return None
    try:
        return load(cfg.hours.file).sets.get(name)
    except RuleFileError:
        return None
