"""Installs the campaign domain into the daemon: store hooks, socket handlers, the scheduler.

Hooks live in module-level lists of the core; they are registered once per process (tests build
several gateways) and read the current gateway's settings through ``steps.RUNTIME``.
"""

from __future__ import annotations

from ..contacts import sendgate
from ..control import handlers as core_handlers
from ..store import inbound, messages
from . import attribution, compliance_handlers, handlers, service, steps  # noqa: F401  (handlers register on import)


def install(gw) -> None:
    steps.RUNTIME.cfg = gw.cfg
    steps.RUNTIME.kick = gw.dispatcher.kick
    gw.reload_hooks.append(lambda cfg: setattr(steps.RUNTIME, "cfg", cfg))
    if steps.on_final not in messages.FINAL_HOOKS:
        messages.FINAL_HOOKS.append(steps.on_final)
    if attribution.on_inbound not in inbound.INBOUND_HOOKS:
        # Attribution must run before the inbox files the conversation by row["campaign_id"].
        inbound.INBOUND_HOOKS.insert(0, attribution.on_inbound)
    if sendgate.gate not in core_handlers.SEND_GATES:
        core_handlers.SEND_GATES.append(sendgate.gate)
    gw.add_service("campaigns", service.run)
