"""The desk's figures on a small hand-worked organisation, on SQLite and PostgreSQL.

部局 P has five 所属 (P1–P5), Q two (Q1, Q2: under five), E none. Round 1 is answered as in
``tests.factories.DESK_ANSWERS`` (P1 and P5 submitted); round 2 has no answers at all. Items are the
seed's six: K1 ☆, K2 ☆☆, K3 ☆, K4 ☆, K5 ☆ (該当なし allowed), K6 ☆☆☆ (該当なし allowed).

Worked by hand (points ◎3 ○2 △1 ×0; maturity = points / (3 × scored answers) × 100):

====  =======================  ======  ========  ==========
所属  K1 K2 K3 K4 K5 K6        points  maturity  progress
====  =======================  ======  ========  ==========
P1    ◎ ◎ ◎ ◎ ◎ ◎              18/18   100.0     提出済
P2    × △ ○ ◎ 該 ×             6/15    40.0      入力中
P3    △ – – – – –              1/3     33.3      入力中
P4    – – – – – –              –       None      未着手
P5    ○ ○ × △ ○ 該             7/15    46.7      提出済
Q1    × × × × × ×              0/18    0.0       入力中
Q2    – – – – – –              –       None      未着手
====  =======================  ======  ========  ==========
"""

from __future__ import annotations

import pytest

from app.auth import service as auth_service
from app.errors import Forbidden, InvalidInput, NotFound
from app.reports import queries, service
from app.scoring import rules
from app.scoring.rules import ItemCounts, Progress, Scope
from app.sheets import figures
from app.statuses import Status
from tests import factories
from tests.factories import V1_KEYS

K1, K2, K3, K4, K5, K6 = V1_KEYS
ALL = Scope.ALL  # these figures count every sheet (the default while a round is open is submitted sheets only)


@pytest.fixture
def dw(session):
    return factories.build_desk_world(session)


@pytest.fixture
def desk(session, dw):
    return auth_service.load_principal(session, dw.desk.id)


@pytest.fixture
def member(session, dw):
    return auth_service.load_principal(session, dw.member_p2.id)


# --- rules --------------------------------------------------------------------------------------------


def test_item_counts_take_unanswered_from_the_group_size():
    counts = ItemCounts.of({"◎": 1, "○": 1, "△": 1, "×": 2}, sections=7)
    assert (counts.scored, counts.not_applicable, counts.unanswered, counts.sections) == (5, 0, 2, 7)
    assert counts.maturity() == 40.0
    assert ItemCounts.of({}, sections=0).maturity() is None


def test_weakest_first_breaks_ties_by_share_of_x_then_unanswered_then_position():
    a = ItemCounts(excellent=1, fair=1)  # (3+1)/6 = 66.7, no ×
    b = ItemCounts(good=2, unanswered=1)  # 66.7, no ×, one unanswered
    c = ItemCounts(excellent=2, not_done=1)  # 66.7, a third ×
    nothing = ItemCounts(unanswered=4)
    order = sorted([(a, 1), (b, 2), (c, 3), (nothing, 0)], key=lambda p: rules.weakest_first_key(p[0], p[1]))
    assert [pos for _, pos in order] == [3, 2, 1, 0]


def test_priority_is_ease_times_gap():
    assert rules.priority(1, Status.NOT_DONE) == 9
    assert rules.priority(1, Status.FAIR) == 6
    assert rules.priority(3, Status.NOT_DONE) == 3
    assert rules.priority(2, Status.EXCELLENT) == 0


def test_histogram_bins_put_100_in_the_last_bin_and_quartiles_interpolate():
    assert rules.histogram([(0.0, 1), (9.9, 1), (10.0, 1), (99.9, 1), (100.0, 2)]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    five = rules.five_numbers([0.0, 33.3, 40.0, 46.7, 100.0])
    assert (five.minimum, five.q1, five.median, five.q3, five.maximum) == (0.0, 33.3, 40.0, 46.7, 100.0)
    assert rules.five_numbers([10.0, 20.0]).q1 == 12.5
    assert rules.five_numbers([]) is None


# --- SQL rollups --------------------------------------------------------------------------------------


def test_sheet_totals_in_organisation_order_and_by_maturity(session, dw):
    mine = {t.code: t.tally for t in figures.sheet_totals(session, dw.round.id)}
    assert {code: t.maturity for code, t in mine.items()} == {
        "P1": 100.0, "P2": 40.0, "P3": 33.3, "P4": None, "P5": 46.7, "Q1": 0.0, "Q2": None}
    assert list(mine) == ["P1", "P2", "P3", "P4", "P5", "Q1", "Q2"]  # organisation order
    ranked = [t.code for t in figures.sheet_totals(session, dw.round.id, order="all_asc")]
    assert ranked == ["Q1", "P3", "P2", "P5", "P1", "P4", "Q2"]  # no maturity last, organisation order among them
    assert [t.code for t in figures.sheet_totals(session, dw.round.id, order="desc", limit=3, offset=1)] == [
        "P5", "P2", "P3"]


def test_board_counts_overall_and_per_bureau_including_the_empty_one(session, dw, desk):
    view = service.board(session, desk, dw.round.id)
    assert (view.counts.not_started, view.counts.in_progress, view.counts.submitted) == (2, 3, 2)
    assert view.counts.submitted_share == 28.6
    per = {b.bureau.code: (b.counts.total, b.counts.not_started, b.counts.in_progress, b.counts.submitted)
           for b in view.by_bureau}
    assert per == {"P": (5, 1, 2, 2), "Q": (2, 1, 1, 0), "E": (0, 0, 0, 0)}
    assert [p.section.code for p in view.pending] == ["P2", "P3", "P4", "Q1", "Q2"]
    leaders = {p.section.code: [x.name for x in p.leaders] for p in view.pending}
    assert leaders == {"P2": ["リーダー P2"], "P3": ["リーダー P3", "リーダー P3 副"], "P4": ["リーダー P4"],
                       "Q1": ["リーダー Q1"], "Q2": []}
    mail = service.mail_list(session, desk, dw.round.id)
    assert mail.mail_list == ("leader.p2@test.example; leader.p3@test.example; leader2.p3@test.example; "
                              "leader.p4@test.example; leader.q1@test.example")
    assert (mail.recipients, mail.without_leader, mail.pending) == (5, 1, 5)


def test_board_filters_by_bureau_and_progress_and_pages_the_list(session, dw, desk):
    view = service.board(session, desk, dw.round.id, progress=Progress.NOT_STARTED)
    assert [p.section.code for p in view.pending] == ["P4", "Q2"]
    assert service.mail_list(session, desk, dw.round.id, progress=Progress.NOT_STARTED).mail_list == \
        "leader.p4@test.example"
    view = service.board(session, desk, dw.round.id, bureau_code="Q")
    assert [p.section.code for p in view.pending] == ["Q1", "Q2"]
    assert view.counts.total == 7  # the overall figures stay whole
    paged = service.board(session, desk, dw.round.id, page=2, per_page=2)
    assert [p.section.code for p in paged.pending] == ["P4", "Q1"]
    assert (paged.pager.pages, paged.pager.first, paged.pager.last) == (3, 3, 4)
    with pytest.raises(InvalidInput):
        service.board(session, desk, dw.round.id, progress=Progress.SUBMITTED)


def test_the_board_page_lists_the_least_answered_first(session, dw, desk):
    # 回答率: P4, Q2 0 %, P3 16.7 %, P2 and Q1 100 % (該当なし counts as answered); organisation order among equals
    view = service.board(session, desk, dw.round.id, order="completion")
    assert [(p.section.code, p.section.tally.completion) for p in view.pending] == [
        ("P4", 0.0), ("Q2", 0.0), ("P3", 16.7), ("P2", 100.0), ("Q1", 100.0)]


def test_board_of_a_round_with_no_answers_is_all_not_started(session, dw, desk):
    view = service.board(session, desk, dw.empty_round.id)
    assert (view.counts.not_started, view.counts.in_progress, view.counts.submitted) == (7, 0, 0)
    assert len(view.pending) == 7


def test_heatmap_groups_by_bureau_and_sorts_by_score(session, dw, desk):
    view = service.heatmap(session, desk, dw.round.id, scope=ALL)
    assert [g.bureau.code for g in view.groups] == ["P", "Q"]  # E has no 所属, so no rows
    assert [r.section.code for r in view.rows] == ["P1", "P2", "P3", "P4", "P5", "Q1", "Q2"]
    p2 = view.rows[1]
    assert p2.statuses == ["×", "△", "○", "◎", "該当なし", "×"]
    assert view.rows[3].statuses == [None] * 6
    asc = service.heatmap(session, desk, dw.round.id, scope=ALL, sort="asc")
    assert [r.section.code for r in asc.rows] == ["P3", "P2", "P5", "P1", "P4", "Q1", "Q2"]
    desc = service.heatmap(session, desk, dw.round.id, scope=ALL, sort="desc")
    assert [r.section.code for r in desc.rows] == ["P1", "P5", "P2", "P3", "P4", "Q1", "Q2"]
    overall = service.heatmap(session, desk, dw.round.id, scope=ALL, sort="all_asc")
    assert [r.section.code for r in overall.rows] == ["Q1", "P3", "P2", "P5", "P1", "P4", "Q2"]
    assert [g.bureau for g in overall.groups] == [None]


def test_heatmap_filters_a_bureau_and_pages(session, dw, desk):
    view = service.heatmap(session, desk, dw.round.id, scope=ALL, bureau_code="Q")
    assert [r.section.code for r in view.rows] == ["Q1", "Q2"]
    page = service.heatmap(session, desk, dw.round.id, scope=ALL, page=3, per_page=3)
    assert [r.section.code for r in page.rows] == ["Q2"]
    beyond = service.heatmap(session, desk, dw.round.id, scope=ALL, page=99, per_page=3)
    assert beyond.pager.page == 3
    empty = service.heatmap(session, desk, dw.round.id, scope=ALL, bureau_code="E")
    assert empty.rows == [] and empty.pager.total == 0
    with pytest.raises(NotFound):
        service.heatmap(session, desk, dw.round.id, scope=ALL, bureau_code="ZZ")
    with pytest.raises(InvalidInput):
        service.heatmap(session, desk, dw.round.id, scope=ALL, sort="random")


def test_weak_items_prefecture_wide_weakest_first(session, dw, desk):
    view = service.weak_items(session, desk, dw.round.id, scope=ALL)
    assert view.sections == 7
    assert [(w.item.key, w.maturity) for w in view.items] == [
        (K6, 33.3), (K1, 40.0), (K3, 41.7), (K2, 50.0), (K5, 55.6), (K4, 58.3)]
    k6 = view.items[0]
    assert (k6.counts.excellent, k6.counts.not_done, k6.counts.not_applicable, k6.counts.unanswered) == (1, 2, 1, 3)
    k1 = view.items[1]
    assert (k1.counts.excellent, k1.counts.good, k1.counts.fair, k1.counts.not_done, k1.counts.unanswered) == (
        1, 1, 1, 2, 2)
    assert (k1.share(Status.EXCELLENT), k1.share(Status.NOT_DONE), k1.share(None)) == (14.3, 28.6, 28.6)
    assert k1.prefecture_maturity is None


def test_weak_items_of_a_bureau_beside_the_prefecture(session, dw, desk):
    view = service.weak_items(session, desk, dw.round.id, scope=ALL, bureau_code="P")
    assert view.sections == 5
    k1 = next(w for w in view.items if w.item.key == K1)
    assert (k1.maturity, k1.prefecture_maturity, k1.difference) == (50.0, 40.0, 10.0)
    q = service.weak_items(session, desk, dw.round.id, scope=ALL, bureau_code="Q")  # under five: the desk sees it
    assert q.sections == 2 and all(w.counts.sections == 2 for w in q.items)
    empty = service.weak_items(session, desk, dw.round.id, scope=ALL, bureau_code="E")
    assert empty.sections == 0 and all(w.maturity is None and w.counts.sections == 0 for w in empty.items)


def test_weak_items_of_a_round_with_no_answers_keep_sheet_order(session, dw, desk):
    view = service.weak_items(session, desk, dw.empty_round.id, scope=ALL)
    assert [w.item.key for w in view.items] == list(V1_KEYS)
    assert all(w.maturity is None and w.share(None) == 100.0 for w in view.items)


def test_quick_wins_are_ranked_by_priority_then_count_then_maturity(session, dw, desk):
    view = service.quick_wins(session, desk, dw.round.id, scope=ALL)
    assert view.pager.total == 8
    got = [(q.rank, q.code, q.item.key, q.priority, q.section_quick_wins, q.section_maturity)
           for q in view.rows]
    assert got == [
        (1, "Q1", K1, 9, 4, 0.0), (2, "Q1", K3, 9, 4, 0.0), (3, "Q1", K4, 9, 4, 0.0), (4, "Q1", K5, 9, 4, 0.0),
        (5, "P5", K3, 9, 2, 46.7), (6, "P2", K1, 9, 1, 40.0), (7, "P5", K4, 6, 2, 46.7), (8, "P3", K1, 6, 1, 33.3),
    ]
    page = service.quick_wins(session, desk, dw.round.id, scope=ALL, page=2, per_page=3)
    assert [(q.rank, q.code, q.item.key) for q in page.rows] == [(4, "Q1", K5), (5, "P5", K3), (6, "P2", K1)]
    in_p = service.quick_wins(session, desk, dw.round.id, scope=ALL, bureau_code="P")
    assert [(q.code, q.item.key) for q in in_p.rows] == [("P5", K3), ("P2", K1), ("P5", K4), ("P3", K1)]


def test_counterpart_items_group_the_x_of_three_star_items(session, dw, desk):
    [k6] = service.quick_wins(session, desk, dw.round.id, scope=ALL).counterpart
    assert k6.item.key == K6
    assert (k6.not_done, k6.counts.scored, k6.share) == (2, 3, 66.7)
    assert [(b.bureau.code, b.names) for b in k6.bureaus] == [("P", [("P2", "P部 2課")]), ("Q", [("Q1", "Q部 1課")])]


def test_quick_wins_that_tie_keep_organisation_order(session, dw, desk):
    """Same number of quick wins, same maturity: the 所属 come in organisation order (Q1 after P4 after P2,
    whatever order they were answered in)."""
    for code in ("Q1", "P4", "P2"):
        factories.set_answers(session, dw.empty_round.id, dw.sections[code], {K1: "×"})
    session.commit()
    view = service.quick_wins(session, desk, dw.empty_round.id, scope=ALL)
    assert [(q.rank, q.code, q.item.key, q.section_maturity) for q in view.rows] == [
        (1, "P2", K1, 0.0), (2, "P4", K1, 0.0), (3, "Q1", K1, 0.0)]
    page = service.quick_wins(session, desk, dw.empty_round.id, scope=ALL, page=2, per_page=2)
    assert [(q.rank, q.code) for q in page.rows] == [(3, "Q1")]


def test_counterpart_names_are_the_first_of_each_bureau_in_organisation_order(session, dw, desk):
    # P4 and P3 answer × to K6 as well (P4 first, so that insertion order is not organisation order).
    for code in ("P4", "P3"):
        factories.set_answers(session, dw.round.id, dw.sections[code], {K6: "×"})
    session.commit()
    p, q = dw.bureaus["P"].id, dw.bureaus["Q"].id
    names = queries.counterpart_names(session, dw.round.id, {K6: [p, q], K1: [p, q]}, per_bureau=2)
    assert names == {(K6, p): [("P2", "P部 2課"), ("P3", "P部 3課")], (K6, q): [("Q1", "Q部 1課")],
                     (K1, p): [("P2", "P部 2課")], (K1, q): [("Q1", "Q部 1課")]}
    # Each item's names come from its own 部局 only.
    assert queries.counterpart_names(session, dw.round.id, {K6: [q], K1: [p], "none": []}, per_bureau=2) == {
        (K6, q): [("Q1", "Q部 1課")], (K1, p): [("P2", "P部 2課")]}
    assert queries.counterpart_names(session, dw.round.id, {K6: [p]}, per_bureau=1) == {(K6, p): [("P2", "P部 2課")]}
    own = queries.counterpart_names(session, dw.round.id, {K6: [p]}, per_bureau=2,
                                    unit_ids=[dw.sections["P4"].id, dw.sections["P3"].id])
    assert own == {(K6, p): [("P3", "P部 3課"), ("P4", "P部 4課")]}
    [k6] = service.quick_wins(session, desk, dw.round.id, scope=ALL).counterpart
    assert [(b.bureau.code, b.count, [code for code, _ in b.names]) for b in k6.bureaus] == [
        ("P", 3, ["P2", "P3", "P4"]), ("Q", 1, ["Q1"])]


def test_counterpart_names_name_a_bureau_listed_twice_once(session, dw):
    p, q = dw.bureaus["P"].id, dw.bureaus["Q"].id
    names = queries.counterpart_names(session, dw.round.id, {K6: [p, q, p], K1: [q, q]}, per_bureau=5)
    assert names == {(K6, p): [("P2", "P部 2課")], (K6, q): [("Q1", "Q部 1課")], (K1, q): [("Q1", "Q部 1課")]}


def test_quick_wins_of_a_round_with_no_answers_are_empty(session, dw, desk):
    view = service.quick_wins(session, desk, dw.empty_round.id, scope=ALL)
    assert view.rows == [] and view.pager.total == 0
    [k6] = view.counterpart
    assert (k6.not_done, k6.share, k6.bureaus) == (0, 0.0, [])


def test_distribution_bins_and_rollups(session, dw, desk):
    view = service.distribution(session, desk, dw.round.id, scope=ALL)
    assert [b.count for b in view.bins] == [1, 0, 0, 1, 2, 0, 0, 0, 0, 1]
    p = view.prefecture
    assert (p.sections, p.scored, p.mean, p.completion) == (7, 5, 44.0, 59.5)
    assert (p.five.minimum, p.five.q1, p.five.median, p.five.q3, p.five.maximum) == (0.0, 33.3, 40.0, 46.7, 100.0)
    by = {r.bureau.code: r for r in view.bureaus}
    assert list(by) == ["P", "Q", "E"]
    assert (by["P"].sections, by["P"].scored, by["P"].mean, by["P"].completion) == (5, 4, 55.0, 63.3)
    assert (by["P"].five.q1, by["P"].five.q3) == (38.3, 60.0)
    assert (by["Q"].sections, by["Q"].scored, by["Q"].mean, by["Q"].median, by["Q"].completion) == (2, 1, 0.0, 0.0, 50.0)
    assert (by["E"].sections, by["E"].scored, by["E"].mean, by["E"].five, by["E"].completion) == (0, 0, None, None, 0.0)
    # The same mean, median and completion as /scores?by=bureau
    scores = {b.bureau.code: b.figure for b in service.scores(session, desk, dw.round.id, by="bureau").bureaus}
    for code in ("P", "Q"):
        assert (by[code].mean, by[code].median, by[code].completion) == (
            scores[code].mean, scores[code].median, scores[code].completion)


def test_distribution_of_a_round_with_no_answers(session, dw, desk):
    view = service.distribution(session, desk, dw.empty_round.id, scope=ALL)
    assert sum(b.count for b in view.bins) == 0
    assert (view.prefecture.scored, view.prefecture.mean, view.prefecture.five) == (0, None, None)


# --- access -------------------------------------------------------------------------------------------


def test_members_get_none_of_the_desk_only_figures(session, dw, member):
    for build in (service.board, service.heatmap, service.distribution):
        with pytest.raises(Forbidden):
            build(session, member, dw.round.id)
    with pytest.raises(Forbidden):
        service.weak_items(session, member, dw.round.id, scope=ALL, desk_page=True)


def test_members_see_group_figures_of_five_or_more_and_their_own_quick_wins(session, dw, member):
    prefecture = service.weak_items(session, member, dw.round.id, scope=ALL)
    assert prefecture.sections == 7
    # K1 was answered by five 所属 (P1, P2, P3, P5, Q1); every other item by four or fewer.
    assert [w.item.key for w in prefecture.items if not w.suppressed] == [K1]
    # P has five 所属 but at most four answered any item (P4 answered nothing): refused like Q and E.
    for small in ("P", "Q", "E"):
        with pytest.raises(Forbidden):
            service.weak_items(session, member, dw.round.id, scope=ALL, bureau_code=small)
    view = service.quick_wins(session, member, dw.round.id, scope=ALL)
    assert view.own_only and [(q.code, q.item.key) for q in view.rows] == [("P2", K1)]
    [k6] = view.counterpart
    assert (k6.not_done, k6.counts.sections, [b.names for b in k6.bureaus]) == (1, 1, [[("P2", "P部 2課")]])
    with pytest.raises(Forbidden):
        service.quick_wins(session, member, dw.round.id, scope=ALL, bureau_code="P")


def test_a_counterpart_item_lists_the_first_ten_bureaus_and_counts_the_others():
    """At prefecture scale a ☆☆☆ item has × in over 100 部局: the page and the JSON list ten of them."""
    from app.reports.queries import BureauRef

    bureaus = [service.CounterpartBureau(BureauRef(i, f"B{i}", f"B{i}部", i), 13 - i, []) for i in range(12)]
    item = service.CounterpartItem(None, ItemCounts(), bureaus)  # type: ignore[arg-type]
    assert [b.bureau.code for b in item.shown] == [f"B{i}" for i in range(10)]
    assert (item.hidden_bureaus, item.hidden_sections) == (2, 3 + 2)


def quick_sheet(code: str, not_done: int, fair: int, maturity: float) -> service.QuickWinSheet:
    """A sheet with ``not_done`` ☆ items at × and ``fair`` at △, scored ``maturity`` over ten answers."""
    total = figures.SheetTotal(sheet_id=0, unit_id=0, code=code, name=code, bureau_id=0, state="draft", entry_on=None,
                               tally=rules.Tally(total=10, answered=10, points=maturity * 30 / 100),
                               quick_fair=fair, quick_not_done=not_done)
    return service.QuickWinSheet(total, service._quick_counts(total))


def test_quick_wins_tie_break_more_quick_wins_then_lower_maturity_then_organisation_order():
    """Equal priority: the 所属 with more quick wins first, then the lower maturity, then the order the
    sheets come in (organisation order, which is not the order of the codes here)."""
    sheets = [quick_sheet("A", 1, 1, 50.0), quick_sheet("B", 1, 2, 60.0), quick_sheet("Z", 1, 1, 30.0),
              quick_sheet("C", 1, 1, 30.0), quick_sheet("F", 1, 0, 10.0), quick_sheet("E", 1, 0, 0.0),
              quick_sheet("G", 0, 1, 0.0)]
    runs = service.rank_quick_wins(sheets, rules.DEFAULT_POINTS)
    got = [(value, sheet.section.code, "".join(sorted(statuses)), n) for value, sheet, statuses, n in runs]
    assert got == [(9, "B", "×", 1), (9, "Z", "×", 1), (9, "C", "×", 1), (9, "A", "×", 1), (9, "E", "×", 1),
                   (9, "F", "×", 1),
                   (6, "B", "△", 2), (6, "Z", "△", 1), (6, "C", "△", 1), (6, "A", "△", 1), (6, "G", "△", 1)]


def test_quick_wins_of_statuses_with_equal_priority_make_one_run():
    """With points where △ and × are both worth nothing, a ☆ item at either is equally urgent: one run,
    ranked by how many quick wins each 所属 has in it."""
    points = {Status.EXCELLENT: 2, Status.GOOD: 1, Status.FAIR: 0, Status.NOT_DONE: 0}
    sheets = [quick_sheet("A", 1, 0, 20.0), quick_sheet("B", 1, 2, 40.0), quick_sheet("C", 0, 1, 10.0)]
    got = [(value, sheet.section.code, "".join(sorted(statuses)), n)
           for value, sheet, statuses, n in service.rank_quick_wins(sheets, points)]
    assert got == [(6, "B", "×△", 3), (6, "C", "×△", 1), (6, "A", "×△", 1)]
