"""In a real browser (Debian's Chromium through Playwright): a leader opens their trend page, sets a
target and presses 「相談する」; the desk sees the request. The app runs in uvicorn on a free port."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import SectionRole
from tests import factories as f

KEEP = "office.daily.keep-electronic"


@pytest.fixture
def served(app, live_server) -> str:
    """The app on a free port (uvicorn in a background thread)."""
    return live_server(app)


def sign_in(page: Page, base: str, upn: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator(f'button[value="{upn}"]').click()
    page.wait_for_load_state()


@pytest.mark.browser
def test_a_leader_sets_a_target_and_asks_the_desk_who_sees_the_request(session, world, served, chromium):
    # The development sign-in page lists users of the demo domain.
    f.make_user(session, "leader.a1@demo.example", "鈴木 リーダー", section=world.a1, role=SectionRole.LEADER)
    f.make_user(session, "desk@demo.example", "窓口 デモ", is_desk=True)
    f.set_answers(session, world.round.id, world.a1, {KEEP: "△", "office.daily.no-personal-printing": "×"})
    session.commit()
    browser = chromium
    contexts = []
    try:
        contexts.append(browser.new_context(viewport={"width": 1024, "height": 900}))
        leader = contexts[-1].new_page()
        sign_in(leader, served, "leader.a1@demo.example")
        leader.get_by_role("link", name="推移・目標を見る").click()
        expect(leader.get_by_role("heading", level=1)).to_contain_text("推移・目標")

        leader.get_by_label("次回の目標：資料を電子でも保管している").select_option("◎")
        leader.get_by_role("button", name="目標を保存する").click()
        expect(leader.get_by_role("status")).to_contain_text("目標を保存しました")
        expect(leader.get_by_label("次回の目標：資料を電子でも保管している")).to_have_value("◎")

        leader.get_by_role("link", name="相談する：資料を電子でも保管している").click()
        expect(leader.get_by_label("資料を電子でも保管している", exact=False)).to_be_checked()
        leader.get_by_label("相談したいこと").fill("共有フォルダの整理から始めたいので、進め方を相談させてください。")
        leader.get_by_role("button", name="相談を送る").click()
        expect(leader.get_by_role("status")).to_contain_text("業務DX相談窓口に相談を送りました")
        expect(leader.locator(".sstate")).to_have_text("受付")

        contexts.append(browser.new_context(viewport={"width": 1400, "height": 900}))
        desk = contexts[-1].new_page()
        sign_in(desk, served, "desk@demo.example")
        desk.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="伴走支援").click()
        row = desk.locator("tr.support-row", has_text="A部 一課")
        expect(row).to_contain_text("所属からの相談")
        expect(row).to_contain_text("資料を電子でも保管している")
        row.get_by_role("link", name="詳細").click()
        expect(desk.locator(".prewrap").first).to_contain_text("共有フォルダの整理から始めたい")
        expect(desk.get_by_role("link", name="編集する")).to_be_visible()
    finally:
        for context in contexts:
            context.close()
