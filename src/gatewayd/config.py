"""TOML configuration decoded into frozen msgspec structs.

Unknown keys and bad values are errors that name the key path (``links[1].window``), because an
operator editing /etc/gatewayd/gatewayd.toml at 3am needs to know exactly which line is wrong.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from .errors import ConfigError

Positive = Annotated[float, msgspec.Meta(gt=0)]
PosInt = Annotated[int, msgspec.Meta(ge=1)]
NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class SimConfig(_Base, tag="sim", tag_field="kind", kw_only=True):
    """The built-in simulated carrier (demos and tests; never a production default)."""

    name: str
    enabled: bool = True
    window: PosInt = 50
    max_tps: Positive | None = None      # the simulated carrier throttles above this (the link learns it)
    max_rate: Positive | None = None     # cap on the link's pacing, as for smpp
    submit_latency_s: NonNeg = 0.0
    dlr_delay_s: NonNeg = 2.0
    delivered: Share = 0.9           # share of segments receipted DELIVRD
    undelivered: Share = 0.07        # share receipted UNDELIV
    rejected: Share = 0.03           # share receipted REJECTD
    reject_prefixes: list[str] = []  # recipients refused at submit (permanent, invalid number)
    reply_share: Share = 0.0         # share of recipients that answer
    reply_delay_s: NonNeg = 5.0
    reply_turn_s: NonNeg = 30.0      # what we send a phone this long after its reply is not answered
    replies: list[str] = msgspec.field(default_factory=lambda: ["Yes", "No", "Thanks!", "Who is this?", "STOP"])
    price_per_segment: NonNeg = 0.0
    weight: PosInt = 1
    seed: int | None = None          # deterministic outcomes for tests
    journal: str | None = None       # append "message_id segment_index carrier_id" per accepted submit


class SmppConfig(_Base, tag="smpp", tag_field="kind", kw_only=True):
    name: str
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2775
    system_id: str
    password: str | None = None
    password_file: str | None = None
    system_type: str = ""
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    enabled: bool = True
    window: PosInt = 10
    max_rate: Positive | None = None     # cap on the rate learned from the SMSC's answers (flow.py)
    max_tps: Positive | None = None      # the older name of max_rate
    enquire_link_s: Positive = 30.0
    response_timeout_s: Positive = 10.0
    reconnect_min_s: Positive = 1.0
    reconnect_max_s: Positive = 60.0
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int | None = None
    dest_npi: int | None = None
    default_coding: Literal["gsm7", "latin1", "ascii"] = "gsm7"
    long_messages: Literal["udh", "sar", "payload"] = "udh"
    msg_id_format: Literal["auto", "hex", "dec", "str"] = "auto"
    price_per_segment: NonNeg = 0.0
    weight: PosInt = 1
    isolated: bool = True       # session and codec in a process of their own (links/process.py)


class ModemConfig(_Base, tag="modem", tag_field="kind", kw_only=True):
    name: str
    device: str
    baud: PosInt = 115200
    number: str
    pin: str | None = None
    pin_file: str | None = None
    smsc: str | None = None
    init: list[str] = []
    enabled: bool = True
    send_timeout_s: Positive = 60.0
    command_timeout_s: Positive = 5.0
    max_per_minute: Positive | None = None
    storage: Literal["SM", "ME", "MT"] = "SM"
    poll_s: Positive = 60.0
    health_s: Positive = 30.0              # CSQ/CREG/COPS readings
    reconnect_min_s: Positive = 1.0
    reconnect_max_s: Positive = 60.0
    reassembly_timeout_s: Positive = 600.0
    reset_command: str | None = None
    price_per_segment: NonNeg = 0.0
    window: PosInt = 1
    weight: PosInt = 1


LinkConfig = SimConfig | SmppConfig | ModemConfig


class UnsolicitedConfig(_Base):
    """Where replies that no campaign can claim go, and the optional intro reply."""

    inbox: list[str] = msgspec.field(default_factory=lambda: ["office:default"])  # "office:NAME" | "agent:USER"
    intro_reply: str | None = None


class NumberOptOutConfig(_Base):
    """A number's own keywords and replies (another language): words are *added* to [optout]'s,
    so a per-number list can never drop the regulators' English words; texts replace them."""

    stop_words: list[str] = []
    stopall_words: list[str] = []
    start_words: list[str] = []
    join_words: list[str] = []
    help_words: list[str] = []
    confirmation: str | None = None
    resubscribed: str | None = None
    joined: str | None = None
    help: str | None = None


class NumberConfig(_Base):
    address: str
    links: list[str]
    rate: Positive = 1.0           # segments per second
    burst: PosInt = 5
    daily_cap: PosInt | None = None
    reusable: bool = True
    enabled: bool = True
    routing: Literal["order", "weight"] = "order"
    office: str = "default"
    unsolicited: UnsolicitedConfig = UnsolicitedConfig()
    budgets: list[str] = []        # names of [[budgets]] this number's traffic counts against
    optout: NumberOptOutConfig = NumberOptOutConfig()


class BudgetConfig(_Base):
    """A carrier budget shared by the numbers (and campaigns) that name it, in segments
    (sending/budgets.py). Each limit is optional; at least one is required."""

    name: str
    per_second: PosInt | None = None
    per_minute: PosInt | None = None
    per_day: PosInt | None = None
    tz: str = "UTC"                # the day of ``per_day`` starts at midnight in this zone


class AccessConfig(_Base):
    admins: list[str] = []
    agents: list[str] = []
    viewers: list[str] = []
    offices: dict[str, list[str]] = {}      # office -> member user names
    limited: list[str] = []                 # users who see only their own objects


class QueueConfig(_Base):
    default_ttl_s: Positive = 86400.0
    max_attempts: PosInt = 10
    retry_min_s: Positive = 5.0
    retry_max_s: Positive = 600.0
    crash_policy: Literal["resend", "fail", "assume_sent"] = "resend"
    max_text_chars: PosInt = 5000


class ControlConfig(_Base):
    socket: str = "/run/gatewayd/gatewayd.sock"
    socket_mode: int = 0o660
    socket_group: str | None = None   # operators' group given the socket (and its directory)
    max_line_bytes: PosInt = 1_048_576
    max_connections: PosInt = 64


class MetricsConfig(_Base):
    listen: str | None = None          # "127.0.0.1:9464" to serve /metrics
    textfile: str | None = None        # node-exporter textfile path
    interval_s: Positive = 15.0


class OptOutConfig(_Base):
    scope: Literal["campaign", "number", "all"] = "campaign"
    confirmation: str = "You are unsubscribed and will receive no more messages. Reply START to resubscribe."
    resubscribed: str = "You are subscribed again."
    joined: str = "You are subscribed. Reply HELP for help, STOP to unsubscribe."
    help: str = "Reply STOP to unsubscribe."
    auto_unsubscribe_campaigns: PosInt = 7
    # The FCC's list (47 CFR 64.1200(a)(10): STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE)
    # plus the CTIA's; whole message, case, spaces and accents ignored ("opt out" = OPTOUT).
    stop_words: list[str] = msgspec.field(default_factory=lambda: [
        "STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"])
    stopall_words: list[str] = msgspec.field(default_factory=lambda: ["STOPALL"])
    start_words: list[str] = msgspec.field(default_factory=lambda: ["START", "UNSTOP"])
    join_words: list[str] = msgspec.field(default_factory=lambda: ["JOIN"])
    help_words: list[str] = msgspec.field(default_factory=lambda: ["HELP", "INFO"])


class ConsentConfig(_Base):
    """The consent ledger (contacts/consent.py)."""

    retention_days: Positive = 1826.0      # 5 years
    sweep_interval_s: Positive = 86400.0


Severity = Literal["blocker", "warning", "off"]


class HoursConfig(_Base):
    """Sending hours by law (issue 17): rule sets from campaigns/data/sending_hours.toml."""

    file: str | None = None            # a rule file of one's own instead of the built-in one
    default: str | None = None         # rule set for campaigns that name none ("us"); unset: none
    close_margin_s: NonNeg = 300.0     # stop releasing this long before a window closes
    release_gap_s: NonNeg = 0.05       # held recipients are released at least this far apart


class CapsConfig(_Base):
    """Frequency caps per recipient across all campaigns and numbers; 0 = no cap."""

    per_day: Annotated[int, msgspec.Meta(ge=0)] = 0
    per_week: Annotated[int, msgspec.Meta(ge=0)] = 0


class ContentConfig(_Base):
    """Content checks before launch: each a blocker, a warning or off."""

    shorteners: Severity = "blocker"
    shortener_domains: list[str] = msgspec.field(default_factory=lambda: [
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
        "cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc", "bl.ink", "s.id", "v.gd", "lnkd.in", "shorte.st"])
    opt_out: Severity = "blocker"
    opt_out_pattern: str = r"\b(reply|text|send|txt)\s+\W?(stop|end|cancel|unsubscribe|quit|optout|arret|baja)\b"
    blocked_terms: Severity = "warning"
    terms: list[str] = msgspec.field(default_factory=lambda: [
        "cannabis", "marijuana", "cbd", "thc", "vape", "kratom", "casino", "sportsbook", "poker", "sweepstakes",
        "firearm", "ammo", "ammunition", "beer", "wine", "liquor", "vodka", "tobacco", "cigar", "nicotine",
        "xxx", "escort", "payday loan", "debt relief", "crypto", "forex"])
    segments: Severity = "warning"
    max_segments: PosInt = 3


class Config(_Base):
    state_dir: str = "/var/lib/gatewayd"
    default_region: str = "US"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    grace_s: NonNeg = 10.0
    event_retention_days: Positive = 30.0
    links: list[LinkConfig] = []
    numbers: list[NumberConfig] = []
    budgets: list[BudgetConfig] = []
    access: AccessConfig = AccessConfig()
    queue: QueueConfig = QueueConfig()
    control: ControlConfig = ControlConfig()
    metrics: MetricsConfig = MetricsConfig()
    optout: OptOutConfig = OptOutConfig()
    hours: HoursConfig = HoursConfig()
    caps: CapsConfig = CapsConfig()
    content: ContentConfig = ContentConfig()
    consent: ConsentConfig = ConsentConfig()

    @property
    def db_path(self) -> Path:
        return Path(self.state_dir) / "gatewayd.db"

    def link(self, name: str) -> LinkConfig:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def number(self, address: str) -> NumberConfig | None:
        for number in self.numbers:
            if number.address == address:
                return number
        return None


_PATH_RE = re.compile(r"at `\$(.*)`$")


def _key_path(err: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec says ``Object contains unknown field `x` - at `$.links[0]` ``: split it."""
    text = str(err)
    m = re.search(r" - at `\$(.*)`$", text)
    message = text[: m.start()] if m else text    # a top-level error has no "at `$...`"
    path = m.group(1).lstrip(".") if m else ""
    unknown = re.match(r"Object contains unknown field `(.+)`", message)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        message = "unknown key"
    return path, message


def parse(text: str, *, source: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    try:
        cfg = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        path, message = _key_path(exc)
        raise ConfigError(message, path) from None
    _check(cfg)
    return cfg


def load(path: str | os.PathLike[str], *, socket: str | None = None, state_dir: str | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    cfg = parse(text, source=str(p))
    changes: dict[str, object] = {}
    if state_dir:
        changes["state_dir"] = state_dir
    if socket:
        changes["control"] = msgspec.structs.replace(cfg.control, socket=socket)
    return msgspec.structs.replace(cfg, **changes) if changes else cfg


def _check(cfg: Config) -> None:
    """Cross-field rules msgspec cannot express."""
    names: set[str] = set()
    for i, link in enumerate(cfg.links):
        if link.name in names:
            raise ConfigError(f"duplicate link name {link.name!r}", f"links[{i}].name")
        names.add(link.name)
        if isinstance(link, SmppConfig) and not (link.password or link.password_file):
            raise ConfigError("one of password or password_file is required", f"links[{i}]")
        if isinstance(link, SmppConfig) and link.max_rate is not None and link.max_tps is not None:
            raise ConfigError("max_tps is the older name of max_rate: set one of them", f"links[{i}].max_tps")
        if isinstance(link, SimConfig) and link.delivered + link.undelivered + link.rejected > 1.0001:
            raise ConfigError("delivered + undelivered + rejected must not exceed 1", f"links[{i}]")
    budgets = _check_budgets(cfg)
    seen: set[str] = set()
    for i, number in enumerate(cfg.numbers):
        if number.address in seen:
            raise ConfigError(f"duplicate number {number.address!r}", f"numbers[{i}].address")
        seen.add(number.address)
        if not number.links:
            raise ConfigError("at least one link is required", f"numbers[{i}].links")
        for j, name in enumerate(number.links):
            if name not in names:
                raise ConfigError(f"unknown link {name!r}", f"numbers[{i}].links[{j}]")
        for j, name in enumerate(number.budgets):
            if name in number.budgets[:j]:
                raise ConfigError(f"budget {name!r} listed twice", f"numbers[{i}].budgets[{j}]")
            if name not in budgets:
                raise ConfigError(f"unknown budget {name!r} (no [[budgets]] of that name)", f"numbers[{i}].budgets[{j}]")
        for j, target in enumerate(number.unsolicited.inbox):
            if not re.fullmatch(r"(office|agent):[\w.@-]+", target):
                raise ConfigError("expected 'office:NAME' or 'agent:USER'", f"numbers[{i}].unsolicited.inbox[{j}]")
    from .campaigns.compliance_config import check as check_compliance

    check_compliance(cfg)   # raises ConfigError naming hours.file / hours.default / content.*
    _check_keywords(cfg)
    if cfg.metrics.listen is not None:
        from .metrics import parse_listen

        parse_listen(cfg.metrics.listen)   # raises ConfigError naming metrics.listen
    try:
        import phonenumbers

        if phonenumbers.country_code_for_region(cfg.default_region) == 0:
            raise ConfigError(f"unknown region {cfg.default_region!r}", "default_region")
    except ImportError:  # pragma: no cover
        pass
    from . import config_rules

    config_rules.check(cfg)


def _check_budgets(cfg: Config) -> set[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    names: set[str] = set()
    for i, b in enumerate(cfg.budgets):
        if not b.name.strip():
            raise ConfigError("a budget needs a name", f"budgets[{i}].name")
        if b.name in names:
            raise ConfigError(f"duplicate budget name {b.name!r}", f"budgets[{i}].name")
        names.add(b.name)
        if b.per_second is None and b.per_minute is None and b.per_day is None:
            raise ConfigError("set at least one of per_second, per_minute, per_day", f"budgets[{i}]")
        try:
            ZoneInfo(b.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {b.tz!r}", f"budgets[{i}].tz") from None
    return names


def normalise_keyword(text: str) -> str:
    """``" Arrêt! "`` -> ``ARRET``: how opt-out keywords compare (case, spaces, accents and
    surrounding punctuation ignored). Here because config checks the lists with it."""
    folded = unicodedata.normalize("NFKD", text or "")
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return "".join(folded.split()).strip(_KEYWORD_STRIP).upper()


_KEYWORD_STRIP = string.punctuation + "¡¿«»“”‘’"
KEYWORD_KINDS = ("stop_words", "stopall_words", "start_words", "join_words", "help_words")


def _check_keywords(cfg: Config) -> None:
    """A word may mean one thing only on a number (STOP and START at once would be unanswerable)."""
    normalise_word = normalise_keyword
    if not cfg.optout.stop_words:
        raise ConfigError("at least one opt-out word is required", "optout.stop_words")
    scopes = [("optout", None)] + [(f"numbers[{i}].optout", n.optout) for i, n in enumerate(cfg.numbers)]
    for base, own in scopes:
        seen: dict[str, str] = {}
        for kind in KEYWORD_KINDS:
            entries = [(f"optout.{kind}", j, w) for j, w in enumerate(getattr(cfg.optout, kind))]
            if own is not None:
                entries += [(f"{base}.{kind}", j, w) for j, w in enumerate(getattr(own, kind))]
            for key, j, word in entries:
                w = normalise_word(word)
                if not w:
                    raise ConfigError("empty keyword", f"{key}[{j}]")
                if seen.get(w, kind) != kind:
                    raise ConfigError(f"{w} is also one of the {seen[w]}", f"{key}[{j}]")
                seen[w] = kind


def read_secret(value: str | None, path: str | None) -> str:
    """Passwords and PINs may come from files so that the config can be world-readable."""
    if path:
        from .permissions import warn_if_exposed

        warn_if_exposed(path)
        return Path(path).read_text().strip()
    return value or ""
