"""The April reorganisation from a CSV: rename, merge, split, move, abolish and create — each with its trend;
部局 created and renamed; open rounds; bad files refused with a message and nothing stored; page and CLI."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func
from sqlmodel import select

from app.auth.models import AuditEvent, Membership
from app.config import get_settings
from app.errors import InvalidInput
from app.jpdate import today_jst, wareki
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind, UnitLink
from app.reorg import csvfile
from app.reorg import service as reorg
from app.reorg.csvfile import ReorgFileError
from app.rounds import service as rounds
from app.sheets.models import Answer, MaturityTally, Sheet, SheetEvent
from app.sheets.tallies import OVERALL
from app.trend import service as trend_service
from tests import factories as f
from tests.conftest import sign_in
from tests.test_trend import set_answers

APRIL = date(2025, 4, 1)
HEADER = "種別,旧コード,新コード,新名称,新部局コード\n"
K1 = "office.daily.keep-electronic"


@pytest.fixture
def org(session):
    """部局 X (A1 M1 M2 P D V) and Y (Y1); staff; FY2024's round answered and closed."""
    x = f.make_unit(session, "X", "X部", kind=UnitKind.BUREAU, position=1)
    y = f.make_unit(session, "Y", "Y部", kind=UnitKind.BUREAU, position=2)
    units = {"X": x, "Y": y}
    for i, (code, name) in enumerate([("A1", "旧総務課"), ("M1", "文書課"), ("M2", "法規課"), ("P", "企画調整課"),
                                      ("D", "廃止予定課"), ("V", "移管課")], start=1):
        units[code] = f.make_unit(session, code, name, parent=x, position=i)
    units["Y1"] = f.make_unit(session, "Y1", "Y一課", parent=y, position=1)
    people = {
        "a1": f.make_user(session, "member.a1@test.example", "職員 A1", section=units["A1"]),
        "m1": f.make_user(session, "leader.m1@test.example", "リーダー M1", section=units["M1"], role="leader"),
        "m2": f.make_user(session, "member.m2@test.example", "職員 M2", section=units["M2"]),
        "p": f.make_user(session, "member.p@test.example", "職員 P", section=units["P"]),
        "d": f.make_user(session, "member.d@test.example", "職員 D", section=units["D"]),
        "v": f.make_user(session, "member.v@test.example", "職員 V", section=units["V"]),
        "admin": f.make_user(session, "admin@test.example", "管理者", is_admin=True),
    }
    both = people["m2"]  # someone in both merged sections keeps one membership
    session.add(Membership(user_id=both.id, unit_id=units["M1"].id, role="member"))
    version = f.publish(session)
    r1 = f.make_round(session, version, title="令和6年度 第1回", fiscal_year=2024, opens_on=date(2024, 10, 1))
    for code, status in [("A1", "△"), ("M1", "◎"), ("M2", "×"), ("P", "○"), ("D", "△"), ("V", "○"), ("Y1", "◎")]:
        set_answers(session, r1.id, units[code], {K1: status})
    rounds.close_round(session, r1)
    session.commit()
    return {"units": units, "people": people, "version": version, "r1": r1}


def apply_csv(session, text: str, on: date = APRIL, *, encoding="utf-8"):
    rows, errors = csvfile.parse((HEADER + text).encode(encoding))
    plan = reorg.plan(session, rows, on, errors)
    result = reorg.apply(session, plan, today=today_jst(), label="test")
    session.commit()
    return result


def second_round(session, org, answers: dict[str, str]):
    r2 = f.make_round(session, org["version"], title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 10, 1))
    for code, status in answers.items():
        set_answers(session, r2.id, orgs.current_by_code(session, code), {K1: status})
    session.commit()
    return r2


def trend_rows(session, code):
    trend = trend_service.section_trend(session, orgs.current_by_code(session, code))
    return [(p.round.title, p.unit.code, p.unit.name, p.relation, p.statuses.get(K1)) for p in trend.points]


def in_force(session):
    return {u.code: u for u in session.exec(select(Unit).where(Unit.valid_to.is_(None)))}


def state(session):
    """Everything a reorganisation may change, to prove that a refused one changed nothing."""
    result = (sorted(session.exec(select(Unit.id, Unit.code, Unit.name, Unit.parent_id, Unit.valid_to))),
              sorted(session.exec(select(UnitLink.id))),
              sorted(session.exec(select(Membership.user_id, Membership.unit_id, Membership.role))),
              sorted(session.exec(select(Sheet.id, Sheet.unit_id))),
              len(session.exec(select(AuditEvent.id).where(AuditEvent.kind == "reorg_apply")).all()))
    session.commit()
    return result


# --- each kind of change, with its trend ---------------------------------------------------------------------

def test_rename_continues_the_trend_and_moves_the_staff(session, org):
    result = apply_csv(session, "rename,A1,A1,総務課,\n")
    assert result.memberships_moved == 1 and result.to_reassign == []
    units = in_force(session)
    assert units["A1"].name == "総務課" and units["A1"].valid_from == APRIL and units["A1"].parent_id == org["units"]["X"].id
    session.refresh(org["units"]["A1"])
    assert org["units"]["A1"].valid_to == APRIL
    member = session.exec(select(Membership).where(Membership.user_id == org["people"]["a1"].id)).one()
    assert member.unit_id == units["A1"].id
    second_round(session, org, {"A1": "○"})
    assert trend_rows(session, "A1") == [("令和6年度 第1回", "A1", "旧総務課", "continued", "△"),
                                         ("令和7年度 第1回", "A1", "総務課", "self", "○")]


def test_merge_shows_each_predecessors_past(session, org):
    apply_csv(session, "merge,M1,M,文書法規課,\nmerge,M2,M,,\n")
    units = in_force(session)
    assert "M1" not in units and "M2" not in units and units["M"].name == "文書法規課"
    memberships = session.exec(select(Membership).where(Membership.unit_id == units["M"].id)).all()
    roles = {m.user_id: m.role for m in memberships}
    assert roles == {org["people"]["m1"].id: "leader", org["people"]["m2"].id: "member"}  # one row per person
    second_round(session, org, {"M": "○"})
    assert trend_rows(session, "M") == [("令和6年度 第1回", "M1", "文書課", "merged", "◎"),
                                        ("令和6年度 第1回", "M2", "法規課", "merged", "×"),
                                        ("令和7年度 第1回", "M", "文書法規課", "self", "○")]


def test_split_shows_the_parents_past_marked_and_lists_who_to_reassign(session, org):
    result = apply_csv(session, "split,P,P1,企画課,\nsplit,P,P2,調整課,Y\n")
    assert [p.upn for p in result.to_reassign] == ["member.p@test.example"]
    units = in_force(session)
    assert units["P1"].parent_id == org["units"]["X"].id and units["P2"].parent_id == org["units"]["Y"].id
    member = session.exec(select(Membership).where(Membership.user_id == org["people"]["p"].id)).one()
    assert member.unit_id == org["units"]["P"].id  # stays on the closed 所属 until an admin reassigns them
    assert [(u.upn, unit.code) for u, _, unit in reorg.people_to_reassign(session)] == [("member.p@test.example", "P")]
    second_round(session, org, {"P1": "◎", "P2": "×"})
    for code, name, now in [("P1", "企画課", "◎"), ("P2", "調整課", "×")]:
        rows = trend_rows(session, code)
        assert rows == [("令和6年度 第1回", "P", "企画調整課", "split", "○"), ("令和7年度 第1回", code, name, "self", now)]
    trend = trend_service.section_trend(session, in_force(session)["P1"])
    assert trend.points[0].relation_label == "分割前の所属（参考）"


def test_move_to_another_bureau_continues_the_trend(session, org):
    result = apply_csv(session, "move,V,,,Y\n")
    assert result.memberships_moved == 1
    moved = in_force(session)["V"]
    assert (moved.name, moved.parent_id) == ("移管課", org["units"]["Y"].id)
    assert session.exec(select(UnitLink).where(UnitLink.successor_id == moved.id)).one().kind == "move"
    r2 = second_round(session, org, {"V": "◎"})
    assert f.sheet_of(session, r2.id, moved).bureau_id == org["units"]["Y"].id
    assert trend_rows(session, "V") == [("令和6年度 第1回", "V", "移管課", "continued", "○"),
                                        ("令和7年度 第1回", "V", "移管課", "self", "◎")]


def test_abolish_ends_the_trend_and_lists_who_to_reassign(session, org):
    result = apply_csv(session, "abolish,D,,,\n")
    assert [p.name for p in result.to_reassign] == ["職員 D"]
    assert "D" not in in_force(session)
    r2 = second_round(session, org, {})
    assert session.exec(select(Sheet).where(Sheet.round_id == r2.id, Sheet.unit_id == org["units"]["D"].id)).first() is None
    assert trend_rows(session, "D") == [("令和6年度 第1回", "D", "廃止予定課", "self", "△")]  # the past stays


def test_create_a_bureau_and_a_section_starts_a_new_trend(session, org):
    apply_csv(session, "create,,Z,Z局,\ncreate,,Z1,Z局 新設課,Z\n")
    units = in_force(session)
    assert units["Z"].kind == UnitKind.BUREAU and units["Z"].parent_id is None
    assert units["Z1"].parent_id == units["Z"].id and units["Z1"].kind == UnitKind.SECTION
    second_round(session, org, {"Z1": "△"})
    assert trend_rows(session, "Z1") == [("令和7年度 第1回", "Z1", "Z局 新設課", "self", "△")]


def test_a_renamed_bureau_takes_its_sections_along(session, org):
    apply_csv(session, "rename,Y,Y,新Y部,\ncreate,,Y2,Y二課,Y\n")
    units = in_force(session)
    assert units["Y"].name == "新Y部" and units["Y"].id != org["units"]["Y"].id
    assert units["Y1"].id == org["units"]["Y1"].id and units["Y1"].parent_id == units["Y"].id  # re-parented
    assert units["Y2"].parent_id == units["Y"].id
    assert session.exec(select(UnitLink).where(UnitLink.successor_id == units["Y"].id)).one().kind == "rename"
    r2 = second_round(session, org, {"Y1": "○"})
    assert f.sheet_of(session, r2.id, units["Y1"]).bureau_id == units["Y"].id
    past = f.sheet_of(session, org["r1"].id, units["Y1"])
    assert past.bureau_id == org["units"]["Y"].id  # the past round keeps the 部局 as it was


def test_a_whole_april_at_once_with_japanese_kinds_full_width_codes_and_cp932(session, org):
    text = ("名称変更,Ａ１,,総務課,\n統合,M1,M,文書法規課,\n統合,M2,M,,\n分割,P,P1,企画課,\n分割,P,P2,調整課,\n"
            "移管,V,,,Y\n廃止,D,,,\n新設,,Y2,Y二課,Y\n")
    result = apply_csv(session, text, encoding="cp932")
    assert result.changes == 6 and result.units_closed == 6 and result.units_opened == 6
    assert sorted(in_force(session)) == ["A1", "M", "P1", "P2", "V", "X", "Y", "Y1", "Y2"]
    audit = session.exec(select(AuditEvent).where(AuditEvent.kind == "reorg_apply")).one()
    assert "統合" in audit.detail and audit.actor_label == "test"


# --- a round that is open when the reorganisation is applied ---------------------------------------------------

def test_an_open_round_keeps_the_answers_of_a_renamed_section_and_gets_sheets_for_new_ones(client, session, org):
    r2 = f.make_round(session, org["version"], title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 3, 20))
    set_answers(session, r2.id, org["units"]["A1"], {K1: "◎"})
    session.commit()
    result = apply_csv(session, "rename,A1,A1,総務課,\nmerge,M1,M,文書法規課,\nmerge,M2,M,,\n")
    assert (result.sheets_followed, result.sheets_created) == (2, 0)  # A1 renamed; M1 and M2 folded into one for M
    units = in_force(session)
    followed = f.sheet_of(session, r2.id, units["A1"])
    assert session.exec(select(Answer.status).where(Answer.sheet_id == followed.id, Answer.item_key == K1)).one() == "◎"
    merged = f.sheet_of(session, r2.id, units["M"])
    assert len(session.exec(select(Answer).where(Answer.sheet_id == merged.id)).all()) == 6
    session.commit()
    token = sign_in(client, "leader.m1@test.example")  # now the leader of the merged 所属
    saved = client.put(f"/api/v1/rounds/{r2.id}/sections/M/answers/{K1}", json={"status": "○", "version": 0},
                       headers={"X-CSRF-Token": token})
    assert saved.status_code == 200, saved.text


def test_staff_of_a_renamed_section_still_read_their_past_sheets(client, session, org):
    apply_csv(session, "rename,A1,A1,総務課,\nmerge,M1,M,文書法規課,\nmerge,M2,M,,\n")
    r2 = second_round(session, org, {})
    sign_in(client, "member.a1@test.example")
    page = client.get(f"/rounds/{r2.id}/sections/A1").text
    assert f'href="/rounds/{org["r1"].id}/sections/A1"' in page and "令和6年度 第1回（旧総務課）" in page
    past = client.get(f"/rounds/{org['r1'].id}/sections/A1")
    assert past.status_code == 200 and "旧総務課" in past.text
    assert client.get(f"/rounds/{org['r1'].id}/sections/M1").status_code == 403  # not their lineage
    leader = client.__class__(client.app, follow_redirects=False)
    sign_in(leader, "leader.m1@test.example")
    assert leader.get(f"/rounds/{org['r1'].id}/sections/M2").status_code == 200  # merged into their 所属
    assert leader.get("/api/v1/sections/M1/trend").status_code == 200
    leader.close()


def test_after_a_split_each_part_reads_the_parents_past_but_not_the_other_part(client, session, org):
    """Staff read their 所属 and what it continues (its lineage), never its successors nor the rest of its
    family: a new part of a split does not read the other part, and staff left on the old 所属 read neither."""
    apply_csv(session, "split,P,P1,企画課,\nsplit,P,P2,調整課,Y\n")
    units = in_force(session)
    f.make_user(session, "member.p1@test.example", "職員 P1", section=units["P1"])
    r1, r2 = org["r1"].id, second_round(session, org, {"P1": "◎", "P2": "×"}).id
    sign_in(client, "member.p1@test.example")
    past = client.get(f"/rounds/{r1}/sections/P")  # split from: the parent's past
    assert past.status_code == 200 and f'href="/rounds/{r2}/sections/P1"' in past.text
    assert "/sections/P2" not in past.text  # the parent's round switcher offers no sheet of the other part
    assert client.get(f"/rounds/{r2}/sections/P1").status_code == 200
    assert client.get(f"/rounds/{r2}/sections/P2").status_code == 403  # the other part: family, not lineage
    assert client.get("/api/v1/sections/P2/trend").status_code == 403
    left = client.__class__(client.app, follow_redirects=False)
    sign_in(left, "member.p@test.example")  # still on the closed 所属 P, waiting to be reassigned
    past = left.get(f"/rounds/{r1}/sections/P")
    assert past.status_code == 200 and "/sections/P1" not in past.text and "/sections/P2" not in past.text
    assert [left.get(f"/rounds/{r2}/sections/{code}").status_code for code in ("P1", "P2")] == [403, 403]
    left.close()


def test_after_a_merge_the_merged_sections_staff_read_both_pasts_and_nobody_elses(client, session, org):
    apply_csv(session, "merge,M1,M,文書法規課,\nmerge,M2,M,,\n")
    r1, r2 = org["r1"].id, second_round(session, org, {"M": "○", "P": "◎"}).id
    sign_in(client, "member.m2@test.example")
    assert [client.get(f"/rounds/{r1}/sections/{code}").status_code for code in ("M1", "M2")] == [200, 200]
    assert client.get(f"/rounds/{r2}/sections/M").status_code == 200
    assert [client.get(f"/rounds/{r}/sections/P").status_code for r in (r1, r2)] == [403, 403]


# --- bad files: a message, and nothing stored --------------------------------------------------------------------

def plan_errors(session, text: str, on: date = APRIL) -> list[str]:
    rows, errors = csvfile.parse((HEADER + text).encode("utf-8"))
    return [f"{e.line}: {e.message}" for e in reorg.plan(session, rows, on, errors).errors]


@pytest.mark.parametrize(("text", "expected"), [
    ("rename,NOPE,N,新しい課,\n", ["2: 旧コード「NOPE」の所属・部局は今はありません"]),
    ("create,,N1,新一課,X\ncreate,,N1,新二課,X\n", ["2: 新コード「N1」が複数の行（2行目、3行目）で使われています",
                                                "3: 新コード「N1」が複数の行"]),
    ("create,,Y1,もう一つのY一課,Y\n", ["2: 新コード「Y1」は既に「Y一課」（Y1）が使っています"]),
    ("merge,P,Q,統合課,\nmerge,D,Q,,\nsplit,P,P1,企画課,\nsplit,P,P2,調整課,\n",
     ["旧コード「P」が統合（merge）と分割（split）の両方にあります"]),
    ("move,V,,,NOBUREAU\n", ["2: 新部局コード「NOBUREAU」の部局はありません"]),
    ("move,V,,,A1\n", ["2: 新部局コード「A1」は所属「旧総務課」（A1）のコードです"]),
    ("move,V,,,X\n", ["2: 「移管課」（V）の移管先が今と同じ部局です"]),
    ("merge,M1,M,文書法規課,\n", ["2: 統合（merge）は2つ以上の所属を1つにまとめる変更です"]),
    ("split,P,P1,企画課,\n", ["2: 分割（split）は1つの所属を2つ以上に分ける変更です"]),
    ("abolish,Y,,,\n", ["2: 部局「Y部」（Y）には、まだ所属が残っています（「Y一課」（Y1））"]),
    ("rename,A1,,,\n", ["2: 名称変更（rename）の行には新名称が必要です"]),
    ("abolish,D,D2,,\n", ["2: 廃止（abolish）の行には新コードを書かないでください"]),
    ("rename,A1,A1,旧総務課,\n", ["2: 「旧総務課」（A1）の名称・コード・部局が今と同じです"]),
    ("rename,A1,A1,総務課,\nabolish,A1,,,\n", ["2: 旧コード「A1」が複数の行（2行目、3行目）にあります"]),
    ("rename,X,X2,新X部,\nmove,Y1,,,X\n", ["3: 新部局コード「X」の部局「X部」（X）は、この組織改正で廃止・名称変更されます"]),
    ("dissolve,A1,,,\n", ["2: 種別「dissolve」は使えません"]),
    ("rename,A1,A 1,総務課,\n", ["2: 新コード「A 1」に使えない文字があります"]),
])
def test_each_bad_row_is_named_with_its_line_and_nothing_is_applied(session, org, text, expected):
    before = state(session)
    errors = plan_errors(session, text)
    for part in expected:
        assert any(part in e for e in errors), (part, errors)
    rows, row_errors = csvfile.parse((HEADER + text).encode("utf-8"))
    with pytest.raises(InvalidInput, match="誤りが"):
        reorg.apply(session, reorg.plan(session, rows, APRIL, row_errors), today=today_jst())
    session.rollback()
    assert state(session) == before


def test_an_effective_date_before_a_section_began_or_in_the_future_is_refused(session, org):
    assert any("「旧総務課」（A1）ができた日（令和2年4月1日）より後の日" in e
               for e in plan_errors(session, "rename,A1,A1,総務課,\n", on=date(2020, 4, 1)))
    before = state(session)
    rows, _ = csvfile.parse((HEADER + "rename,A1,A1,総務課,\n").encode())
    tomorrow = today_jst() + timedelta(days=1)
    plan = reorg.plan(session, rows, tomorrow)
    assert plan.ok  # the preview works ahead of time…
    with pytest.raises(InvalidInput, match="効力発生日以降に適用してください"):
        reorg.apply(session, plan, today=today_jst())  # …applying waits for the day
    session.rollback()
    assert state(session) == before


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "ファイルが空です"),
    (b"\xef\xbb\xbf\r\n", "ファイルが空です"),
    (HEADER.encode(), "変更の行がありません"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "Excelのブック（.xlsx/.xls）のままです"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "CSVファイルではありません"),
    ("名前,メール\n山田,y@example\n".encode(), "1行目の見出しに「種別」「旧コード」「新コード」「新名称」「新部局コード」の列がありません"),
    (b"\xff\xfe\xfa\xfb\x81\x39", "文字コードを判別できません"),
    (b"x" * (csvfile.MAX_BYTES + 1), "ファイルが大きすぎます"),
])
def test_a_file_that_is_not_a_usable_csv_is_refused_with_a_message(raw, message):
    with pytest.raises(ReorgFileError, match=message):
        csvfile.parse(raw)


def test_utf8_with_bom_english_headings_and_blank_lines_are_read():
    raw = ("\ufeffkind,old_code,new_code,new_name,new_bureau_code,note\r\nrename,A1,,総務課,,メモ\r\n,,,,\r\n"
           "\r\n").encode("utf-8")
    rows, errors = csvfile.parse(raw)
    assert errors == [] and [(r.line, r.kind, r.old_code, r.new_name) for r in rows] == [(2, "rename", "A1", "総務課")]


# --- the admin page and the command line -------------------------------------------------------------------------

def upload(client, token, text: str | bytes, on: str = "2025-04-01", name="reorg.csv"):
    raw = text if isinstance(text, bytes) else (HEADER + text).encode("utf-8-sig")
    return client.post("/admin/reorg/preview", data={"csrf_token": token, "effective_on": on},
                       files={"file": (name, raw, "text/csv")})


def test_admin_previews_then_applies_a_reorganisation(client, session, org):
    token = sign_in(client, "admin@test.example")
    page = client.get("/admin/reorg")
    assert page.status_code == 200 and "種別,旧コード,新コード,新名称,新部局コード" in page.text
    before = state(session)
    preview = upload(client, token, "rename,A1,A1,総務課,\nsplit,P,P1,企画課,\nsplit,P,P2,調整課,\n")
    assert preview.status_code == 200
    for text in ("所属の名称変更", "旧総務課（A1）", "総務課（A1）", "所属の分割", "1人が移ります", "職員 P",
                 "所属の再設定が必要になる職員", "この内容で適用する"):
        assert text in preview.text, text
    assert state(session) == before  # a preview changes nothing
    data = preview.text.split('name="data" value="')[1].split('"')[0]
    applied = client.post("/admin/reorg/apply", data={"csrf_token": token, "data": data, "filename": "reorg.csv",
                                                      "effective_on": "2025-04-01"})
    assert applied.status_code == 303 and applied.headers["location"] == "/admin/reorg?applied=2"
    assert in_force(session)["A1"].name == "総務課"
    session.commit()
    after = client.get("/admin/reorg?applied=2").text
    assert "組織改正を適用しました" in after and "所属の再設定が必要な職員（1人）" in after and "職員 P" in after
    assert "所属の名称変更: 旧総務課（A1） → 総務課（A1・X部）" in after  # the record of past reorganisations


def test_the_file_name_kept_in_the_audit_log_has_no_line_break_or_control_character(client, session, org):
    token = sign_in(client, "admin@test.example")
    preview = upload(client, token, "rename,A1,A1,総務課,\n")
    data = preview.text.split('name="data" value="')[1].split('"')[0]
    applied = client.post("/admin/reorg/apply", data={"csrf_token": token, "data": data,
                                                      "filename": "組織改正\r\n\x1b.csv", "effective_on": "2025-04-01"})
    assert applied.status_code == 303
    [detail] = session.exec(select(AuditEvent.detail).where(AuditEvent.kind == "reorg_apply")).all()
    assert json.loads(detail)["source"] == "組織改正 \ufffd.csv"


def test_the_page_shows_every_error_and_offers_no_apply(client, session, org):
    token = sign_in(client, "admin@test.example")
    before = state(session)
    response = upload(client, token, "rename,NOPE,N,新しい課,\ncreate,,N1,新一課,X\ncreate,,N1,新二課,X\n")
    assert response.status_code == 422
    assert "誤りが3件あります（何も変更していません）" in response.text
    assert "2行目" in response.text and "旧コード「NOPE」" in response.text and "新コード「N1」が複数の行" in response.text
    assert "この内容で適用する" not in response.text
    forged = client.post("/admin/reorg/apply", data={
        "csrf_token": token, "filename": "x.csv", "effective_on": "2025-04-01",
        "data": base64.b64encode((HEADER + "rename,NOPE,N,新しい課,\n").encode()).decode()})
    assert forged.status_code == 422 and "適用できません" in forged.text
    assert state(session) == before


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "ファイルが空です"),
    (b"PK\x03\x04" + b"\x00" * 60, "Excelのブック"),
    (b"\x00\x01\x02binary", "CSVファイルではありません"),
])
def test_the_page_refuses_a_file_that_is_not_csv(client, session, org, raw, message):
    token = sign_in(client, "admin@test.example")
    before = state(session)
    response = upload(client, token, raw)
    assert response.status_code == 422 and message in response.text
    assert 'id="file-error"' in response.text and 'aria-invalid="true"' in response.text
    assert state(session) == before


def test_the_page_refuses_a_missing_file_or_date_and_an_oversized_upload(client, app, org):
    token = sign_in(client, "admin@test.example")
    no_file = client.post("/admin/reorg/preview", data={"csrf_token": token, "effective_on": "2025-04-01"},
                          files={"file": ("", b"", "application/octet-stream")})
    assert no_file.status_code == 422 and "CSVファイルを選んでください" in no_file.text
    no_date = upload(client, token, "rename,A1,,総務課,\n", on="4月1日")
    assert no_date.status_code == 422 and "効力発生日を日付で入力してください" in no_date.text
    huge = upload(client, token, b"x" * (app.state.settings.max_upload_bytes + 1))
    assert huge.status_code == 413 and "大きすぎます" in huge.text


def test_a_future_effective_date_previews_but_cannot_be_applied_on_the_page(client, session, org):
    token = sign_in(client, "admin@test.example")
    response = upload(client, token, "rename,A1,,総務課,\n", on=(today_jst() + timedelta(days=30)).isoformat())
    assert response.status_code == 200
    assert "まだ来ていないため、今は適用できません" in response.text and "この内容で適用する" not in response.text
    assert "の予定として登録する" in response.text  # scheduled instead (see the tests of schedules below)


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
    monkeypatch.setenv("PAPERLESS_ENV", "development")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_previews_and_applies(cli_env, session, org, tmp_path):
    from app.cli import main

    good = tmp_path / "reorg.csv"
    good.write_bytes((HEADER + "名称変更,A1,,総務課,\n廃止,D,,,\n").encode("cp932"))
    runner = CliRunner()
    before = state(session)
    shown = runner.invoke(main, ["reorg", str(good), "--on", "2025-04-01"])
    assert shown.exit_code == 0, shown.output
    assert "2行目: 所属の名称変更: 旧総務課（A1） → 総務課（A1・X部）" in shown.output
    assert "所属の再設定が必要: 職員 D" in shown.output and "確認のみ（変更していません）" in shown.output
    assert state(session) == before
    done = runner.invoke(main, ["reorg", str(good), "--on", "2025-04-01", "--apply"])
    assert done.exit_code == 0 and "適用しました: 2件の変更" in done.output
    assert in_force(session)["A1"].name == "総務課"
    session.commit()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "rename,NOPE,,x,\n", encoding="utf-8")
    refused = runner.invoke(main, ["reorg", str(bad), "--apply"])
    assert refused.exit_code == 1 and "旧コード「NOPE」" in refused.output and "何も変更していません" in refused.output
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "ファイルが空です" in runner.invoke(main, ["reorg", str(empty)]).output


def test_a_merge_during_an_open_round_leaves_one_sheet_per_section_in_force(session, org):
    """Issue 11: the board counted 61 所属 after a merge, the merged-away one still 未提出."""
    r2 = f.make_round(session, org["version"], title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 3, 20))
    second = "office.daily.no-personal-printing"
    # M2 has more answers: its sheet is the one handed on, M1's folded into it
    set_answers(session, r2.id, org["units"]["M2"], {K1: "○", second: "×", "briefing.bureau.paperless": "◎"})
    set_answers(session, r2.id, org["units"]["M1"], {K1: "◎", "briefing.section.paperless": "△"})
    session.commit()
    sheets_before = len(session.exec(select(Sheet).where(Sheet.round_id == r2.id)).all())
    events_before = len(session.exec(select(SheetEvent)).all())
    session.commit()
    apply_csv(session, "merge,M1,M,文書法規課,\nmerge,M2,M,,\n")
    units = in_force(session)
    in_round = session.exec(select(Sheet.unit_id).where(Sheet.round_id == r2.id)).all()
    sections_in_force = {u.id for u in units.values() if u.kind == UnitKind.SECTION}
    assert set(in_round) == sections_in_force and len(in_round) == sheets_before - 1
    merged = f.sheet_of(session, r2.id, units["M"])
    statuses = dict(session.exec(select(Answer.item_key, Answer.status).where(Answer.sheet_id == merged.id)).all())
    assert (statuses[K1], statuses[second], statuses["briefing.section.paperless"]) == ("○", "×", "△")
    assert merged.tally_answered == 4
    events = session.exec(select(SheetEvent).where(SheetEvent.sheet_id == merged.id)).all()
    assert len(session.exec(select(SheetEvent)).all()) == events_before + 1  # history kept, one carried answer
    assert any(e.note.startswith("統合前の所属「文書課（M1）」から") and e.source == "reorg" for e in events)
    session.commit()
    # the desk's figures (stored tallies: the prefecture is 部局 0) count the 所属 in force, the merged one once
    counted = session.exec(select(func.sum(MaturityTally.sections)).where(
        MaturityTally.round_id == r2.id, MaturityTally.bureau_id == 0, MaturityTally.category == OVERALL)).one()
    session.commit()
    assert counted == len(sections_in_force)


# --- scheduled ahead of the effective date (a fixed clock: the days are given, never read) ----------------


def scheduled_rows(session):
    from app.reorg.models import ScheduledReorg

    rows = [(r.effective_on, r.state, r.message)
            for r in session.exec(select(ScheduledReorg).order_by(ScheduledReorg.id))]
    session.commit()
    return rows


def force(session):
    """The units in force, and the test session's transaction ended (on SQLite it holds the write lock)."""
    units = in_force(session)
    session.commit()
    return units


def write_sessions(session):
    """A factory of write sessions on the test's database (what start-up and the command line use)."""
    from app.db import session_for

    engine = session.get_bind()
    return lambda: session_for(engine, write=True)


def test_admin_schedules_a_reorganisation_for_april_it_is_applied_on_the_day_not_before(client, session, org):
    today = today_jst()
    april = today + timedelta(days=40)
    token = sign_in(client, "admin@test.example")
    preview = upload(client, token, "rename,A1,,総務課,\nabolish,D,,,\n", on=april.isoformat())
    assert preview.status_code == 200 and "の予定として登録する" in preview.text
    data = re.search(r'name="data" value="([^"]+)"', preview.text).group(1)
    before = state(session)
    done = client.post("/admin/reorg/schedule", data={"csrf_token": token, "data": data, "filename": "2027年4月.csv",
                                                       "effective_on": april.isoformat()}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/reorg?done=scheduled"
    assert state(session)[:4] == before[:4]  # nothing changes before the day
    page = client.get("/admin/reorg").text
    assert "予定している組織改正" in page and f"効力発生日 <span class=\"date\">{wareki(april)}</span>" in page
    assert "この予定を取り消す" in page and "所属の名称変更: 旧総務課（A1） → 総務課（A1・X部）" in page

    assert reorg.apply_due(write_sessions(session), april - timedelta(days=1), label="test") == []  # the day before
    assert force(session)["A1"].name == "旧総務課"
    [(row, result)] = reorg.apply_due(write_sessions(session), april, label="自動適用（テスト）")  # the day
    assert result is not None and result.changes == 2 and row.state == "applied"
    units = force(session)
    assert units["A1"].name == "総務課" and units["A1"].valid_from == april and "D" not in units
    assert reorg.apply_due(write_sessions(session), april + timedelta(days=1), label="test") == []  # once only
    assert scheduled_rows(session) == [(april, "applied", "")]
    kinds = [e.kind for e in session.exec(select(AuditEvent).where(AuditEvent.kind.startswith("reorg")))]
    session.commit()
    assert kinds == ["reorg_schedule", "reorg_apply"]
    assert "適用済み" in client.get("/admin/reorg").text


def test_a_cancelled_schedule_is_never_applied_and_a_past_date_is_not_a_schedule(client, session, org):
    today = today_jst()
    token = sign_in(client, "admin@test.example")
    raw = base64.b64encode((HEADER + "rename,A1,,総務課,\n").encode()).decode()
    form = {"csrf_token": token, "data": raw, "filename": "x.csv",
            "effective_on": (today + timedelta(days=9)).isoformat()}
    assert client.post("/admin/reorg/schedule", data=form, follow_redirects=False).status_code == 303
    [schedule_id] = reorg.due(session, today + timedelta(days=9))
    session.commit()
    cancelled = client.post(f"/admin/reorg/scheduled/{schedule_id}/cancel", data={"csrf_token": token},
                            follow_redirects=False)
    assert cancelled.status_code == 303 and "組織改正の予定を取り消しました" in client.get(cancelled.headers["location"]).text
    again = client.post(f"/admin/reorg/scheduled/{schedule_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "取り消しのため、取り消せません" in again.text
    assert client.post("/admin/reorg/scheduled/999999/cancel", data={"csrf_token": token}).status_code == 404
    assert reorg.apply_due(write_sessions(session), today + timedelta(days=30), label="test") == []
    assert force(session)["A1"].name == "旧総務課"
    today_form = {**form, "effective_on": today.isoformat()}
    refused = client.post("/admin/reorg/schedule", data=today_form)
    assert refused.status_code == 422 and "予定にはできません。このまま適用してください。" in refused.text
    assert [s for _, s, _ in scheduled_rows(session)] == ["cancelled"]


def test_a_schedule_that_no_longer_fits_the_organisation_on_its_day_changes_nothing_and_says_why(session, org):
    today = today_jst()
    rows, _ = csvfile.parse((HEADER + "rename,D,,存続課,\n").encode())
    reorg.schedule(session, (HEADER + "rename,D,,存続課,\n").encode(), "late.csv", today + timedelta(days=5),
                   today=today)
    session.commit()
    apply_csv(session, "abolish,D,,,\n", on=today)  # meanwhile D is abolished
    before = state(session)
    [(row, result)] = reorg.apply_due(write_sessions(session), today + timedelta(days=5), label="test")
    assert result is None and row.state == "failed" and "旧コード「D」" in row.message
    assert state(session)[:4] == before[:4]


def test_start_up_and_the_daily_command_apply_what_is_due(session, org, cli_env, monkeypatch, settings):
    from fastapi.testclient import TestClient

    import app.main
    from app.cli import main

    today = today_jst()
    for code, days in (("A1", 3), ("V", 4)):
        reorg.schedule(session, (HEADER + f"rename,{code},,新{code},\n").encode(), f"{code}.csv",
                       today + timedelta(days=days), today=today)
    session.commit()
    monkeypatch.setattr(app.main, "today_jst", lambda: today + timedelta(days=3))  # the clock at start-up
    with TestClient(app.main.create_app(settings)):
        pass
    assert force(session)["A1"].name == "新A1" and force(session)["V"].name == "移管課"
    monkeypatch.setattr("app.jpdate.today_jst", lambda: today + timedelta(days=4))  # the command's clock
    ran = CliRunner().invoke(main, ["reorg-apply-due"])
    assert ran.exit_code == 0 and "適用しました" in ran.output and "（V.csv）、1件の変更" in ran.output
    assert force(session)["V"].name == "新V"
    assert "適用する組織改正の予定はありません" in CliRunner().invoke(main, ["reorg-apply-due"]).output
