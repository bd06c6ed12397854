"""Logging to stderr for the journal.

Under systemd (stderr is the journal stream named by ``$JOURNAL_STREAM``) every line starts with
an sd-daemon priority prefix (``<4>`` warning, ``<3>`` error, see sd-daemon(3)), so that
``journalctl -p warning`` finds our problems, and carries no timestamp (journald adds its own).
A traceback spans several lines: each gets the prefix, or its tail would be filed as info.
"""

from __future__ import annotations

import logging
import os
import sys

#: syslog priorities of sd-daemon(3) by logging level
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


class JournalFormatter(logging.Formatter):
    """``<N>`` in front of every line of a record."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stderr_is_journal(environ: dict[str, str] | None = None, stream=None) -> bool:
    """True when ``$JOURNAL_STREAM`` names our stderr (not merely inherited by a child whose
    stderr was redirected elsewhere)."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup(level: str = "info") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_journal():
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
