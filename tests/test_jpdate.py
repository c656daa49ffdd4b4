from datetime import UTC, date, datetime

import pytest

from app.jpdate import fiscal_year_label, fiscal_year_of, wareki, wareki_datetime


@pytest.mark.parametrize(("d", "expected"), [
    (date(2025, 11, 29), "令和7年11月29日"),
    (date(2019, 5, 1), "令和元年5月1日"),
    (date(2019, 4, 30), "平成31年4月30日"),
    (date(1989, 1, 8), "平成元年1月8日"),
    (date(1989, 1, 7), "昭和64年1月7日"),
    (date(2026, 4, 1), "令和8年4月1日"),
])
def test_wareki(d, expected):
    assert wareki(d) == expected


def test_datetimes_are_shown_in_japan_time():
    # 2025-11-28 15:30 UTC is 2025-11-29 00:30 in Japan.
    moment = datetime(2025, 11, 28, 15, 30, tzinfo=UTC)
    assert wareki(moment) == "令和7年11月29日"
    assert wareki_datetime(moment) == "令和7年11月29日 00:30"


@pytest.mark.parametrize(("d", "fy"), [
    (date(2026, 3, 31), 2025), (date(2026, 4, 1), 2026), (date(2026, 11, 29), 2026), (date(2027, 1, 5), 2026),
])
def test_fiscal_year_starts_in_april(d, fy):
    assert fiscal_year_of(d) == fy


@pytest.mark.parametrize(("fy", "label"), [(2025, "令和7年度"), (2026, "令和8年度"), (2019, "令和元年度"),
                                           (2018, "平成30年度"), (1988, "昭和63年度")])
def test_fiscal_year_label(fy, label):
    assert fiscal_year_label(fy) == label


def test_days_left_and_the_deadline_note_count_calendar_days_in_japan():
    from app.jpdate import days_left, deadline_note

    today = date(2026, 6, 25)
    assert days_left(date(2026, 6, 30), today) == 5
    assert deadline_note(date(2026, 6, 30), today) == "締切まであと5日"
    assert deadline_note(date(2026, 6, 25), today) == "本日締切"
    assert deadline_note(date(2026, 6, 22), today) == "締切を3日過ぎています"
