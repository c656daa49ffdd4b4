"""Primitives shared by the chart modules: the palette, escaping, and the <svg> frame."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import wraps
from html import escape

from markupsafe import Markup

from app.statuses import Status

# Okabe–Ito (colour-blind safe). Status colours match static/css/app.css.
STATUS_FILL = {
    Status.EXCELLENT: "#0072b2",
    Status.GOOD: "#56b4e9",
    Status.FAIR: "#f0e442",
    Status.NOT_DONE: "#d55e00",
    Status.NOT_APPLICABLE: "#bbbbbb",
}
UNANSWERED_FILL = "#ffffff"
SERIES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")
INK = "#1a1a1a"
GRID = "#d9d9d9"


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def frame(width: int, height: int, title: str, desc: str, body: Iterable[str], *, css_class: str = "chart") -> Markup:
    """A complete <svg>: scalable (viewBox), labelled for assistive technology (role=img, title, desc)."""
    uid = hashlib.sha1(f"{title}|{desc}|{width}|{height}".encode(), usedforsecurity=False).hexdigest()[:8]
    parts = [
        f'<svg class="{esc(css_class)}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="t{uid} d{uid}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">',
        f'<title id="t{uid}">{esc(title)}</title>',
        f'<desc id="d{uid}">{esc(desc)}</desc>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 — every value above went through esc()


def text(x: float, y: float, value: object, *, size: int = 12, anchor: str = "start", fill: str = INK,
         weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}">{esc(value)}</text>')


DRAWN_KEPT = 32  # charts kept per drawing function (a distribution's box plot is about 60 KB)


def drawn_once(draw: Callable[..., Markup]) -> Callable[..., Markup]:
    """A chart function that draws each distinct input once: the SVG is kept, keyed by the ``repr`` of
    every argument (the figures themselves: strings, numbers, None, lists and tuples, dataclasses of
    them), the last ``DRAWN_KEPT`` of them. Nothing can go stale: other figures are another key. A desk
    page of 129 部局 draws its box plot in a few milliseconds; between two changes of the round's
    figures every request asks for the same one."""
    kept: OrderedDict[str, Markup] = OrderedDict()
    lock = threading.Lock()

    @wraps(draw)
    def drawn(*args, **kwargs) -> Markup:
        key = repr((args, sorted(kwargs.items())))
        with lock:
            svg = kept.get(key)
            if svg is not None:
                kept.move_to_end(key)
                return svg
        svg = draw(*args, **kwargs)
        with lock:
            kept[key] = svg
            while len(kept) > DRAWN_KEPT:
                kept.popitem(last=False)
        return svg

    drawn.cache_clear = kept.clear  # type: ignore[attr-defined]
    return drawn
