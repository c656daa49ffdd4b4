"""The desk's SVG charts: well-formed XML, labelled (title and desc), symbols beside colours, no
inline style, for empty and full data — standalone and as the pages embed them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from app.charts import distribution, stacked
from app.scoring.rules import FiveNumbers, ItemCounts
from tests import factories
from tests.conftest import sign_in

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))  # noqa: S314 (our own output)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text and title.text.strip()
    assert desc is not None and desc.text and desc.text.strip()
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "style=" not in str(markup)  # the CSP forbids inline styles
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


FULL = [("1. 資料を電子でも保管している", ItemCounts(excellent=5, good=3, fair=2, not_done=4, not_applicable=1,
                                              unanswered=5)),
        ("2. とても長いチェック項目の文章が入っても切り詰めて表示されることを確かめるための項目", ItemCounts(good=1))]


@pytest.mark.parametrize("rows", [[], [("1. 項目", ItemCounts())], FULL], ids=["no-items", "no-sections", "full"])
def test_stacked_bars_are_well_formed_with_a_symbol_legend(rows):
    root = parse(stacked.status_shares(rows, title="弱い項目 <テスト>", desc="説明 & 補足"))
    labels = texts(root)
    for entry in ("◎ 60%以上", "× 未対応", "該 該当なし", "未 未回答"):
        assert entry in labels
    assert root.find(f"{SVG}title").text == "弱い項目 <テスト>"


def test_stacked_bars_write_the_symbol_on_wide_segments_and_shorten_long_labels():
    root = parse(stacked.status_shares(FULL, title="t", desc="d"))
    labels = texts(root)
    assert labels.count("◎") == 1 and labels.count("×") == 1 and labels.count("○") == 2
    assert any(label.endswith("…") for label in labels)
    tooltips = [t.text for t in root.iter(f"{SVG}title")][1:]
    assert tooltips[0].startswith("1. 資料を電子でも保管している: ◎ 5（25.0%）")


@pytest.mark.parametrize("counts", [[0] * 10, [1, 0, 0, 1, 2, 0, 0, 0, 0, 1], [300, 2000, 0, 0, 0, 0, 0, 0, 0, 7]])
def test_histogram_is_well_formed_for_empty_and_full_data(counts):
    bins = [(f"{i * 10}〜", n) for i, n in enumerate(counts)]
    root = parse(distribution.histogram(bins, title="分布", desc="説明"))
    labels = texts(root)
    tooltips = [t.text for t in root.iter(f"{SVG}title")][1:]
    assert tooltips == [f"{i * 10}〜: {n}所属" for i, n in enumerate(counts)]
    bars = [g for g in root.iter(f"{SVG}g")]
    assert [g.find(f"{SVG}text").text for g in bars] == [str(n) for n in counts]  # the count on each bar
    if not any(counts):
        assert "回答のある所属がありません" in labels


def test_box_plot_is_well_formed_for_empty_and_full_data():
    parse(distribution.boxplot([], title="箱ひげ", desc="説明"))
    rows = [("P部", FiveNumbers(0.0, 33.3, 40.0, 46.7, 100.0), 44.0, 5), ("E部", None, None, 0),
            ("とても長い名前の部局事務局のそのまた下", FiveNumbers(50.0, 50.0, 50.0, 50.0, 50.0), 50.0, 1)]
    root = parse(distribution.boxplot(rows, title="箱ひげ", desc="説明"))
    labels = texts(root)
    assert "回答なし" in labels and "n=5" in labels and "n=0" in labels


def test_the_pages_embed_well_formed_charts(client, session):
    dw = factories.build_desk_world(session)
    sign_in(client, "desk@test.example")
    for round_id in (dw.round.id, dw.empty_round.id):
        for path, expected in (("/desk/weak-items", 1), ("/desk/distribution", 2)):
            html = client.get(f"{path}?round={round_id}").text
            charts = re.findall(r'<svg class="chart.*?</svg>', html, flags=re.S)
            assert len(charts) == expected, path
            for chart in charts:
                parse(chart)
            assert "<table" in html  # the data table beside the chart


def test_a_chart_is_drawn_once_per_distinct_input_and_again_for_other_figures():
    """The box plot and the histogram are kept, keyed by their figures (app.charts.svg.drawn_once): the same
    figures give the same SVG without drawing again; any other figure, label or title draws anew."""
    from app.charts import svg

    drawn: list[tuple] = []

    @svg.drawn_once
    def chart(rows, *, title: str, desc: str = ""):
        drawn.append((rows, title, desc))
        return svg.frame(10, 10, title, desc or "-", [svg.text(0, 0, value) for _, value in rows])

    five = FiveNumbers(1.0, 2.0, 3.0, 4.0, 5.0)
    first = chart([("A", 1)], title="t")
    assert chart([("A", 1)], title="t") is first and len(drawn) == 1
    assert ">1.0<" in str(chart([("A", 1.0)], title="t"))  # 1.0 is not 1: drawn again
    chart([("A", 1)], title="u")
    chart([("A", 1)], title="t", desc="d")
    chart([("B", 1)], title="t")
    chart([("A", five)], title="t")
    chart([("A", FiveNumbers(1.0, 2.0, 3.0, 4.0, 5.5))], title="t")
    assert len(drawn) == 7
    for n in range(svg.DRAWN_KEPT):  # only the last DRAWN_KEPT are kept
        chart([("A", n + 100)], title="t")
    chart([("A", 1)], title="t")
    assert len(drawn) == 7 + svg.DRAWN_KEPT + 1
    assert distribution.boxplot.__wrapped__ is not distribution.boxplot  # the desk's charts are kept
    assert distribution.histogram.__wrapped__ is not distribution.histogram


def test_the_weak_items_chart_is_drawn_once_per_distinct_figures():
    """Kept, keyed by the figures themselves: the same figures give the same drawing without drawing it
    again; any other count is another drawing (nothing can go stale)."""
    rows = [("1. 紙資料を配っていない", ItemCounts(1, 2, 3, 4, 0, 5))]
    first = stacked.status_shares(rows, title="弱い項目", desc="全庁")
    assert stacked.status_shares(list(rows), title="弱い項目", desc="全庁") is first
    moved = stacked.status_shares([("1. 紙資料を配っていない", ItemCounts(2, 2, 3, 4, 0, 5))], title="弱い項目",
                                  desc="全庁")
    assert moved != first and 'width="' in moved
    assert stacked.status_shares(rows, title="弱い項目", desc="部局") != first
