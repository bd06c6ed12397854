"""How the store's writer orders and writes a batch: runs for set-wise calls, claims first, and
multi-row statements. Pure functions over ops and a connection; the writer is in store.py."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import _Op

RESULT_RANK = 0      # ``reorder`` ranks: submit results (bulk.submitted),
RECEIPT_RANK = 1     # receipts (bulk.record_receipt[s]),
URGENT_RANK = 2      # claims (dispatcher._claim)

_CHUNK = 128


def execute_rows(db: sqlite3.Connection, head: str, width: int, rows: list[tuple], tail: str = "") -> None:
    """``head VALUES (?,..),(?,..)... tail`` over ``rows``: one statement per chunk instead of one
    per row. SQLite then runs a whole chunk in one step, without handing the GIL back and forth for
    every row as ``executemany`` does. Chunks are powers of two (at most 8 statement shapes)."""
    i, total = 0, len(rows)
    while i < total:
        n = min(_CHUNK, 1 << ((total - i).bit_length() - 1))
        sql = _ROWS_SQL.get((head, width, tail, n))
        if sql is None:
            one = "(" + ",".join("?" * width) + ")"
            sql = _ROWS_SQL[(head, width, tail, n)] = f"{head} VALUES {','.join([one] * n)}{tail}"
        db.execute(sql, [x for row in rows[i:i + n] for x in row])
        i += n


_ROWS_SQL: dict[tuple, str] = {}


def insert_rows(db: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    """:func:`execute_rows` for a plain ``INSERT ... VALUES (?, ...)`` statement."""
    head, _, values = sql.partition(" VALUES ")
    execute_rows(db, head, values.count("?"), rows)


def runs(batch: list[_Op]) -> list[list[_Op]]:
    """Split a batch into runs of consecutive ops: one run per batchable kind, else single ops.

    Ops whose fn has a ``reorder`` rank commute with one another (a submit result, a receipt
    burst, a claim: a result moves a message on from ``sending``, a receipt from ``sent``, a claim
    takes ``queued`` ones), so between two other ops they are stably sorted by rank. Under load a
    batch then holds one run of each kind instead of dozens of short ones (bench: 11 runs per
    batch before). A receipt queued before its own submit result now finds it applied: the same
    end state as the early-receipt path, reached directly."""
    ordered: list[_Op] = []
    movable: list[_Op] = []
    for op in batch:
        if hasattr(op.fn, "reorder"):
            movable.append(op)
            continue
        if movable:
            ordered.extend(sorted(movable, key=_rank))
            movable.clear()
        ordered.append(op)
    ordered.extend(sorted(movable, key=_rank))
    out: list[list[_Op]] = []
    for op in ordered:
        if out and hasattr(op.fn, "many") and out[-1][0].fn is op.fn:
            out[-1].append(op)
        else:
            out.append([op])
    return out


def urgent_first(batch: list[_Op]) -> list[list[_Op]]:
    """Claims a lane is waiting on go in a short transaction ahead of the batch's receipts (which
    they commute with; never across another op): a lane refills its link's window after a short
    commit instead of after the whole batch. Without this the lanes' claims, not the database,
    set the pace (bench: ~13 ms per claim). Submit results queued before a claim go with it: a
    claim never commits ahead of an earlier result, so what a crash leaves "maybe sent" stays
    within the link's window."""
    urgent: list[_Op] = []
    claims = False
    for op in batch:
        rank = getattr(op.fn, "reorder", None)
        if rank is None:
            break
        if rank == URGENT_RANK:
            claims = True
            urgent.append(op)
        elif rank == RESULT_RANK:
            urgent.append(op)
    if not claims or len(urgent) == len(batch):
        return [batch]
    taken = {id(op) for op in urgent}
    return [urgent, [op for op in batch if id(op) not in taken]]


def _rank(op: _Op) -> int:
    return op.fn.reorder
