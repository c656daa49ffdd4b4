"""The figure definition files (kpis/<id>/v<N>.yaml): every file loads, links real checklist items, and a
broken file is refused naming the file, the figure and the field."""

from __future__ import annotations

import hashlib

import pytest

from app.checklists.loader import load_directory as load_checklists
from app.config import PROJECT_ROOT
from app.kpis.loader import KpiDefinitionError, check_items, keys_of, load_directory, load_kpis, parse_kpis

GOOD = """\
id: demo
version: 1
title: 実績値
checklist: paperless
headcount: staff.count
figures:
  - key: print.copies
    name: 複合機の印刷・コピー枚数
    unit: 枚
    period: monthly
    direction: lower
    per_employee: true
    source: 複合機の管理システム
    items: [office.daily.minimal-printing]
  - key: approvals.total
    name: 決裁件数
    unit: 件
    period: monthly
    source: 文書管理システム
  - key: approvals.electronic
    name: 電子決裁件数
    unit: 件
    period: monthly
    source: 文書管理システム
  - key: approvals.paper-required
    name: 紙が必要な決裁件数
    unit: 件
    period: monthly
    source: 所属
  - key: approvals.rate
    name: 電子決裁率
    unit: "%"
    period: monthly
    direction: higher
    formula:
      numerator: approvals.electronic
      denominator: approvals.total
      subtract: [approvals.paper-required]
      exclusions: 法令等で紙が必要な文書を除く
    source: 計算
  - key: staff.count
    name: 職員数
    unit: 人
    period: yearly
    source: 人事
"""


def checklist_keys():
    return keys_of(load_checklists(PROJECT_ROOT / "checklists"))


def test_every_definition_file_loads_and_links_real_checklist_items():
    loaded = load_directory(PROJECT_ROOT / "kpis", checklist_keys=checklist_keys())
    assert loaded, "no figure definition files"
    names = {f.name for entry in loaded for f in entry.kpis.figures}
    for wanted in ("コピー用紙購入枚数", "複合機の印刷・コピー枚数", "FAX送信件数", "FAX受信件数", "電子決裁率",
                   "電子決裁率（紙が必要な文書を除く）", "押印を求める手続の数", "オンライン化した手続の割合", "職員数"):
        assert wanted in names
    paper = next(e for e in loaded if e.kpis.id == "paper").kpis
    rate = paper.by_key["approvals.electronic-rate-excl"]
    assert rate.formula.exclusions == "法令等で紙が必要な文書を除く"
    assert rate.formula.subtract == ("approvals.paper-required",)
    assert paper.by_key["fax.sent"].items == ("external.fax.no-fax",)
    assert all(f.source for f in paper.figures)


def test_published_definition_versions_are_unchanged():
    """kpis/SHA256SUMS lists every published file; editing one is refused (add the next version instead)."""
    sums = [line for line in (PROJECT_ROOT / "kpis" / "SHA256SUMS").read_text().split("\n") if line]
    assert sums
    for line in sums:
        digest, path = line.split(maxsplit=1)
        assert hashlib.sha256((PROJECT_ROOT / path).read_bytes()).hexdigest() == digest, f"{path} was changed"


def broken(text: str) -> str:
    with pytest.raises(KpiDefinitionError) as info:
        parse_kpis(text.encode("utf-8"), display_path="kpis/demo/v1.yaml")
    return str(info.value)


def test_the_good_example_loads():
    kpis = parse_kpis(GOOD.encode(), display_path="kpis/demo/v1.yaml").kpis
    assert [f.key for f in kpis.entered] == ["print.copies", "approvals.total", "approvals.electronic",
                                             "approvals.paper-required", "staff.count"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("period: yearly", "period: weekly"), ["kpis/demo/v1.yaml", "「staff.count」", "period は monthly"]),
        (("direction: lower", "direction: down"), ["「print.copies」", "direction は lower"]),
        (("  - key: approvals.electronic\n", "  - key: approvals.total\n"), ["key「approvals.total」が重複"]),
        (("    source: 人事\n", ""), ["「staff.count」", "source がありません"]),
        (("      exclusions: 法令等で紙が必要な文書を除く\n", ""), ["「approvals.rate」", "exclusions に何を除くか"]),
        (("numerator: approvals.electronic", "numerator: approvals.nothing"), ["「approvals.nothing」がこのファイルにありません"]),
        (("headcount: staff.count", "headcount: approvals.rate"), ["headcount「approvals.rate」"]),
        (("headcount: staff.count\n", ""), ["per_employee ですが、headcount"]),
        (("    per_employee: true\n", "    per_employee: true\n    colour: red\n"), ["colour", "使えない項目名"]),
        (("key: print.copies", "key: Print Copies"), ["「Print Copies」", "形式が違います"]),
    ],
)
def test_a_broken_file_names_the_figure_and_the_field(change, expected):
    old, new = change
    assert old in GOOD
    message = broken(GOOD.replace(old, new, 1))
    for part in expected:
        assert part in message, message


def test_a_ratio_of_a_different_period_is_refused():
    text = GOOD.replace("  - key: approvals.paper-required\n    name: 紙が必要な決裁件数\n    unit: 件\n    period: monthly",
                        "  - key: approvals.paper-required\n    name: 紙が必要な決裁件数\n    unit: 件\n    period: yearly")
    assert "period が違います" in broken(text)


def test_linked_items_must_exist_in_the_checklist():
    loaded = parse_kpis(GOOD.replace("office.daily.minimal-printing", "office.daily.no-such-item").encode(),
                        display_path="kpis/demo/v1.yaml")
    with pytest.raises(KpiDefinitionError, match="office.daily.no-such-item"):
        check_items(loaded, checklist_keys())
    with pytest.raises(KpiDefinitionError, match="checklist「other」"):
        check_items(parse_kpis(GOOD.replace("checklist: paperless", "checklist: other").encode(),
                               display_path="kpis/demo/v1.yaml"), checklist_keys())


def test_the_file_name_must_match_the_id_and_version(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "v2.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(KpiDefinitionError, match="kpis/demo/v1.yaml"):
        load_kpis(folder / "v2.yaml")


def test_a_broken_definition_file_stops_start_up(tmp_path, settings):
    from app.main import create_app

    folder = tmp_path / "kpis" / "demo"
    folder.mkdir(parents=True)
    (folder / "v1.yaml").write_text(GOOD.replace("period: yearly", "period: weekly"), encoding="utf-8")
    with pytest.raises(KpiDefinitionError, match="staff.count"):
        create_app(settings.model_copy(update={"kpis_dir": tmp_path / "kpis"}))


def test_docs_define_every_default_figure_with_its_name():
    docs = (PROJECT_ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    for entry in load_directory(PROJECT_ROOT / "kpis"):
        for figure in entry.kpis.figures:
            assert f"| `{figure.key}` | {figure.name} |" in docs, figure.key
