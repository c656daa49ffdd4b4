"""The free-text rule (app/text.py) at every edge, on both databases: each free-text field of the JSON API
and of the pages refuses ESC, BEL, BS and NUL with a 422 naming the character and the field, stores
vertical tab, form feed, CR LF and a lone CR as a line break (a tab as a space in a single-line field, where
a line break is refused), and changes nothing when it refuses. Files (the users CSV, the reorganisation
CSV, the Excel import) name the row. Text stored before the rule never breaks an export."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlmodel import select

from app.auth.models import ApiToken, User
from app.excel import importer, reader
from app.jpdate import today_jst
from app.orgs.models import Unit
from app.reorg import csvfile
from app.rounds import service as rounds
from app.rounds.models import Round, RoundEvent
from app.sheets.models import Answer, SheetEvent
from app.support.models import SupportRecord
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS, field

KEY = V1_KEYS[0]
REFUSED = {"\x1b": "U+001B（ESC）", "\x07": "U+0007（BEL）", "\x08": "U+0008（BS）", "\x00": "U+0000（NUL）"}
MULTILINE_TYPED = "一行目\v二行目\f三行目\r\n四行目\r五行目"
MULTILINE_STORED = "一行目\n二行目\n三行目\n四行目\n五行目"


@dataclass
class Ctx:
    client: object
    session: object
    world: object
    token: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    def json(self, method: str, url: str, body: dict):
        """A JSON request as any client sends it: ``json.dumps`` escapes every non-ASCII character, so
        a lone surrogate goes as ``"\\ud800"``."""
        return self.client.request(method, url, content=json.dumps(body),
                                   headers={"Content-Type": "application/json", "X-CSRF-Token": self.token})

    def form(self, url: str, data: dict):
        return self.client.post(url, data={"csrf_token": self.token, **data})

    def column(self, column, *where) -> list[str]:
        values = list(self.session.exec(select(column).where(*where)).all())
        self.session.commit()  # end the read (SQLite's write lock)
        return values


@dataclass(frozen=True)
class Case:
    name: str
    label: str  # the field's name in the message
    multiline: bool
    persona: str
    send: Callable[[Ctx, str], object]  # send the value in this field; returns the response
    stored: Callable[[Ctx], list[str]]  # every value this field holds now
    setup: Callable[[Ctx], None] = lambda ctx: None
    json: bool = False


# --- the fields ------------------------------------------------------------------------------------

def _answer_memo(ctx: Ctx) -> list[str]:
    return ctx.column(Answer.memo, Answer.item_key == KEY)


def _submitted(ctx: Ctx) -> None:
    w = ctx.world
    f.fill(ctx.session, w.round.id, w.a1, w.leader_a, {k: ("◎", "") for k in V1_KEYS})
    assert ctx.client.post(f"/api/v1/rounds/{w.round.id}/sections/A1/submit",
                           headers={"X-CSRF-Token": ctx.token}).status_code == 200


def _sheet_notes(ctx: Ctx) -> list[str]:
    return ctx.column(SheetEvent.note, SheetEvent.note != "")


def _closed_round(ctx: Ctx) -> None:
    closed = f.make_round(ctx.session, ctx.world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                          opens_on=today_jst() - timedelta(days=400))
    rounds.close_round(ctx.session, closed)
    ctx.session.commit()
    ctx.extra["round_id"] = closed.id


def _new_round(ctx: Ctx, title: str):
    today = today_jst()
    return ctx.form("/admin/rounds", {
        "fiscal_year": str(today.year if today.month >= 4 else today.year - 1), "title": title,
        "opens_on": today.isoformat(), "closes_on": (today + timedelta(days=30)).isoformat(),
        "checklist_version_id": str(ctx.world.version_id)})


def _desk_form(ctx: Ctx, **values):
    data = {"consulted_on": today_jst().isoformat(), "state": "in_progress", "desk_staff": "窓口 太郎",
            "contact_person": "リーダー A1", "request_message": "", "advice": "説明しました", "follow_up_on": ""}
    return ctx.form("/support/new?section=A1", data | values)


def _record_column(column):
    return lambda ctx: ctx.column(column)


CASES = [
    Case("api: answer memo", "メモ", True, "member.a1@test.example", json=True,
         send=lambda ctx, v: ctx.json("PUT", f"/api/v1/rounds/{ctx.world.round.id}/sections/A1/answers/{KEY}",
                                      {"status": "◎", "memo": v, "version": 0}),
         stored=_answer_memo),
    Case("page: answer memo", "メモ", True, "member.a1@test.example",
         send=lambda ctx, v: ctx.form(f"/rounds/{ctx.world.round.id}/sections/A1", {
             field("status", KEY): "◎", field("memo", KEY): v, field("version", KEY): "0"}),
         stored=_answer_memo),
    Case("api: reopen reason", "理由", True, "leader.a1@test.example", json=True, setup=_submitted,
         send=lambda ctx, v: ctx.json("POST", f"/api/v1/rounds/{ctx.world.round.id}/sections/A1/reopen",
                                      {"reason": v}),
         stored=_sheet_notes),
    Case("page: reopen reason", "理由", True, "leader.a1@test.example", setup=_submitted,
         send=lambda ctx, v: ctx.form(f"/rounds/{ctx.world.round.id}/sections/A1/reopen", {"reason": v}),
         stored=_sheet_notes),
    Case("page: round reopen reason", "理由", True, "admin@test.example", setup=_closed_round,
         send=lambda ctx, v: ctx.form(f"/admin/rounds/{ctx.extra['round_id']}/reopen", {"reason": v}),
         stored=lambda ctx: ctx.column(RoundEvent.note, RoundEvent.note != "")),
    Case("page: round title", "調査回の名称", False, "admin@test.example", send=_new_round,
         stored=lambda ctx: ctx.column(Round.title)),
    Case("api: support advice", "助言・対応の内容", True, "desk@test.example", json=True,
         send=lambda ctx, v: ctx.json("POST", "/api/v1/sections/A1/support-records",
                                      {"consulted_on": today_jst().isoformat(), "advice": v}),
         stored=_record_column(SupportRecord.advice)),
    Case("api: support desk staff", "窓口の担当者", False, "desk@test.example", json=True,
         send=lambda ctx, v: ctx.json("POST", "/api/v1/sections/A1/support-records",
                                      {"consulted_on": today_jst().isoformat(), "advice": "説明", "desk_staff": v}),
         stored=_record_column(SupportRecord.desk_staff)),
    Case("api: support request", "相談の内容", True, "leader.a1@test.example", json=True,
         send=lambda ctx, v: ctx.json("POST", "/api/v1/sections/A1/support-requests", {"message": v}),
         stored=_record_column(SupportRecord.request_message)),
    Case("page: support contact person", "所属の担当者", False, "desk@test.example",
         send=lambda ctx, v: _desk_form(ctx, contact_person=v),
         stored=_record_column(SupportRecord.contact_person)),
    Case("page: support request message", "相談の内容", True, "leader.a1@test.example",
         send=lambda ctx, v: ctx.form("/sections/A1/consult", {"request_message": v}),
         stored=_record_column(SupportRecord.request_message)),
    Case("page: user display name", "表示名", False, "admin@test.example",
         send=lambda ctx, v: ctx.form("/admin/users", {"upn": "new.person@test.example", "display_name": v,
                                                      "unit_code": "A2", "role": "member"}),
         stored=lambda ctx: ctx.column(User.display_name)),
    Case("page: API token name", "名前", False, "desk@test.example",
         send=lambda ctx, v: ctx.form("/tokens", {"name": v, "days": "30"}),
         stored=lambda ctx: ctx.column(ApiToken.name)),
]
IDS = [c.name for c in CASES]


def _ready(case: Case, client, session, world) -> Ctx:
    ctx = Ctx(client, session, world, sign_in(client, case.persona))
    case.setup(ctx)
    return ctx


def _refusal(response) -> str:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        return response.json()["detail"]
    return response.text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_control_characters_are_refused_naming_the_character_and_the_field(client, session, world, case):
    ctx = _ready(case, client, session, world)
    before = case.stored(ctx)
    for char, named in REFUSED.items():
        message = _refusal(case.send(ctx, f"前{char}後"))
        assert f"{case.label}に使えない文字「{named}」が含まれています（2文字目）" in message, message[:300]
    assert case.stored(ctx) == before


@pytest.mark.parametrize("case", [c for c in CASES if c.multiline], ids=[c.name for c in CASES if c.multiline])
def test_line_breaks_as_word_and_windows_send_them_are_stored_as_newlines(client, session, world, case):
    ctx = _ready(case, client, session, world)
    response = case.send(ctx, MULTILINE_TYPED)
    assert response.status_code in (200, 201, 303), response.text[:300]
    assert MULTILINE_STORED in case.stored(ctx)


@pytest.mark.parametrize("case", [c for c in CASES if not c.multiline], ids=[c.name for c in CASES if not c.multiline])
def test_single_line_fields_refuse_line_breaks_and_take_a_tab_as_a_space(client, session, world, case):
    ctx = _ready(case, client, session, world)
    before = case.stored(ctx)
    for typed in ("一行目\n二行目", "一行目\r\n二行目", "一行目\v二行目"):
        message = _refusal(case.send(ctx, typed))
        assert f"{case.label}に改行は使えません（4文字目）" in message, message[:300]
    assert case.stored(ctx) == before
    response = case.send(ctx, "富山\t太郎")
    assert response.status_code in (200, 201, 303), response.text[:300]
    assert "富山 太郎" in case.stored(ctx)


@pytest.mark.parametrize("case", [c for c in CASES if c.json], ids=[c.name for c in CASES if c.json])
def test_a_lone_surrogate_in_json_is_a_422_naming_the_field(client, session, world, case):
    ctx = _ready(case, client, session, world)
    before = case.stored(ctx)
    response = case.send(ctx, "前\ud800後")
    message = _refusal(response)
    assert "に使えない文字「U+D800（対になっていないサロゲート）」が含まれています（2文字目）" in message, message
    assert len(response.json()["errors"]) == 1  # the field, by the name the JSON gives it
    assert case.stored(ctx) == before


# --- files: the row says what is wrong ---------------------------------------------------------------


def test_the_users_csv_names_the_row_and_the_character(client, session, world):
    token = sign_in(client, "admin@test.example")
    content = "upn,表示名,所属コード,役割\nnew.person@test.example,新人\x1b太郎,A2,member\n".encode("utf-8-sig")
    page = client.post("/admin/users-import", data={"csrf_token": token},
                       files={"file": ("users.csv", content, "text/csv")})
    assert "表示名に使えない文字「U+001B（ESC）」が含まれています（3文字目）" in page.text
    assert 'name="payload"' not in page.text  # nothing to apply


@pytest.mark.parametrize(("name", "message"), [
    ("総務\x1b課", "新名称に使えない文字「U+001B（ESC）」が含まれています（3文字目）"),
    ("総務\x07課", "新名称に使えない文字「U+0007（BEL）」が含まれています（3文字目）"),
    ('"総務\n課"', "新名称に改行は使えません（3文字目）"),
])
def test_the_reorganisation_csv_names_the_row_and_the_character(name, message):
    raw = f"種別,旧コード,新コード,新名称,新部局コード\nrename,A1,A1,{name},A\n".encode()
    rows, errors = csvfile.parse(raw)
    assert rows == [] and len(errors) == 1 and errors[0].line == 2 and message in errors[0].message


def test_the_excel_import_names_the_row_of_a_memo_with_a_control_character(session, world):
    from tests.test_import import LIMITS, full_rows, paper_sheet

    (parsed,) = reader.read_upload([("a.xlsx", paper_sheet(full_rows(), code="A1"))], LIMITS)
    sheet = parsed.sheets[0]
    first = dataclasses.replace(sheet.rows[0], memo="前\x07後")
    parsed = dataclasses.replace(parsed, sheets=(dataclasses.replace(sheet, rows=(first, *sheet.rows[1:])),))
    plan = importer.plan_import(session, world.round.id, [parsed])
    errors = [e for file in plan.files for s in file.sheets for e in s.errors]
    assert errors == [f"{first.row}行目: メモに使えない文字「U+0007（BEL）」が含まれています（2文字目）。取り除いてから入力してください。"]


def test_an_uploaded_file_name_keeps_no_line_break_or_control_character():
    from tests.test_import import LIMITS, full_rows, paper_sheet

    (parsed,) = reader.read_upload([("総務課\r\n\x1b.xlsx", paper_sheet(full_rows(), code="A1"))], LIMITS)
    assert parsed.name == "総務課 \ufffd.xlsx" and parsed.error is None


@pytest.mark.parametrize(("old", "new", "message"), [
    ("text: 資料を電子でも保管している", 'text: "資料を\\x1b電子でも保管している"',
     "text: 文字列に使えない文字「U+001B（ESC）」が含まれています（4文字目）"),
    ("scene: 日常", 'scene: "日常\\n業務"', "scene: 文字列に改行は使えません（3文字目）"),
])
def test_a_checklist_definition_names_the_field_with_a_control_character(project_root, old, new, message):
    from app.checklists.loader import ChecklistDefinitionError, parse_checklist

    source = (project_root / "checklists/paperless/v1.yaml").read_text(encoding="utf-8")
    assert old in source
    with pytest.raises(ChecklistDefinitionError) as refused:
        parse_checklist(source.replace(old, new, 1).encode(), display_path="v9.yaml")
    assert message in str(refused.value)


def test_a_name_from_entra_id_is_scrubbed_never_refused(session, world):
    from app.auth import service as auth_service
    from app.auth.entra import Identity

    identity = Identity(tenant_id="t", object_id="o-1", upn="new.admin@test.example", name="富山\x1b太郎\n\x00",
                        app_roles=("Admin",))
    result = auth_service.sign_in_with_entra(session, identity, tenant_id="t")
    assert result.user is not None and result.user.display_name == "富山\ufffd太郎 \ufffd"
    session.commit()


# --- exports never fail on what is stored ------------------------------------------------------------


def test_every_export_answers_200_with_replacements_for_text_stored_before_the_rule(client, new_client, session,
                                                                                      world):
    rid = world.round.id
    f.fill(session, rid, world.a1, world.leader_a, {KEY: ("◎", "ok")})
    sheet_id = f.sheet_of(session, rid, world.a1).id
    session.execute(update(Answer).where(Answer.sheet_id == sheet_id, Answer.item_key == KEY)
                    .values(memo="前\x1b[31m後\v\x07"))
    session.execute(update(Unit).where(Unit.id == world.a1.id).values(name="総務\x08課"))
    session.execute(update(User).where(User.id == world.leader_a.id).values(display_name="富山\x1b太郎"))
    session.execute(update(Round).where(Round.id == rid).values(title="令和8年度\n第1回"))
    session.commit()
    desk, leader = client, new_client()
    sign_in(desk, "desk@test.example")
    sign_in(leader, "leader.a1@test.example")
    for who, query in ((leader, "?section=A1"), (desk, "?section=A1"), (desk, "?bureau=A"), (desk, "")):
        csv_response = who.get(f"/api/v1/rounds/{rid}/export.csv{query}")
        assert csv_response.status_code == 200, (query, csv_response.text[:300])
        text = csv_response.content.decode("utf-8-sig")
        assert "前\ufffd[31m後\n\ufffd" in text and "総務\ufffd課" in text and "富山\ufffd太郎" in text
        assert not any(c in text for c in "\x1b\x07\x08\v")
        xlsx = who.get(f"/api/v1/rounds/{rid}/export.xlsx{query}")
        assert xlsx.status_code == 200, (query, xlsx.text[:300])
        workbook = load_workbook(io.BytesIO(xlsx.content))
        cells = [str(c) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
        assert "前\ufffd[31m後\n\ufffd" in cells and any("総務\ufffd課" in c for c in cells)
        name = unquote(xlsx.headers["content-disposition"].split("filename*=UTF-8''")[1])
        assert name.startswith("ペーパーレス化状況チェック_令和8年度第1回_"), name  # the line break is gone


def test_content_disposition_carries_a_japanese_title_whole_with_an_ascii_fallback(client, session, world):
    session.execute(update(Round).where(Round.id == world.round.id).values(title="令和8年度/第1回;\"速報\""))
    session.commit()
    sign_in(client, "desk@test.example")
    response = client.get(f"/api/v1/rounds/{world.round.id}/export.csv?section=A1")
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    fallback, encoded = disposition.split("; filename*=UTF-8''")
    assert fallback == f'attachment; filename="paperless-round{world.round.id}-section-A1.csv"'
    assert all(c.isascii() and (c.isalnum() or c in "%-._~") for c in encoded), encoded  # RFC 5987 attr-chars
    assert unquote(encoded) == 'ペーパーレス化状況チェック_令和8年度/第1回;"速報"_A1.csv'
