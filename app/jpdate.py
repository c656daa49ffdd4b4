"""Pure helpers for Japanese dates: era (和暦) formatting and the April-to-March fiscal year (年度)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

# (first day, era name), newest first.
_ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
)


def era_year(d: date) -> tuple[str, int]:
    for start, name in _ERAS:
        if d >= start:
            return name, d.year - start.year + 1
    raise ValueError(f"{d} is before 昭和")


def _year_label(n: int) -> str:
    return "元" if n == 1 else str(n)


def wareki(d: date | datetime | None) -> str:
    """令和7年11月29日 (元年 for the first year of an era). Datetimes are shown in Japan time."""
    if d is None:
        return ""
    if isinstance(d, datetime):
        d = to_jst(d).date()
    era, n = era_year(d)
    return f"{era}{_year_label(n)}年{d.month}月{d.day}日"


def wareki_datetime(dt: datetime | None) -> str:
    """令和7年11月29日 14:05 in Japan time."""
    if dt is None:
        return ""
    local = to_jst(dt)
    return f"{wareki(local.date())} {local:%H:%M}"


def fiscal_year_of(d: date) -> int:
    """The fiscal year (年度) a date falls in: April 2025 to March 2026 is FY2025."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_label(fy: int) -> str:
    """令和7年度 for FY2025. The era is the one in force on 1 May, so FY2019 is 令和元年度 (as the
    government names it) while FY1988 stays 昭和63年度."""
    era, n = era_year(date(fy, 5, 1))
    return f"{era}{_year_label(n)}年度"


def to_jst(dt: datetime) -> datetime:
    if dt.tzinfo is None:  # stored as UTC without zone (SQLite)
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(JST)


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_jst() -> date:
    return now_utc().astimezone(JST).date()


def days_left(deadline: date, today: date | None = None) -> int:
    """Days from today (JST) to a deadline: 0 on the day itself, negative once it has passed."""
    return (deadline - (today or today_jst())).days


def deadline_note(deadline: date, today: date | None = None) -> str:
    """「締切まであと5日」, 「本日締切」 or 「締切を3日過ぎています」 (JST)."""
    n = days_left(deadline, today)
    if n > 0:
        return f"締切まであと{n}日"
    if n == 0:
        return "本日締切"
    return f"締切を{-n}日過ぎています"
