"""What a SIGHUP can apply, and what only a restart can: decided per key, before anything changes.

A reload used to say "reloaded" while silently skipping what it could not apply (a changed link
``window``; a new number accepted sends that stayed queued until a restart). Now a reload either
applies the whole new file or applies none of it and names every key that needs a restart, so
what the daemon runs is always what the file says, or the journal says why not.

Applied live: numbers (added, removed, and every key of one), ``[access]``, ``[queue]``,
``[optout]``, log level, ``enabled`` of a link, ``default_region``, ``grace_s``,
``event_retention_days``, and ``[control]`` ``max_line_bytes`` / ``max_connections`` (for the next
connection). Restart: a link added, removed or changed in any key but ``enabled`` (its session,
window and worker are built at start), ``state_dir``, the socket's path, mode and group, and
``[metrics]`` (listeners and files opened at start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from .config import Config

_RESTART_TOP = ("state_dir",)
_RESTART_CONTROL = ("socket", "socket_mode", "socket_group")
_LIVE_LINK_KEYS = {"enabled"}


def restart_keys(old: "Config", new: "Config") -> list[str]:
    """Key paths (as in the new file) whose change a running daemon cannot apply."""
    keys: list[str] = [k for k in _RESTART_TOP if getattr(old, k) != getattr(new, k)]
    keys += [f"control.{k}" for k in _RESTART_CONTROL if getattr(old.control, k) != getattr(new.control, k)]
    keys += [f"metrics.{f.encode_name}" for f in msgspec.structs.fields(new.metrics)
             if getattr(old.metrics, f.name) != getattr(new.metrics, f.name)]
    before = {lk.name: lk for lk in old.links}
    after = {lk.name for lk in new.links}
    for i, link in enumerate(new.links):
        was = before.get(link.name)
        if was is None:
            keys.append(f"links[{i}] (new link {link.name!r})")
        elif type(was) is not type(link):
            keys.append(f"links[{i}].kind")
        else:
            keys += [f"links[{i}].{f.encode_name}" for f in msgspec.structs.fields(link)
                     if f.name not in _LIVE_LINK_KEYS and getattr(was, f.name) != getattr(link, f.name)]
    keys += [f"links (link {name!r} removed)" for name in before if name not in after]
    return keys
