"""Checklist versions: v2 keeps the seed items; the difference between versions (added, removed, reworded,
moved, difficulty, 該当なし); publishing from the admin page and the command line; trends across versions;
the demo shows a real version change."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from app import demo
from app.checklists import diff as diffs
from app.checklists import publishing
from app.checklists import service as checklists
from app.checklists.loader import load_checklist
from app.checklists.models import ChecklistVersion
from app.config import PROJECT_ROOT, get_settings
from app.errors import Conflict
from app.main import create_app
from app.orgs.models import Unit, UnitKind
from app.rounds.models import Round
from app.scoring.rules import Change
from app.sheets.models import Answer, Sheet
from app.statuses import Status
from app.trend import service as trend_service
from app.trend.page import FALLBACK_HINTS
from tests import factories as f
from tests.conftest import make_settings, sign_in
from tests.test_trend import set_answers

V1_PATH = PROJECT_ROOT / "checklists" / "paperless" / "v1.yaml"
V2_PATH = PROJECT_ROOT / "checklists" / "paperless" / "v2.yaml"
V3_PATH = PROJECT_ROOT / "checklists" / "paperless" / "v3.yaml"
SEED_LINKS = {  # the seed's two intranet paths (label only), kept from version 1 on the items that had them
    "briefing.section.paperless": "リンク集>働き方改革・女性活躍推進室>働き方改革ラボ>ペーパーレス会議のすすめ",
    "briefing.bureau.paperless": "リンク集>働き方改革・女性活躍推進室>働き方改革ラボ>ペーパーレス会議のすすめ",
    "meeting.internal.no-paper-handouts": "リンク集>働き方改革・女性活躍推進室>働き方改革ラボ>ペーパーレス会議のすすめ",
    "meeting.external.advance-or-tablet": "掲示板>〇（デ推）会議用タブレット端末の貸出開始について",
    "workstyle.devices.tablets-monitors": "掲示板>〇（デ推）会議用タブレット端末の貸出開始について",
}
# Words that mark a hint or a label as unfinished; none may reach a user.
PLACEHOLDERS = ("TODO", "TBD", "未登録", "まだ登録されていません", "ありません", "準備中", "（仮）", "XXX", "...", "…")

LEGEND = """\
legend:
  difficulty: {1: やりやすい, 2: ちょっと難しい, 3: 相手次第}
  status: {◎: 60%以上, ○: 60～30%程度, △: 30%以下, ×: 未対応}
"""
OLD = f"""\
id: hand
version: 1
title: 手作りチェックシート
{LEGEND}categories:
  - name: 所属内
    items:
      - {{key: keep.same, scene: 日常, text: 変わらない項目, difficulty: 1}}
      - {{key: gets.reworded, scene: 日常, text: 古い文言, difficulty: 1}}
      - {{key: scene.changes, scene: 日常, text: シーンが変わる, difficulty: 1}}
      - {{key: goes.away, scene: 日常, text: なくなる項目, difficulty: 2}}
      - {{key: moves.over, scene: 日常, text: カテゴリが変わる, difficulty: 1}}
  - name: 会議
    items:
      - {{key: gets.harder, scene: 庁内, text: 難しくなる, difficulty: 1}}
      - {{key: na.allowed, scene: 庁内, text: 該当なしが選べるようになる, difficulty: 1}}
"""
NEW = f"""\
id: hand
version: 2
title: 手作りチェックシート
{LEGEND}categories:
  - name: 所属内
    items:
      - {{key: keep.same, scene: 日常, text: 変わらない項目, difficulty: 1}}
      - {{key: gets.reworded, scene: 日常, text: 新しい文言, difficulty: 1}}
      - {{key: scene.changes, scene: 文書保管, text: シーンが変わる, difficulty: 1}}
      - {{key: brand.new, scene: 日常, text: 新しい項目, difficulty: 1, hints: [まずはここから]}}
  - name: 会議
    items:
      - {{key: gets.harder, scene: 庁内, text: 難しくなる, difficulty: 3}}
      - {{key: na.allowed, scene: 庁内, text: 該当なしが選べるようになる, difficulty: 1, allow_na: true}}
      - {{key: moves.over, scene: 日常, text: カテゴリが変わる, difficulty: 1}}
"""


def keys(rows) -> list[str]:
    return [r.key for r in rows]


# --- the shipped version 2 ------------------------------------------------------------------------------

def test_v2_keeps_the_six_seed_items_and_adds_the_thirty_proposed():
    v1 = load_checklist(V1_PATH).checklist
    v2 = load_checklist(V2_PATH).checklist
    d = diffs.diff_items(diffs.items_of(v1), diffs.items_of(v2))
    assert len(v2.items) == 36 and len(d.added) == 30 and d.removed == ()
    assert d.reworded == [] and d.moved == [] and d.difficulty == [] and d.not_applicable == []
    assert keys(d.references) == ["meeting.internal.no-paper-handouts"]  # S-05 gains a hint and the meeting link
    assert [c.name for c in v2.categories] == ["所属内", "打合せ", "会議", "決裁・文書", "庁内照会・内部事務", "対外",
                                               "申請・手続", "契約", "働き方"]
    items = {i.key: i for _, i in v2.items}
    assert items["external.fax.no-fax"].difficulty == 3 and items["external.fax.no-fax"].allow_na
    assert items["documents.approval.electronic"].hints == ("紙決裁が残る文書の種類を洗い出し、業務DX相談窓口へ",)
    assert sum(1 for _, i in v2.items if i.allow_na) == 16


def test_v3_keeps_version_2s_items_and_only_adds_hints_and_links():
    v2 = load_checklist(V2_PATH).checklist
    v3 = load_checklist(V3_PATH).checklist
    d = diffs.diff_items(diffs.items_of(v2), diffs.items_of(v3))
    assert v3.version == 3 and len(v3.items) == 36 and not d.added and not d.removed
    assert d.reworded == [] and d.moved == [] and d.difficulty == [] and d.not_applicable == []
    assert [c.name for c in v3.categories] == [c.name for c in v2.categories]
    assert len(d.references) == 36  # every item gets hints and links
    items = {i.key: i for _, i in v3.items}
    for key, label in SEED_LINKS.items():  # the seed's intranet paths stay first, label only
        assert (items[key].links[0].label, items[key].links[0].url) == (label, None), key
    assert items["documents.approval.electronic"].hints[0] == "紙決裁が残る文書の種類を洗い出し、業務DX相談窓口に相談する"


def test_every_item_of_the_newest_version_has_a_hint_and_a_real_link():
    """The current checklist: each item has at least one hint a 所属 can act on and at least one link that
    leads somewhere (an https address, or the intranet path the office writes as a label)."""
    newest = demo.version_files(PROJECT_ROOT / "checklists" / "paperless")[-1]
    checklist = load_checklist(newest).checklist
    assert checklist.version >= 3
    for _, item in checklist.items:
        assert item.hints, f"{item.key} has no hint"
        assert any(link.url and link.url.startswith("https://") or (link.url is None and ">" in link.label)
                   for link in item.links), f"{item.key} has no https link and no intranet path"
        for link in item.links:
            assert link.url is None or link.url.startswith("https://"), f"{item.key}: {link.url}"
        for text in (*item.hints, *(link.label for link in item.links)):
            assert not any(word in text for word in PLACEHOLDERS), f"{item.key}: {text}"


# --- the difference between two versions -----------------------------------------------------------------

def test_version_diff_names_added_removed_reworded_moved_and_rerated_items():
    d = diffs.diff(None, f.checklist_yaml(OLD).checklist)
    assert len(d.added) == 7 and not d.changed  # against nothing, everything is new
    d = diffs.diff_items(diffs.items_of(f.checklist_yaml(OLD).checklist), diffs.items_of(f.checklist_yaml(NEW).checklist))
    assert keys(d.added) == ["brand.new"]
    assert keys(d.removed) == ["goes.away"]
    assert keys(d.reworded) == ["gets.reworded", "scene.changes"]
    assert keys(d.moved) == ["moves.over"]
    assert keys(d.difficulty) == ["gets.harder"]
    assert keys(d.not_applicable) == ["na.allowed"]
    assert keys(d.unchanged) == ["keep.same"]
    reworded = d.reworded[0]
    assert (reworded.old.text, reworded.new.text, reworded.labels) == ("古い文言", "新しい文言", ["文言"])
    assert d.moved[0].old.category == "所属内" and d.moved[0].new.category == "会議"
    assert not d.is_empty


def test_the_preview_compares_with_the_previous_published_version(session):
    old = f.checklist_yaml(OLD, "checklists/hand/v1.yaml")
    new = f.checklist_yaml(NEW, "checklists/hand/v2.yaml")
    first = publishing.preview(session, old)
    assert first.previous is None and first.can_publish
    publishing.publish_file(session, old)
    preview = publishing.preview(session, new)
    assert preview.previous.version == 1 and preview.can_publish
    lines = publishing.report_lines(preview)
    assert "追加: 1項目" in lines and "  + brand.new  [所属内 / 日常] 新しい項目" in lines
    assert "  ~ gets.reworded  [日常] 古い文言  →  [日常] 新しい文言" in lines
    assert "  > moves.over  所属内 → 会議" in lines and "  * gets.harder  ☆ → ☆☆☆" in lines
    assert "  - goes.away  [所属内 / 日常] なくなる項目" in lines


def test_a_published_version_never_changes_and_an_older_version_is_refused(session):
    old = f.checklist_yaml(OLD, "checklists/hand/v1.yaml")
    publishing.publish_file(session, old)
    publishing.publish_file(session, f.checklist_yaml(NEW, "checklists/hand/v2.yaml"))
    edited = f.checklist_yaml(OLD.replace("古い文言", "こっそり変えた文言"), "checklists/hand/v1.yaml")
    assert publishing.preview(session, edited).refusal.startswith("hand の第1版は公開済みで")
    with pytest.raises(Conflict, match="公開済みの版は変更できません"):
        publishing.publish_file(session, edited)
    with pytest.raises(Conflict, match="公開済みで、変更できません"):
        checklists.publish(session, edited)  # the service itself refuses too
    with pytest.raises(Conflict, match="既に公開済み"):
        publishing.publish_file(session, old)
    gap = f.checklist_yaml(NEW.replace("version: 2", "version: 4"), "checklists/hand/v4.yaml")
    publishing.publish_file(session, gap)
    late = f.checklist_yaml(NEW.replace("version: 2", "version: 3"), "checklists/hand/v3.yaml")
    with pytest.raises(Conflict, match="第4版まで公開済み"):
        publishing.publish_file(session, late)
    assert [v.version for v in checklists.list_versions(session)] == [4, 2, 1]


def test_a_round_keeps_the_version_it_was_opened_with(session):
    v1 = publishing.publish_file(session, f.checklist_yaml(OLD))
    bureau = f.make_unit(session, "X", "X部", kind=UnitKind.BUREAU)
    f.make_unit(session, "X1", "X課", parent=bureau)
    r = f.make_round(session, v1.id)
    publishing.publish_file(session, f.checklist_yaml(NEW))
    session.refresh(r)
    assert r.checklist_version_id == v1.id
    sheet = f.sheet_of(session, r.id, session.exec(select(f.Unit).where(f.Unit.code == "X1")).one())
    assert len(checklists.get_definition(session, r.checklist_version_id).items) == 7 and sheet is not None


# --- trends across versions --------------------------------------------------------------------------------

def test_trend_joins_items_by_key_across_hand_made_versions(session):
    bureau = f.make_unit(session, "X", "X部", kind=UnitKind.BUREAU)
    unit = f.make_unit(session, "X1", "X課", parent=bureau)
    v1 = publishing.publish_file(session, f.checklist_yaml(OLD))
    r1 = f.make_round(session, v1.id, title="令和6年度 第1回", fiscal_year=2024, opens_on=date(2024, 10, 1))
    set_answers(session, r1.id, unit, {"keep.same": "△", "gets.reworded": "×", "goes.away": "○", "moves.over": "◎",
                                       "gets.harder": "○", "na.allowed": "△", "scene.changes": "○"})
    v2 = publishing.publish_file(session, f.checklist_yaml(NEW))
    r2 = f.make_round(session, v2.id, title="令和7年度 第1回", fiscal_year=2025, opens_on=date(2025, 10, 1))
    set_answers(session, r2.id, unit, {"keep.same": "◎", "gets.reworded": "○", "brand.new": "△", "moves.over": "◎",
                                       "gets.harder": "×", "na.allowed": "該当なし"})
    session.commit()
    trend = trend_service.section_trend(session, unit)
    # v1: △1 ×0 ○2 ◎3 ○2 △1 ○2 = 11 / 21; v2: ◎3 ○2 △1 ◎3 ×0 (該当なし and one unanswered left out) = 9 / 15
    assert [(p.round.title, p.score.overall.total, p.score.overall.maturity) for p in trend.points] == [
        ("令和6年度 第1回", 7, 52.4), ("令和7年度 第1回", 7, 60.0)]
    assert list(trend.points[1].score.categories) == ["所属内", "会議"]
    rows = {c.key: c for c in trend_service.compare(session, trend, r1.id, r2.id)}
    assert list(rows)[:7] == ["keep.same", "gets.reworded", "scene.changes", "brand.new", "gets.harder", "na.allowed",
                              "moves.over"]
    assert list(rows)[7:] == ["goes.away"]  # removed items come last
    assert rows["keep.same"].change is Change.IMPROVED
    assert rows["gets.reworded"].change is Change.IMPROVED and rows["gets.reworded"].text == "新しい文言"
    assert rows["brand.new"].change is Change.NEW_ITEM and not rows["brand.new"].in_before
    assert [(u.name, st) for u, st in rows["brand.new"].before] == [("X課", None)]
    assert rows["goes.away"].change is Change.REMOVED_ITEM and not rows["goes.away"].in_after
    assert rows["goes.away"].after is None
    assert [(u.name, st) for u, st in rows["goes.away"].before] == [("X課", Status.GOOD)]
    assert rows["moves.over"].change is Change.UNCHANGED and rows["moves.over"].category == "会議"
    assert rows["gets.harder"].change is Change.REGRESSED
    assert rows["na.allowed"].change is Change.NOT_COMPARABLE
    assert rows["scene.changes"].change is Change.NOT_COMPARABLE  # unanswered in the later round


# --- the admin page and the command line ------------------------------------------------------------------

@pytest.fixture
def hand_dir(tmp_path: Path) -> Path:
    root = tmp_path / "checklists"
    (root / "hand").mkdir(parents=True)
    (root / "hand" / "v1.yaml").write_text(OLD, encoding="utf-8")
    (root / "hand" / "v2.yaml").write_text(NEW, encoding="utf-8")
    return root


@pytest.fixture
def hand_client(database_url, hand_dir, session):
    from fastapi.testclient import TestClient

    f.make_user(session, "admin@test.example", is_admin=True)
    publishing.publish_file(session, load_checklist(hand_dir / "hand" / "v1.yaml", display_path="checklists/hand/v1.yaml"))
    session.commit()
    app = create_app(make_settings(database_url, checklists_dir=hand_dir))
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.engine.dispose()


def test_admin_page_lists_versions_and_unpublished_files_and_publishes_after_the_preview(hand_client, session):
    token = sign_in(hand_client, "admin@test.example")
    page = hand_client.get("/admin/checklists").text
    assert "checklists/hand/v1.yaml" in page and "checklists/hand/v2.yaml" in page
    assert page.count("公開済み") >= 2 and "未公開" in page and "違いを確認して公開" in page
    preview = hand_client.get("/admin/checklists/preview", params={"path": "checklists/hand/v2.yaml"})
    assert preview.status_code == 200
    for text in ("追加される項目（1）", "brand.new", "削除される項目（1）", "goes.away", "新しい文言", "文言",
                 "カテゴリ", "第2版を公開する"):
        assert text in preview.text, text
    sha = load_checklist(Path(hand_client.app.state.settings.checklists_dir) / "hand" / "v2.yaml").sha256
    stale = hand_client.post("/admin/checklists/publish", data={"csrf_token": token, "path": "checklists/hand/v2.yaml",
                                                               "sha256": "0" * 64})
    assert stale.status_code == 409 and "確認した後に変更されています" in stale.text
    done = hand_client.post("/admin/checklists/publish", data={"csrf_token": token, "path": "checklists/hand/v2.yaml",
                                                              "sha256": sha})
    assert done.status_code == 303
    session.expire_all()
    assert [v.version for v in session.exec(select(ChecklistVersion).order_by(ChecklistVersion.version))] == [1, 2]
    session.commit()
    again = hand_client.get("/admin/checklists/preview", params={"path": "checklists/hand/v2.yaml"}).text
    assert "公開済みです" in again and "第2版を公開する" not in again
    assert hand_client.get("/admin/checklists/preview", params={"path": "../../etc/passwd"}).status_code == 404


def test_admin_page_flags_a_published_file_that_was_edited(hand_client, hand_dir):
    sign_in(hand_client, "admin@test.example")
    (hand_dir / "hand" / "v1.yaml").write_text(OLD.replace("古い文言", "書き換えた文言"), encoding="utf-8")
    page = hand_client.get("/admin/checklists").text
    assert "公開後に変更されています" in page
    preview = hand_client.get("/admin/checklists/preview", params={"path": "checklists/hand/v1.yaml"}).text
    assert "公開済みの版は変更できません" in preview and "を公開する" not in preview


@pytest.fixture
def cli_env(database_url, hand_dir, monkeypatch):
    monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
    monkeypatch.setenv("PAPERLESS_ENV", "development")
    monkeypatch.setenv("PAPERLESS_CHECKLISTS_DIR", str(hand_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_shows_the_diff_and_publishes(cli_env, hand_dir, session):
    from app.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["checklist", "publish", str(hand_dir / "hand" / "v1.yaml"), "--yes"])
    assert first.exit_code == 0, first.output
    assert "公開しました: hand 第1版" in first.output
    shown = runner.invoke(main, ["checklist", "diff", str(hand_dir / "hand" / "v2.yaml")])
    assert shown.exit_code == 0 and "  > moves.over  所属内 → 会議" in shown.output
    declined = runner.invoke(main, ["checklist", "publish", str(hand_dir / "hand" / "v2.yaml")], input="n\n")
    assert declined.exit_code == 1 and "取りやめました" in declined.output
    published = runner.invoke(main, ["checklist", "publish", str(hand_dir / "hand" / "v2.yaml")], input="y\n")
    assert published.exit_code == 0 and "公開しました: hand 第2版" in published.output
    (hand_dir / "hand" / "v2.yaml").write_text(NEW.replace("新しい文言", "また変えた"), encoding="utf-8")
    refused = runner.invoke(main, ["checklist", "publish", str(hand_dir / "hand" / "v2.yaml"), "--yes"])
    assert refused.exit_code == 1 and "公開済みの版は変更できません" in refused.output
    broken = hand_dir / "broken.yaml"
    broken.write_text("id: hand\n", encoding="utf-8")
    bad = runner.invoke(main, ["checklist", "diff", str(broken)])
    assert bad.exit_code == 1 and "legend がありません" in bad.output
    assert [v.version for v in session.exec(select(ChecklistVersion).order_by(ChecklistVersion.version))] == [1, 2]


# --- the demo ------------------------------------------------------------------------------------------------

def test_the_demo_puts_the_newest_round_on_version_2(client, session):
    demo.load(session, load_checklist(V1_PATH), demo.DemoPlan(sections=4, rounds=2, seed=3),
              newest=load_checklist(V2_PATH))
    session.commit()
    rounds = session.exec(select(Round).order_by(Round.opens_on)).all()
    assert [checklists.get_definition(session, r.checklist_version_id).version for r in rounds] == [1, 2]
    session.commit()
    sign_in(client, "desk@demo.example")
    page = client.get(f"/rounds/{rounds[1].id}/sections/1001")
    assert page.status_code == 200 and "起案・決裁を電子決裁で行い" in page.text
    # Items of version 2 without hints or links: the next steps give the advice for the item's difficulty,
    # never a system note that something is missing. (A 所属 with a △ or × in the newest round: which one
    # depends on the demo's random draw.)
    weak = session.exec(select(Unit.code).join(Sheet, Sheet.unit_id == Unit.id).join(Answer, Answer.sheet_id == Sheet.id)
                        .where(Sheet.round_id == rounds[1].id, Answer.status.in_(["△", "×"]))
                        .order_by(Unit.code)).first()
    assert weak is not None
    html = client.get(f"/sections/{weak}/trend").text
    assert 'class="next-step"' in html and any(text in html for text in FALLBACK_HINTS.values())
    assert "まだ登録されていません" not in html and "参考リンクはありません" not in html
    trend = client.get("/api/v1/sections/1001/trend").json()
    changes = {c["item_key"]: c for c in trend["changes"]}
    assert changes["documents.approval.electronic"]["change"] == "new_item"
    assert len(changes) == 36


@pytest.fixture
def demo_cli_env(database_url, monkeypatch):
    monkeypatch.setenv("PAPERLESS_DATABASE_URL", database_url)
    monkeypatch.setenv("PAPERLESS_ENV", "development")
    monkeypatch.setenv("PAPERLESS_CHECKLISTS_DIR", str(PROJECT_ROOT / "checklists"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_demo_command_puts_the_newest_round_on_the_newest_version(demo_cli_env, client, session):
    """`paperless demo`: the older rounds on version 1, the newest round on the newest file (with hints for
    every item), the versions in between published too; and nothing a 所属 sees at × is placeholder text."""
    from app.cli import main

    done = CliRunner().invoke(main, ["demo", "--sections", "6", "--rounds", "2", "--seed", "5"])
    assert done.exit_code == 0, done.output
    newest = load_checklist(demo.version_files(PROJECT_ROOT / "checklists" / "paperless")[-1]).checklist
    published = [v.version for v in session.exec(select(ChecklistVersion).order_by(ChecklistVersion.version))]
    assert published == list(range(1, newest.version + 1))
    rounds = session.exec(select(Round).order_by(Round.opens_on)).all()
    assert [checklists.get_definition(session, r.checklist_version_id).version for r in rounds] == [1, newest.version]

    items = {i.key: i for _, i in newest.items}
    code = session.exec(  # a 所属 with an item at × in the newest round
        select(Unit.code).join(Sheet, Sheet.unit_id == Unit.id).join(Answer, Answer.sheet_id == Sheet.id)
        .where(Sheet.round_id == rounds[1].id, Answer.status == "×").order_by(Unit.code)
    ).first()
    session.commit()  # ends the test's transaction: the pages below write (sign-in)
    assert code, "the demo has no item at × to look at"
    sign_in(client, f"member.{code}@demo.example")
    api = client.get(f"/api/v1/rounds/{rounds[1].id}/sections/{code}/sheet")
    weak = [i for i in api.json()["items"] if i["answer"]["status"] == "×"]
    assert weak
    assert all(i["hints"] == list(items[i["item_key"]].hints) and i["links"] for i in weak)  # the JSON has them too
    sheet = client.get(f"/rounds/{rounds[1].id}/sections/{code}").text
    trend = client.get(f"/sections/{code}/trend").text
    for i in weak:
        assert items[i["item_key"]].hints[0] in sheet and items[i["item_key"]].hints[0] in trend
    for page in (sheet, trend):
        assert "まだ登録されていません" not in page and "参考リンクはありません" not in page
    url = next(link.url for link in items[weak[0]["item_key"]].links if link.url)
    assert f'<a href="{url}" target=_blank>' in sheet
    assert f'<a href="{url}" target="_blank" rel="noopener">' in trend
    assert "（外部サイト・新しいウィンドウで開きます）" in sheet and "（外部サイト・新しいウィンドウで開きます）" in trend


# --- a version uploaded through the browser (issue 11) --------------------------------------------------------

THIRD = NEW.replace("version: 2", "version: 3").replace("新しい文言", "ブラウザから直した文言")


def upload_file(client, token, content: bytes, name: str = "v3.yaml"):
    return client.post("/admin/checklists/upload", data={"csrf_token": token},
                       files={"file": (name, content, "application/yaml")})


def test_admin_uploads_a_new_version_sees_the_same_diff_and_publishes_it(hand_client, session):
    import re

    token = sign_in(hand_client, "admin@test.example")
    page = hand_client.get("/admin/checklists").text
    assert '<label for="f-file">チェックシートのファイル（YAML）' in page and 'action="/admin/checklists/upload"' in page
    # the server has v1 published and v2 as a file: the upload (v3) is compared with v1, the newest published
    preview = upload_file(hand_client, token, THIRD.encode())
    assert preview.status_code == 200
    for text in ("アップロード: v3.yaml", "追加される項目（1）", "brand.new", "ブラウザから直した文言", "第3版を公開する",
                 'action="/admin/checklists/publish-upload"'):
        assert text in preview.text, text
    assert session.exec(select(ChecklistVersion.version)).all() == [1]  # a preview changes nothing
    session.commit()
    form = dict(re.findall(r'<input type="hidden" name="(data|filename|sha256)" value="([^"]*)"', preview.text))
    tampered = base64.b64encode(THIRD.replace("brand.new", "brand.newer").encode()).decode()
    stale = hand_client.post("/admin/checklists/publish-upload", data={"csrf_token": token, **form, "data": tampered})
    assert stale.status_code == 409 and "確認した後に変更されています" in stale.text
    done = hand_client.post("/admin/checklists/publish-upload", data={"csrf_token": token, **form})
    assert done.status_code == 303 and done.headers["location"].startswith("/admin/checklists?published=")
    session.expire_all()
    [v3] = session.exec(select(ChecklistVersion).where(ChecklistVersion.version == 3)).all()
    assert v3.source == THIRD and "ブラウザから直した文言" in [i.text for i in checklists.get_definition(session, v3.id).items]
    session.commit()
    again = hand_client.post("/admin/checklists/publish-upload", data={"csrf_token": token, **form})
    assert again.status_code == 409  # already published
    older = upload_file(hand_client, token, NEW.encode(), "v2.yaml")  # v2 after v3: refused in the preview
    assert "第3版まで公開済みです" in older.text and "を公開する" not in older.text


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "ファイルが空です"),
    (b"\xff\xfe\x00bad", "UTF-8 で保存してください"),
    (b"id: x\nversion: [\n", "YAMLとして読めません"),
    (THIRD.replace("difficulty: 3", "difficulty: 9").encode(), "difficulty"),
    (b"# " + b"x" * publishing.UPLOAD_MAX_BYTES, "ファイルが大きすぎます（500KBまで）"),
])
def test_a_bad_upload_is_refused_at_the_field_and_nothing_is_published(hand_client, session, content, problem):
    token = sign_in(hand_client, "admin@test.example")
    response = upload_file(hand_client, token, content)
    assert response.status_code == 422
    html = response.text
    assert 'aria-describedby="file-hint file-error"' in html and 'aria-invalid="true"' in html
    error = html[html.index('id="file-error"'):]
    assert "は公開できる形になっていません" in error[:400] and problem in error[:2000]
    assert session.exec(select(ChecklistVersion.version)).all() == [1]
    session.commit()


def test_an_upload_without_a_file_or_with_a_broken_form_is_refused(hand_client):
    token = sign_in(hand_client, "admin@test.example")
    missing = hand_client.post("/admin/checklists/upload", data={"csrf_token": token})
    assert missing.status_code == 422 and "YAMLファイルを選んでください。" in missing.text
    broken = hand_client.post("/admin/checklists/publish-upload", data={"csrf_token": token, "data": "%%%",
                                                                       "filename": "x", "sha256": "0"})
    assert broken.status_code == 422 and "送信された内容が壊れています" in broken.text
