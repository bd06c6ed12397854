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
]


def install_all(gw) -> list[str]:
    installed = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        install = getattr(mod, "install", None)
        if install is not None:
            install(gw)
        installed.append(name)
    return installed
