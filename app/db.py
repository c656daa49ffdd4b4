"""Engine, sessions and the shared column types.

SQLite (the embedded default) runs in WAL mode. Transactions are begun explicitly so that a request
that writes takes the write lock at BEGIN (``BEGIN IMMEDIATE``) instead of failing half-way with
"database is locked" when it upgrades a read lock; read-only requests begin ``DEFERRED``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

WRITE = {"sqlite_begin": "IMMEDIATE"}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEFAULT_POOL_SIZE = 5
DEFAULT_WAIT_SECONDS = 5.0
# A pooled connection unused for longer than this is pinged before a request gets it (see ``_ping_when_idle``).
PING_AFTER_IDLE_SECONDS = 10.0


def make_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE, wait_seconds: float = DEFAULT_WAIT_SECONDS,
                **kwargs) -> Engine:
    """An engine with a fixed pool of ``pool_size`` connections (no overflow). A request waits at most
    ``wait_seconds`` for one (in ``DbGate``, or in the pool for a connection held outside the gate), then
    gets ``sqlalchemy.exc.TimeoutError``, which the web layer answers with a 503 "busy, retry"."""
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", wait_seconds)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, connect_args={"connect_timeout": 5}, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before handing it out only when it has been idle for a while
    (``PING_AFTER_IDLE_SECONDS``): a connection the database or the network dropped (a restart of the server, an
    idle timeout) is then replaced before a request uses it. SQLAlchemy's ``pool_pre_ping`` pings at every
    checkout, a round trip per request (a save's requests take their connections back within milliseconds). A
    connection dropped while in use fails that request (503) and the pool starts afresh."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError() from exc  # the pool replaces it and tries again
            raise


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


_WRITE_BINDS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _write_bind(engine: Engine) -> Engine:
    """The engine whose transactions begin ``BEGIN IMMEDIATE`` (made once per engine, not per request)."""
    bind = _WRITE_BINDS.get(engine)
    if bind is None:
        bind = _WRITE_BINDS[engine] = engine.execution_options(**WRITE)
    return bind


def session_for(engine: Engine, *, write: bool = False) -> Session:
    """A session; ``write=True`` takes SQLite's write lock when the transaction begins."""
    if write and engine.dialect.name == "sqlite":
        session = Session(_write_bind(engine), expire_on_commit=False)
        session.info["read_bind"] = engine
        return session
    return Session(engine, expire_on_commit=False)


def reads_without_waiting(session: Session) -> bool:
    """Whether a short read may run on the event loop: SQLite (in the process, no network) and no transaction
    in progress (``read_first`` then reads in a transaction of its own that never waits for the write lock)."""
    return session.get_bind().dialect.name == "sqlite" and not session.in_transaction()


@contextmanager
def read_first(session: Session) -> Iterator[Session | Connection]:
    """Where to make a read before the request's own transaction: on a write session of SQLite, a connection
    of its own, returned afterwards; otherwise the session itself. A write request's session begins ``BEGIN
    IMMEDIATE``: read there (who is asking), it would take the write lock on the event loop and hold it from
    the request's start; the connection reads ``DEFERRED`` and waits for nothing (WAL: readers never wait
    for the writer)."""
    read_bind = session.info.get("read_bind")
    if read_bind is None or session.in_transaction():
        yield session
        return
    with read_bind.connect() as connection:
        yield connection


def reads_from_here(session: Session) -> None:
    """A write request has committed and now only reads (to render its answer): on SQLite its next transaction
    begins ``DEFERRED``, so that rendering does not take the write lock again and hold it while the writers
    after it wait, and the next writer is let through ``DbGate`` now rather than after the rendering. Nothing
    to do on PostgreSQL (a read takes no lock there, and writers do not queue in the gate)."""
    if session.in_transaction():
        return
    session.info["only_reads"] = True  # see end_reads
    read_bind = session.info.pop("read_bind", None)
    if read_bind is not None:
        session.bind = read_bind
    done_writing = session.info.pop("done_writing", None)
    if done_writing is not None:  # the next writer in this process need not wait for this one's rendering
        done_writing()


def end_reads(session: Session) -> None:
    """Close a session whose open transaction only read. On PostgreSQL the transaction ends with COMMIT, not
    the ROLLBACK of ``close()``: psycopg forgets its prepared statements at every ROLLBACK (and sends
    ``DEALLOCATE ALL``), so with ROLLBACK no statement ever reached psycopg's five uses on a connection and
    PostgreSQL parsed and planned every statement of every page anew. ORM changes left pending (a read
    should have none) are never written: then it is the ROLLBACK after all."""
    if (session.in_transaction() and session.get_bind().dialect.name == "postgresql"
            and not (session.new or session.dirty or session.deleted)):
        session.commit()
    session.close()


def one_at_a_time(session: Session, task: str) -> None:
    """Let one transaction at a time run ``task`` (a bulk admin change that plans from what it reads):
    the next waits for the first to commit, then plans from what that one wrote. PostgreSQL: a
    transaction-level advisory lock; SQLite: the write lock that a write session (``BEGIN IMMEDIATE``)
    takes when its transaction begins, which is here."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:task))"), {"task": f"paperless:{task}"})
    else:
        session.connection()


def sessions(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    with session_for(engine, write=write) as session:
        yield session


class DbGate:
    """Admits at most as many requests to the database at once as the pool has connections; the others
    wait in the event loop, at most as long as the pool's timeout, then get the pool's own
    ``TimeoutError`` (answered with a 503 "busy, retry"). One limit, one wait: the pool's.

    Why wait here and not in the pool: a request's session keeps its pooled connection between the thread
    hops of one request (its sync dependencies and its endpoint each run in the thread pool). If more
    requests than the pool holds get a thread at once, the threads block in the pool while the
    connections they wait for belong to requests queued for a thread: nothing moves until the pool
    timeout (seen with 400 simultaneous sign-ins). With no more admitted requests than connections, a
    thread never waits for the pool (only for a connection that something takes outside the gate).

    On SQLite, writers also queue here one at a time (SQLite has one writer anyway): they wait in order
    instead of sleeping in SQLite's busy handler with its growing back-off.

    The semaphores are made per event loop (one per worker in production; tests run several loops).
    """

    def __init__(self, slots: int, *, wait_seconds: float, serialise_writes: bool) -> None:
        self.slots = max(1, slots)
        self.wait_seconds = wait_seconds
        self.serialise_writes = serialise_writes
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def for_engine(cls, engine: Engine, *, max_threads: int = 32) -> DbGate:
        pool = engine.pool
        size = pool.size() if hasattr(pool, "size") else 1
        overflow = max(0, getattr(pool, "_max_overflow", 0))
        wait = pool.timeout() if hasattr(pool, "timeout") else DEFAULT_WAIT_SECONDS
        return cls(min(size + overflow, max_threads), wait_seconds=wait,
                   serialise_writes=engine.dialect.name == "sqlite")

    def _semaphores(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore | None]:
        loop = asyncio.get_running_loop()
        pair = self._loops.get(loop)
        if pair is None:
            pair = (asyncio.Semaphore(self.slots), asyncio.Semaphore(1) if self.serialise_writes else None)
            self._loops[loop] = pair
        return pair

    @asynccontextmanager
    async def admit(self, *, write: bool) -> AsyncIterator[Callable[[], None]]:
        """Admit a request; yields a function that lets the next writer in before the request ends (its write
        committed, it only renders now: ``reads_from_here``). Callable from any thread, at most once counts."""
        slots, writers = self._semaphores()
        needed = [writers, slots] if write and writers is not None else [slots]
        held: list[asyncio.Semaphore] = []
        loop = asyncio.get_running_loop()
        done_writing = threading.Event()

        def let_next_writer_in() -> None:
            if writers in held and not done_writing.is_set():
                done_writing.set()
                loop.call_soon_threadsafe(writers.release)

        try:
            try:
                async with asyncio.timeout(self.wait_seconds):
                    for semaphore in needed:
                        await semaphore.acquire()
                        held.append(semaphore)
            except TimeoutError:
                raise PoolTimeout(f"no database connection free within {self.wait_seconds:g} s") from None
            yield let_next_writer_in
        finally:
            for semaphore in reversed(held):
                if semaphore is writers and done_writing.is_set():
                    continue  # already let go
                semaphore.release()
