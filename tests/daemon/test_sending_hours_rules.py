"""The sending-hours rule file and its evaluation, without a daemon: bad rows are refused with
their key and reason, the built-in file's windows are the statutes' (spot checks), and an unknown
rule set in the config stops gatewayd with exit 2 naming the key."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from gatewayd import cli, config
from gatewayd.campaigns import hours, rulebook
from gatewayd.errors import ConfigError

BUILTIN = resources.files("gatewayd.campaigns").joinpath("data", "sending_hours.toml").read_text()
NY, CHI = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")


def opens(phone: str, when: dt.datetime, fields: dict | None = None, name: str = "us") -> dt.datetime | None:
    book = rulebook.load()
    rs = book.sets[name]
    where = hours.jurisdiction(rs, phone, fields or {}, "UTC")
    t = hours.next_open(book, rs, where, when.timestamp())
    return None if t is None else dt.datetime.fromtimestamp(t, when.tzinfo)


def test_the_built_in_file_loads_with_a_source_on_every_rule():
    book = rulebook.load()
    assert {"us", "daytime"} <= set(book.sets)
    assert all(r.law and r.source for rs in book.sets.values() for r in rs.rules)


@pytest.mark.parametrize("old, new, key, reason", [
    ('hours = "09:00-21:00"', 'hours = "25:00-21:00"', "sets.us.rules[6].hours", "is not HH:MM-HH:MM"),
    ('days = "mon-sat"', 'days = "mon-sit"', "sets.us.rules[6].days", "'sit' is not a day"),
    ('states = ["TX"]', 'states = ["TEXAS"]', "sets.us.rules[6].states[0]", "'TEXAS' is not a US state code"),
    ('calendar = "us_federal"', 'calendar = "federal"', "sets.us.holidays[0].calendar", "no calendar 'federal'"),
    ('{ name = "Labor Day", month = 9, weekday = "mon", nth = 1 }',
     '{ name = "Labor Day", month = 9, weekday = "mon", nth = 5 }', "calendars.us_federal.holidays[6]", "nth"),
    ('"America/Phoenix",', '"America/Phoenixx",', "sets.us.unknown_zones[3]", "unknown time zone"),
])
def test_a_bad_row_is_refused_with_its_key_and_the_reason(old, new, key, reason):
    assert BUILTIN.count(old) >= 1
    text = BUILTIN.replace(old, new, 1)
    with pytest.raises(rulebook.RuleFileError) as exc:
        rulebook.parse(text, "rules.toml")
    assert exc.value.key == key and reason in exc.value.reason
    where = f"rules.toml:{exc.value.line}" if exc.value.line else "rules.toml"
    assert str(exc.value).startswith(f"{where}: {key}: ")
    if key.startswith("sets.us.rules"):            # the line of the row's [[sets.us.rules]] header
        assert text.splitlines()[exc.value.line - 1] == "[[sets.us.rules]]"
        assert new in "\n".join(text.splitlines()[exc.value.line - 1:exc.value.line + 6])


def test_a_row_without_its_law_is_refused():
    text = BUILTIN.replace('law = "Tex. Bus. & Com. Code 301.051(a)(2): noon-9 p.m. on Sunday"\n', "", 1)
    with pytest.raises(rulebook.RuleFileError, match=r"sets\.us\.rules\[7\]\.law: missing"):
        rulebook.parse(text, "rules.toml")


def test_a_bad_rule_file_or_an_unknown_rule_set_in_the_config_exits_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "hours.toml"
    bad.write_text(BUILTIN.replace('hours = "08:00-20:00"', 'hours = "20:00-08:00"', 1))
    conf = tmp_path / "gatewayd.toml"
    conf.write_text(f'state_dir = "{tmp_path}"\n[hours]\nfile = "{bad}"\n')
    assert cli.main(["--config", str(conf), "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "hours.file" in err and "sets.us.rules[1].hours" in err and "must end after it starts" in err
    conf.write_text(f'state_dir = "{tmp_path}"\n[hours]\ndefault = "usa"\n')
    assert cli.main(["--config", str(conf), "--check-config"]) == 2
    assert "hours.default: unknown rule set 'usa' (known: daytime, us)" in capsys.readouterr().err
    good = tmp_path / "mine.toml"
    good.write_text(BUILTIN)
    conf.write_text(f'state_dir = "{tmp_path}"\n[hours]\nfile = "{good}"\ndefault = "us"\n')
    assert cli.main(["--config", str(conf), "--check-config"]) == 0
    with pytest.raises(ConfigError, match="content.opt_out_pattern"):
        config.parse('[content]\nopt_out_pattern = "(stop"\n')


def test_texas_sunday_opens_at_noon_and_saturday_at_nine():
    assert opens("+12145550123", dt.datetime(2026, 12, 6, 9, 0, tzinfo=CHI)) == dt.datetime(2026, 12, 6, 12, 0, tzinfo=CHI)
    assert opens("+12145550123", dt.datetime(2026, 12, 5, 8, 30, tzinfo=CHI)) == dt.datetime(2026, 12, 5, 9, 0, tzinfo=CHI)
    assert opens("+12145550123", dt.datetime(2026, 12, 5, 20, 0, tzinfo=CHI)) is None


def test_alabama_has_no_sundays_and_rhode_island_no_legal_holidays():
    sunday = dt.datetime(2026, 12, 6, 13, 0, tzinfo=CHI)
    assert opens("+12055550100", sunday) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=CHI)   # Alabama: Monday 08:00
    christmas = dt.datetime(2026, 12, 25, 10, 0, tzinfo=NY)                              # a Friday
    assert opens("+14015550100", christmas) == dt.datetime(2026, 12, 26, 10, 0, tzinfo=NY)  # RI Saturday 10-17
    assert opens("+12125550100", christmas) is None                                      # New York: no holiday rule
    # Independence Day 2026 is a Saturday: observed Friday 3 July is closed too in those states.
    assert opens("+14015550100", dt.datetime(2026, 7, 3, 12, 0, tzinfo=NY)) == dt.datetime(2026, 7, 6, 9, 0, tzinfo=NY)


def test_a_contact_state_field_adds_that_state_and_an_unknown_state_gets_every_rule():
    # A New York number whose contact lives in Connecticut: 9-20 applies.
    assert opens("+12125550100", dt.datetime(2026, 12, 7, 8, 30, tzinfo=NY), {"state": "CT"}) == \
        dt.datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    # A toll-free number at 20:30 New York time: closed (FL/OK/... end at 20:00, and in the strictest
    # reading 18:00 Rhode Island in New York); opens when 10:00 Kentucky start reaches Honolulu.
    assert opens("+18005550100", dt.datetime(2026, 12, 7, 20, 30, tzinfo=NY)) == \
        dt.datetime(2026, 12, 8, 15, 0, tzinfo=NY)


def test_the_window_closes_early_by_the_margin():
    book = rulebook.load()
    rs = book.sets["us"]
    where = hours.jurisdiction(rs, "+12125550100", {}, "UTC")
    t = dt.datetime(2026, 12, 7, 20, 56, tzinfo=NY).timestamp()
    assert hours.next_open(book, rs, where, t, margin_s=0) is None
    assert hours.next_open(book, rs, where, t, margin_s=300) == dt.datetime(2026, 12, 8, 8, 0, tzinfo=NY).timestamp()
