"""A small fixed pool per process, and a bounded wait for a connection: a request that finds every
connection busy for PAPERLESS_DB_WAIT_SECONDS gets a Japanese 503 "busy, retry" (HTML for pages, JSON
for /api), never a hang or a 500. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from fastapi.testclient import TestClient

from app.config import ConfigError, Settings
from app.main import create_app
from tests.conftest import make_settings, sign_in

SHEET = "/api/v1/rounds/{rid}/sections/A1/sheet"
ANSWER = "/api/v1/rounds/{rid}/sections/A1/answers/office.daily.keep-electronic"
BUSY = "混み合っています"
WAIT = 0.5


@pytest.fixture
def small_app(database_url):
    app = create_app(make_settings(database_url, db_pool_size=1, db_wait_seconds=WAIT))
    yield app
    app.state.engine.dispose()


def _assert_busy(client: TestClient, rid: int, token: str) -> None:
    started = time.monotonic()
    page = client.get(f"/rounds/{rid}/sections/A1")
    assert page.status_code == 503, page.text
    assert BUSY in page.text and page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5"
    api = client.get(SHEET.format(rid=rid))
    assert api.status_code == 503 and BUSY in api.json()["detail"] and api.headers["retry-after"] == "5"
    save = client.put(ANSWER.format(rid=rid), json={"status": "◎", "version": 0}, headers={"X-CSRF-Token": token})
    assert save.status_code == 503 and BUSY in save.json()["detail"]
    assert time.monotonic() - started < 3 * WAIT + 5  # each waited about WAIT, not the old 10–30 s


def _assert_served(client: TestClient, rid: int, token: str) -> None:
    assert client.get(f"/rounds/{rid}/sections/A1").status_code == 200
    save = client.put(ANSWER.format(rid=rid), json={"status": "◎", "version": 0}, headers={"X-CSRF-Token": token})
    assert save.status_code == 200, save.text


def test_pool_size_and_wait_come_from_the_settings(small_app):
    assert small_app.state.engine.pool.size() == 1
    assert small_app.state.engine.pool.timeout() == WAIT
    assert (small_app.state.db_gate.slots, small_app.state.db_gate.wait_seconds) == (1, WAIT)


def test_a_connection_held_outside_the_requests_gives_the_next_request_503_busy(small_app, world):
    with TestClient(small_app, follow_redirects=False) as client:
        token = sign_in(client, "member.a1@test.example")
        held = small_app.state.engine.connect()  # the pool's only connection (a CLI job, a long query)
        try:
            _assert_busy(client, world.round.id, token)
        finally:
            held.close()
        _assert_served(client, world.round.id, token)


def test_a_request_queued_behind_a_request_holding_the_pool_gets_503_busy(small_app, world):
    with TestClient(small_app, follow_redirects=False) as client:
        token = sign_in(client, "member.a1@test.example")
        portal = client.portal
        release = portal.call(anyio.Event)
        admitted = portal.call(anyio.Event)

        async def slow_request() -> None:  # holds the one admission as a long request would
            async with small_app.state.db_gate.admit(write=False):
                admitted.set()
                await release.wait()

        portal.start_task_soon(slow_request)
        portal.call(admitted.wait)
        with ThreadPoolExecutor(1) as pool:  # a request that hangs fails the test instead of hanging it
            waiting = pool.submit(_assert_busy, client, world.round.id, token)
            try:
                waiting.result(timeout=30)
            finally:
                portal.call(release.set)
        _assert_served(client, world.round.id, token)


def test_pool_settings_are_read_from_the_environment_and_checked(monkeypatch, database_url):
    monkeypatch.setenv("PAPERLESS_DB_POOL_SIZE", "3")
    monkeypatch.setenv("PAPERLESS_DB_WAIT_SECONDS", "2.5")
    settings = Settings(_env_file=None, env="test", auth="dev", database_url=database_url)
    assert (settings.db_pool_size, settings.db_wait_seconds) == (3, 2.5)
    for field, value, name in (("db_pool_size", 0, "PAPERLESS_DB_POOL_SIZE"),
                               ("db_wait_seconds", 0, "PAPERLESS_DB_WAIT_SECONDS")):
        with pytest.raises(ConfigError, match=name):
            make_settings(database_url, **{field: value}).check()


def test_a_pooled_connection_the_database_dropped_while_idle_is_replaced_before_a_request_uses_it(
        database_url, backend, monkeypatch):
    """A connection is pinged when it leaves the pool after being idle (not at every checkout: a round trip per
    request); one the server ended meanwhile (a restart, an idle timeout) is replaced, and the request is served."""
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import NullPool

    from app import db

    if backend == "sqlite":
        return  # no server to drop a connection
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.05)
    app = create_app(make_settings(database_url, db_pool_size=1))
    pids: list[int] = []
    event.listen(app.state.engine, "connect", lambda dbapi_connection, _record: pids.append(
        dbapi_connection.info.backend_pid))
    admin = create_engine(database_url, poolclass=NullPool)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/healthz").status_code == 200  # used again at once: the same connection
            assert len(pids) == 1
            with admin.connect() as conn:  # the server ends the app's (idle) connection
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]}).scalar()
            time.sleep(0.2)
            assert client.get("/healthz").status_code == 200
            assert len(pids) == 2  # a new connection
    finally:
        admin.dispose()
        app.state.engine.dispose()


def test_a_read_ends_its_transaction_without_forgetting_prepared_statements(small_app, world, backend):
    """PostgreSQL: a page's reads end with COMMIT, so psycopg keeps the statements it prepared after five uses
    on the connection (a ROLLBACK makes it forget every one: each page's statements were parsed and planned
    anew). A request that failed still rolls back. SQLite: reads end as before (its ROLLBACK never leaves the
    process, and SQLite keeps its prepared statements in the process anyway)."""
    ends: list[str] = []
    from sqlalchemy import event

    event.listen(small_app.state.engine, "commit", lambda conn: ends.append("commit"))
    event.listen(small_app.state.engine, "rollback", lambda conn: ends.append("rollback"))
    with TestClient(small_app, follow_redirects=False) as client:
        sign_in(client, "member.a1@test.example")
        rid = world.round.id
        for _ in range(7):
            assert client.get(SHEET.format(rid=rid)).status_code == 200
        ends.clear()
        assert client.get(SHEET.format(rid=rid)).status_code == 200
        if backend == "sqlite":
            assert "commit" not in ends, ends
            return
        assert ends == ["commit"]
        with small_app.state.engine.connect() as conn:  # the pool's only connection, as the requests left it
            prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
        assert prepared > 0
        ends.clear()
        assert client.get(f"/api/v1/rounds/{rid}/sections/NOPE/sheet").status_code == 404
        assert ends == ["rollback"]


def test_ending_reads_never_writes_a_pending_change(engine, world):
    """``end_reads`` commits only a transaction with nothing pending: an ORM change left by a read (a bug) is
    rolled back, never written."""
    from sqlmodel import Session

    from app.db import end_reads
    from app.orgs.models import Unit

    with Session(engine) as session:
        unit = session.get(Unit, world.a1.id)
        unit.name = "書き換えてはいけない名前"
        end_reads(session)
    with Session(engine) as session:
        assert session.get(Unit, world.a1.id).name == world.a1.name
