"""Leader page charts: maturity over rounds (lines) and per category, latest round against the previous
one (grouped bars). Each series has its own colour *and* line pattern and marker shape; the page puts
a data table beside every chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from app.charts.svg import GRID, INK, drawn_once, esc, frame, text

SECTION_COLOUR = "#0072b2"  # blue
BUREAU_COLOUR = "#e69f00"  # orange
PREFECTURE_COLOUR = "#009e73"  # bluish green
PREDECESSOR_COLOURS = ("#cc79a7", "#000000", "#56b4e9", "#d55e00")
BEFORE_COLOUR = "#56b4e9"  # sky blue (lighter than the latest round's blue)

STYLES = {
    # kind: (colour, stroke width, dash pattern, marker)
    "section": (SECTION_COLOUR, 3, "", "circle"),
    "predecessor": (None, 2, "8 4", "square"),
    "bureau": (BUREAU_COLOUR, 2, "7 4", "diamond"),
    "prefecture": (PREFECTURE_COLOUR, 2, "2 4", "triangle"),
}


@dataclass
class LineSeries:
    label: str
    values: list[float | None]  # one per round (x position); None leaves a gap
    kind: str = "section"  # section | predecessor | bureau | prefecture
    hollow: list[bool] = field(default_factory=list)  # per point: drawn hollow (e.g. under an older name)
    show_values: bool = False


def _text_width(value: str, size: int = 12) -> float:
    return sum(size if ord(c) > 0x2E7F else size * 0.6 for c in value)


def _marker(shape: str, x: float, y: float, colour: str, *, hollow: bool = False, size: float = 5) -> str:
    fill = "#ffffff" if hollow else colour
    common = f'fill="{fill}" stroke="{colour}" stroke-width="2"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" {common}/>'
    if shape == "square":
        s = size * 0.9
        return f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" {common}/>'
    if shape == "diamond":
        s = size * 1.3
        return (f'<polygon points="{x:.1f},{y - s:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s:.1f} {x - s:.1f},{y:.1f}" '
                f'{common}/>')
    s = size * 1.2  # triangle
    return (f'<polygon points="{x:.1f},{y - s:.1f} {x + s:.1f},{y + s * 0.8:.1f} {x - s:.1f},{y + s * 0.8:.1f}" '
            f'{common}/>')


def _style(series: LineSeries, index: int) -> tuple[str, int, str, str]:
    colour, width, dash, marker = STYLES.get(series.kind, STYLES["section"])
    if colour is None:
        colour = PREDECESSOR_COLOURS[index % len(PREDECESSOR_COLOURS)]
    return colour, width, dash, marker


def _legend(entries: list[tuple[str, str, int, str, str, bool]], x0: float, y0: float, width: float
            ) -> tuple[list[str], float]:
    """Legend rows (line sample, marker, label), wrapped to ``width``; returns the parts and the height."""
    parts: list[str] = []
    x, y = x0, y0
    for label, colour, stroke, dash, marker, hollow in entries:
        needed = 40 + _text_width(label) + 18
        if x > x0 and x + needed > x0 + width:
            x, y = x0, y + 22
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 32:.1f}" y2="{y:.1f}" stroke="{colour}" '
                     f'stroke-width="{stroke}"{dash_attr}/>')
        parts.append(_marker(marker, x + 16, y, colour, hollow=hollow, size=4))
        parts.append(text(x + 38, y + 4, label, size=12))
        x += needed
    return parts, (y - y0) + 22


@drawn_once
def line_chart(rounds: Sequence[tuple[str, str]], series: Sequence[LineSeries], *, title: str, desc: str,
               empty_message: str = "まだ調査回の結果がありません。") -> Markup:
    """Maturity (0–100) over rounds. ``rounds`` are (first line, second line) labels, e.g. (令和7年度, 第1回)."""
    width, left, right, top = 760, 48, 24, 28
    plot_w = width - left - right
    plot_h = 220
    n = len(rounds)
    rotate = n > 8
    axis_h = 70 if rotate else 44
    entries = []
    for i, s in enumerate(series):
        colour, stroke, dash, marker = _style(s, i)
        entries.append((s.label, colour, stroke, dash, marker, False))
        if s.kind == "section" and any(s.hollow):
            entries.append(("白抜きの点：名称変更・移管前の同じ所属", colour, 0, "", marker, True))
    legend_parts, legend_h = _legend(entries, left, top + plot_h + axis_h + 14, plot_w)
    height = int(top + plot_h + axis_h + legend_h + 16)
    body: list[str] = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']

    def y_of(value: float) -> float:
        return top + plot_h - value / 100 * plot_h

    for tick in range(0, 101, 20):
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}" '
                    f'stroke-width="1"/>')
        body.append(text(left - 8, y + 4, tick, size=11, anchor="end"))
    body.append(text(left - 40, top - 12, "成熟度（点）", size=11))
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{INK}" stroke-width="1"/>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{INK}" '
                f'stroke-width="1"/>')
    if n == 0 or not any(v is not None for s in series for v in s.values):
        body.append(text(left + plot_w / 2, top + plot_h / 2, empty_message, size=14, anchor="middle"))
        return frame(width, height, title, desc, body, css_class="chart chart--line")

    step = plot_w / n

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    for i, (first, second) in enumerate(rounds):
        x = x_of(i)
        base = top + plot_h
        body.append(f'<line x1="{x:.1f}" y1="{base:.1f}" x2="{x:.1f}" y2="{base + 5:.1f}" stroke="{INK}"/>')
        if rotate:
            label = esc(f"{first} {second}".strip())
            body.append(f'<text x="{x:.1f}" y="{base + 16:.1f}" font-size="11" text-anchor="end" fill="{INK}" '
                        f'transform="rotate(-40 {x:.1f} {base + 16:.1f})">{label}</text>')
        else:
            body.append(text(x, base + 18, first, size=12, anchor="middle"))
            if second:
                body.append(text(x, base + 34, second, size=12, anchor="middle"))

    occupied: dict[int, list[float]] = {}  # x index → marker heights, to keep value labels clear of them
    for s in series:
        for j, value in enumerate(s.values):
            if value is not None:
                occupied.setdefault(j, []).append(y_of(value))

    for i, s in enumerate(series):
        colour, stroke, dash, marker = _style(s, i)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        runs: list[list[str]] = []
        for j, value in enumerate(s.values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{x_of(j):.1f},{y_of(value):.1f}")
        if run:
            runs.append(run)
        for points in runs:
            if len(points) > 1:
                body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                            f'stroke-width="{stroke}"{dash_attr} stroke-linejoin="round"/>')
        for j, value in enumerate(s.values):
            if value is None:
                continue
            hollow = bool(s.hollow[j]) if j < len(s.hollow) else False
            body.append(_marker(marker, x_of(j), y_of(value), colour, hollow=hollow))
            if s.show_values:
                y = y_of(value)
                crowded = any(y - 24 < other < y - 0.5 for other in occupied.get(j, [])) or y - 10 < top + 4
                body.append(text(x_of(j), y + 20 if crowded else y - 10, f"{value:.1f}", size=12, anchor="middle",
                                 weight="bold"))
    body.extend(legend_parts)
    return frame(width, height, title, desc, body, css_class="chart chart--line")


@dataclass
class CategoryBar:
    name: str
    before: float | None
    after: float | None
    bureau: float | None = None  # the 部局 average in the latest round (None: withheld or none)
    prefecture: float | None = None  # the prefecture median in the latest round


@drawn_once
def category_bars(rows: Sequence[CategoryBar], *, title: str, desc: str, before_label: str = "前回",
                  after_label: str = "今回", empty_message: str = "まだ調査回の結果がありません。") -> Markup:
    """Per category, two bars (前回 and 今回: the previous and the latest round, named in full in the
    legend) with their values written at the end, and ticks for the 部局 average and the prefecture
    median of the latest round."""
    width, label_w, right = 760, 150, 80
    plot_w = width - label_w - right
    bar_h, gap = 16, 18
    row_h = bar_h * 2 + 4 + gap
    has_before = any(r.before is not None for r in rows)
    has_bureau = any(r.bureau is not None for r in rows)
    has_pref = any(r.prefecture is not None for r in rows)
    entries: list[tuple[str, str, str | None]] = []  # (label, colour, tick marker or None for a box)
    if has_before:
        entries.append((before_label, BEFORE_COLOUR, None))
    entries.append((after_label, SECTION_COLOUR, None))
    if has_bureau:
        entries.append(("部局平均（今回）", BUREAU_COLOUR, "diamond"))
    if has_pref:
        entries.append(("全庁の中央値（今回）", PREFECTURE_COLOUR, "triangle"))
    legend: list[str] = []
    x, y = 10.0, 20.0
    for label, colour, shape in entries:
        needed = 20 + _text_width(label) + 18
        if x > 10 and x + needed > width - 10:
            x, y = 10.0, y + 22
        if shape is None:
            legend.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="14" height="12" fill="{colour}" '
                          f'stroke="{INK}" stroke-width="0.5"/>')
        else:
            legend.append(f'<line x1="{x + 7:.1f}" y1="{y - 14:.1f}" x2="{x + 7:.1f}" y2="{y + 6:.1f}" '
                          f'stroke="{colour}" stroke-width="2"/>')
            legend.append(_marker(shape, x + 7, y - 4, colour, size=4))
        legend.append(text(x + 20, y, label, size=12))
        x += needed
    plot_top = y + 24
    height = int(plot_top + max(1, len(rows)) * row_h + 30)
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>', *legend]

    def x_of(value: float) -> float:
        return label_w + value / 100 * plot_w

    for tick in range(0, 101, 20):
        gx = x_of(tick)
        body.append(f'<line x1="{gx:.1f}" y1="{plot_top - 4}" x2="{gx:.1f}" y2="{height - 24}" stroke="{GRID}" '
                    f'stroke-width="1"/>')
        body.append(text(gx, height - 8, tick, size=11, anchor="middle"))
    if not rows or not any(r.after is not None or r.before is not None for r in rows):
        body.append(text(label_w + plot_w / 2, plot_top + row_h / 2, empty_message, size=14, anchor="middle"))
        return frame(width, height, title, desc, body, css_class="chart chart--bars")
    for i, row in enumerate(rows):
        y0 = plot_top + i * row_h
        body.append(text(label_w - 10, y0 + bar_h + 6, row.name, size=13, anchor="end", weight="bold"))
        bars = ([("前回", row.before, BEFORE_COLOUR)] if has_before else []) + [
            ("今回", row.after, SECTION_COLOUR)]
        for k, (label, value, colour) in enumerate(bars):
            y = y0 + k * (bar_h + 4) + (0 if has_before else (bar_h + 4) / 2)
            if value is None:
                body.append(text(x_of(0) + 4, y + bar_h - 4, f"{label} —（回答なし）", size=11))
                continue
            body.append(f'<rect x="{x_of(0):.1f}" y="{y:.1f}" width="{max(value / 100 * plot_w, 1):.1f}" '
                        f'height="{bar_h}" fill="{colour}" stroke="{INK}" stroke-width="0.5"/>')
            body.append(text(x_of(value) + 4, y + bar_h - 3, f"{label} {value:.1f}", size=11))
        for value, colour, shape in ((row.bureau, BUREAU_COLOUR, "diamond"),
                                     (row.prefecture, PREFECTURE_COLOUR, "triangle")):
            if value is None:
                continue
            mx = x_of(value)
            body.append(f'<line x1="{mx:.1f}" y1="{y0 - 4:.1f}" x2="{mx:.1f}" y2="{y0 + 2 * bar_h + 8:.1f}" '
                        f'stroke="{colour}" stroke-width="2"/>')
            body.append(_marker(shape, mx, y0 - 4, colour, size=4))
    return frame(width, height, title, desc, body, css_class="chart chart--bars")
