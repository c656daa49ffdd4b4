"""Measured figures (実績値) by month: this fiscal year against the last, and the target if any. Each series
has its own colour, line pattern and marker shape (colour is never the only signal); the page puts a data
table beside the chart."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup

from app.charts.svg import GRID, INK, frame, text
from app.charts.trend import BEFORE_COLOUR, PREFECTURE_COLOUR, SECTION_COLOUR, LineSeries, _legend, _marker

STYLES = {
    # kind: (colour, stroke width, dash pattern, marker)
    "this": (SECTION_COLOUR, 3, "", "circle"),
    "last": (BEFORE_COLOUR, 2, "7 4", "square"),
    "target": (PREFECTURE_COLOUR, 2, "2 4", "triangle"),
}


def nice_max(value: float) -> float:
    """The top of the axis: 1, 2, 2.5 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:,.1f}"


def month_lines(months: Sequence[str], series: Sequence[LineSeries], *, unit: str, title: str, desc: str,
                empty_message: str = "まだ値がありません。") -> Markup:
    """Lines over ``months`` (labels, e.g. 4月 … 3月). Series kinds: this | last | target."""
    width, left, right, top = 760, 72, 24, 28
    plot_w, plot_h = width - left - right, 200
    axis_h = 30
    entries = [(s.label, *STYLES.get(s.kind, STYLES["this"]), False) for s in series]
    legend_parts, legend_h = _legend(entries, left, top + plot_h + axis_h + 14, plot_w)
    height = int(top + plot_h + axis_h + legend_h + 16)
    body: list[str] = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    values = [v for s in series for v in s.values if v is not None]
    top_value = nice_max(max(values) if values else 0)

    def y_of(value: float) -> float:
        return top + plot_h - value / top_value * plot_h

    for i in range(5):
        tick = top_value * i / 4
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>')
        body.append(text(left - 8, y + 4, _tick(tick), size=11, anchor="end"))
    body.append(text(8, top - 12, f"（{unit}）", size=11))
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{INK}" stroke-width="1"/>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{INK}" '
                'stroke-width="1"/>')
    step = plot_w / max(len(months), 1)

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    for i, label in enumerate(months):
        body.append(text(x_of(i), top + plot_h + 18, label, size=12, anchor="middle"))
    if not values:
        body.append(text(left + plot_w / 2, top + plot_h / 2, empty_message, size=14, anchor="middle"))
        body.extend(legend_parts)
        return frame(width, height, title, desc, body, css_class="chart chart--line")
    for s in series:
        colour, stroke, dash, marker = STYLES.get(s.kind, STYLES["this"])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        for j, value in enumerate([*s.values, None]):
            if value is None:
                if len(run) > 1:
                    body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                                f'stroke-width="{stroke}"{dash_attr} stroke-linejoin="round"/>')
                run = []
                continue
            run.append(f"{x_of(j):.1f},{y_of(value):.1f}")
        for j, value in enumerate(s.values):
            if value is not None:
                body.append(_marker(marker, x_of(j), y_of(value), colour))
    body.extend(legend_parts)
    return frame(width, height, title, desc, body, css_class="chart chart--line")
