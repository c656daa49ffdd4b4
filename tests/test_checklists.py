"""Checklist definition files: the seed loads exactly; each kind of broken file says what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.checklists.loader import ChecklistDefinitionError, load_checklist, load_directory, parse_checklist
from app.config import PROJECT_ROOT, ConfigError
from app.statuses import Status
from tests.conftest import make_settings

V1 = PROJECT_ROOT / "checklists" / "paperless" / "v1.yaml"

VALID = """\
id: demo
version: 1
title: テスト
legend:
  difficulty: {1: やりやすい, 2: ちょっと難しい, 3: 相手次第}
  status: {◎: 60%以上, ○: 60～30%程度, △: 30%以下, ×: 未対応}
categories:
  - name: 会議
    items:
      - key: meeting.one
        scene: 庁内
        text: 一つめ
        difficulty: 1
      - key: meeting.two
        scene: 庁外
        text: 二つめ
        difficulty: 3
"""


def test_seed_sheet_has_the_six_items_exactly_as_the_prefecture_wrote_them():
    checklist = load_checklist(V1).checklist
    rows = [(c.name, i.scene, i.text, i.difficulty, [link.label for link in i.links], i.allow_na)
            for c, i in checklist.items]
    link_meeting = "リンク集>働き方改革・女性活躍推進室>働き方改革ラボ>ペーパーレス会議のすすめ"
    assert rows == [
        ("所属内", "日常", "資料を電子でも保管している", 1, [], False),
        ("所属内", "日常", "個人用（メモ、資料の保管）に紙を印刷していない", 2, [], False),
        ("打合せ", "所属打合せ", "打合せをペーパーレスで行っている", 1, [link_meeting], False),
        ("打合せ", "部局打合せ", "部局幹部との打合せをペーパーレスで行っている", 1, [link_meeting], False),
        ("会議", "庁内の会議", "紙資料を配っていない", 1, [], True),
        ("会議", "外部の方との会議等", "資料の事前配布やタブレットを活用している", 3,
         ["掲示板>〇（デ推）会議用タブレット端末の貸出開始について"], True),
    ]
    assert checklist.title == "ペーパーレス化状況チェックシート"
    assert checklist.legend.heading == "だいたいの目安"
    assert checklist.legend.difficulty == {3: "相手次第", 2: "ちょっと難しい", 1: "やりやすい"}
    assert {s.value: label for s, label in checklist.legend.status.items()} == {
        "◎": "60%以上", "○": "60～30%程度", "△": "30%以下", "×": "未対応"}
    assert checklist.points == {Status.EXCELLENT: 3, Status.GOOD: 2, Status.FAIR: 1, Status.NOT_DONE: 0}


def test_every_checklist_file_loads_with_unique_keys():
    loaded = load_directory(PROJECT_ROOT / "checklists")
    assert loaded, "no checklist files"
    for entry in loaded:
        keys = [i.key for _, i in entry.checklist.items]
        assert len(keys) == len(set(keys))


def test_published_versions_are_unchanged():
    """SHA256SUMS lists every published file; editing one is refused (publish a new version instead)."""
    sums = (PROJECT_ROOT / "checklists" / "SHA256SUMS").read_text().split("\n")
    for line in filter(None, sums):
        digest, path = line.split(maxsplit=1)
        assert hashlib.sha256((PROJECT_ROOT / path).read_bytes()).hexdigest() == digest, f"{path} was changed"


def broken(text: str) -> str:
    with pytest.raises(ChecklistDefinitionError) as info:
        parse_checklist(text.encode("utf-8"), display_path="checklists/demo/v1.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("difficulty: 3", "difficulty: 4"), ["checklists/demo/v1.yaml", "「meeting.two」", "difficulty", "1, 2, 3"]),
        (("      - key: meeting.two\n", "      - key: meeting.one\n"), ["key「meeting.one」が重複"]),
        (("        text: 二つめ\n", ""), ["「meeting.two」", "text がありません"]),
        (("        scene: 庁外\n", "        scene: 庁外\n        colour: red\n"), ["「meeting.two」", "colour", "使えない項目名"]),
        (("key: meeting.two", "key: Meeting Two"), ["「Meeting Two」", "key の形式が違います"]),
        (("version: 1", "version: one"), ["version", "整数"]),
        (("categories:", "points: {◎: 3, ○: 2, △: 1}\ncategories:"), ["points", "× の点数がありません"]),
        (("categories:", "points: {◎: 1, ○: 2, △: 1, ×: 0}\ncategories:"), ["points", "◎ の点数を最も高く"]),
        (("  status: {◎: 60%以上, ○: 60～30%程度, △: 30%以下, ×: 未対応}", "  status: {◎: 60%以上}"),
         ["legend.status", "○ △ × の説明がありません"]),
        (("title: テスト", "title: テスト\n  bad: [indent"), ["YAMLとして読めません"]),
    ],
)
def test_broken_file_names_the_file_the_item_and_the_field(change, expected):
    old, new = change
    assert old in VALID
    message = broken(VALID.replace(old, new))
    for part in expected:
        assert part in message, message


def test_empty_or_non_utf8_files_are_refused():
    assert "中身が空" in broken("")
    with pytest.raises(ChecklistDefinitionError, match="UTF-8"):
        parse_checklist("id: x".encode("cp932") + b"\x82\xa0", display_path="x.yaml")


def test_a_directory_with_one_broken_file_does_not_half_load(tmp_path: Path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "v1.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "demo" / "v2.yaml").write_text(VALID.replace("version: 1", "version: 2").replace("difficulty: 3", "difficulty: 9"),
                                               encoding="utf-8")
    with pytest.raises(ChecklistDefinitionError, match="v2.yaml"):
        load_directory(tmp_path)


def test_two_files_with_the_same_version_are_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ChecklistDefinitionError, match="重複"):
        load_directory(tmp_path)


def test_app_refuses_to_start_with_a_broken_checklist_file(tmp_path: Path, database_url):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "v1.yaml").write_text(VALID.replace("difficulty: 3", "difficulty: 0"), encoding="utf-8")
    from app.main import create_app

    with pytest.raises(ChecklistDefinitionError, match=r"demo/v1.yaml.*meeting.two.*difficulty"):
        create_app(make_settings(database_url, checklists_dir=tmp_path))


def test_dev_sign_in_is_refused_in_production(database_url):
    from app.main import create_app

    with pytest.raises(ConfigError, match="PAPERLESS_AUTH=dev"):
        create_app(make_settings(database_url, env="production"))
