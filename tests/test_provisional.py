"""Issue 11, point 5: an unfinished round is not called 後退, and the desk chooses which sheets its figures count.

* The rule (``rules.comparison``): while a round is open and a sheet is not submitted, its maturity is compared
  with the previous round's only over the items answered ◎ ○ △ × in both (暫定), or not at all (集計中).
* The trend page says so; once the round is closed the same sheet's change is final.
* The desk's pages and JSON take ``scope=submitted|all`` (default: submitted while the round is open), and
  their figures match a recount from the raw answers of the sheets counted; the switch survives navigation.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from html import unescape

import pytest
from sqlmodel import select

from app.scoring import rules
from app.scoring.rules import Change, Scope
from app.sheets import service as sheets_service
from app.sheets.models import Answer, Sheet, SheetState
from app.statuses import Status
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS

K1, K2, K3, K4, K5, K6 = V1_KEYS
E, G, F, X, NA = Status.EXCELLENT, Status.GOOD, Status.FAIR, Status.NOT_DONE, Status.NOT_APPLICABLE


# --- the rule ----------------------------------------------------------------------------------------------

# Last year: a whole sheet at 83.3 (× on K1, ◎ on the rest). This year, a quarter answered so far: K1 at ○.
LAST_YEAR = {K1: X, K2: E, K3: E, K4: E, K5: E, K6: E}
SO_FAR = {K1: G, K2: None, K3: None, K4: None, K5: None, K6: None}


def test_a_partly_answered_sheet_compares_only_the_items_answered_in_both_rounds():
    before, after = rules.tally(LAST_YEAR.values()).maturity, rules.tally(SO_FAR.values()).maturity
    assert (before, after) == (83.3, 66.7)
    assert rules.maturity_change(before, after) is Change.REGRESSED  # what the page used to say
    c = rules.comparison(before, after, final=False, before_statuses=LAST_YEAR, after_statuses=SO_FAR)
    # over K1 alone: × (0) → ○ (66.7)
    assert (c.change, c.provisional, c.items, c.before, c.after) == (Change.IMPROVED, True, 1, 0.0, 66.7)
    assert (c.mark, c.label, c.css) == ("▲", "改善（暫定）", "improved")
    assert c.note == "前回・今回とも回答済みの1項目で比較"


def test_a_provisional_fall_is_labelled_provisional():
    c = rules.comparison(90.0, 0.0, final=False, before_statuses=LAST_YEAR, after_statuses={K2: X})
    assert (c.change, c.label, c.items) == (Change.REGRESSED, "後退（暫定）", 1)


def test_nothing_answered_in_both_rounds_is_counting():
    for now in ({}, {K1: None}, {K1: NA}, {K3: G} | {K1: None}):
        c = rules.comparison(83.3, rules.tally(now.values()).maturity, final=False, before_statuses={K1: X, K2: E},
                             after_statuses=now)
        assert (c.change, c.counting, c.provisional, c.label, c.mark) == (None, True, True, "集計中", "…"), now


def test_na_on_either_side_is_not_compared():
    c = rules.common_change({K1: NA, K2: E}, {K1: X, K2: G})
    assert (c.items, c.before, c.after, c.change) == (1, 100.0, 66.7, Change.REGRESSED)


def test_a_final_sheet_compares_its_maturities_as_they_are():
    c = rules.comparison(83.3, 66.7, final=True, before_statuses=LAST_YEAR, after_statuses=SO_FAR)
    assert (c.change, c.provisional, c.label, c.note) == (Change.REGRESSED, False, "後退", "")
    assert rules.comparison(None, 50.0, final=False, before_statuses={}, after_statuses={K1: G}).change \
        is Change.NOT_COMPARABLE  # no figure last time: nothing to compare with, open or not


def test_a_category_compares_its_own_items_only():
    before = {K1: X, K2: E, K3: E}
    after = {K1: G, K2: None, K3: F}
    assert rules.common_change(before, after, [K2, K3]).change is Change.REGRESSED  # K3 ◎ → △
    assert rules.common_change(before, after, [K1, K2]).change is Change.IMPROVED  # K1 × → ○
    assert rules.common_change(before, after, [K2]).counting


def test_points_of_each_round_apply_to_its_side():
    heavy = {E: 4, G: 2, F: 1, X: 0}  # ◎ 4 points: ○ is 50 there, 66.7 with the default points
    c = rules.common_change({K1: G}, {K1: G}, points_before=heavy)
    assert (c.before, c.after, c.change) == (50.0, 66.7, Change.IMPROVED)


def test_a_sheet_is_final_once_submitted_or_its_round_closed():
    assert [rules.is_final(open_, submitted) for open_, submitted in
            ((True, False), (True, True), (False, False), (False, True))] == [False, True, True, True]


def test_the_desk_counts_submitted_sheets_while_a_round_is_open():
    assert rules.default_scope(True) is Scope.SUBMITTED
    assert rules.default_scope(False) is Scope.ALL
    assert rules.SCOPE_LABELS == {Scope.SUBMITTED: "提出済の所属のみ", Scope.CONFIRMED: "確認済の所属のみ",
                                  Scope.ALL: "すべての所属"}


# --- the trend page ----------------------------------------------------------------------------------------


@pytest.fixture
def two_years(session, world):
    """A1: last year's sheet whole (83.3), submitted, the round closed; this year's round open, A1 has answered
    one item of six so far (K1 at ○: 66.7 on its own)."""
    past = f.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                        opens_on=date(2025, 10, 1))
    f.set_answers(session, past.id, world.a1, {k: s.value for k, s in LAST_YEAR.items()})
    f.mark_submitted(session, past.id, world.a1)
    sheets_service.close_round(session, past)
    f.set_answers(session, world.round.id, world.a1, {K1: "○"})
    session.commit()
    return past


def _history_row(html: str, title: str) -> str:
    """The trend table's cells of one round, tags removed."""
    table = html.split('class="data-table trend-table"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if title in r)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row)))


def test_a_partly_answered_section_is_not_shown_as_regressed_while_the_round_is_open(client, session, world,
                                                                                     two_years):
    sign_in(client, "leader.a1@test.example")
    html = client.get("/sections/A1/trend").text
    now = _history_row(html, world.round.title)
    assert "66.7" in now and "後退" not in now and "▼" not in now
    assert "改善（暫定）" in now and "前回・今回とも回答済みの1項目で比較" in now
    assert "受付中で、この所属のチェックシートはまだ提出されていません" in html
    # the categories table too: 所属内 (K1, K2) compares K1 only; the others have nothing in common yet
    categories = html.split('id="categories"')[1].split("</table>")[0]
    assert "後退" not in categories and "集計中" in categories and "改善（暫定）" in categories
    # item by item: the five items not answered yet are 集計中, not 「比較できません」
    items = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html.split('id="items"')[1].split("</section>")[0])))
    assert "集計中（今回まだ未回答） 5 件" in items and "改善 1 件" in items and "比較できません" not in items
    changes = {c["item_key"]: c for c in client.get("/api/v1/sections/A1/trend").json()["changes"]}
    assert (changes[K1]["change"], changes[K1]["pending"]) == ("improved", False)
    assert (changes[K2]["change"], changes[K2]["change_label"], changes[K2]["pending"]) == (
        "not_comparable", "集計中（今回まだ未回答）", True)

    sheets_service.close_round(session, world.round)  # closed as it is: the change is final
    session.commit()
    after = client.get("/sections/A1/trend").text
    closed = _history_row(after, world.round.title)
    assert "後退" in closed and "暫定" not in closed
    assert "集計中" not in after.split('id="items"')[1].split("</section>")[0]  # unanswered for good now
    assert not any(c["pending"] for c in client.get("/api/v1/sections/A1/trend").json()["changes"])


def test_an_open_round_with_nothing_answered_yet_says_counting(client, session, world, two_years):
    f.set_answers(session, world.round.id, world.a1, {K1: None})
    session.commit()
    sign_in(client, "leader.a1@test.example")
    now = _history_row(client.get("/sections/A1/trend").text, world.round.title)
    assert "集計中" in now and "今回の回答がそろうまで比較しません" in now and "後退" not in now


# --- the desk's switch -------------------------------------------------------------------------------------


@pytest.fixture
def dw(session):
    """tests.factories.build_desk_world: round 1 open, P1 and P5 submitted (through the writer), five others not."""
    return f.build_desk_world(session)


def recount(session, round_id: int, submitted_only: bool) -> tuple[int, dict[str, Counter]]:
    """(sheets, per item {status or None: 所属}) from the raw answers, without the tallies."""
    where = [Sheet.round_id == round_id] + ([Sheet.state == SheetState.SUBMITTED] if submitted_only else [])
    sheets = session.exec(select(Sheet.id).where(*where)).all()
    per_item: dict[str, Counter] = {k: Counter() for k in V1_KEYS}
    for key, status in session.exec(select(Answer.item_key, Answer.status).where(Answer.sheet_id.in_(sheets))):
        per_item[key][status] += 1
    for counts in per_item.values():  # a sheet with no answer row for an item has it unanswered
        counts[None] += len(sheets) - sum(counts.values())
    return len(sheets), per_item


FIELDS = {"excellent": "◎", "good": "○", "fair": "△", "not_done": "×", "not_applicable": "該当なし", "unanswered": None}


@pytest.mark.parametrize("scope", ["submitted", "all", ""])
def test_the_switch_changes_the_desks_figures_to_a_recount_of_the_sheets_counted(client, session, dw, scope):
    sign_in(client, "desk@test.example")
    submitted_only = scope != "all"  # "": the default of an open round
    sheets, per_item = recount(session, dw.round.id, submitted_only)
    assert sheets == (2 if submitted_only else 7)
    base = f"/api/v1/rounds/{dw.round.id}"
    weak = client.get(f"{base}/weak-items?scope={scope}").json()
    assert weak["counted_sheets"] == ("submitted" if submitted_only else "all") and weak["sections"] == sheets
    for item in weak["items"]:
        counts = per_item[item["item"]["item_key"]]
        assert item["counts"] == {name: counts[symbol] for name, symbol in FIELDS.items()}, item["item"]["item_key"]

    heatmap = client.get(f"{base}/heatmap?scope={scope}").json()
    assert [r["section"]["code"] for r in heatmap["rows"]] == (["P1", "P5"] if submitted_only else
                                                               ["P1", "P2", "P3", "P4", "P5", "Q1", "Q2"])
    assert heatmap["page"]["total"] == sheets

    distribution = client.get(f"{base}/distribution?scope={scope}").json()
    assert distribution["prefecture"]["sections"] == sheets
    assert sum(b["sections"] for b in distribution["bins"]) == (2 if submitted_only else 5)  # with a maturity
    assert distribution["prefecture"]["submitted"] == 2 and distribution["prefecture"]["in_progress"] == 3  # all

    wins = client.get(f"{base}/quick-wins?scope={scope}").json()
    assert {q["section"]["code"] for q in wins["quick_wins"]} == ({"P5"} if submitted_only else
                                                                  {"P2", "P3", "P5", "Q1"})
    [k6] = wins["counterpart_items"]
    assert k6["not_done"] == per_item[K6]["×"] == (0 if submitted_only else 2)  # P2 and Q1 are 入力中
    assert sum(b["count"] for b in k6["bureaus"]) == k6["not_done"]
    assert sorted(n["code"] for b in k6["bureaus"] for n in b["names"]) == ([] if submitted_only else ["P2", "Q1"])

    page = client.get(f"/desk/weak-items?round={dw.round.id}&scope={scope}").text
    assert f"全庁（{'提出済の所属のみ' if submitted_only else 'すべての所属'}）：{sheets}所属の回答" in page


def test_the_switch_survives_navigation_between_the_desks_tabs(client, dw):
    sign_in(client, "desk@test.example")
    heatmap = client.get(f"/desk/heatmap?round={dw.round.id}&scope=all").text
    current = f'<a href="/desk/heatmap?round={dw.round.id}&amp;scope=all" aria-current="true">すべての所属</a>'
    assert current in heatmap
    tabs = re.findall(r'<nav class="desk-tabs".*?</nav>', heatmap, re.S)[0]
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', tabs)]
    assert len(links) >= 5 and all(link.endswith(f"?round={dw.round.id}&scope=all") for link in links), links
    assert '<input type="hidden" name="scope" value="all">' in heatmap  # the filter form keeps it
    for link in links:  # every tab opened from there still counts every sheet, and says so
        page = client.get(link).text
        if 'id="scope-switch"' in page:
            assert re.search(r'aria-current="true">すべての所属</a>', page), link
            assert "集計の対象：</span><strong>すべての所属</strong>" in page, link
    weak = client.get(next(link for link in links if link.startswith("/desk/weak-items"))).text
    assert "全庁（すべての所属）：7所属の回答" in weak
    # an htmx filter change (its form carries scope) swaps the results and brings the switch up to date
    fragment = client.get(f"/desk/heatmap?round={dw.round.id}&scope=all&bureau=P&sort=asc",
                          headers={"HX-Request": "true"}).text
    assert 'id="scope-switch" class="scope-switch" hx-swap-oob="true"' in fragment
    assert "bureau=P" in fragment.split('id="scope-switch"')[1].split("</div>")[0]
    # the default states itself, and its links carry nothing: each page works the default out again
    default = client.get(f"/desk/heatmap?round={dw.round.id}").text
    assert "集計の対象：</span><strong>提出済の所属のみ</strong>" in default and "が既定です" in default
    assert f'href="/desk/weak-items?round={dw.round.id}"' in default
    assert "P部 2課" not in default.split('id="results"')[1]  # 入力中: not counted by default


def test_the_round_page_and_the_board_state_what_they_count(client, dw):
    sign_in(client, "desk@test.example")
    board = client.get(f"/desk/board?round={dw.round.id}&scope=submitted").text
    assert "切り替えにかかわらずすべての所属が対象です" in board
    assert "P部 2課" in board  # the board's list of 所属 not yet submitted is never filtered
    overview = client.get(f"/rounds/{dw.round.id}?bureau=P").text
    assert "集計の対象：</span><strong>提出済の所属のみ</strong>" in overview
    assert "P部 2課" in overview.split('id="sections-title"')[1]  # every 所属 listed, each with its state

    def bureau_p(html: str) -> str:  # the 部局 P row: 所属数, 未着手, 入力中, 提出済, 回答率, 平均成熟度
        row = html.split(">P部</a></th>")[1].split("</tr>")[0]
        return " ".join(re.findall(r'<td class="num">([^<]*)</td>', row))

    # P1 (100.0) and P5 (46.7) submitted; everyone: P1, P2 (40.0), P3 (33.3), P5, P4 without a maturity
    assert bureau_p(overview) == "5 1 2 2 100.0% 73.3"
    assert bureau_p(client.get(f"/rounds/{dw.round.id}?bureau=P&scope=all").text) == "5 1 2 2 63.3% 55.0"  # 19 of 30 items


def test_a_closed_round_counts_every_sheet_by_default(client, session, dw):
    sheets_service.close_round(session, dw.round)
    session.commit()
    sign_in(client, "desk@test.example")
    weak = client.get(f"/api/v1/rounds/{dw.round.id}/weak-items").json()
    assert (weak["counted_sheets"], weak["sections"]) == ("all", 7)


def test_groups_under_five_stay_withheld_whichever_sheets_are_counted(client, dw):
    sign_in(client, "member.p2@test.example")
    base = f"/api/v1/rounds/{dw.round.id}/weak-items"
    everything = client.get(f"{base}?scope=all").json()["items"]
    k1 = next(i for i in everything if i["item"]["item_key"] == K1)
    assert k1["suppressed"] is False  # K1: answered by P1, P2, P3, P5, Q1
    only_submitted = client.get(base)  # two submitted sheets: no item has five 所属 behind it
    assert only_submitted.status_code == 403 and "5未満" in only_submitted.json()["detail"]


def test_a_scope_that_does_not_exist_is_refused_in_japanese(client, dw):
    sign_in(client, "desk@test.example")
    page = client.get(f"/desk/heatmap?round={dw.round.id}&scope=everyone")
    assert page.status_code == 422
    api = client.get(f"/api/v1/rounds/{dw.round.id}/heatmap?scope=everyone")
    assert api.status_code == 422


def test_the_names_of_sections_at_x_are_those_of_the_sheets_counted(session, dw):
    from app.reports import queries

    p = dw.bureaus["P"].id
    everyone = queries.counterpart_names(session, dw.round.id, {K6: [p]}, per_bureau=5)
    assert everyone == {(K6, p): [("P2", "P部 2課")]}
    assert queries.counterpart_names(session, dw.round.id, {K6: [p]}, per_bureau=5, states=["submitted"]) == {}
