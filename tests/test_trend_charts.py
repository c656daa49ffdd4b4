"""The leader page's SVG charts: well-formed, labelled (title and desc), for empty and full data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.charts.trend import CategoryBar, LineSeries, category_bars, line_chart

NS = "{http://www.w3.org/2000/svg}"


def parse(svg) -> ET.Element:
    root = ET.fromstring(str(svg))  # noqa: S314 — our own output
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    title, desc = root.find(f"{NS}title"), root.find(f"{NS}desc")
    assert title is not None and title.text and desc is not None and desc.text
    labelled = root.get("aria-labelledby").split()
    assert labelled == [title.get("id"), desc.get("id")]
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{NS}text")]


def test_an_empty_line_chart_says_there_is_no_data():
    root = parse(line_chart([], [], title="総務課 成熟度の推移", desc="まだありません"))
    assert "まだ調査回の結果がありません。" in texts(root)
    assert root.find(f"{NS}polyline") is None


@pytest.mark.parametrize("rounds", [2, 12])
def test_a_full_line_chart_draws_each_series_with_its_own_marker_and_legend(rounds):
    labels = [(f"令和{n}年度", "第1回") for n in range(1, rounds + 1)]
    values = [10.0 * (n % 10) for n in range(rounds)]
    series = [
        LineSeries("総務課（この所属）", values, "section", [n == 0 for n in range(rounds)], show_values=True),
        LineSeries("文書課（統合前の所属）", [50.0] + [None] * (rounds - 1), "predecessor"),
        LineSeries("部局平均（経営管理部）", [None] * rounds, "bureau"),
        LineSeries("全庁の中央値 <&>", [60.0] * rounds, "prefecture"),
    ]
    root = parse(line_chart(labels, series, title="総務課 <成熟度> & 推移", desc="説明 \"引用\""))
    words = texts(root)
    for label in ("総務課（この所属）", "文書課（統合前の所属）", "部局平均（経営管理部）", "全庁の中央値 <&>",
                  "白抜きの点：名称変更・移管前の同じ所属"):
        assert label in words
    assert f"{values[1]:.1f}" in words  # the 所属's own values are written on the chart
    assert len(root.findall(f"{NS}polyline")) == 2  # the 所属 and the median; the empty 部局 line draws nothing
    assert root.find(f"{NS}title").text == "総務課 <成熟度> & 推移"


def test_a_line_with_a_gap_is_drawn_in_pieces():
    series = [LineSeries("この所属", [40.0, 50.0, None, 70.0, 80.0], "section")]
    root = parse(line_chart([("R", str(n)) for n in range(5)], series, title="t", desc="d"))
    assert len(root.findall(f"{NS}polyline")) == 2


def test_an_empty_category_chart_says_there_is_no_data():
    root = parse(category_bars([], title="カテゴリ別", desc="まだありません"))
    assert "まだ調査回の結果がありません。" in texts(root)


def test_a_full_category_chart_writes_every_value_beside_its_bar():
    rows = [CategoryBar("所属内", 50.0, 66.7, 62.5, 75.0), CategoryBar("会議", None, 100.0),
            CategoryBar("打合せ", 33.3, None, None, 40.0)]
    root = parse(category_bars(rows, title="カテゴリ別", desc="所属内 66.7点", before_label="前回（令和6年度 第1回）",
                               after_label="今回（令和7年度 第1回）"))
    words = texts(root)
    assert {"所属内", "会議", "打合せ", "前回 50.0", "今回 66.7", "今回 100.0", "前回 33.3"} <= set(words)
    assert "今回 —（回答なし）" in words and "前回 —（回答なし）" in words
    assert {"前回（令和6年度 第1回）", "今回（令和7年度 第1回）", "部局平均（今回）", "全庁の中央値（今回）"} <= set(words)
