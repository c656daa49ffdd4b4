"""`paperless backup` writes a consistent copy (also while saves go on) and `paperless restore` brings it
back, refusing to replace data without --force."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from app import cli
from app.config import get_settings
from tests.conftest import SECRET, sign_in

ANSWER = "/api/v1/rounds/{rid}/sections/{code}/answers/{key}"
KEYS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
        "briefing.bureau.paperless", "meeting.internal.no-paper-handouts",
        "meeting.external.advance-or-tablet"]


@pytest.fixture
def paperless(monkeypatch):
    """Run the `paperless` command in-process against a given database."""

    def run(database_url: str, *args: str):
        monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
        monkeypatch.setenv("PAPERLESS_ENV", "test")
        monkeypatch.setenv("PAPERLESS_SECRET_KEY", SECRET)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()

    return run


def snapshot(database_url: str) -> tuple[list, int]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        answers = conn.execute(text(
            "SELECT s.unit_id, a.item_key, a.status, a.memo, a.version FROM answer a "
            "JOIN sheet s ON s.id = a.sheet_id ORDER BY s.unit_id, a.item_key")).all()
        events = conn.execute(text("SELECT count(*) FROM sheet_event")).scalar_one()
    engine.dispose()
    return [tuple(r) for r in answers], events


def fill(client, token, world, code="A1", prefix="") -> None:
    for n, key in enumerate(KEYS):
        response = client.put(ANSWER.format(rid=world.round.id, code=code, key=key),
                              json={"status": "◎○△×◎○"[n], "memo": f"{prefix}メモ{n}", "version": 0},
                              headers={"X-CSRF-Token": token})
        assert response.status_code == 200, response.text


def test_a_restored_backup_has_every_answer_and_restore_refuses_without_force(
        app, client, new_client, session, world, database_url, scratch_database_url, paperless, tmp_path):
    fill(client, sign_in(client, "member.a1@test.example"), world)
    other = new_client()
    fill(other, sign_in(other, "member.b1@test.example"), world, code="B1", prefix="B")
    before = snapshot(database_url)
    assert sum(1 for a in before[0] if a[2]) == 12

    target = tmp_path / "backups" / "paperless.backup"
    made = paperless(database_url, "backup", str(target))
    assert made.exit_code == 0, made.output
    assert "answers" in made.output
    again = paperless(database_url, "backup", str(target))
    assert again.exit_code != 0 and "--force" in again.output

    # Into an empty database (a new server): no --force needed; every answer is there.
    restored = paperless(scratch_database_url, "restore", str(target))
    assert restored.exit_code == 0, restored.output
    assert snapshot(scratch_database_url) == before

    # Over the live database after changes: refused without --force, then brought back exactly.
    leader = new_client()
    token = sign_in(leader, "leader.a1@test.example")
    changed = leader.put(ANSWER.format(rid=world.round.id, code="A1", key=KEYS[0]),
                         json={"status": "×", "memo": "後から変更", "version": 1}, headers={"X-CSRF-Token": token})
    assert changed.status_code == 200, changed.text
    assert snapshot(database_url) != before
    refused = paperless(database_url, "restore", str(target))
    assert refused.exit_code != 0 and "--force" in refused.output
    session.close()
    app.state.engine.dispose()  # as the operator stops the app processes before restoring
    forced = paperless(database_url, "restore", "--force", str(target))
    assert forced.exit_code == 0, forced.output
    assert snapshot(database_url) == before


def test_a_backup_taken_while_saves_go_on_is_consistent(app, client, world, database_url,
                                                        scratch_database_url, paperless, tmp_path):
    """Every answer's version equals its history events in the copy: no save is half in it."""
    token = sign_in(client, "member.a1@test.example")
    stop = threading.Event()
    saved: list[int] = []
    failures: list[str] = []  # the writer thread reports here; the test asserts in its own thread

    def keep_saving() -> None:
        versions = dict.fromkeys(KEYS, 0)
        n = 0
        try:
            while not stop.is_set() and n < 2000:
                key = KEYS[n % len(KEYS)]
                response = client.put(ANSWER.format(rid=world.round.id, code="A1", key=key),
                                      json={"status": "◎○"[n % 2], "memo": f"#{n}", "version": versions[key]},
                                      headers={"X-CSRF-Token": token})
                if response.status_code != 200:
                    failures.append(f"save #{n}: {response.status_code} {response.text}")
                    return
                versions[key] = response.json()["version"]
                saved.append(n)
                n += 1
        except Exception as exc:  # noqa: BLE001 (reported to the test's thread)
            failures.append(f"save #{n}: {exc!r}")

    writer = threading.Thread(target=keep_saving, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(saved) < 20 and not failures and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(saved) >= 20, f"the writer saved {len(saved)} answers in 60 s; {failures}"
        made = paperless(database_url, "backup", str(tmp_path / "during.backup"))
    finally:
        stop.set()
        writer.join(60)
    assert not writer.is_alive(), "the writer thread did not stop"
    assert failures == []
    assert made.exit_code == 0, made.output
    assert paperless(scratch_database_url, "restore", str(tmp_path / "during.backup")).exit_code == 0
    engine = create_engine(scratch_database_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.item_key, a.version, (SELECT count(*) FROM sheet_event e WHERE e.sheet_id = a.sheet_id "
            "AND e.item_key = a.item_key AND e.kind = 'answer') FROM answer a "
            "JOIN sheet s ON s.id = a.sheet_id JOIN unit u ON u.id = s.unit_id WHERE u.code = 'A1'")).all()
    engine.dispose()
    assert sum(version for _key, version, _events in rows) >= 1
    assert all(version == events for _key, version, events in rows), rows


def test_restore_refuses_a_file_that_is_not_a_backup(database_url, paperless, tmp_path, backend):
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    result = paperless(database_url, "restore", "--force", str(junk))
    assert result.exit_code != 0
    assert "not" in result.output or "failed" in result.output
    assert snapshot(database_url)[0] == []  # nothing was changed
