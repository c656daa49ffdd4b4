"""Stacked 100% bars: for each item, the share of ◎ ○ △ × 該当なし and unanswered among the 所属.

Every segment wide enough carries its status symbol, and the legend repeats symbol, colour and
meaning, so the chart does not depend on colour. The page puts the same numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from app.charts.svg import GRID, INK, STATUS_FILL, UNANSWERED_FILL, drawn_once, esc, frame, text
from app.scoring.rules import SHARE_ORDER, ItemCounts
from app.statuses import STATUS_LABELS, Status

WIDTH = 800
LABEL_W = 300
BAR_X = LABEL_W + 10
BAR_W = WIDTH - BAR_X - 20
ROW_H = 26
BAR_H = 18
TOP = 56  # legend above the bars
LABEL_CHARS = 24

SYMBOL = {**{s: s.value for s in Status}, Status.NOT_APPLICABLE: "該", None: "未"}
LEGEND_TEXT = {**{s: f"{s.value} {STATUS_LABELS[s]}" for s in Status}, Status.NOT_APPLICABLE: "該 該当なし",
               None: "未 未回答"}
# Text on a segment: white on the dark blue, black elsewhere (contrast ≥ 4.5:1, as in app.css).
SYMBOL_FILL = {Status.EXCELLENT: "#ffffff"}


def _fill(status: Status | None) -> str:
    return UNANSWERED_FILL if status is None else STATUS_FILL[status]


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def text_width(value: str, size: int) -> float:
    """Rough advance width: full-width (CJK, symbols) characters are 1 em, others about 0.6 em."""
    return sum(size if ord(c) > 0x2000 else size * 0.6 for c in value)


def legend(y: float) -> list[str]:
    parts, x = [], 0.0
    for status in SHARE_ORDER:
        parts.append(f'<rect x="{x:.1f}" y="{y - 12:.1f}" width="16" height="16" fill="{_fill(status)}" '
                     f'stroke="{INK}" stroke-width="1"/>')
        parts.append(text(x + 21, y + 1, LEGEND_TEXT[status], size=12))
        x += 21 + text_width(LEGEND_TEXT[status], 12) + 14
    return parts


@drawn_once
def status_shares(rows: Sequence[tuple[str, ItemCounts]], *, title: str, desc: str) -> Markup:
    """One bar per (label, counts), in the order given. Drawn once per distinct figures (svg.drawn_once):
    the weak-items page's 40 bars took 0.6 ms a request, the figures' repr as the key 0.04 ms."""
    height = TOP + max(len(rows), 1) * ROW_H + 30
    body = legend(20)
    if not rows:
        body.append(text(WIDTH / 2, TOP + 16, "表示する項目がありません", anchor="middle", size=14))
    for index, (label, counts) in enumerate(rows):
        y = TOP + index * ROW_H
        whole = counts.sections
        body.append(f"<g><title>{esc(label)}: " + esc(_summary(counts)) + "</title>")
        body.append(text(LABEL_W, y + BAR_H - 4, _short(label), size=12, anchor="end"))
        body.append(f'<rect x="{BAR_X}" y="{y}" width="{BAR_W}" height="{BAR_H}" fill="{UNANSWERED_FILL}" '
                    f'stroke="{GRID}"/>')
        x = float(BAR_X)
        for status in SHARE_ORDER:
            n = counts.count(status)
            if not whole or not n:
                continue
            w = BAR_W * n / whole
            body.append(f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{BAR_H}" fill="{_fill(status)}" '
                        f'stroke="{INK}" stroke-width="0.5"/>')
            if w >= 16:
                body.append(text(x + w / 2, y + BAR_H - 4, SYMBOL[status], size=12, anchor="middle",
                                 fill=SYMBOL_FILL.get(status, INK), weight="bold"))
            x += w
        body.append("</g>")
    axis_y = TOP + max(len(rows), 1) * ROW_H + 2
    for pct in (0, 25, 50, 75, 100):
        x = BAR_X + BAR_W * pct / 100
        body.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="{GRID}" '
                    f'stroke-dasharray="2 3"/>')
        body.append(text(x, axis_y + 14, f"{pct}%", size=11, anchor="middle"))
    return frame(WIDTH, height, title, desc, body, css_class="chart chart--stacked")


def _summary(counts: ItemCounts) -> str:
    whole = counts.sections or 1
    return " ".join(f"{SYMBOL[s]} {counts.count(s)}（{counts.count(s) / whole * 100:.1f}%）"
                    for s in SHARE_ORDER)
