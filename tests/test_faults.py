"""Faults: the database goes away and comes back; the server is killed mid-stream; a migration fails
half-way. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import migrate
from app.main import create_app
from tests.conftest import make_settings, sign_in
from tests.servers import ProcessServer, TcpProxy, client_for

SHEET = "/api/v1/rounds/{rid}/sections/{code}/sheet"
ANSWER = "/api/v1/rounds/{rid}/sections/{code}/answers/{key}"
KEYS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
        "briefing.bureau.paperless", "meeting.internal.no-paper-handouts",
        "meeting.external.advance-or-tablet"]
UNAVAILABLE = "データベースに接続できません"


# --- the database becomes unreachable, then returns ---------------------------------------------------


def _assert_unavailable(client: TestClient, rid: int, token: str) -> None:
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    page = client.get(f"/rounds/{rid}/sections/A1")
    assert page.status_code == 503 and UNAVAILABLE in page.text and "ただいま利用できません" in page.text
    assert page.headers["retry-after"]
    api = client.get(SHEET.format(rid=rid, code="A1"))
    assert api.status_code == 503 and UNAVAILABLE in api.json()["detail"]
    save = client.put(ANSWER.format(rid=rid, code="A1", key=KEYS[0]), json={"status": "◎", "version": 0},
                      headers={"X-CSRF-Token": token})
    assert save.status_code == 503
    assert client.get("/auth/login").status_code == 503


def _assert_recovered(client: TestClient, rid: int, token: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get(f"/rounds/{rid}/sections/A1").status_code == 200  # still signed in: cookie session
    save = client.put(ANSWER.format(rid=rid, code="A1", key=KEYS[0]), json={"status": "◎", "version": 0},
                      headers={"X-CSRF-Token": token})
    assert save.status_code == 200, save.text


class Outage:
    """Take the database away from an app and give it back: PostgreSQL through a TCP relay the test
    cuts; SQLite by moving the folder that holds the file away (as an unmounted volume)."""

    def __init__(self, backend: str, database_url: str, tmp_path: Path) -> None:
        self.backend = backend
        if backend == "postgres":
            url = make_url(database_url)
            self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
            self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        else:
            self.folder, self.away = tmp_path / "volume", tmp_path / "volume-away"
            self.folder.mkdir()
            live = self.folder / "live.db"
            source = sqlite3.connect(make_url(database_url).database)
            with sqlite3.connect(live) as copy:
                source.backup(copy)
            source.close()
            self.url = f"sqlite:///{live}"

    def begin(self, app) -> None:
        if self.backend == "postgres":
            self.proxy.cut()
        else:
            self.folder.rename(self.away)
            # Open SQLite connections keep the old file open; a new connection (a restarted worker, or
            # the pool replacing one) is what meets the missing file.
            app.state.engine.dispose()

    def end(self) -> None:
        if self.backend == "postgres":
            self.proxy.restore()
        else:
            self.away.rename(self.folder)

    def close(self) -> None:
        if self.backend == "postgres":
            self.proxy.cut()


def test_database_outage_gives_503_pages_and_health_then_recovers_by_itself(backend, database_url, world,
                                                                            tmp_path):
    outage = Outage(backend, database_url, tmp_path)
    app = create_app(make_settings(outage.url))
    try:
        with TestClient(app, follow_redirects=False) as client:
            token = sign_in(client, "member.a1@test.example")
            assert client.get("/healthz").status_code == 200
            outage.begin(app)
            _assert_unavailable(client, world.round.id, token)
            outage.end()
            _assert_recovered(client, world.round.id, token)
    finally:
        outage.close()
        app.state.engine.dispose()


# --- the server is killed in the middle of a stream of saves --------------------------------------------


def test_sigkill_mid_stream_keeps_every_acknowledged_save(backend, database_url, world, tmp_path):
    rid = world.round.id
    server = ProcessServer(database_url, tmp_path / "server.log").start()
    writers = [("member.a1@test.example", "A1"), ("leader.a1@test.example", "A1"),
               ("member.b1@test.example", "B1"), ("member.a2@test.example", "A2")]
    acked: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    in_flight: dict[tuple[str, str], list[str]] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def stream(upn: str, code: str, seed: int) -> None:
        client = client_for(server.base)
        token = sign_in(client, upn)
        items = client.get(SHEET.format(rid=rid, code=code)).json()["items"]
        versions = {i["item_key"]: i["answer"]["version"] for i in items}
        n = seed
        while True:
            key = KEYS[n % len(KEYS)]
            memo, status = f"{upn} #{n}", "◎○△×"[n % 4]
            with lock:
                in_flight.setdefault((code, key), []).append(memo)
            try:
                response = client.put(ANSWER.format(rid=rid, code=code, key=key),
                                      json={"status": status, "memo": memo, "version": versions[key]},
                                      headers={"X-CSRF-Token": token})
            except Exception:
                return  # the server is gone
            if response.status_code == 200:
                body = response.json()
                versions[key] = body["version"]
                with lock:
                    acked.setdefault((code, key), []).append((body["version"], body["status"], body["memo"]))
                    if sum(map(len, acked.values())) >= 60:
                        enough.set()
            elif response.status_code == 409:
                versions[key] = response.json()["current"]["version"]
            else:
                return
            n += 1

    threads = [threading.Thread(target=stream, args=(upn, code, i)) for i, (upn, code) in enumerate(writers)]
    for t in threads:
        t.start()
    enough.wait(timeout=300)
    server.kill()  # SIGKILL while requests are in flight
    for t in threads:
        t.join()
    assert enough.is_set(), (tmp_path / "server.log").read_text()

    if backend == "sqlite":
        with sqlite3.connect(make_url(database_url).database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restarted = ProcessServer(database_url, tmp_path / "restarted.log").start()
    try:
        desk = client_for(restarted.base)
        sign_in(desk, "desk@test.example")
        stored = {}
        for code in ("A1", "A2", "B1"):
            for item in desk.get(SHEET.format(rid=rid, code=code)).json()["items"]:
                stored[(code, item["item_key"])] = item["answer"]
    finally:
        restarted.stop()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        events = dict(((code, key), count) for code, key, count in conn.execute(text(
            "SELECT u.code, e.item_key, count(*) FROM sheet_event e JOIN sheet s ON s.id = e.sheet_id "
            "JOIN unit u ON u.id = s.unit_id WHERE e.kind = 'answer' GROUP BY u.code, e.item_key")))
    engine.dispose()
    for key, saves in acked.items():
        last_version, last_status, last_memo = max(saves)
        now = stored[key]
        assert now["version"] in (last_version, last_version + 1), (key, now, saves[-3:])
        if now["version"] == last_version:
            assert (now["status"], now["memo"]) == (last_status, last_memo), key
        else:  # committed just before the kill, its answer never reached the client: one it did send
            assert now["memo"] in in_flight[key], (key, now)
        assert events.get(key, 0) == now["version"], (key, events.get(key), now)  # answer and history agree


# --- a migration fails half-way ---------------------------------------------------------------------------


FAILING_REVISION = '''"""deliberately failing migration (test)"""
import sqlalchemy as sa
from alembic import op

revision = "zz_fails_half_way"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("hold_probe", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("answer", sa.Column("probe_note", sa.Text(), nullable=True))
    op.execute("INSERT INTO hold_probe (id) VALUES (1)")
    op.execute("UPDATE answer SET memo = 'changed by a failed migration'")
    raise RuntimeError("deliberate failure half-way through the migration")


def downgrade() -> None:
    pass
'''


def test_a_migration_that_fails_half_way_leaves_nothing_half_applied(scratch_database_url, tmp_path, backend):
    migrate.upgrade(scratch_database_url)
    real = migrate.alembic_config(scratch_database_url)
    head = ScriptDirectory.from_config(real).get_current_head()
    scripts = tmp_path / "migrations"
    shutil.copytree(Path(real.get_main_option("script_location")), scripts,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_fails_half_way.py").write_text(FAILING_REVISION.format(head=head))
    config = migrate.alembic_config(scratch_database_url)
    config.set_main_option("script_location", str(scripts))

    with pytest.raises(RuntimeError, match="deliberate failure"):
        command.upgrade(config, "head")

    engine = create_engine(scratch_database_url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            assert not inspector.has_table("hold_probe")
            assert "probe_note" not in {c["name"] for c in inspector.get_columns("answer")}
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
            assert conn.execute(text("SELECT count(*) FROM answer WHERE memo <> ''")).scalar_one() == 0
    finally:
        engine.dispose()
    migrate.upgrade(scratch_database_url)  # the real migrations still apply cleanly afterwards
