"""The single SQLite store: one writer task with group commit, one reader connection.

Every change goes through :meth:`Store.run`, which queues a sync ``fn(tx)`` for the writer task.
The writer runs everything queued so far in ONE transaction on a worker thread (each op in its own
savepoint, so one failing op does not undo the others), commits, and only then wakes the callers,
publishes the events the ops emitted and runs their after-commit callbacks. A caller that got its
result back therefore knows its change is durable: that is what lets us acknowledge a client, a
deliver_sm or an AT+CMGD only after commit, while still committing thousands of changes per fsync.

Reads that may take a while (lists, reports) use a second connection so they never hold the
writer up (WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import sqlite_utils
import trio

from ..errors import GatewayError
from . import migrations

log = logging.getLogger(__name__)
T = TypeVar("T")
_json = msgspec.json.Encoder()

MAX_BATCH = 2000


class Tx:
    """What a write op sees: the connection, a timestamp, and ways to emit events / defer work."""

    __slots__ = ("db", "now", "_events", "_after", "_rows")

    def __init__(self, db: sqlite3.Connection, now: float) -> None:
        self.db = db
        self.now = now
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._after: list[Callable[[], None]] = []
        self._rows: list[tuple[str, tuple]] = []

    def defer(self, sql: str, params: tuple) -> None:
        """An INSERT nothing in this transaction reads back (history rows): run with the batch's
        other rows of the same statement in multi-row INSERTs, before the commit. Dropped with
        the op if the op fails."""
        self._rows.append((sql, params))

    def emit(self, type: str, **data: Any) -> None:
        """Record an event in the durable log (inserted with the op's other changes)."""
        self._events.append((type, data))

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the Trio thread once the transaction is durable (e.g. wake the dispatcher)."""
        self._after.append(fn)

    def mark(self) -> tuple[int, int, int]:
        """Where the op's events, deferred rows and callbacks stand; see :meth:`rewind`."""
        return len(self._events), len(self._rows), len(self._after)

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Forget what was recorded since ``mark`` (after rolling back to a savepoint taken then)."""
        del self._events[mark[0]:], self._rows[mark[1]:], self._after[mark[2]:]


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


def _runs(batch: list["_Op"]) -> list[list["_Op"]]:
    """Split a batch into runs of consecutive ops: one run per batchable kind, else single ops."""
    out: list[list[_Op]] = []
    for op in batch:
        if out and hasattr(op.fn, "many") and out[-1][0].fn is op.fn:
            out[-1].append(op)
        else:
            out.append([op])
    return out


class _Op:
    __slots__ = ("fn", "args", "done", "result", "error", "events", "after", "waited", "on_done")

    def __init__(self, fn: Callable[..., Any], args: tuple, waited: bool = True,
                 on_done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        self.fn = fn
        self.args = args
        self.waited = waited
        self.on_done = on_done
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.events: list[Any] = []
        self.after: list[Callable[[], None]] = []


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL" if not readonly else "PRAGMA query_only=1")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # 8 MB per connection keeps RSS flat as the queue grows (SMPP bench: 61 MB at 10k and 63 MB at
    # 100k messages; 69 and 89 MB with 32 MB). The price, measured: bulk enqueue into a 120k queue
    # runs at ~6,000 msg/s instead of ~7,300.
    conn.execute("PRAGMA cache_size=-8000")
    return conn


class Store:
    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.db: sqlite3.Connection | None = None
        self.reader: sqlite3.Connection | None = None
        self._send, self._recv = trio.open_memory_channel[_Op](MAX_BATCH * 10)
        self._read_limiter = trio.CapacityLimiter(1)
        self._publish: Callable[[list[Any]], None] = lambda events: None
        self.commits = 0
        self._last_progress = time.monotonic()
        self._cursor = 0     # last event cursor handed out (the writer is the only one inserting)

    # ---- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Lock, open, migrate (sync, before any task runs).

        The lock comes first: a second daemon pointed at the same state must not run crash
        recovery on a live database (it would requeue the first one's in-flight messages)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise GatewayError(f"another gatewayd is using {self.path} (lock held)", code="in_use") from None
        self.db = connect(self.path)
        migrations.apply(sqlite_utils.Database(self.db))
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        top = self.db.execute("SELECT coalesce(max(cursor), 0) FROM events").fetchone()[0]
        self._cursor = max(row[0] if row else 0, top)
        self.reader = connect(self.path, readonly=True)

    def close(self) -> None:
        for conn in (self.reader, self.db):
            if conn is not None:
                conn.close()
        self.db = self.reader = None
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()     # releases the flock
            self._lock = None

    def set_publisher(self, publish: Callable[[list[Any]], None]) -> None:
        self._publish = publish

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write op directly (start-up, before the writer task exists)."""
        op = _Op(fn, args)
        self._execute([op])
        self._finish([op])
        if op.error is not None:
            raise op.error
        return op.result

    # ---- the writer ------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Queue a write op and wait until it is committed. Exceptions from ``fn`` propagate."""
        op = _Op(fn, args)
        await self._send.send(op)
        await op.done.wait()
        if op.error is not None:
            raise op.error
        return op.result

    async def post(self, fn: Callable[..., Any], *args: Any,
                   on_done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        """Queue a write op without waiting for its commit (results the dispatcher learned:
        ordered after everything queued before, committed with the next group). ``on_done(result,
        error)`` runs in the Trio thread after the commit (error None) or the op's failure."""
        await self._send.send(_Op(fn, args, waited=on_done is not None, on_done=on_done))

    def post_nowait(self, fn: Callable[..., Any], *args: Any) -> None:
        self._send.send_nowait(_Op(fn, args, waited=False))

    async def writer(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            # No waiting for a batch to fill: whatever queued while the last one ran goes next. (A
            # 1 ms fill wait paid off while every op cost half a dozen statements; with runs of
            # ops merged set-wise it cost ~5% msg/s in bench/smpp_throughput.py.)
            batch = [await self._recv.receive()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._recv.receive_nowait())
                except trio.WouldBlock:
                    break
            # The thread must finish even if we are cancelled: a half-run batch would leave
            # callers waiting and the connection inside a transaction.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._execute, batch, self.clock())
                self._finish(batch)

    def _execute(self, batch: list[_Op], now: float | None = None) -> None:
        db = self.db
        assert db is not None, "store not open"
        now = self.clock() if now is None else now
        db.execute("BEGIN IMMEDIATE")
        self._batch_rows: dict[str, list[tuple]] = {}
        self._batch_events: list[tuple] = []
        try:
            for group in _runs(batch):
                if len(group) == 1 or not self._run_many(db, now, group):
                    for op in group:
                        self._run_one(db, now, op)
            for sql, params_list in self._batch_rows.items():
                insert_rows(db, sql, params_list)
            if self._batch_events:
                insert_rows(db, "INSERT INTO events(cursor, at, type, data) VALUES (?, ?, ?, ?)", self._batch_events)
            db.execute("COMMIT")
            self._cursor += len(self._batch_events)
            self.commits += 1
            self._last_progress = time.monotonic()
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for op in batch:
                op.error = op.error or exc
                op.events = []
                op.after = []
            log.exception("store transaction failed")

    def _run_one(self, db: sqlite3.Connection, now: float, op: _Op) -> None:
        tx = Tx(db, now)
        db.execute("SAVEPOINT op")
        try:
            op.result = op.fn(tx, *op.args)
            db.execute("RELEASE op")
        except Exception as exc:  # one op's failure must not undo the others
            db.execute("ROLLBACK TO op")
            db.execute("RELEASE op")
            op.error = exc
            return
        self._collect(tx, op)

    def _run_many(self, db: sqlite3.Connection, now: float, group: list[_Op]) -> bool:
        """A run of queued ops of one batchable kind as ONE set-wise call (``fn.many``): same
        effects as running them one by one, with far fewer statements. False (nothing done) if it
        failed: the caller then runs them one by one, so only the bad one fails."""
        tx = Tx(db, now)
        db.execute("SAVEPOINT many")
        try:
            results = group[0].fn.many(tx, [op.args for op in group])
            db.execute("RELEASE many")
        except Exception:
            db.execute("ROLLBACK TO many")
            db.execute("RELEASE many")
            log.warning("set-wise %s failed; running its %d ops one by one",
                        getattr(group[0].fn, "__qualname__", group[0].fn), len(group), exc_info=True)
            return False
        for op, result in zip(group, results, strict=True):
            op.result = result
        self._collect(tx, group[-1])   # events and callbacks in order, carried by the last op
        return True

    def _collect(self, tx: Tx, op: _Op) -> None:
        for sql, params in tx._rows:
            self._batch_rows.setdefault(sql, []).append(params)
        cursor = self._cursor + len(self._batch_events)
        for type_, data in tx._events:
            cursor += 1
            self._batch_events.append((cursor, tx.now, type_, _json.encode(data).decode()))
            op.events.append((cursor, tx.now, type_, data))
        op.after = tx._after

    def stalled_for(self) -> float:
        """Seconds the writer has had queued work without committing (0 when idle)."""
        if self._recv.statistics().current_buffer_used == 0:
            self._last_progress = time.monotonic()
            return 0.0
        return time.monotonic() - self._last_progress

    def _finish(self, batch: list[_Op]) -> None:
        events = [ev for op in batch for ev in op.events]
        if events:
            self._publish(events)
        for op in batch:
            if op.error is not None and not op.waited:   # nobody else will ever see it
                log.error("posted store op %s failed", getattr(op.fn, "__qualname__", op.fn),
                          exc_info=op.error)
            for fn in op.after:
                try:
                    fn()
                except Exception:
                    log.exception("after-commit callback failed")
            if op.on_done is not None:
                try:
                    op.on_done(op.result, op.error)
                except Exception:
                    log.exception("store op callback failed")
            op.done.set()

    # ---- reads -----------------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only ``fn(conn, *args)`` on the reader connection in a worker thread."""
        return await trio.to_thread.run_sync(self._read, fn, args, limiter=self._read_limiter)

    def _read(self, fn: Callable[..., T], args: tuple) -> T:
        conn = self.reader
        assert conn is not None
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    async def backup(self, dest: str) -> int:
        """Consistent online copy through the SQLite backup API. Returns bytes written."""

        def copy() -> int:
            target = sqlite3.connect(dest)
            try:
                src = sqlite3.connect(str(self.path))
                try:
                    src.backup(target, pages=4096)
                finally:
                    src.close()
            finally:
                target.close()
            return Path(dest).stat().st_size

        return await trio.to_thread.run_sync(copy)
