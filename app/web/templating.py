"""The Jinja2 environment: one instance, with filters for Japanese dates, statuses and assets."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined, Undefined
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup

from app.config import PROJECT_ROOT
from app.jpdate import days_left, deadline_note, fiscal_year_label, to_jst, wareki, wareki_datetime
from app.scoring.rules import DIFFICULTY_LABELS, PROGRESS_LABELS, difficulty_stars, progress_of
from app.statuses import STATUS_LABELS, Status

TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"

# Status → CSS class (colour) — the symbol is always shown as well.
STATUS_CLASSES = {
    Status.EXCELLENT: "st-excellent",
    Status.GOOD: "st-good",
    Status.FAIR: "st-fair",
    Status.NOT_DONE: "st-none",
    Status.NOT_APPLICABLE: "st-na",
}


_ESCAPED_NON_ASCII = re.compile(r"(?:%[89A-Fa-f][0-9A-Fa-f])+")  # a run of percent-encoded bytes over 0x7F


def _unescape(match: re.Match) -> str:
    escaped = match.group(0)
    try:
        text = bytes.fromhex(escaped.replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:
        return escaped
    return text if text.isprintable() and not any(c.isspace() for c in text) else escaped


@lru_cache(maxsize=1024)
def iri(url: str) -> str:
    """A link's address with the non-ASCII characters of its path, query and fragment written as they are
    instead of percent-encoded (「会議」, not %E4%BC%9A%E8%AD%B0: a third of the bytes). The browser encodes
    them again as UTF-8 when it follows the link: the same address. Escaped ASCII (%2F, %20…), a host, and
    anything that is not printable UTF-8 are left as written."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if not sep or not slash or "%" not in path:
        return url
    return f"{scheme}://{host}/{_ESCAPED_NON_ASCII.sub(_unescape, path)}"


@lru_cache(maxsize=256)
def _asset_hash(path: str) -> str:
    file = STATIC_DIR / path
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()[:10]
    except OSError:
        return "missing"


def asset(path: str) -> str:
    """URL of a static file with a content hash, so caches never serve a stale script or style."""
    return f"/static/{path}?v={_asset_hash(path)}"


def dom_id(key: str) -> str:
    """An HTML id fragment for an item key (keys may contain dots, which CSS selectors would misread)."""
    return key.replace(".", "_")


# Status → a one-letter class, where a page repeats it thousands of times (the sheet's options, the
# heatmap's cells); the same colours as STATUS_CLASSES.
STATUS_CODES = {"◎": "e", "○": "g", "△": "f", "×": "n", "該当なし": "a", None: "u"}


# The sheet row's status options as plain tuples (value, class, spoken label): the row loops over them
# 36 times a page, and a tuple costs the template nothing to unpack where an Enum's .value, a filter
# call and a dict lookup per option cost a tenth of the page.
_OPTIONS = tuple((s.value, STATUS_CODES[s.value] + (" wide" if s is Status.NOT_APPLICABLE else ""),
                  STATUS_LABELS[s]) for s in Status)
STATUS_OPTIONS = {True: _OPTIONS, False: tuple(o for o in _OPTIONS if o[0] != Status.NOT_APPLICABLE.value)}


# A status as a badge (colour class, symbol, and the label for screen readers), or 未回答: the same six
# snippets wherever one is shown, built once (the leader's trend page shows 120; through a macro each cost
# a call frame and three escapes). ``_macros/sheet.html``'s status_badge macro is this.
STATUS_BADGES: dict[str | None, Markup] = {
    None: Markup('<span class="badge st-unanswered">未回答</span>'),
    **{s.value: Markup('<span class="badge {}"><span aria-hidden="true">{}</span>'
                       '<span class="visually-hidden">{} {}</span></span>').format(
        STATUS_CLASSES[s], s.value, s.value, STATUS_LABELS[s]) for s in Status},
}


def status_badge(value: str | None) -> Markup:
    return STATUS_BADGES[value or None]


def status_code(value: str | None) -> str:
    return STATUS_CODES[value or None]


def status_class(value: str | None) -> str:
    return STATUS_CLASSES.get(Status(value), "") if value else "st-unanswered"


def hhmm(value) -> str:
    return to_jst(value).strftime("%H:%M") if value else ""


def fmt_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@lru_cache(maxsize=4)
def make_templates(strict: bool, reload: bool = True) -> Jinja2Blocks:
    """The template environment (one per strictness, shared by every app of the process, so that each
    template is compiled once). With ``reload`` (development) an edited template is picked up at once;
    without it a template is never looked at on disk again: checking costs a stat() of the template
    and of each one it extends or imports on every page (a tenth of the heatmap page's time)."""
    templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.auto_reload = reload
    env.undefined = StrictUndefined if strict else Undefined
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.filters.update(
        wareki=wareki,
        wareki_dt=wareki_datetime,
        fy=fiscal_year_label,
        stars=difficulty_stars,
        status_class=status_class,
        status_code=status_code,
        score=fmt_score,
        domid=dom_id,
        hhmm=hhmm,
        days_left=days_left,
        deadline_note=deadline_note,
        iri=iri,
    )
    env.globals.update(
        asset=asset,
        badge=status_badge,
        STATUSES=list(Status),
        STATUS_OPTIONS=STATUS_OPTIONS,  # [allows 該当なし] → (value, class, label) of each option
        STATUS_LABELS={s.value: label for s, label in STATUS_LABELS.items()},
        DIFFICULTY_LABELS=DIFFICULTY_LABELS,
        # the one status vocabulary of a sheet (未着手 / 入力中 / 提出済), as the desk's pages count them
        PROGRESS_LABELS=PROGRESS_LABELS,
        progress_of=progress_of,
    )
    return templates


def static_dir() -> Path:
    return STATIC_DIR
