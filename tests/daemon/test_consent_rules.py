"""The pure parts of issue 17's keywords and consent: how words compare, which keyword lists a
configuration may have (bad ones exit 2 naming the key), and how consent dates are read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatewayd import config
from gatewayd.campaigns import optout
from gatewayd.contacts import consent
from gatewayd.errors import ConfigError

from test_campaign_kit import cfg_text

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("typed, word", [("stop", "STOP"), (" Stop. ", "STOP"), ("opt out", "OPTOUT"),
                                         ("Opt-Out!", "OPT-OUT"), ("arrêt", "ARRET"), ("¡Baja!", "BAJA"),
                                         ("please stop", "PLEASESTOP")])
def test_keywords_compare_without_case_spaces_accents_or_surrounding_punctuation(typed, word):
    assert config.normalise_keyword(typed) == word


def test_the_number_adds_its_words_and_texts_and_the_fcc_words_are_the_default(tmp_path):
    cfg = config.parse(cfg_text(tmp_path, number='[numbers.optout]\nstop_words = ["BAJA"]\nhelp = "Responda BAJA"'))
    spanish = optout.keywords_for(cfg, "+14155550100")
    english = optout.keywords_for(cfg, "+14155550199")
    assert {w for w, k in english.words.items() if k == "STOP"} == {
        "STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    assert spanish.words["BAJA"] == "STOP" and spanish.words["REVOKE"] == "STOP" and "BAJA" not in english.words
    assert spanish.help == "Responda BAJA" and english.help == "Reply STOP to unsubscribe."
    assert optout.keyword_of("baja", "+14155550100", cfg) == "STOP"
    assert optout.keyword_of("baja", "+14155550199", cfg) is None


@pytest.mark.parametrize("optout_keys, number_keys, path", [
    ('start_words = ["START", "STOP"]', "", "optout.start_words[1]"),
    ("stop_words = []", "", "optout.stop_words"),
    ('help_words = [" "]', "", "optout.help_words[0]"),
    ("", '[numbers.optout]\nstart_words = ["Quit"]', "numbers[0].optout.start_words[0]"),
    ("", '[numbers.optout]\nstop_word = ["ARRET"]', "numbers[0].optout.stop_word"),
])
def test_a_bad_keyword_list_is_a_config_error_naming_the_key(tmp_path, optout_keys, number_keys, path):
    with pytest.raises(ConfigError) as exc:
        config.parse(cfg_text(tmp_path, optout=optout_keys, number=number_keys))
    assert str(exc.value).startswith(f"{path}:")


def test_check_config_exits_2_with_the_key_path(tmp_path):
    f = tmp_path / "gatewayd.toml"
    f.write_text(cfg_text(tmp_path, number='[numbers.optout]\nhelp_words = ["ARRET"]\nstop_words = ["arrêt"]'))
    res = subprocess.run([str(BIN / "gatewayd"), "--config", str(f), "--check-config"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "numbers[0].optout.help_words[0]" in res.stderr


@pytest.mark.parametrize("text, ts", [("2025-03-01", 1740787200.0), ("2025-03-01T14:05:00-05:00", 1740855900.0),
                                      ("2025-03-01T19:05:00Z", 1740855900.0), ("1740855900", 1740855900.0)])
def test_consent_dates(text, ts):
    assert consent.parse_when(text, now=1_800_000_000.0) == ts


@pytest.mark.parametrize("text, reason", [("03/01/2025", "is not a date"), ("", "empty date"),
                                          ("2030-01-01", "is in the future")])
def test_bad_consent_dates_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        consent.parse_when(text, now=1_800_000_000.0)
