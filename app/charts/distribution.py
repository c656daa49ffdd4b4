"""Score distribution: a histogram over all 所属 and a box plot per 部局 (horizontal, 0–100 points).

Both carry their numbers as text too (bar counts, n per row), and the page adds a data table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from app.charts.svg import GRID, INK, SERIES, drawn_once, esc, frame, text
from app.scoring.rules import FiveNumbers

BAR_FILL = SERIES[0]  # blue
BOX_FILL = "#cfe6f5"  # light blue; the box edges and the median are drawn in ink
MEAN_FILL = SERIES[1]  # orange


def _nice_max(value: int) -> int:
    """An axis maximum ≥ value with round ticks: 1, 2, 5 × 10^n (at least 5)."""
    top = max(value, 5)
    step = 1
    while True:
        for m in (1, 2, 5):
            if top <= m * step * 5:
                return m * step * 5
        step *= 10


@drawn_once
def histogram(bins: Sequence[tuple[str, int]], *, title: str, desc: str) -> Markup:
    """Vertical bars, one per (label, count); labels under the bars, counts on top of them."""
    width, height = 720, 320
    left, right, top, bottom = 56, 16, 24, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max((n for _, n in bins), default=0))
    body: list[str] = []
    for k in range(6):
        value = y_max * k / 5
        y = top + plot_h - plot_h * k / 5
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(text(left - 6, y + 4, f"{value:g}", size=11, anchor="end"))
    body.append(text(left - 6, top - 10, "所属数", size=12, anchor="end"))
    slot = plot_w / max(len(bins), 1)
    for index, (label, count) in enumerate(bins):
        h = plot_h * count / y_max
        x = left + index * slot
        body.append(f'<g><title>{esc(label)}: {count}所属</title>')
        body.append(f'<rect x="{x + 4:.1f}" y="{top + plot_h - h:.1f}" width="{slot - 8:.1f}" '
                    f'height="{h:.1f}" fill="{BAR_FILL}" stroke="{INK}" stroke-width="0.5"/>')
        body.append(text(x + slot / 2, top + plot_h - h - 4, count, size=12, anchor="middle", weight="bold"))
        body.append("</g>")
        body.append(text(x, top + plot_h + 16, index * 10, size=11, anchor="middle"))
    body.append(text(left + plot_w, top + plot_h + 16, 100, size=11, anchor="middle"))
    axis_y = top + plot_h
    body.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="{INK}"/>')
    body.append(text(left + plot_w / 2, height - 16, "成熟度（点）", size=12, anchor="middle"))
    if not any(n for _, n in bins):
        body.append(text(left + plot_w / 2, top + plot_h / 2, "回答のある所属がありません", size=14, anchor="middle"))
    return frame(width, height, title, desc, body, css_class="chart chart--histogram")


@drawn_once
def boxplot(rows: Sequence[tuple[str, FiveNumbers | None, float | None, int]], *, title: str,
            desc: str) -> Markup:
    """One horizontal box per (name, five numbers, mean, n); rows without values say so."""
    width = 800
    label_w, right, top, row_h = 190, 70, 44, 28
    plot_w = width - label_w - right
    height = top + max(len(rows), 1) * row_h + 36

    def sx(value: float) -> float:
        return label_w + plot_w * value / 100

    body: list[str] = [
        f'<rect x="{label_w}" y="6" width="24" height="14" fill="{BOX_FILL}" stroke="{INK}"/>',
        text(label_w + 30, 18, "四分位範囲（箱）・中央値（縦線）・最小〜最大（ひげ）", size=12),
        f'<path d="M {label_w + 420} 7 l 6 6 l -6 6 l -6 -6 z" fill="{MEAN_FILL}" stroke="{INK}"/>',
        text(label_w + 432, 18, "平均", size=12),
    ]
    axis_bottom = top + max(len(rows), 1) * row_h
    for value in range(0, 101, 20):
        x = sx(value)
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{axis_bottom}" stroke="{GRID}"/>')
        body.append(text(x, axis_bottom + 14, value, size=11, anchor="middle"))
    body.append(text(label_w + plot_w / 2, axis_bottom + 30, "成熟度（点）", size=12, anchor="middle"))
    if not rows:
        body.append(text(width / 2, top + 16, "表示する部局がありません", size=14, anchor="middle"))
    for index, (name, five, mean, n) in enumerate(rows):
        y = top + index * row_h
        mid = y + row_h / 2
        label = name if len(name) <= 14 else name[:13] + "…"
        body.append(f"<g><title>{esc(name)}: " + esc(_summary(five, mean, n)) + "</title>")
        body.append(text(label_w - 8, mid + 4, label, size=12, anchor="end"))
        body.append(text(width - right + 8, mid + 4, f"n={n}", size=11))
        if five is None:
            body.append(text(sx(50), mid + 4, "回答なし", size=12, anchor="middle", fill="#595959"))
            body.append("</g>")
            continue
        body.append(f'<line x1="{sx(five.minimum):.1f}" y1="{mid}" x2="{sx(five.maximum):.1f}" y2="{mid}" '
                    f'stroke="{INK}" stroke-width="1.5"/>')
        for whisker in (five.minimum, five.maximum):
            body.append(f'<line x1="{sx(whisker):.1f}" y1="{mid - 6}" x2="{sx(whisker):.1f}" y2="{mid + 6}" '
                        f'stroke="{INK}" stroke-width="1.5"/>')
        box_w = max(sx(five.q3) - sx(five.q1), 1)
        body.append(f'<rect x="{sx(five.q1):.1f}" y="{mid - 9}" width="{box_w:.1f}" height="18" '
                    f'fill="{BOX_FILL}" stroke="{INK}"/>')
        med = sx(five.median)
        body.append(f'<line x1="{med:.1f}" y1="{mid - 9}" x2="{med:.1f}" y2="{mid + 9}" '
                    f'stroke="{INK}" stroke-width="3"/>')
        if mean is not None:
            body.append(f'<path d="M {sx(mean):.1f} {mid - 6} l 6 6 l -6 6 l -6 -6 z" fill="{MEAN_FILL}" '
                        f'stroke="{INK}"/>')
        body.append("</g>")
    return frame(width, height, title, desc, body, css_class="chart chart--box")


def _summary(five: FiveNumbers | None, mean: float | None, n: int) -> str:
    if five is None:
        return f"回答のある所属なし（{n}所属）"
    return (f"最小 {five.minimum} 第1四分位 {five.q1} 中央値 {five.median} 第3四分位 {five.q3} "
            f"最大 {five.maximum} 平均 {mean}（{n}所属）")
