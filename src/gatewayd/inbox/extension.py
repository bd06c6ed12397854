"""Installs the inbox into the daemon: the inbound hook, the control handlers, and the
``campaign.status`` listener that applies the stop-and-archive rule when campaigns end."""

from __future__ import annotations

from ..store.inbound import INBOUND_HOOKS
from . import handlers  # noqa: F401  (registers the inbox requests)
from . import intake, routing


def install(gw) -> None:
    routing.configure(lambda: gw.cfg)
    if intake.on_inbound not in INBOUND_HOOKS:   # after the campaigns hook: it attributes first
        INBOUND_HOOKS.append(intake.on_inbound)
    gw.bus.listeners.append(routing.listener(gw))
