"""Issue 14.2: the desk's figures can be limited to 確認済 sheets (``scope=confirmed``, 「確認済の所属のみ」): the
sheets submitted and 確認済 as a whole (every item marked 確認済 by the desk). Every desk figure and its JSON,
checked against a recount of the raw answers of those sheets only (not the tallies), on both databases."""

from __future__ import annotations

import re
from collections import Counter
from statistics import mean

import pytest
from sqlmodel import select

from app.auth import service as auth_service
from app.checklists import service as checklists
from app.orgs.models import Unit
from app.scoring import rules
from app.sheets import figures, review
from app.sheets.figures import GroupKey
from app.sheets.models import PREFECTURE, Answer, ReviewMark, Sheet, SheetReview, SheetState
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS

K1, K6 = V1_KEYS[0], V1_KEYS[5]
FIELDS = {"excellent": "◎", "good": "○", "fair": "△", "not_done": "×", "not_applicable": "該当なし", "unanswered": None}


@pytest.fixture
def cw(session):
    """The desk world (P1, P5 submitted), and P2, Q1 submitted too; the desk confirmed P1 and Q1 as a whole, P5
    on one item only (確認中), P2 not at all (未確認): 確認済 are P1 (all ◎) and Q1 (all ×)."""
    dw = f.build_desk_world(session)
    for code in ("P2", "Q1"):
        f.mark_submitted(session, dw.round.id, dw.sections[code])
    session.commit()
    desk = auth_service.load_principal(session, dw.desk.id)
    for code in ("P1", "Q1"):
        review.confirm_all(session, desk, dw.round.id, code)
    review.review_item(session, desk, dw.round.id, "P5", K1, mark="confirmed")
    session.commit()
    return dw


def confirmed_recount(session, round_id: int):
    """(codes, per item {status: 所属}, maturities by 部局 code) of the confirmed sheets, from the raw rows: the
    review marks counted per sheet in Python, the maturities from the answers with ``rules.tally``."""
    marks = Counter(sheet_id for sheet_id, mark in session.exec(select(SheetReview.sheet_id, SheetReview.mark))
                    if mark == ReviewMark.CONFIRMED)
    sheets = {s.id: s for s in session.exec(select(Sheet).where(Sheet.round_id == round_id))
              if s.state == SheetState.SUBMITTED and marks[s.id] >= len(V1_KEYS)}
    per_item: dict[str, Counter] = {k: Counter() for k in V1_KEYS}
    statuses: dict[int, list] = {sid: [] for sid in sheets}
    for sheet_id, key, status in session.exec(select(Answer.sheet_id, Answer.item_key, Answer.status)
                                              .where(Answer.sheet_id.in_(list(sheets)))):
        per_item[key][status] += 1
        statuses[sheet_id].append(status)
    code = {u.id: u.code for u in session.exec(select(Unit))}
    codes = sorted(code[s.unit_id] for s in sheets.values())
    by_bureau: dict[str, list[float]] = {}
    for sid, s in sheets.items():
        by_bureau.setdefault(code[s.bureau_id], []).append(rules.tally(statuses[sid]).maturity)
    session.commit()  # end the read (SQLite: the app's requests write)
    return codes, per_item, by_bureau


def test_confirmed_means_submitted_and_every_item_confirmed(session, cw):
    codes, _, _ = confirmed_recount(session, cw.round.id)
    assert codes == ["P1", "Q1"]  # not P5 (確認中), not P2 (未確認)
    assert review.review_counts(session, cw.round.id)[review.ReviewState.CONFIRMED] == 2
    assert figures.count_sheets(session, cw.round.id, states=figures.CONFIRMED_ONLY) == 2


def test_the_desks_json_over_confirmed_sheets_matches_a_recount(client, session, cw):
    codes, per_item, by_bureau = confirmed_recount(session, cw.round.id)
    sign_in(client, "desk@test.example")
    base = f"/api/v1/rounds/{cw.round.id}"
    weak = client.get(f"{base}/weak-items?scope=confirmed").json()
    assert (weak["counted_sheets"], weak["sections"]) == ("confirmed", len(codes))
    for item in weak["items"]:
        counts = per_item[item["item"]["item_key"]]
        assert item["counts"] == {name: counts[symbol] for name, symbol in FIELDS.items()}, item["item"]["item_key"]
    weak_p = client.get(f"{base}/weak-items?scope=confirmed&bureau=P").json()
    assert weak_p["sections"] == 1 and all(i["counts"]["excellent"] == 1 for i in weak_p["items"])  # P1 alone

    heatmap = client.get(f"{base}/heatmap?scope=confirmed").json()
    assert [r["section"]["code"] for r in heatmap["rows"]] == codes and heatmap["page"]["total"] == len(codes)

    distribution = client.get(f"{base}/distribution?scope=confirmed").json()
    everyone = [m for ms in by_bureau.values() for m in ms]
    assert distribution["counted_sheets"] == "confirmed"
    assert (distribution["prefecture"]["sections"], distribution["prefecture"]["mean"]) == (2, round(mean(everyone), 1))
    assert {b["bureau"]["code"]: (b["sections"], b["mean"]) for b in distribution["bureaus"] if b["sections"]} == {
        code: (len(ms), round(mean(ms), 1)) for code, ms in by_bureau.items()}
    assert sum(b["sections"] for b in distribution["bins"]) == 2
    assert [b["sections"] for b in distribution["bins"] if b["sections"]] == [1, 1]  # 0.0 and 100.0
    assert distribution["prefecture"]["completion"] == 100.0
    assert distribution["prefecture"]["submitted"] == 4  # progress counts: every 所属, whatever the scope

    wins = client.get(f"{base}/quick-wins?scope=confirmed").json()
    assert wins["counted_sheets"] == "confirmed"
    assert {q["section"]["code"] for q in wins["quick_wins"]} == {"Q1"}  # P5's ☆ item at × is not confirmed
    [k6] = wins["counterpart_items"]
    assert k6["not_done"] == per_item[K6]["×"] == 1
    assert [(b["bureau"]["code"], b["count"], [n["code"] for n in b["names"]]) for b in k6["bureaus"]] == [
        ("Q", 1, ["Q1"])]


def test_the_group_figures_per_category_over_confirmed_sheets_match_a_recount(session, cw):
    """The figures the pages do not offer per category yet, read the same way (the one read path)."""
    q = cw.bureaus["Q"].id
    found = figures.groups(session, None, [cw.round.id], bureau_ids=[q], categories=True,
                           states=figures.CONFIRMED_ONLY)
    definition = checklists.get_definition(session, cw.version_id)
    for name in definition.categories:
        for group in (PREFECTURE, q):
            figure = found[GroupKey(cw.round.id, group, name)]
            # Q1 is all × (0.0); the prefecture adds P1, all ◎ (100.0)
            assert (figure.sections, figure.mean) == ((2, 50.0) if group == PREFECTURE else (1, 0.0)), (name, group)
    assert figures.maturities(session, cw.round.id, states=figures.CONFIRMED_ONLY) == [(0.0, 1), (100.0, 1)]
    assert figures.sections_in(session, cw.round.id, bureau_id=q, states=figures.CONFIRMED_ONLY) == 1


def test_a_sheet_sent_back_or_reopened_leaves_the_confirmed_figures(client, session, cw):
    desk = auth_service.load_principal(session, cw.desk.id)
    review.review_item(session, desk, cw.round.id, "Q1", K1, mark="returned", comment="根拠を書いてください")
    session.commit()
    assert confirmed_recount(session, cw.round.id)[0] == ["P1"]
    sign_in(client, "desk@test.example")
    weak = client.get(f"/api/v1/rounds/{cw.round.id}/weak-items?scope=confirmed").json()
    assert weak["sections"] == 1


DESK_PAGES = ("board", "heatmap", "weak-items", "quick-wins", "distribution")


def test_every_desk_page_offers_the_choice_and_states_what_it_counts(client, session, cw):
    sign_in(client, "desk@test.example")
    for name in DESK_PAGES:
        page = client.get(f"/desk/{name}?round={cw.round.id}&scope=confirmed")
        assert page.status_code == 200, name
        html = page.text
        if 'id="scope-switch"' in html:
            assert "集計の対象：</span><strong>確認済の所属のみ</strong>" in html, name
            assert "窓口がシート全体を確認済にした所属だけを数えています" in html, name
            assert re.search(r'scope=confirmed" aria-current="true">確認済の所属のみ</a>', html), name
        tabs = re.findall(r'<nav class="desk-tabs".*?</nav>', html, re.S)[0]
        assert all(h.endswith("&amp;scope=confirmed") for h in re.findall(r'href="([^"]+)"', tabs)), name
    weak = client.get(f"/desk/weak-items?round={cw.round.id}&scope=confirmed").text
    assert "全庁（確認済の所属のみ）：2所属の回答" in weak
    heatmap = client.get(f"/desk/heatmap?round={cw.round.id}&scope=confirmed").text
    results = heatmap.split('id="results"')[1]
    assert "P部 1課" in results and "Q部 1課" in results and "P部 5課" not in results and "P部 2課" not in results
    overview = client.get(f"/rounds/{cw.round.id}?scope=confirmed").text
    assert "集計の対象：</span><strong>確認済の所属のみ</strong>" in overview
    # the default still offers the three choices
    default = client.get(f"/desk/heatmap?round={cw.round.id}").text
    choices = default.split('class="scope-switch__choices"')[1].split("</ul>")[0]
    assert [label for label in re.findall(r">([^<>]+)</a>", choices)] == ["提出済の所属のみ", "確認済の所属のみ",
                                                                         "すべての所属"]
