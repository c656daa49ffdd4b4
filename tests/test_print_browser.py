"""Printing, as a person does it (issue 11.7): Chromium's PDF on A4 of the demo's full sheet with a memo on
every item, of the trend page of the 所属 with the most △ and ×, and of a 部局's heatmap (its summary for
幹部会議), counting the pages. In print the page keeps its content and drops navigation, buttons and forms."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import case, func, select, update

from app import demo
from app.checklists.loader import load_checklist
from app.config import PROJECT_ROOT
from app.orgs.models import Unit
from app.rounds.models import Round
from app.sheets.models import Answer, Sheet
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser

MEMO = ("会議資料は前日までにTeamsで共有し、当日は各課モニターで投影している。外部の方が出席する会議はまだ紙が中心で、"
        "次年度から電子送付に切り替える予定。タブレットの貸出も検討中。") * 2


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF that Chromium wrote: its page objects (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))


@pytest.fixture
def demo_site(session, app, live_server):
    """The demo (60 所属, two rounds, the newest on the newest 36-item checklist), served; every answer of the
    所属 with the most △ and × carries a long memo. Returns (base URL, round id, that 所属's code)."""
    files = demo.version_files(PROJECT_ROOT / "checklists" / "paperless")
    demo.load(session, load_checklist(files[0]), demo.DemoPlan(sections=60, rounds=2, seed=1),
              newest=load_checklist(files[-1]), between=[load_checklist(f) for f in files[1:-1]])
    newest = session.execute(select(Round.id).order_by(Round.opens_on.desc())).scalars().first()
    weak = func.sum(case((Answer.status.in_(("△", "×")), 1), else_=0))
    sheet_id, code = session.execute(
        select(Sheet.id, Unit.code).join(Unit, Unit.id == Sheet.unit_id).join(Answer, Answer.sheet_id == Sheet.id)
        .where(Sheet.round_id == newest).group_by(Sheet.id, Unit.code).order_by(weak.desc(), Unit.code)
    ).first()
    session.execute(update(Answer).where(Answer.sheet_id == sheet_id).values(memo=MEMO))
    assert session.execute(select(func.count()).where(Answer.sheet_id == sheet_id)).scalar_one() == 36
    session.commit()
    return live_server(app), newest, code


def test_the_sheet_the_trend_and_a_部局_summary_print_on_few_a4_pages(demo_site, chromium):
    base, round_id, code = demo_site
    leader = chromium.new_context(viewport={"width": 1366, "height": 768})
    browser_sign_in(leader, base, f"leader.{code}@demo.example")
    page = leader.new_page()

    page.goto(f"{base}/rounds/{round_id}/sections/{code}")
    page.emulate_media(media="print")
    row = page.locator("#r1")
    # the chosen status prints as its symbol; the other options, the page's navigation and buttons do not
    expect(row.locator("input:checked + span")).to_be_visible()
    expect(row.locator("input:not(:checked) + span").first).to_be_hidden()
    for chrome in (".site-nav", ".page-actions", ".submit-panel", ".row-filter", ".form-actions"):
        expect(page.locator(chrome).first).to_be_hidden()
    expect(page.locator("#score-panel")).to_be_visible()
    assert pdf_pages(page.pdf(format="A4")) <= 2

    page.goto(f"{base}/sections/{code}/trend")
    page.emulate_media(media="print")
    expect(page.locator(".toc")).to_be_hidden()
    expect(page.locator("#history")).to_be_visible()
    assert pdf_pages(page.pdf(format="A4")) <= 2
    leader.close()

    desk = chromium.new_context(viewport={"width": 1366, "height": 768})
    browser_sign_in(desk, base, "desk@demo.example")
    page = desk.new_page()
    page.goto(f"{base}/desk/heatmap?round={round_id}&bureau=10&scope=all")  # 経営管理部, 8 所属 (the largest)
    page.emulate_media(media="print")
    expect(page.locator(".desk-tabs")).to_be_hidden()
    assert page.locator(".heatmap tbody tr:has(.hm-name a)").count() == 8
    # all 36 columns within the width of A4 less its margins (190 mm, 718 CSS px): none is cut off
    page.set_viewport_size({"width": 718, "height": 1000})
    assert page.locator(".heatmap").bounding_box()["width"] <= 718
    assert pdf_pages(page.pdf(format="A4")) == 1
    desk.close()
