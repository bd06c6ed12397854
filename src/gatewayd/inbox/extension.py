"""Installs the inbox into the daemon: the inbound hook, the control handlers, the
``campaign.status`` listener that applies the stop-and-archive rule when campaigns end, and a
start-up sweep that applies it to campaigns that ended while the daemon was down."""

from __future__ import annotations

from ..store.inbound import INBOUND_HOOKS
from . import handlers  # noqa: F401  (registers the inbox requests)
from . import intake, routing


def install(gw) -> None:
    routing.configure(lambda: gw.cfg)
    if intake.on_inbound not in INBOUND_HOOKS:   # after the campaigns hook: it attributes first
        INBOUND_HOOKS.append(intake.on_inbound)
    gw.bus.listeners.append(routing.listener(gw))
    gw.add_service("inbox", routing.service)
