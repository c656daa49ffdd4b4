"""Reading figures and months as people write them (pure: no database, no clock — ``today`` is passed).

Counts: full-width digits (１２３), thousands separators (1,234 / １，２３４), a trailing unit (1,234枚),
Excel's 1234.0. Refused with a message: negative numbers (-5, －5, ▲5, △5), text, fractions, misplaced
separators. Months: 2026-04, 2026/4, 2026年4月, 令和8年4月, R8.4, 令和元年5月, 平成31年4月, 202604, and a day
after the month (2026/4/1, an Excel date). Refused: a month that has not come yet, an unknown era year.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from app.jpdate import era_year

MAX_VALUE = 10**12
EARLIEST = date(2000, 4, 1)

_NEGATIVE = ("-", "−", "‐", "‑", "–", "—", "▲", "△", "▼")
_PLAIN = re.compile(r"[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(,[0-9]{3})+")
_ERAS = {"令和": (2018, date(2019, 5, 1)), "r": (2018, date(2019, 5, 1)),
         "平成": (1988, date(1989, 1, 8)), "h": (1988, date(1989, 1, 8))}
_ISO = re.compile(r"(?P<y>[0-9]{4})\s*(?:[-/.]|年)\s*(?P<m>[0-9]{1,2})\s*(?:月)?(?:\s*(?:[-/.])?\s*[0-9]{1,2}\s*日?)?"
                  r"(?:[ T][0-9:.]+)?")
_COMPACT = re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})")
_ERA = re.compile(r"(?P<era>令和|平成|r|h)\s*(?P<y>[0-9]{1,2}|元)\s*(?:[-/.]|年)\s*(?P<m>[0-9]{1,2})\s*(?:月)?"
                  r"(?:\s*(?:[-/.])?\s*[0-9]{1,2}\s*日?)?")


class ParseError(ValueError):
    """What is wrong with a value, in Japanese, for the person who typed it."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def normalise(text: str) -> str:
    """Full-width letters, digits and punctuation as ASCII (NFKC), spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_count(text: str | int | float | None, *, unit: str = "") -> int | None:
    """A non-negative whole number, or None for an empty cell."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ParseError("数字で入力してください（例: 1,234）。")
    if isinstance(text, int):
        return _checked(text)
    if isinstance(text, float):
        if text != text or text in (float("inf"), float("-inf")):
            raise ParseError("数字で入力してください（例: 1,234）。")
        if not text.is_integer():
            raise ParseError("小数は入力できません。整数で入力してください。")
        return _checked(int(text))
    value = normalise(text).replace(" ", "")
    if value == "":
        return None
    if unit and value.endswith(normalise(unit)):
        value = value[: -len(normalise(unit))]
    if value.startswith(_NEGATIVE):
        raise ParseError("マイナスの値は入力できません。0以上の数を入力してください。")
    if value.startswith("+"):
        value = value[1:]
    whole, dot, fraction = value.partition(".")
    if dot and (not fraction.isascii() or not fraction.isdigit()):
        raise ParseError("数字で入力してください（例: 1,234）。")
    if dot and fraction.strip("0"):
        raise ParseError("小数は入力できません。整数で入力してください。")
    if _PLAIN.fullmatch(whole):
        return _checked(int(whole))
    if _GROUPED.fullmatch(whole):
        return _checked(int(whole.replace(",", "")))
    if re.fullmatch(r"[0-9,]+", whole):
        raise ParseError("桁区切りのカンマの位置が正しくありません（例: 12,345）。")
    raise ParseError("数字で入力してください（例: 1,234）。文字は入力できません。")


def _checked(value: int) -> int:
    if value < 0:
        raise ParseError("マイナスの値は入力できません。0以上の数を入力してください。")
    if value >= MAX_VALUE:
        raise ParseError("値が大きすぎます。桁を確認してください。")
    return value


def parse_month(text: str | date | None, *, today: date) -> date:
    """The first day of the month written, not after ``today``'s month."""
    if text is None:
        raise ParseError("月を入力してください（例: 令和8年4月、2026年4月）。")
    month = date(text.year, text.month, 1) if isinstance(text, date) else _read_month(normalise(text).lower())
    if month > date(today.year, today.month, 1):
        raise ParseError(f"{month_label(month)}はまだ来ていない月です。今月までの月を入力してください。")
    if month < EARLIEST:
        raise ParseError(f"{month_label(EARLIEST)}より前の月は入力できません。")
    return month


def _read_month(value: str) -> date:
    if value == "":
        raise ParseError("月を入力してください（例: 令和8年4月、2026年4月）。")
    found = _ERA.fullmatch(value)
    if found:
        offset, start = _ERAS[found["era"]]
        n = 1 if found["y"] == "元" else int(found["y"])
        month = _month(offset + n, int(found["m"]))
        era = "令和" if found["era"] in ("令和", "r") else "平成"
        if n < 1 or month < date(start.year, start.month, 1) or (era == "平成" and month >= date(2019, 5, 1)):
            raise ParseError(f"{era}{found['y']}年{found['m']}月という月はありません。年と月を確認してください。")
        return month
    found = _ISO.fullmatch(value) or _COMPACT.fullmatch(value)
    if found:
        return _month(int(found["y"]), int(found["m"]))
    raise ParseError("月の書き方が分かりません（例: 令和8年4月、2026年4月、2026-04）。")


def _month(year: int, month: int) -> date:
    if not 1 <= month <= 12:
        raise ParseError(f"{month}月という月はありません。1〜12で入力してください。")
    return date(year, month, 1)


def month_label(month: date) -> str:
    """令和8年4月."""
    era, n = era_year(month)
    return f"{era}{'元' if n == 1 else n}年{month.month}月"


def month_iso(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def fmt(value: float | None, unit: str = "") -> str:
    """1,234 for counts, 95.3 for ratios and per-employee figures; — for none."""
    if value is None:
        return "—"
    shown = f"{value:,.0f}" if float(value).is_integer() and unit != "%" else f"{value:,.1f}"
    return f"{shown}{unit}"
