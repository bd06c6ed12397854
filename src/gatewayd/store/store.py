"""The single SQLite store: one writer task with group commit, one reader connection.

Every change goes through :meth:`Store.run`, which queues a sync ``fn(tx)`` for the writer thread.
The writer runs everything queued so far in ONE transaction (each op in its own savepoint, so one
failing op does not undo the others), commits, and only then hands the batch back to the Trio
thread, which wakes the callers, publishes the events the ops emitted and runs their after-commit
callbacks. The writer is a thread of its own that starts the next batch at once: it never waits
for the event loop to get round to the last one's callbacks. A caller that got its
result back therefore knows its change is durable: that is what lets us acknowledge a client, a
deliver_sm or an AT+CMGD only after commit, while still committing thousands of changes per fsync.

Reads that may take a while (lists, reports) use a second connection so they never hold the
writer up (WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import sqlite_utils
import trio

from ..errors import GatewayError
from . import migrations
from .batches import insert_rows, runs, urgent_first

log = logging.getLogger(__name__)
T = TypeVar("T")
_json = msgspec.json.Encoder()

MAX_BATCH = 2000
QUEUE_LIMIT = MAX_BATCH * 10    # ops queued for the writer before posters wait


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
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30,
                           cached_statements=int(__import__("os").environ.get("CACHED", "128")))
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
        self._ops: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._queued = 0              # posted and not finished (Trio thread only)
        self._room = trio.Event()     # set when _queued drops below QUEUE_LIMIT
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
        from ..permissions import open_private, private_dir

        private_dir(self.path.parent)
        self._lock = os.fdopen(open_private(self.path.with_name(self.path.name + ".lock")), "r+")
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
        await self._put(op)
        await op.done.wait()
        if op.error is not None:
            raise op.error
        return op.result

    async def post(self, fn: Callable[..., Any], *args: Any,
                   on_done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        """Queue a write op without waiting for its commit (results the dispatcher learned:
        ordered after everything queued before, committed with the next group). ``on_done(result,
        error)`` runs in the Trio thread after the commit (error None) or the op's failure."""
        await self._put(_Op(fn, args, waited=on_done is not None, on_done=on_done))

    def post_nowait(self, fn: Callable[..., Any], *args: Any) -> None:
        """:meth:`post` from sync code; raises ``trio.WouldBlock`` while the writer is
        ``QUEUE_LIMIT`` ops behind."""
        if self._queued >= QUEUE_LIMIT:
            raise trio.WouldBlock
        self._queued += 1
        self._ops.put(_Op(fn, args, waited=False))

    async def _put(self, op: _Op) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._queued >= QUEUE_LIMIT:
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        self._queued += 1
        self._ops.put(op)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def writer(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Run the writer thread until cancelled; then let it finish what is queued and stop."""
        token = trio.lowlevel.current_trio_token()
        thread = threading.Thread(target=self._write_loop, args=(token,), name="gatewayd-store", daemon=True)
        thread.start()
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self._ops.put(None)
            # The thread must finish even if we are cancelled: a half-run batch would leave
            # callers waiting and the connection inside a transaction.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(thread.join)

    def _write_loop(self, token: trio.lowlevel.TrioToken) -> None:
        # No waiting for a batch to fill: whatever queued while the last one ran goes next. (A
        # 1 ms fill wait paid off while every op cost half a dozen statements; with runs of ops
        # merged set-wise it cost ~5% msg/s in bench/smpp_throughput.py.)
        ops = self._ops
        stop = False
        while not stop:
            first = ops.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    op = ops.get_nowait()
                except queue.Empty:
                    break
                if op is None:
                    stop = True
                    break
                batch.append(op)
            for part in urgent_first(batch):
                self._execute(part, self.clock())
                try:
                    token.run_sync_soon(self._done, part)
                except trio.RunFinishedError:
                    return

    def _done(self, batch: list[_Op]) -> None:
        self._queued -= len(batch)
        if self._queued < QUEUE_LIMIT:
            self._room.set()
        self._finish(batch)

    def _execute(self, batch: list[_Op], now: float | None = None) -> None:
        db = self.db
        assert db is not None, "store not open"
        now = self.clock() if now is None else now
        db.execute("BEGIN IMMEDIATE")
        self._batch_rows: dict[str, list[tuple]] = {}
        self._batch_events: list[tuple] = []
        try:
            for group in runs(batch):
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
        if self._queued == 0:
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
        """Consistent online copy through the SQLite backup API. Returns bytes written.

        The file is created first, exclusively and 0600 whatever the umask (a backup holds every
        message; an existing file is never overwritten): raises FileExistsError / OSError."""

        def copy() -> int:
            from ..permissions import PRIVATE_FILE

            os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))
            try:
                target = sqlite3.connect(dest)
            except sqlite3.Error as exc:
                os.unlink(dest)
                raise OSError(str(exc)) from None
            try:
                src = sqlite3.connect(str(self.path))
                try:
                    src.backup(target, pages=4096)
                finally:
                    src.close()
                from .restore import mark_copy

                mark_copy(target, self.clock())   # a daemon started on this copy knows it is a restore
            except sqlite3.Error as exc:          # disk full, I/O error: no half backup left behind
                target.close()
                os.unlink(dest)
                raise OSError(f"backup failed: {exc}") from None
            finally:
                target.close()
            return Path(dest).stat().st_size

        return await trio.to_thread.run_sync(copy)
