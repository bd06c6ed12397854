"""Checks of the ``[hours]``, ``[caps]`` and ``[content]`` config tables that msgspec cannot do:
the rule file loads, the default rule set exists, the opt-out pattern compiles."""

from __future__ import annotations

import re

from ..errors import ConfigError
from .rulebook import RuleFileError, load


def check(cfg) -> None:
    try:
        book = load(cfg.hours.file)
    except RuleFileError as exc:
        raise ConfigError(str(exc), "hours.file") from None
    if cfg.hours.default is not None and cfg.hours.default not in book.sets:
        raise ConfigError(f"unknown rule set {cfg.hours.default!r} (known: {', '.join(sorted(book.sets))})",
                          "hours.default")
    try:
        re.compile(cfg.content.opt_out_pattern, re.I)
    except re.error as exc:
        raise ConfigError(f"not a regular expression: {exc}", "content.opt_out_pattern") from None
    for i, d in enumerate(cfg.content.shortener_domains):
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d.lower()):
            raise ConfigError(f"{d!r} is not a domain name", f"content.shortener_domains[{i}]")
