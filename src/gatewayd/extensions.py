"""Domain extensions installed into the daemon at start-up.

Each module exposes ``install(gw)``, where it registers store hooks, control handlers and
background services on the :class:`~gatewayd.daemon.Gateway`. The core knows no campaign or
inbox rule; it only knows this list.
"""

from __future__ import annotations

import importlib

MODULES = [
    "gatewayd.control.handlers",
    "gatewayd.campaigns.extension",
    "gatewayd.inbox.extension",
    "gatewayd.links.sim_inbound",
    "gatewayd.contacts.ledger",
]


def import_optional(name: str):
    """The module, or None when that module itself is absent (a domain not built); an import
    error *inside* it still raises, so a broken extension is never silently skipped."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def install_all(gw) -> list[str]:
    installed = []
    for name in MODULES:
        mod = import_optional(name)
        if mod is None:
            continue
        install = getattr(mod, "install", None)
        if install is not None:
            install(gw)
        installed.append(name)
    return installed
