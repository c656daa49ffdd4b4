"""In a real browser (Debian's Chromium through Playwright), at a desktop, a tablet and a phone width: table
cells do not break a word in the middle (「詳/細」, a date over two lines), and the page never scrolls sideways
(a wide table scrolls in its own box). Issue 11, point 10."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests import factories as f
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser

WIDTHS = (1366, 768, 390)
KEEP = "office.daily.keep-electronic"

# How many lines a cell's (or an element's) text takes: the distinct tops of its text's line boxes.
LINES = """el => {
  const tops = new Set();
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim() || n.parentElement.closest('.visually-hidden')) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
  }
  return tops.size;
}"""


@pytest.fixture
def served(app, live_server) -> str:
    return live_server(app)


def one_line(page, locator) -> None:
    """No cell of ``locator`` takes more than one line (a cell whose text is all visually hidden, such as the
    board's check-box column, takes none), and at least one shows on one line."""
    assert locator.count() > 0, locator
    lines = [locator.nth(i).evaluate(LINES) for i in range(min(locator.count(), 5))]
    assert max(lines) == 1, (page.viewport_size, lines, locator.all_inner_texts()[:5])


def no_sideways_scroll(page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_short_cells_and_dates_keep_to_one_line_at_every_width(session, world, served, chromium):
    today = date.today()
    for i in range(4):  # rows with long item texts squeeze the columns
        f.make_support_record(session, world.a1, round_id=world.round.id, origin="request", state="received",
                              follow_up_on=today + timedelta(days=i), items=(KEEP,), by=world.desk)
    session.commit()
    for width in WIDTHS:
        context = chromium.new_context(viewport={"width": width, "height": 800})
        try:
            browser_sign_in(context, served, world.admin.upn)
            page = context.new_page()
            page.goto(f"{served}/admin/users")  # the admin's own sign-in is in the audit log too
            one_line(page, page.locator(".data-table thead th"))
            one_line(page, page.locator(".data-table td.date"))
            no_sideways_scroll(page)
            page.goto(f"{served}/admin/audit")
            one_line(page, page.locator(".data-table td.date"))
            one_line(page, page.locator(".data-table td.cell-label"))
            no_sideways_scroll(page)
            page.goto(f"{served}/admin/rounds")
            one_line(page, page.locator(".data-table .date"))
            one_line(page, page.locator(".data-table th.cell-label"))  # 令和8年度 第1回
            no_sideways_scroll(page)
        finally:
            context.close()
        context = chromium.new_context(viewport={"width": width, "height": 800})
        try:
            browser_sign_in(context, served, world.desk.upn)
            page = context.new_page()
            page.goto(f"{served}/support")
            one_line(page, page.locator(".support-table td.cell-action"))  # 詳細
            one_line(page, page.locator(".support-table td.date"))
            one_line(page, page.locator(".support-table .cell-note.date"))
            one_line(page, page.locator(".support-table thead th"))
            no_sideways_scroll(page)
            for path in ("/desk/board", "/desk/heatmap"):
                page.goto(f"{served}{path}?round={world.round.id}&scope=all")  # every sheet: none is submitted here
                one_line(page, page.locator(".data-table thead th, .heatmap thead th").filter(has_text="所属"))
                no_sideways_scroll(page)
        finally:
            context.close()


def test_the_trend_page_fits_a_phone_its_tables_scroll_in_named_focusable_boxes(session, served, chromium):
    dw = f.build_desk_world(session)  # two rounds: the page shows its charts and tables
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    try:
        browser_sign_in(context, served, dw.desk.upn)
        page = context.new_page()
        page.goto(f"{served}/sections/P1/trend")
        assert page.get_by_role("heading", name="推移・目標", level=1).is_visible()
        no_sideways_scroll(page)
        boxes = page.locator(".table-wrap")
        assert boxes.count() >= 3
        scrolling = 0
        for i in range(boxes.count()):
            box = boxes.nth(i)
            assert box.get_attribute("tabindex") == "0"  # reachable with the keyboard to scroll it
            assert box.get_attribute("role") == "region"
            name = box.evaluate("b => document.getElementById(b.getAttribute('aria-labelledby')).textContent")
            assert name.strip(), i
            scrolling += box.evaluate("b => b.scrollWidth > b.clientWidth")
        assert scrolling >= 1  # at least one table is wider than a phone: it scrolls inside its box
        for chart in page.locator("svg.chart").all():
            assert chart.get_attribute("viewBox")
            assert chart.bounding_box()["width"] <= 390
    finally:
        context.close()
