"""Schema migrations, applied at start-up in order, each exactly once.

Each domain owns its schema in a module exposing ``MIGRATIONS = [(name, sql), ...]``; names are
global and never reused, so domains can add tables without touching each other's lists. An
upgrade is "install the new version, start it": pending migrations run before anything else.
"""

from __future__ import annotations

import logging
import time

import sqlite_utils

log = logging.getLogger(__name__)

#: Domain schema modules, applied in this order (core first: others reference its tables).
MODULES = [
    "gatewayd.store.schema",
    "gatewayd.store.flow",
    "gatewayd.campaigns.schema",
    "gatewayd.store.compliance",     # columns on the campaign tables (issue 17)
    "gatewayd.inbox.schema",
    "gatewayd.store.budgets",
    "gatewayd.store.consent",     # after campaigns: adds campaigns.require_consent
]


def _load() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    from ..extensions import import_optional

    for name in MODULES:
        mod = import_optional(name)   # a domain not built has no schema; its own errors still raise
        if mod is not None:
            out.extend(getattr(mod, "MIGRATIONS", []))
    return out


def apply(db: sqlite_utils.Database) -> list[str]:
    conn = db.conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in _load():
        if name in done:
            continue
        log.info("applying migration %s", name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _statements(sql):
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split on ';' at statement ends, keeping trigger bodies (BEGIN ... END;) whole."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3_complete(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def sqlite3_complete(text: str) -> bool:
    import sqlite3

    return sqlite3.complete_statement(text)
