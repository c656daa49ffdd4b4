"""Admin rounds: create (title suggested from the fiscal year), open, close, reopen with a reason; a closed
round is read-only by every write path; members see the current round first and can open past ones."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.auth.models import AuditEvent
from app.jpdate import today_jst, wareki
from app.rounds import service as rounds
from app.rounds.models import Round, RoundEvent, RoundState
from app.sheets.models import Answer, Sheet, SheetEvent
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import field

K1 = "office.daily.keep-electronic"


def new_round_form(token, world, **overrides):
    today = today_jst()
    form = {"csrf_token": token, "fiscal_year": str(today.year if today.month >= 4 else today.year - 1),
            "title": "", "opens_on": today.isoformat(), "closes_on": (today + timedelta(days=30)).isoformat(),
            "checklist_version_id": str(world.version_id)}
    form.update(overrides)
    return form


def test_admin_creates_a_round_being_prepared_titled_from_the_fiscal_year(client, session, world):
    token = sign_in(client, "admin@test.example")
    form = new_round_form(token, world, fiscal_year="2026", opens_on="2026-10-01", closes_on="2026-11-30")
    response = client.post("/admin/rounds", data=form)
    assert response.status_code == 303, response.text
    created = session.exec(select(Round).where(Round.id != world.round.id)).one()
    assert created.title == "令和8年度 第2回"  # the world's round is 令和8年度 第1回
    assert (created.state, created.fiscal_year, created.checklist_version_id) == (RoundState.PREPARING, 2026,
                                                                                 world.version_id)
    assert session.exec(select(Sheet).where(Sheet.round_id == created.id)).all() == []  # no sheets until opened
    page = client.get(response.headers["location"])
    assert "準備中" in page.text and "開始する" in page.text and "作成" in page.text


def test_the_form_suggests_the_title_for_the_chosen_fiscal_year(client, world):
    sign_in(client, "admin@test.example")
    fragment = client.get("/admin/rounds", params={"fiscal_year": 2027, "title": "令和8年度 第2回"},
                          headers={"HX-Request": "true"})
    assert 'value="令和9年度 第1回"' in fragment.text and "<html" not in fragment.text
    kept = client.get("/admin/rounds", params={"fiscal_year": 2027, "title": "臨時調査"},
                      headers={"HX-Request": "true"})
    assert 'value="臨時調査"' in kept.text  # a title the person typed is kept


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"opens_on": "2026-03-31", "fiscal_year": "2026"}, "opens_on", "令和8年度（2026年4月1日～2027年3月31日）の中の日"),
    ({"opens_on": "2026-10-01", "closes_on": "2026-09-30", "fiscal_year": "2026"}, "closes_on", "締切日は開始日以降"),
    ({"opens_on": "昨日"}, "opens_on", "開始日の形式が正しくありません"),
    ({"checklist_version_id": "9999"}, "checklist_version_id", "公開されていません"),
    ({"title": "令和8年度 第1回"}, "title", "既にあります"),
    ({"title": "あ" * 101}, "title", "100文字以内"),
])
def test_a_bad_round_form_says_what_to_fix_and_stores_nothing(client, session, world, change, field, message):
    token = sign_in(client, "admin@test.example")
    response = client.post("/admin/rounds", data=new_round_form(token, world, **change))
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert re.search(rf'aria-describedby="[^"]*{field}-error" aria-invalid="true"', response.text)
    assert len(session.exec(select(Round)).all()) == 1


def test_open_close_and_reopen_with_a_reason_are_recorded(client, session, world):
    token = sign_in(client, "admin@test.example")
    draft = rounds.create_round(session, fiscal_year=2026, title="令和8年度 第2回", checklist_version_id=world.version_id,
                                opens_on=date(2026, 10, 1), closes_on=date(2026, 11, 30))
    session.commit()

    assert client.post(f"/admin/rounds/{draft.id}/open", data={"csrf_token": token}).status_code == 303
    sheets = session.exec(select(Sheet).where(Sheet.round_id == draft.id)).all()
    assert len(sheets) == 3  # A1, A2, B1
    assert len(session.exec(select(Answer).where(Answer.sheet_id == sheets[0].id)).all()) == 6
    session.commit()  # end the read: on SQLite this session holds the write lock while in a transaction

    assert client.post(f"/admin/rounds/{draft.id}/close", data={"csrf_token": token}).status_code == 303
    session.refresh(draft)
    assert draft.state == RoundState.CLOSED
    session.commit()

    refused = client.post(f"/admin/rounds/{draft.id}/reopen", data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 422 and "再開する理由を入力してください" in refused.text
    session.refresh(draft)
    assert draft.state == RoundState.CLOSED
    session.commit()

    reason = "提出漏れの所属があるため、1週間延長"
    assert client.post(f"/admin/rounds/{draft.id}/reopen", data={"csrf_token": token, "reason": reason}).status_code == 303
    session.refresh(draft)
    assert draft.state == RoundState.OPEN
    events = session.exec(select(RoundEvent).where(RoundEvent.round_id == draft.id).order_by(RoundEvent.id)).all()
    assert [(e.kind, e.note) for e in events] == [("create", ""), ("open", ""), ("close", ""), ("reopen", reason)]
    audit = session.exec(select(AuditEvent).where(AuditEvent.kind == "round_reopen")).one()
    assert json.loads(audit.detail)["reason"] == reason and audit.actor_label == "admin@test.example"
    session.commit()
    page = client.get(f"/admin/rounds/{draft.id}")
    assert reason in page.text and "再開" in page.text and "管理者" in page.text


def test_a_reopen_reason_over_500_characters_or_with_nul_is_refused_with_422_and_nothing_changes(
        client, session, world):
    """(Regressions: a long reason must be a 422 with the message, never a 500, measured after trimming;
    NUL is refused on SQLite as PostgreSQL refuses it.)"""
    token = sign_in(client, "admin@test.example")
    closed = f.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                          opens_on=date(2025, 5, 1))
    rounds.close_round(session, closed)
    session.commit()
    for reason in ("x" * 501, "理" * 501):
        refused = client.post(f"/admin/rounds/{closed.id}/reopen", data={"csrf_token": token, "reason": reason})
        assert refused.status_code == 422 and "500文字以内" in refused.text and "現在501文字" in refused.text
    refused = client.post(f"/admin/rounds/{closed.id}/reopen", data={"csrf_token": token, "reason": "提出\x00漏れ"})
    assert refused.status_code == 422 and "理由に使えない文字「U+0000（NUL）」" in refused.text
    session.refresh(closed)
    assert closed.state == RoundState.CLOSED
    assert session.exec(select(RoundEvent).where(RoundEvent.round_id == closed.id,
                                                 RoundEvent.kind == "reopen")).first() is None
    session.commit()
    reason = " " + "理" * 500 + " \n"
    assert client.post(f"/admin/rounds/{closed.id}/reopen", data={"csrf_token": token, "reason": reason}).status_code == 303
    session.refresh(closed)
    assert closed.state == RoundState.OPEN


def test_a_sheet_reopen_reason_over_500_characters_is_a_422_in_the_api(client, session, world):
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(f.V1_KEYS, "◎"))
    f.mark_submitted(session, world.round.id, world.a1)
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    url = f"/api/v1/rounds/{world.round.id}/sections/A1/reopen"
    refused = client.post(url, json={"reason": "理" * 501}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 422 and "reason" in refused.json()["errors"]
    assert client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()["state"] == "submitted"
    reopened = client.post(url, json={"reason": "理" * 500}, headers={"X-CSRF-Token": token})
    assert reopened.status_code == 200 and reopened.json()["state"] == "draft"


def test_a_sheet_reopen_reason_over_500_characters_is_refused_on_the_page_too(client, session, world):
    """The page's form refuses what the API refuses (it used to cut the reason to 500 without a word)."""
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(f.V1_KEYS, "◎"))
    f.mark_submitted(session, world.round.id, world.a1)
    session.commit()
    token = sign_in(client, "leader.a1@test.example")
    url = f"/rounds/{world.round.id}/sections/A1/reopen"
    refused = client.post(url, data={"csrf_token": token, "reason": "理" * 501})
    assert refused.status_code == 422 and "500文字以内" in refused.text and "現在501文字" in refused.text
    assert client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()["state"] == "submitted"
    assert client.post(url, data={"csrf_token": token, "reason": "理" * 500}).status_code == 303


def test_the_admin_moves_the_deadline_and_every_page_of_the_open_round_shows_it_with_the_days_left(
        client, session, world):
    token = sign_in(client, "admin@test.example")
    new_deadline = today_jst() + timedelta(days=5)
    bad = client.post(f"/admin/rounds/{world.round.id}/deadline", data={"csrf_token": token, "closes_on": "2026-13-01"})
    assert bad.status_code == 422 and "締切日の形式が正しくありません" in bad.text
    early = client.post(f"/admin/rounds/{world.round.id}/deadline",
                        data={"csrf_token": token, "closes_on": (world.round.opens_on - timedelta(days=1)).isoformat()})
    assert early.status_code == 422 and "開始日" in early.text
    session.refresh(world.round)
    assert world.round.closes_on != new_deadline
    session.commit()  # end the read: on SQLite this session holds the write lock while in a transaction
    moved = client.post(f"/admin/rounds/{world.round.id}/deadline",
                        data={"csrf_token": token, "closes_on": new_deadline.isoformat()})
    assert moved.status_code == 303
    session.refresh(world.round)
    assert world.round.closes_on == new_deadline
    event = session.exec(select(RoundEvent).where(RoundEvent.kind == "deadline")).one()
    assert event.note.endswith(wareki(new_deadline))
    session.commit()
    expected = f"{wareki(new_deadline)}（締切まであと5日）"
    for url in (f"/rounds/{world.round.id}/sections/A1", f"/desk/board?round={world.round.id}",
                f"/rounds/{world.round.id}", f"/rounds/{world.round.id}/sections/A1/history"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert expected in page.text, url


def test_state_changes_out_of_order_are_refused(client, world):
    token = sign_in(client, "admin@test.example")
    rid = world.round.id  # open
    assert client.post(f"/admin/rounds/{rid}/open", data={"csrf_token": token}).status_code == 409
    assert client.post(f"/admin/rounds/{rid}/reopen", data={"csrf_token": token, "reason": "x"}).status_code == 409
    assert client.post(f"/admin/rounds/{rid}/close").status_code == 403  # no CSRF token
    assert client.post("/admin/rounds/99999/close", data={"csrf_token": token}).status_code == 404


# --- a closed round is read-only by every write path ---------------------------------------------------------

@pytest.fixture
def closed_round(session, world):
    """A1's sheet fully answered and submitted, B1's draft with one answer; then the round is closed."""
    sheet_a = f.sheet_of(session, world.round.id, world.a1)
    for answer in session.exec(select(Answer).where(Answer.sheet_id == sheet_a.id)):
        answer.status, answer.version = "○", 1
        session.add(answer)
    sheet_a.state = "submitted"
    session.add(sheet_a)
    rounds.close_round(session, world.round)
    session.commit()
    return world.round


def snapshot(session):
    result = (sorted(session.exec(select(Answer.sheet_id, Answer.item_key, Answer.status, Answer.memo, Answer.version))),
              sorted(session.exec(select(Sheet.id, Sheet.state))),
              len(session.exec(select(SheetEvent.id)).all()))
    session.commit()
    return result


def test_a_closed_round_refuses_every_write_path(client, new_client, session, world, closed_round):
    before = snapshot(session)
    rid = closed_round.id
    member = new_client()
    token = sign_in(member, "member.b1@test.example")
    url = f"/rounds/{rid}/sections/B1"
    row = {"csrf_token": token, field("status", K1): "◎", field("memo", K1): "x", field("version", K1): "0"}
    assert member.post(url, data=row).status_code == 403  # the page's form
    htmx = member.post(f"{url}/items/{K1}", data=row, headers={"HX-Request": "true"})  # one row, htmx
    assert htmx.status_code == 403 and htmx.headers["HX-Retarget"] == "#flash"
    api = member.put(f"/api/v1/rounds/{rid}/sections/B1/answers/{K1}", json={"status": "◎", "version": 0},
                     headers={"X-CSRF-Token": token})
    assert api.status_code == 403 and "受付期間外" in api.json()["detail"]

    leader_b = new_client()
    token_b = sign_in(leader_b, "leader.b1@test.example")
    assert leader_b.post(f"{url}/submit", data={"csrf_token": token_b}).status_code == 403
    assert leader_b.post(f"/api/v1/rounds/{rid}/sections/B1/submit", headers={"X-CSRF-Token": token_b}).status_code == 403

    leader_a = new_client()
    token_a = sign_in(leader_a, "leader.a1@test.example")
    assert leader_a.post(f"/rounds/{rid}/sections/A1/reopen", data={"csrf_token": token_a}).status_code == 403
    api_reopen = leader_a.post(f"/api/v1/rounds/{rid}/sections/A1/reopen", json={"reason": "修正"},
                               headers={"X-CSRF-Token": token_a})
    assert api_reopen.status_code == 403 and "受付期間外" in api_reopen.json()["detail"]

    admin = new_client()
    token_admin = sign_in(admin, "admin@test.example")
    assert admin.put(f"/api/v1/rounds/{rid}/sections/A1/answers/{K1}", json={"status": "◎", "version": 1},
                     headers={"X-CSRF-Token": token_admin}).status_code == 403
    assert snapshot(session) == before

    page = member.get(url)
    assert page.status_code == 200 and "受付期間外" in page.text and "まとめて保存する" not in page.text


# --- members see the current round first and can open past ones ------------------------------------------

def test_members_land_on_the_current_round_and_can_open_past_rounds(client, session, world):
    rounds.close_round(session, world.round)
    newer = f.make_round(session, world.version_id, title="令和8年度 第2回", opens_on=world.round.opens_on + timedelta(days=1))
    draft = f.make_round(session, world.version_id, title="令和8年度 第3回", opens_on=world.round.opens_on + timedelta(days=2),
                         open_it=False)
    session.commit()
    sign_in(client, "member.a1@test.example")
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == f"/rounds/{newer.id}/sections/A1"
    page = client.get(home.headers["location"]).text
    assert 'aria-label="調査回の切り替え"' in page
    assert f'href="/rounds/{world.round.id}/sections/A1"' in page and "令和8年度 第1回" in page
    assert draft.title not in page  # a draft round is nobody's business yet
    past = client.get(f"/rounds/{world.round.id}/sections/A1")
    assert past.status_code == 200 and "受付期間外" in past.text


@pytest.fixture
def cli_env(database_url, monkeypatch):
    from app.config import get_settings

    monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
    monkeypatch.setenv("PAPERLESS_ENV", "development")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_creates_opens_closes_and_reopens_a_round(cli_env, session, world):
    from click.testing import CliRunner

    from app.cli import main

    runner = CliRunner()
    created = runner.invoke(main, ["round", "create", "--fiscal-year", "2026", "--opens", "2026-10-01",
                                   "--closes", "2026-11-30"])
    assert created.exit_code == 0, created.output
    assert "令和8年度 第2回（準備中）" in created.output
    rid = int(created.output.split()[1])
    assert runner.invoke(main, ["round", "open", str(rid)]).output.startswith("開始しました: 令和8年度 第2回（3所属")
    assert runner.invoke(main, ["round", "close", str(rid)]).exit_code == 0
    no_reason = runner.invoke(main, ["round", "reopen", str(rid), "--reason", " "])
    assert no_reason.exit_code == 1 and "再開する理由を入力してください" in no_reason.output
    assert runner.invoke(main, ["round", "reopen", str(rid), "--reason", "延長"]).exit_code == 0
    listed = runner.invoke(main, ["round", "list"]).output
    assert "受付中\t2026\t令和8年度 第2回" in listed and "3所属" in listed
    bad = runner.invoke(main, ["round", "create", "--fiscal-year", "2026", "--opens", "2027-04-01",
                               "--closes", "2027-05-01"])
    assert bad.exit_code == 1 and "開始日は令和8年度" in bad.output
    notes = session.exec(select(RoundEvent.kind, RoundEvent.note).where(RoundEvent.round_id == rid)
                         .order_by(RoundEvent.id)).all()
    assert notes == [("create", ""), ("open", ""), ("close", ""), ("reopen", "延長")]
    kinds = [e.kind for e in session.exec(select(AuditEvent).where(AuditEvent.actor_label == "cli").order_by(AuditEvent.id))]
    assert kinds == ["round_create", "round_open", "round_close", "round_reopen"]
