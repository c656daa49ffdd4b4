"""One page of the quick wins' ranking (``service.rank_window``) is the whole ranking cut at that page: the
page and the JSON rank only the priority the page falls in, and count the ones before it."""

from __future__ import annotations

import pytest

from app.reports import service
from app.scoring import rules
from app.statuses import Status

# (sheet id, maturity, ☆ items at △, ☆ items at ×) in organisation order, as figures.quick_win_tallies gives them
TALLIES = [(10, 50.0, 1, 1), (11, 60.0, 2, 1), (12, 30.0, 1, 1), (13, 30.0, 1, 1), (14, None, 0, 3), (15, 0.0, 0, 1),
           (16, 0.0, 4, 0), (17, 12.5, 2, 2)]


def rows(window) -> list[tuple[int, int, str, int]]:
    """Every row of some runs: (priority, index of the sheet, its statuses, its place in the run)."""
    return [(value, index, "".join(sorted(statuses)), n) for value, index, statuses, first, last in window
            for n in range(first, last)]


@pytest.mark.parametrize("points", [rules.DEFAULT_POINTS,
                                    {Status.EXCELLENT: 2, Status.GOOD: 1, Status.FAIR: 0, Status.NOT_DONE: 0}])
@pytest.mark.parametrize("per_page", [1, 2, 3, 5, 50])
def test_a_page_of_the_ranking_is_the_whole_ranking_cut_at_the_page(points, per_page):
    total = service.quick_win_rows(TALLIES)
    assert total == sum(fair + not_done for *_, fair, not_done in TALLIES) == 21
    whole = rows(service.rank_window(TALLIES, points, 0, total))
    assert len(whole) == total
    for offset in range(0, total + per_page, per_page):
        window = service.rank_window(TALLIES, points, offset, per_page)
        assert rows(window) == whole[offset:offset + per_page], offset
        assert all(first < last for *_, first, last in window)  # no run of the page without a row on it


def test_the_whole_ranking_puts_more_quick_wins_then_lower_maturity_then_organisation_order_first():
    whole = service.rank_window(TALLIES, rules.DEFAULT_POINTS, 0, 21)
    assert [(value, TALLIES[index][0], last - first) for value, index, _, first, last in whole] == [
        (9, 17, 2), (9, 14, 3), (9, 11, 1), (9, 12, 1), (9, 13, 1), (9, 10, 1), (9, 15, 1),
        (6, 16, 4), (6, 17, 2), (6, 11, 2), (6, 12, 1), (6, 13, 1), (6, 10, 1)]
