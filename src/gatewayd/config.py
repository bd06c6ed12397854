"""TOML configuration decoded into frozen msgspec structs.

Unknown keys and bad values are errors that name the key path (``links[1].window``), because an
operator editing /etc/gatewayd/gatewayd.toml at 3am needs to know exactly which line is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
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
    max_line_bytes: PosInt = 1_048_576


class MetricsConfig(_Base):
    listen: str | None = None          # "127.0.0.1:9464" to serve /metrics
    textfile: str | None = None        # node-exporter textfile path
    interval_s: Positive = 15.0


class OptOutConfig(_Base):
    scope: Literal["campaign", "number", "all"] = "campaign"
    confirmation: str = "You are unsubscribed and will receive no more messages. Reply START to resubscribe."
    resubscribed: str = "You are subscribed again."
    help: str = "Reply STOP to unsubscribe."
    auto_unsubscribe_campaigns: PosInt = 7


class Config(_Base):
    state_dir: str = "/var/lib/gatewayd"
    default_region: str = "US"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    grace_s: NonNeg = 10.0
    event_retention_days: Positive = 30.0
    links: list[LinkConfig] = []
    numbers: list[NumberConfig] = []
    access: AccessConfig = AccessConfig()
    queue: QueueConfig = QueueConfig()
    control: ControlConfig = ControlConfig()
    metrics: MetricsConfig = MetricsConfig()
    optout: OptOutConfig = OptOutConfig()

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
    if not m:
        return "", text
    message = text[: m.start()]
    path = m.group(1).lstrip(".")
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
        for j, target in enumerate(number.unsolicited.inbox):
            if not re.fullmatch(r"(office|agent):[\w.@-]+", target):
                raise ConfigError("expected 'office:NAME' or 'agent:USER'", f"numbers[{i}].unsolicited.inbox[{j}]")
    if cfg.metrics.listen is not None:
        from .metrics import parse_listen

        parse_listen(cfg.metrics.listen)   # raises ConfigError naming metrics.listen
    try:
        import phonenumbers

        if phonenumbers.country_code_for_region(cfg.default_region) == 0:
            raise ConfigError(f"unknown region {cfg.default_region!r}", "default_region")
    except ImportError:  # pragma: no cover
        pass


def read_secret(value: str | None, path: str | None) -> str:
    """Passwords and PINs may come from files so that the config can be world-readable."""
    if path:
        return Path(path).read_text().strip()
    return value or ""
