"""Configuration mistakes an operator made that --check-config let through: each is exit 2 with
the key path of the line to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatewayd import config
from gatewayd.errors import ConfigError

BASE = """
[[links]]
name = "sim"
kind = "sim"

[[numbers]]
address = "+14155550100"
links = ["sim"]
"""


def _with(base: str = BASE, *, top: str = "", number: str = "", tables: str = "") -> str:
    return top + base + number + tables


CASES = [
    ("unknown top-level key", _with(top="colour = 'blue'\n"), "colour", "unknown key"),
    ("empty address", BASE.replace('"+14155550100"', '""'), "numbers[0].address", "neither"),
    ("address not a phone", BASE.replace('"+14155550100"', '"not a phone"'), "numbers[0].address", "neither"),
    ("long number without +", BASE.replace('"+14155550100"', '"14155550100"'), "numbers[0].address", "E.164"),
    ("rate inf", _with(number="rate = inf\n"), "numbers[0].rate", "finite"),
    ("office not defined",
     _with(number='office = "nroth"\n', tables='[access]\noffices = { north = [] }\n'), "numbers[0].office", "not defined"),
    ("retry range upside down", _with(tables="[queue]\nretry_min_s = 700.0\nretry_max_s = 600.0\n"),
     "queue.retry_min_s", "above retry_max_s"),
    ("link listed twice", BASE.replace('links = ["sim"]', 'links = ["sim", "sim"]'), "numbers[0].links[1]",
     "listed twice"),
    ("user in two roles", _with(tables='[access]\nadmins = ["alice"]\nviewers = ["alice"]\n'),
     "access.viewers[0]", "both admins and viewers"),
    ("world-writable socket", _with(tables="[control]\nsocket_mode = 0o777\n"), "control.socket_mode",
     "every local user"),
    ("reconnect range upside down", BASE.replace('kind = "sim"', 'kind = "sim"').replace(
        '[[numbers]]', '') .replace('address = "+14155550100"\nlinks = ["sim"]\n', '') +
     '[[links]]\nname = "m"\nkind = "modem"\ndevice = "/dev/null"\nnumber = "+14155550101"\n'
     'reconnect_min_s = 90.0\n', "links[1].reconnect_min_s", "above reconnect_max_s"),
]


@pytest.mark.parametrize("text,path,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_gap_is_an_error_naming_its_key(text: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse(text)
    assert err.value.path == path
    assert str(err.value).startswith(f"{path}: ") and words in str(err.value)


@pytest.mark.parametrize("address", ["+14155550100", "72345", "ACME", "Acme-Shop"])
def test_real_senders_stay_valid(address: str) -> None:
    config.parse(BASE.replace('"+14155550100"', f'"{address}"'))


def test_defined_office_and_default_office_are_valid() -> None:
    config.parse(_with(number='office = "north"\n', tables='[access]\noffices = { north = ["carol"] }\n'))
    config.parse(_with(number='office = "default"\n'))


def test_check_config_exits_2_with_the_key_path(tmp_path: Path) -> None:
    conf = tmp_path / "gatewayd.toml"
    conf.write_text(_with(tables='[access]\nadmins = ["alice"]\nagents = ["alice"]\n'))
    res = subprocess.run([str(Path(sys.executable).parent / "gatewayd"), "--config", str(conf), "--check-config"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "access.agents[0]: user 'alice' is in both admins and agents" in res.stderr


def test_a_secret_others_can_read_is_warned_about(tmp_path: Path, caplog) -> None:
    import os

    secret = tmp_path / "carrier.password"
    secret.write_text("hunter2\n")
    os.chmod(secret, 0o644)
    assert config.read_secret(None, str(secret)) == "hunter2"
    assert "readable by every local user" in caplog.text
    caplog.clear()
    os.chmod(secret, 0o600)
    assert config.read_secret(None, str(secret)) == "hunter2"
    assert caplog.text == ""
