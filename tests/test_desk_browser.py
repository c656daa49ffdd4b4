"""In a real browser (Debian's Chromium through Playwright): the desk signs in, opens the heatmap,
filters a 部局 (htmx swaps the table), and opens a 所属's sheet, read-only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app, live_server) -> str:
    """The app on a free port (uvicorn in a background thread)."""
    return live_server(app)


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    yield page
    context.close()
    assert errors == [], errors  # no CSP violations, no script errors, no failed request (but the favicon)


def test_desk_opens_heatmap_filters_a_bureau_and_opens_a_section(session, served, browser_page):
    dw = factories.build_desk_world(session)
    factories.make_user(session, "desk@demo.example", "窓口（デモ）", is_desk=True)  # listed by the dev sign-in
    session.commit()
    page = browser_page
    page.goto(f"{served}/auth/login")
    page.locator("button[value='desk@demo.example']").click()
    expect(page.get_by_role("heading", name="提出状況", level=1)).to_be_visible()  # the desk lands on the board
    page.get_by_text("DX推進リーダーのメールアドレス（絞り込んだ").click()  # loads the list (htmx)
    expect(page.locator("#mail-list")).to_have_value(re.compile(r"^leader\.p1@test\.example; "))
    page.get_by_role("button", name="宛先をコピー").click()
    expect(page.locator("[data-copy-status='mail-list']")).to_have_text(re.compile("コピーしました|選択しました"))

    page.get_by_role("navigation", name="窓口の集計").get_by_role("link", name="ヒートマップ").click()
    expect(page.get_by_role("heading", name="ヒートマップ", level=1)).to_be_visible()
    page.get_by_label("調査回を切り替える").select_option(str(dw.round.id))
    page.locator(".round-picker button").click()
    # an open round: by default only the submitted 所属 (P1, P5) are counted, and the page says so
    expect(page.locator("#results")).to_contain_text("全庁（提出済の所属のみ）：2所属")
    switch = page.get_by_role("navigation", name="集計の対象の切り替え")
    switch.get_by_role("link", name="すべての所属").click()
    expect(page.locator("#results")).to_contain_text("全庁（すべての所属）：7所属")
    expect(switch.get_by_role("link", name="すべての所属")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("link", name="P部 1課")).to_be_visible()

    page.get_by_label("部局").select_option("Q")  # htmx: only #results is swapped, the URL follows
    expect(page.locator("#results")).to_contain_text("Q部（すべての所属）：2所属")
    expect(page.get_by_role("link", name="P部 1課")).to_have_count(0)
    expect(page).to_have_url(f"{served}/desk/heatmap?round={dw.round.id}&scope=all&bureau=Q&sort=org")
    # the switch came back with the swap (out of band): its links keep the 部局 just chosen
    expect(switch.get_by_role("link", name="提出済の所属のみ")).to_have_attribute("href", re.compile("bureau=Q"))
    row = page.locator("tr", has=page.get_by_role("link", name="Q部 1課"))
    expect(row.locator("td.n")).to_have_count(6)  # six × cells, each with its symbol
    expect(row.locator("td.n").first).to_have_text("×")

    page.get_by_role("link", name="Q部 1課").click()
    expect(page).to_have_url(f"{served}/rounds/{dw.round.id}/sections/Q1")
    expect(page.get_by_text("変更はできません")).to_be_visible()
    expect(page.locator(".status-group input:checked").first).to_be_disabled()
    expect(page.get_by_role("button", name="まとめて保存する")).to_have_count(0)
