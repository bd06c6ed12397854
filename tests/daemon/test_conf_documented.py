"""conf/gatewayd.toml documents every key of the Config structs, with its default, and works.

An operator learns the configuration from that file: a key added to config.py but missing there,
a default that drifted, or an example that no longer parses is a bug they would hit.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import msgspec
import pytest

from gatewayd import config

CONF = Path(__file__).resolve().parents[2] / "conf" / "gatewayd.toml"
REQUIRED = object()

HEADER = re.compile(r"^\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?\s*(#.*)?$")
KEY = re.compile(r"^([A-Za-z0-9_]+)\s*=\s*(.+)$")


def _struct_types(tp) -> list[type[msgspec.Struct]]:
    """Struct types reachable from an annotation: T, list[T], T | None, list[A | B | C]."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [tp]
    return [s for arg in typing.get_args(tp) for s in _struct_types(arg)]


def documented_keys(struct: type[msgspec.Struct] = config.Config, prefix: str = "") -> dict[str, object]:
    """{"queue.max_attempts": 10, "links.smpp.host": REQUIRED, ...} for every leaf key."""
    out: dict[str, object] = {}
    for f in msgspec.structs.fields(struct):
        path = f"{prefix}{f.encode_name}"
        nested = _struct_types(f.type)
        if nested:
            for sub in nested:
                tag = msgspec.inspect.type_info(sub).tag
                out.update(documented_keys(sub, f"{path}.{tag}." if tag else f"{path}."))
            continue
        if f.default is not msgspec.NODEFAULT:
            out[path] = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            out[path] = f.default_factory()
        else:
            out[path] = REQUIRED
    return out


def occurrences(text: str) -> dict[str, list[str]]:
    """{"links.smpp.window": ["10", ...]}: every `key = value` line, commented or not, keyed by
    the table it sits in ([[links]] blocks by their kind)."""
    found: dict[str, list[str]] = {}
    table = ""
    block: list[tuple[str, str]] = []  # keys of the current [[links]] block, kind unknown yet

    def flush() -> None:
        kind = next((tomllib.loads(f"v = {v}")["v"] for k, v in block if k == "kind"), "?")
        for k, v in block:
            found.setdefault(f"links.{kind}.{k}", []).append(v)
        block.clear()

    for raw in text.splitlines():
        line = raw.strip().lstrip("#").strip()
        if m := HEADER.match(line):
            flush()
            table = m.group(1)
        elif m := KEY.match(line):
            if table == "links":
                block.append((m.group(1), m.group(2)))
            else:
                path = f"{table}.{m.group(1)}" if table else m.group(1)
                found.setdefault(path, []).append(m.group(2))
    flush()
    return found


def _value(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return REQUIRED  # prose such as "password = ..." documents the key, not a value


def examples(text: str) -> dict[str, str]:
    """The "# >>> example: TITLE" ... "# <<<" blocks, uncommented ("#key" lines only)."""
    out = {}
    for m in re.finditer(r"^# >>> example: ([^\n]+)\n(.*?)^# <<<", text, re.M | re.S):
        lines = [ln[1:] if re.match(r"#[\[\w]", ln) else ln for ln in m.group(2).splitlines()]
        out[m.group(1)] = "\n".join(lines)
    return out


TEXT = CONF.read_text()
KEYS = documented_keys()


def test_the_reference_file_parses_and_sends_nothing_for_real():
    cfg = config.parse(TEXT, source=str(CONF))
    assert cfg.links and cfg.numbers  # a valid file, ready to edit
    assert all(not link.enabled for link in cfg.links if isinstance(link, config.SimConfig))


def test_the_walk_sees_every_kind_of_key():
    # guards the test itself: nested tables, tagged links and list-of-struct numbers are walked
    for path in ("queue.crash_policy", "links.smpp.host", "links.modem.device", "links.sim.dlr_delay_s",
                 "numbers.unsolicited.intro_reply", "access.offices", "metrics.listen", "state_dir"):
        assert path in KEYS


@pytest.mark.parametrize("path", sorted(KEYS))
def test_every_key_is_documented_with_its_default(path):
    found = occurrences(TEXT)
    assert path in found, f"{path} is not documented in conf/gatewayd.toml"
    default = KEYS[path]
    if default is REQUIRED or default is None:
        return  # shown with an example value (TOML has no null)
    values = [_value(v) for v in found[path]]
    assert default in values, f"{path}: default {default!r} not shown (found {found[path]})"


def test_no_documented_key_is_unknown_to_gatewayd():
    known = set(KEYS) | {f"links.{kind}.kind" for kind in ("sim", "smpp", "modem")}
    assert sorted(set(occurrences(TEXT)) - known) == []


def test_examples_cover_what_operators_need():
    titles = " | ".join(examples(TEXT))
    for needle in ("access", "SMPP", "TX/RX", "modem", "demo"):
        assert needle in titles


@pytest.mark.parametrize("title", sorted(examples(TEXT)))
def test_each_example_is_valid_once_uncommented(title):
    block = examples(TEXT)[title]
    cfg = config.parse(block, source=title)
    if "[[links]]" in block:
        assert cfg.links and cfg.numbers
