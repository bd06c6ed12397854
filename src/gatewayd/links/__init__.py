"""Link kinds. ``make_link`` is the one place that maps a config kind to its implementation."""

from __future__ import annotations

from ..config import LinkConfig, ModemConfig, SimConfig, SmppConfig
from .base import Link, LinkSink


def make_link(cfg: LinkConfig, sink: LinkSink) -> Link:
    if isinstance(cfg, SimConfig):
        from .sim import SimLink

        return SimLink(cfg, sink)
    if isinstance(cfg, SmppConfig):
        if cfg.isolated:
            from .process import ProcessLink

            return ProcessLink(cfg, sink)
        from .smpp.link import SmppLink

        return SmppLink(cfg, sink)
    if isinstance(cfg, ModemConfig):
        from .modem.link import ModemLink

        return ModemLink(cfg, sink, health_s=cfg.health_s, backoff_min_s=cfg.reconnect_min_s,
                         backoff_max_s=cfg.reconnect_max_s, reassembly_timeout_s=cfg.reassembly_timeout_s)
    raise TypeError(f"unknown link config {type(cfg).__name__}")
