"""Backups: a consistent copy of the database, and bringing one back (``paperless backup`` / ``restore``).

* SQLite: SQLite's online backup API copies a consistent snapshot page by page, safe while the server
  runs and writes (WAL: the copy does not block writers). Restoring copies the backup into the database
  file the same way, under SQLite's write lock.
* PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot, online) and ``pg_restore --clean
  --single-transaction`` (all or nothing). Without the PostgreSQL client programs, the commands say what
  to install and what to run instead.

Restoring over a database that holds data is refused unless ``force`` is given.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url


class BackupError(RuntimeError):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class Summary:
    path: Path
    answers: int
    size_bytes: int


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, with the password passed in the environment (not in `ps`)."""
    url: URL = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found. Install the PostgreSQL client programs of the server's major version "
            f"(Debian: apt-get install postgresql-client), or back up on the database host with:\n"
            f"  pg_dump --format=custom --no-owner --no-privileges --file BACKUP.dump DBNAME\n"
            f"and restore with:\n"
            f"  pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \\\n"
            f"             --dbname DBNAME BACKUP.dump"
        )
    return found


def count_answers(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("answer"):
                return 0
            return conn.execute(text("SELECT count(*) FROM answer")).scalar_one()
    finally:
        engine.dispose()


def holds_data(database_url: str) -> bool:
    """True when the database has this app's tables (a migrated database, even an empty one)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")
    finally:
        engine.dispose()


def backup(database_url: str, target: Path, *, force: bool = False) -> Summary:
    if target.exists() and not force:
        raise BackupError(f"{target} exists; choose another name or add --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if database_url.startswith("sqlite"):
        source = sqlite_path(database_url)
        if not source.exists():
            raise BackupError(f"the database file {source} does not exist")
        partial.unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # online backup API: one consistent snapshot
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"the copy failed its integrity check: {result}")
        finally:
            dst.close()
            src.close()
    else:
        dsn, env = _libpq(database_url)
        done = subprocess.run(  # noqa: S603 (fixed arguments; the URL is the operator's own setting)
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(partial),
             dsn],
            env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    os.replace(partial, target)
    return Summary(target, count_answers(database_url), target.stat().st_size)


def restore(database_url: str, source: Path, *, force: bool = False) -> Summary:
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    if holds_data(database_url) and not force:
        raise BackupError(
            "the database already holds this app's data; restoring replaces ALL of it with the backup. "
            "Stop every app process, make a backup of the current state, then run again with --force."
        )
    if database_url.startswith("sqlite"):
        target = sqlite_path(database_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            check = src.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite backup of this app: {exc}") from exc
        if check != "ok" or "alembic_version" not in tables:
            src.close()
            raise BackupError(f"{source} is not a sound backup of this app (integrity: {check})")
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # replaces the database under SQLite's write lock
        finally:
            dst.close()
            src.close()
    else:
        dsn, env = _libpq(database_url)
        done = subprocess.run(  # noqa: S603 (fixed arguments; the URL is the operator's own setting)
            [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
             "--single-transaction", "--exit-on-error", "--dbname", dsn, str(source)],
            env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed (nothing was changed): {done.stderr.strip()}")
    return Summary(source, count_answers(database_url), source.stat().st_size)
