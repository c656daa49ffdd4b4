"""Scoring on hand-worked examples, and the SQL rollups agreeing with the reference tally."""

from __future__ import annotations

import random

import pytest
from sqlmodel import select

from app.scoring.rules import (
    Change,
    ItemCounts,
    Tally,
    change,
    completion,
    group,
    maturity,
    maturity_change,
    progress,
    share,
    tally,
)
from app.sheets import figures
from app.sheets.models import Answer
from app.statuses import Status, parse_status
from tests import factories as f

E, G, F_, X, NA = Status.EXCELLENT, Status.GOOD, Status.FAIR, Status.NOT_DONE, Status.NOT_APPLICABLE


def test_all_unanswered_has_no_maturity_and_zero_completion():
    t = tally([None, None, None])
    assert (t.maturity, t.completion, t.unanswered) == (None, 0.0, 3)


def test_one_of_each_status():
    t = tally([E, G, F_, X])  # 3+2+1+0 = 6 of 12
    assert (t.points, t.answered, t.maturity, t.completion) == (6, 4, 50.0, 100.0)


def test_not_applicable_and_unanswered_are_left_out_of_the_score():
    t = tally([E, NA, None])
    assert t.maturity == 100.0
    assert t.completion == 66.7  # (1 answered + 1 該当なし) / 3
    assert (t.answered, t.not_applicable, t.unanswered) == (1, 1, 1)


def test_a_checklist_may_override_the_points():
    points = {E: 4, G: 2, F_: 1, X: 0}
    t = tally([E, G], points)
    assert t.max_points == 4 and t.maturity == 75.0  # 6 / (4 × 2)


def test_formulas_directly():
    assert maturity(0, 0) is None
    assert maturity(5, 2) == 83.3
    assert completion(0, 0, 0) == 0.0
    assert completion(2, 1, 6) == 50.0
    assert (completion(1, 0, 1), completion(0, 1, 1), completion(0, 0, 1)) == (100.0, 100.0, 0.0)  # a sheet of one item


@pytest.mark.parametrize(("raw", "status"), [("◎", E), ("〇", G), ("○", G), ("o", G), ("△", F_), ("×", X),
                                             ("x", X), ("✕", X), ("該当なし", NA), (" ◎ ", E), ("", None), (None, None)])
def test_parse_status_accepts_lookalikes(raw, status):
    assert parse_status(raw) is status


def test_parse_status_refuses_anything_else_with_a_message():
    with pytest.raises(ValueError, match="◎ ○ △ × 該当なし"):
        parse_status("☆")


def test_progress_of_a_sheet():
    assert progress(False, Tally(6, 0, 0, 0)).value == "not_started"
    assert progress(False, Tally(6, 0, 1, 0)).value == "in_progress"
    assert progress(True, Tally(6, 6, 0, 12)).value == "submitted"


def test_stored_sheet_figures_match_the_reference_tally(session, world):
    rng = random.Random(7)
    choices = [None, E, G, F_, X]
    expected, sheets = {}, {}
    for unit in (world.a1, world.a2, world.b1):
        sheet = f.sheet_of(session, world.round.id, unit)
        keys = session.exec(select(Answer.item_key).where(Answer.sheet_id == sheet.id).order_by(Answer.id)).all()
        chosen = {key: rng.choice(choices + ([NA] if key.startswith("meeting.") else [])) for key in keys}
        f.set_answers(session, world.round.id, unit, {k: s.value if s else None for k, s in chosen.items()})
        expected[unit.code] = tally(chosen.values())
        sheets[unit.code] = sheet.id
    session.commit()
    got = {code: figures.sheet_score(session, sheet_id).overall for code, sheet_id in sheets.items()}
    assert got == expected


def test_every_not_applicable_is_counted():
    t = tally([NA, NA, NA, E, None])
    assert (t.not_applicable, t.answered, t.unanswered, t.completion, t.maturity) == (3, 1, 1, 80.0, 100.0)


@pytest.mark.parametrize(("before", "after", "kwargs", "expected"), [
    (F_, G, {}, Change.IMPROVED),
    (X, E, {}, Change.IMPROVED),
    (E, F_, {}, Change.REGRESSED),
    (G, G, {}, Change.UNCHANGED),
    (X, X, {}, Change.UNCHANGED),
    (None, G, {}, Change.NOT_COMPARABLE),
    (G, NA, {}, Change.NOT_COMPARABLE),
    (G, G, {"in_before": False}, Change.NEW_ITEM),
    (G, G, {"in_after": False}, Change.REMOVED_ITEM),
])
def test_change_between_rounds(before, after, kwargs, expected):
    assert change(before, after, **kwargs) is expected


def test_an_items_group_maturity_uses_the_checklists_own_points():
    counts = ItemCounts(excellent=1, good=1, fair=0, not_done=0)
    points = {E: 4, G: 2, F_: 1, X: 0}  # a checklist may set its own points; the top is 4 here
    assert counts.maturity() == round(5 / 6 * 100, 1)
    assert counts.maturity(points) == 75.0  # (4 + 2) / (4 × 2)


@pytest.mark.parametrize(("before", "after", "expected"), [
    (50.0, 50.4, Change.IMPROVED),  # a rise of less than one point still counts
    (50.0, 49.9, Change.REGRESSED),
    (40.0, 40.04, Change.UNCHANGED),  # below 0.1 point: the same figure as shown
    (None, 50.0, Change.NOT_COMPARABLE),
    (50.0, None, Change.NOT_COMPARABLE),
])
def test_maturity_change_between_rounds(before, after, expected):
    assert maturity_change(before, after) is expected


def test_share_of_a_whole_of_one_and_a_suppressed_group_keeps_its_counts():
    assert (share(1, 1), share(0, 1), share(1, 3), share(0, 0)) == (100.0, 0.0, 33.3, 0.0)
    hidden = group(5, 3, 1500, None, suppressed=True)
    assert (hidden.sections, hidden.scored, hidden.suppressed) == (5, 3, True)


def test_a_groups_mean_is_over_the_sections_with_a_maturity_and_shown_unless_suppressed():
    from app.scoring.rules import FiveNumbers

    five = FiveNumbers(40.0, 50.0, 60.0, 70.0, 80.0)
    shown = group(6, 4, 2345, five, completion=50.0)  # 4 所属 with a maturity, 234.5 points in all
    assert (shown.sections, shown.scored, shown.mean, shown.five, shown.completion, shown.suppressed) == (
        6, 4, 58.6, five, 50.0, False)
    assert shown.median == 60.0
    nobody = group(6, 0, 0, None)
    assert (nobody.mean, nobody.median, nobody.completion, nobody.suppressed) == (None, None, None, False)


@pytest.mark.parametrize(("values", "expected"), [
    ([], None),
    ([7.25], (7.2, 7.2, 7.2, 7.2, 7.2)),
    ([0, 100], (0, 25.0, 50.0, 75.0, 100)),
    ([3, 1, 2], (1, 1.5, 2.0, 2.5, 3)),
    ([80.06, 10.04, 40, 20], (10.0, 17.5, 30.0, 50.0, 80.1)),  # QUARTILE.INC: 17.51, 30, 50.015
])
def test_five_numbers_are_excels_quartile_inc_rounded_to_a_tenth(values, expected):
    from dataclasses import astuple

    from app.scoring.rules import five_numbers

    got = five_numbers(values)
    assert (astuple(got) if got else None) == expected


def test_each_maturity_falls_in_one_bin_of_ten_points_and_100_in_the_last():
    from app.scoring.rules import histogram, score_bin

    assert [score_bin(v) for v in (0, 9.9, 10, 55, 89.9, 90, 99.9, 100)] == [0, 0, 1, 5, 8, 9, 9, 9]
    assert histogram([(0, 2), (100, 3), (45.5, 1), (10.0, 1)]) == [2, 1, 0, 0, 1, 0, 0, 0, 0, 3]
