"""Configuration rules that span fields or need more than a type: each error names its key path.

Kept apart from config.py (the structs) so that new rules do not crowd the declarations. Every
rule here is something an operator got wrong and ``--check-config`` let through: a sender that is
not a number, an infinite rate, an office nobody defined, a retry range upside down, a link listed
twice, a user given two roles, a socket the whole machine could write to.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import msgspec

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

#: Alphanumeric sender ids (TS 23.040 allows 11 GSM characters): letters, digits and a little
#: punctuation. No spaces: many carriers refuse them or cut the id at the first one.
_ALNUM_SENDER = re.compile(r"[A-Za-z0-9.&_-]{1,11}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")


def check(cfg: "Config") -> None:
    _finite(cfg, "")
    for i, number in enumerate(cfg.numbers):
        _address(number.address, f"numbers[{i}].address")
        seen: set[str] = set()
        for j, name in enumerate(number.links):
            if name in seen:
                raise ConfigError(f"link {name!r} is listed twice", f"numbers[{i}].links[{j}]")
            seen.add(name)
        # Office names are free labels until offices are used; then a name not among them is a typo.
        offices = cfg.access.offices
        if offices and number.office != "default" and number.office not in offices:
            raise ConfigError(f"office {number.office!r} is not defined in [access] offices", f"numbers[{i}].office")
    q = cfg.queue
    if q.retry_min_s > q.retry_max_s:
        raise ConfigError(f"retry_min_s ({q.retry_min_s:g}) is above retry_max_s ({q.retry_max_s:g})",
                          "queue.retry_min_s")
    for i, link in enumerate(cfg.links):
        lo, hi = getattr(link, "reconnect_min_s", None), getattr(link, "reconnect_max_s", None)
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"reconnect_min_s ({lo:g}) is above reconnect_max_s ({hi:g})",
                              f"links[{i}].reconnect_min_s")
    _roles(cfg)
    group = cfg.control.socket_group
    if group is not None:
        import grp

        try:
            grp.getgrnam(group)
        except KeyError:
            raise ConfigError(f"no group {group!r} on this host (systemd-sysusers creates gatewayd-operators)",
                              "control.socket_group") from None
    mode = cfg.control.socket_mode
    if not 0 <= mode <= 0o777:
        raise ConfigError(f"{mode:#o} is not a permission mode", "control.socket_mode")
    if mode & 0o007:
        raise ConfigError(f"{mode:#o} lets every local user use the socket; use 0o660 (owner and group)",
                          "control.socket_mode")
    if not mode & 0o200:
        raise ConfigError(f"{mode:#o}: the daemon's own user must be able to write the socket",
                          "control.socket_mode")


def _address(address: str, path: str) -> None:
    """E.164 with '+', a short code, or an alphanumeric sender id: nothing else can send."""
    if address.startswith("+"):
        import phonenumbers

        try:
            num = phonenumbers.parse(address, None)
        except phonenumbers.NumberParseException as exc:
            raise ConfigError(f"{address!r} is not a phone number: {exc._msg}", path) from None
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        if not phonenumbers.is_possible_number(num) or e164 != address:
            raise ConfigError(f"{address!r} is not an E.164 number (expected e.g. '+14155550100')", path)
        return
    if address.isdigit():
        if not _SHORT_CODE.fullmatch(address):
            raise ConfigError(f"{address!r}: a long number needs '+' and its country code (E.164); "
                              "short codes have 3 to 8 digits", path)
        return
    if not _ALNUM_SENDER.fullmatch(address) or not any(c.isalpha() for c in address):
        raise ConfigError(f"{address!r} is neither an E.164 number, a short code nor an alphanumeric sender "
                          "(at most 11 letters, digits or . & _ -, no spaces)", path)


def _roles(cfg: "Config") -> None:
    where: dict[str, str] = {}
    for role in ("admins", "agents", "viewers"):
        for j, user in enumerate(getattr(cfg.access, role)):
            if user in where:
                other = where[user]
                raise ConfigError(f"user {user!r} is in both {other} and {role}; give each user one role",
                                  f"access.{role}[{j}]")
            where[user] = role


def _finite(value: Any, path: str) -> None:
    """TOML allows ``inf`` and ``nan``; no setting of ours means anything with them."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{value} is not a finite number", path)
    elif isinstance(value, msgspec.Struct):
        for f in msgspec.structs.fields(value):
            _finite(getattr(value, f.name), f"{path}.{f.encode_name}" if path else f.encode_name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            _finite(item, f"{path}.{k}")
