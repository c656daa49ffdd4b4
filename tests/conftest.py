"""Test fixtures: every database test runs on SQLite, and on PostgreSQL too when
PAPERLESS_TEST_POSTGRES_URL is set (CI sets it). Each test gets a clean, migrated database:

* SQLite: a copy of a template file migrated once per run (``alembic upgrade head``, as production).
* PostgreSQL: a database of this run's own, migrated once; every table is emptied after each test.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import migrate
from app.checklists import service as checklists_service
from app.config import PROJECT_ROOT, Settings
from app.db import metadata, session_for
from app.main import create_app

POSTGRES_URL = os.environ.get("PAPERLESS_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_terminal_summary(terminalreporter) -> None:
    """Without PAPERLESS_TEST_POSTGRES_URL, say plainly that every database test ran on SQLite only."""
    if POSTGRES_URL:
        return
    on_sqlite = {report.nodeid for reports in terminalreporter.stats.values() for report in reports
                 if "sqlite" in getattr(report, "nodeid", "").partition("[")[2].rstrip("]").split("-")}
    if on_sqlite:
        terminalreporter.write_sep("=", "PostgreSQL NOT TESTED", red=True, bold=True)
        terminalreporter.write_line(
            f"PAPERLESS_TEST_POSTGRES_URL is not set: the PostgreSQL half of this run ({len(on_sqlite)} tests, the "
            "twins of the [sqlite] ones) did not run. Set it (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
            "postgres) to run them, as CI does.", red=True, bold=True)


# The migrated SQLite template of this process, kept across the pytest sessions it runs: mutmut
# (`make mutate`) runs one session per mutant in processes forked from one that has migrated it once.
_SQLITE_TEMPLATE: dict[int, Path] = {}


def _remove_template(pid: int, folder: Path) -> None:
    if os.getpid() == pid:  # not in a forked child: the parent still uses it
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template() -> str:
    """URL of a SQLite database migrated once per process (``alembic upgrade head``, as production)."""
    path = next(iter(_SQLITE_TEMPLATE.values()), None)
    if path is None or not path.exists():
        folder = Path(tempfile.mkdtemp(prefix="paperless-template-"))
        path = folder / "template.db"
        migrate.upgrade(f"sqlite:///{path}")
        _SQLITE_TEMPLATE.clear()
        _SQLITE_TEMPLATE[os.getpid()] = path
        atexit.register(_remove_template, os.getpid(), folder)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session", params=BACKENDS)
def db_template(request, sqlite_template) -> Iterator[tuple[str, str]]:
    """(backend, url of a migrated database) — the template each test starts from."""
    if request.param == "sqlite":
        yield "sqlite", sqlite_template
        return
    name = f"paperless_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    try:
        yield "postgres", url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(db_template, tmp_path) -> Iterator[str]:
    backend, template_url = db_template
    if backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), target)
        yield f"sqlite:///{target}"
        return
    yield template_url
    engine = create_engine(template_url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def backend(db_template) -> str:
    return db_template[0]


@pytest.fixture(autouse=True)
def _fresh_definition_cache():
    """Published versions are cached per process; tests reuse ids across databases."""
    checklists_service._definitions.clear()
    yield
    checklists_service._definitions.clear()


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(env="test", auth="dev", database_url=database_url, secret_key=SECRET,
                  checklists_dir=PROJECT_ROOT / "checklists",
                  notify_max_per_second=0)  # tests send hundreds of notices; the pacing has a test of its own
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings):
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def engine(app):
    return app.state.engine


@pytest.fixture
def session(engine):
    with session_for(engine, write=True) as s:
        yield s


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def new_client(app):
    """Another browser (its own cookies) on the same app."""
    clients = []

    def make() -> TestClient:
        c = TestClient(app, follow_redirects=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, upn: str) -> str:
    """Sign in through the development sign-in form; returns the session's CSRF token."""
    page = client.get("/auth/login")
    response = client.post("/auth/dev-login", data={"upn": upn, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 303, response.text
    return client.get("/api/v1/me").json()["csrf_token"]


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is not installed: run `bash scripts/ensure-chromium.sh` (make test does)")
    return path


@pytest.fixture
def world(session):
    """A small prefecture: 部局 A (所属 A1, A2) and B (所属 B1), personas, checklist v1, an open round."""
    from tests import factories

    return factories.build_world(session)


@pytest.fixture
def live(sqlite_template, tmp_path):
    """The app served over HTTP in a background thread, on a fresh SQLite database with the ``world``.

    Browser tests use this (once, on SQLite: the API and page tests cover both databases).
    Yields (base URL, world, app).
    """
    from tests import factories
    from tests.servers import thread_server

    target = tmp_path / "live.db"
    shutil.copyfile(sqlite_template.removeprefix("sqlite:///"), target)
    application = create_app(make_settings(f"sqlite:///{target}"))
    with session_for(application.state.engine, write=True) as s:
        world = factories.build_world(s)
    with thread_server(application) as base:
        yield base, world, application
    application.state.engine.dispose()


# --- servers on real sockets (browser tests, several processes, faults) --------------------------------


@pytest.fixture
def live_server():
    """Serve an app object with uvicorn in a thread on a free port; returns a function app → base URL."""
    from tests.servers import ThreadServer

    servers = []

    def start(application) -> str:
        server = ThreadServer(application)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def scratch_database_url(backend, tmp_path) -> Iterator[str]:
    """An empty database of this test's own (not migrated): a new file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"paperless_test_scratch_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def chromium(chromium_path):
    """Debian's Chromium driven by Playwright (no browser download), shared by the browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def browser_sign_in(context, base: str, upn: str) -> None:
    """Development sign-in inside a browser context (its cookie jar), as the sign-in form does."""
    page = context.request.get(f"{base}/auth/login")
    token = csrf_from(page.text())
    response = context.request.post(f"{base}/auth/dev-login", form={"upn": upn, "csrf_token": token},
                                    max_redirects=0)
    assert response.status == 303, response.text()
