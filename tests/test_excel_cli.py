"""The command line offers the same exports, imports and tokens as the pages."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func
from sqlmodel import select

from app import cli
from app.auth import tokens
from app.auth.models import ApiToken
from app.config import get_settings
from app.sheets.models import Answer, Sheet, SheetEvent
from tests import factories

K1 = "office.daily.keep-electronic"


@pytest.fixture
def run(monkeypatch, database_url, world):
    """Run ``paperless …`` against this test's database."""
    monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
    monkeypatch.setenv("PAPERLESS_ENV", "test")
    monkeypatch.setenv("PAPERLESS_AUTH", "dev")
    get_settings.cache_clear()

    def invoke(*args):
        return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_export_csv_and_xlsx_to_files(run, session, world, tmp_path):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("◎", "CLIのメモ, 改行\nあり")})
    result = run("export", "csv", "--round", world.round.id, "--bureau", "A", "-o", tmp_path / "a.csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_bytes().decode("utf-8-sig"), newline="")))
    assert {r[5] for r in rows[1:]} == {"A1", "A2"} and "CLIのメモ, 改行\nあり" in [r[18] for r in rows]
    result = run("export", "xlsx", "--round", world.round.id, "-o", tmp_path / "all.xlsx")
    assert result.exit_code == 0, result.output
    assert load_workbook(tmp_path / "all.xlsx").sheetnames == ["集計", "所属別集計", "実績値", "A1 A部 一課", "A2 A部 二課", "B1 B部 一課"]


def test_export_failures_exit_non_zero_with_a_message(run, world, tmp_path):
    result = run("export", "csv", "--round", world.round.id, "--section", "ZZ", "-o", tmp_path / "x.csv")
    assert result.exit_code == 1 and "所属コード「ZZ」" in result.output
    assert run("export", "xlsx", "--round", 999, "-o", tmp_path / "x.xlsx").exit_code == 1
    assert not (tmp_path / "x.csv").exists()


def test_import_dry_run_then_apply(run, session, world, tmp_path):
    factories.fill(session, world.round.id, world.a1, world.member_a, {K1: ("△", "元のメモ")})
    run("export", "xlsx", "--round", world.round.id, "--section", "A1", "-o", tmp_path / "a1.xlsx")
    second = factories.make_round(session, world.version_id, title="第2回")
    session.commit()
    second_id = second.id

    dry = run("import", "xlsx", tmp_path / "a1.xlsx", "--round", second_id)
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "1 answer(s) would change" in dry.output
    assert session.exec(select(func.count()).select_from(SheetEvent).where(SheetEvent.source == "import")).one() == 0
    session.commit()

    done = run("import", "xlsx", tmp_path / "a1.xlsx", "--round", second_id, "--apply", "--by", "admin@test.example")
    assert done.exit_code == 0, done.output
    assert "imported: 1 所属, 1 answer(s)" in done.output
    answer = session.exec(select(Answer.status, Answer.memo, Answer.updated_by_id).join(Sheet)
                          .where(Sheet.round_id == second_id, Answer.item_key == K1,
                                 Sheet.unit_id == world.a1.id)).one()
    assert tuple(answer) == ("△", "元のメモ", world.admin.id)
    session.commit()


def test_import_with_errors_exits_1_and_writes_nothing(run, session, world, tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    result = run("import", "xlsx", bad, "--round", world.round.id, "--apply")
    assert result.exit_code == 1
    assert "XLSXファイル" in result.output and "nothing imported" in result.output
    assert run("import", "xlsx", bad, "--round", world.round.id, "--by", "desk@test.example").exit_code == 1
    assert session.exec(select(func.count()).select_from(SheetEvent)).one() == 0


def test_token_create_prints_it_once_and_stores_the_hash(run, session, world):
    result = run("token", "create", "--user", "desk@test.example", "--days", 7, "--name", "Power BI")
    assert result.exit_code == 0, result.output
    clear = result.stdout.strip().splitlines()[-1]
    assert clear.startswith("pct_")
    row = session.exec(select(ApiToken)).one()
    assert row.token_hash == tokens.digest(clear) and row.name == "Power BI"
    session.commit()
    listed = run("token", "list", "--user", "desk@test.example")
    assert "active" in listed.output and clear not in listed.output
    assert run("token", "revoke", "--user", "desk@test.example", row.id).exit_code == 0
    assert "revoked" in run("token", "list", "--user", "desk@test.example").output


def test_token_create_refuses_members_bad_days_and_unknown_users(run, world):
    member = run("token", "create", "--user", "member.a1@test.example", "--days", 7)
    assert member.exit_code == 1 and "業務DX相談窓口・管理者だけ" in member.output
    assert run("token", "create", "--user", "desk@test.example", "--days", 0).exit_code == 1
    assert run("token", "create", "--user", "nobody@test.example", "--days", 7).exit_code == 1
