"""`paperless serve` runs one worker on SQLite and refuses more (they would fight over SQLite's one write
lock); on PostgreSQL it runs two by default, or as many as asked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app import cli
from app.config import get_settings
from tests.conftest import SECRET, make_settings

PG_URL = "postgresql+psycopg://paperless@db.example/paperless"  # never connected to here


@pytest.fixture
def serve(monkeypatch):
    """Run `paperless serve ARGS` on a database URL; uvicorn is replaced by a recorder."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))

    def run(database_url: str, *args: str, **env: str):
        for name, value in {"PAPERLESS_DATABASE_URL": database_url, "PAPERLESS_ENV": "test",
                            "PAPERLESS_AUTH": "dev", "PAPERLESS_SECRET_KEY": SECRET, **env}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli.main, ["serve", *args])
        finally:
            get_settings.cache_clear()
        return result, calls

    return run


def test_sqlite_serves_one_worker_by_default(serve, tmp_path):
    result, calls = serve(f"sqlite:///{tmp_path / 'one.db'}")
    assert result.exit_code == 0, result.output
    assert [call["workers"] for call in calls] == [1]


@pytest.mark.parametrize("how", [("--workers", "2"), ()])
def test_more_than_one_worker_on_sqlite_is_refused_saying_why(serve, tmp_path, how):
    result, calls = serve(f"sqlite:///{tmp_path / 'two.db'}", *how, PAPERLESS_WORKERS="2")
    assert result.exit_code != 0 and calls == []
    assert "2 workers on SQLite are refused" in result.output
    assert "write lock" in result.output and "PostgreSQL" in result.output


def test_postgresql_runs_two_workers_by_default_or_as_many_as_asked():
    settings = make_settings(PG_URL)
    assert cli.worker_count(None, settings) == 2
    assert cli.worker_count(4, settings) == 4
    assert cli.worker_count(None, make_settings(PG_URL, workers=3)) == 3
    assert cli.worker_count(1, make_settings(PG_URL, workers=3)) == 1  # the option wins over the setting
