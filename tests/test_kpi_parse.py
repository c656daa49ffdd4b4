"""Figures and months read as people write them (app/kpis/parse.py, pure)."""

from __future__ import annotations

from datetime import date

import pytest

from app.kpis.parse import ParseError, month_label, parse_count, parse_month

TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(("text", "expected"), [
    ("123", 123), ("１２３", 123), ("1,234", 1234), ("１，２３４", 1234), ("12,345,678", 12345678),
    (" 42 ", 42), ("1,234枚", 1234), ("１２３４枚", 1234), ("1234.0", 1234), ("0", 0), ("+5", 5),
    ("", None), ("　", None), (None, None), (7, 7), (12.0, 12),
])
def test_counts_are_read_as_people_write_them(text, expected):
    assert parse_count(text, unit="枚") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("-5", "マイナス"), ("－５", "マイナス"), ("−5", "マイナス"), ("▲5", "マイナス"), ("△5", "マイナス"), (-1, "マイナス"),
    ("多い", "数字で入力"), ("12a", "数字で入力"), ("1e5", "数字で入力"), ("1.5", "小数"), (2.5, "小数"),
    ("12,34", "桁区切り"), ("1,2345", "桁区切り"), ("10000000000000", "大きすぎ"), (True, "数字で入力"),
])
def test_bad_counts_are_refused_with_the_reason(text, message):
    with pytest.raises(ParseError) as info:
        parse_count(text, unit="枚")
    assert message in info.value.message


@pytest.mark.parametrize(("text", "expected"), [
    ("令和8年4月", date(2026, 4, 1)), ("令和８年４月", date(2026, 4, 1)), ("R8.4", date(2026, 4, 1)),
    ("r08/04", date(2026, 4, 1)), ("令和元年5月", date(2019, 5, 1)), ("平成31年4月", date(2019, 4, 1)),
    ("H30.10", date(2018, 10, 1)), ("2026年4月", date(2026, 4, 1)), ("２０２６年４月", date(2026, 4, 1)),
    ("2026-04", date(2026, 4, 1)), ("2026/4", date(2026, 4, 1)), ("2026/4/1", date(2026, 4, 1)),
    ("2026/04/01 0:00:00", date(2026, 4, 1)), ("202604", date(2026, 4, 1)), ("令和8年12月", date(2026, 12, 1)),
    (date(2026, 3, 31), date(2026, 3, 1)),
])
def test_months_are_read_in_wareki_and_western_years(text, expected):
    assert parse_month(text, today=TODAY) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("令和9年1月", "まだ来ていない月"), ("2027-01", "まだ来ていない月"), (date(2027, 1, 1), "まだ来ていない月"),
    ("令和元年4月", "という月はありません"), ("平成31年5月", "という月はありません"), ("2026年13月", "13月"),
    ("来月", "書き方が分かりません"), ("", "月を入力"), ("1999-04", "より前の月"),
])
def test_bad_months_are_refused_with_the_reason(text, message):
    with pytest.raises(ParseError) as info:
        parse_month(text, today=TODAY)
    assert message in info.value.message


def test_month_labels_are_wareki():
    assert month_label(date(2026, 4, 1)) == "令和8年4月"
    assert month_label(date(2019, 5, 1)) == "令和元年5月"
    assert month_label(date(2019, 4, 1)) == "平成31年4月"
