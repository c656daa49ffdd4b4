"""Issue 14's 「Done when」 in a real browser (Debian's Chromium through Playwright), without the evidence part: A1's
leader submits; the desk sends one item back with a comment; the leader sees the comment beside the item, fixes it
(◎ with a memo shared as 取組事例) and submits again; the desk confirms the whole sheet; B1, at × on that item, sees
A1's practice in its hints and presses 「この所属に聞いてみる」; the desk sees the 相談. On both databases."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests import factories as f
from tests.conftest import browser_sign_in
from tests.factories import V1_KEYS

pytestmark = pytest.mark.browser

K1 = V1_KEYS[0]  # 1. 資料を電子でも保管している
COMMENT = "電子で保管している場所（フォルダ名）をメモに書いてください"
MEMO = "共有フォルダ「総務/保管」に年度別で保存し、紙の原本は電子化の後に廃棄している"


@pytest.fixture
def served(app, live_server) -> str:
    return live_server(app)


def sign_in(page: Page, base: str, upn: str) -> None:
    """The development sign-in in the page's browser context (some test users sit in a folded list)."""
    browser_sign_in(page.context, base, upn)


def test_send_back_fix_resubmit_confirm_and_another_section_asks_about_the_practice(session, world, served,
                                                                                   chromium):
    f.set_answers(session, world.round.id, world.a1, {K1: "△"} | dict.fromkeys(V1_KEYS[1:], "○"))
    f.set_answers(session, world.round.id, world.b1, {K1: "×"})
    session.commit()
    sheet_a1 = f"{served}/rounds/{world.round.id}/sections/A1"
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 900}) for _ in range(3)]
    try:
        leader, desk, other = (c.new_page() for c in contexts)
        # A1's leader submits
        sign_in(leader, served, "leader.a1@test.example")
        leader.goto(sheet_a1)
        leader.get_by_role("button", name="提出する").click()
        expect(leader.get_by_role("button", name="提出を取り消す")).to_be_visible()

        # the desk sends item 1 back with a comment
        sign_in(desk, served, "desk@test.example")
        desk.goto(sheet_a1)
        panel = desk.locator("#review-panel")
        expect(panel.locator(".review-state")).to_have_text("未確認")
        item = panel.locator("#review-1")
        item.get_by_role("textbox").fill(COMMENT)
        item.get_by_role("button", name="差戻し").click()
        expect(desk.locator("#review-panel .review-state")).to_have_text("差戻し")
        expect(desk.locator("#review-panel")).to_contain_text("差し戻しました")

        # the leader sees the comment beside the item, fixes it and submits again
        leader.goto(sheet_a1)
        expect(leader.get_by_role("status").filter(has_text="差戻し：")).to_contain_text("1件の項目が差し戻されました")
        row = leader.locator("#r1")
        expect(row.locator(".review-comment")).to_contain_text(COMMENT)
        row.locator("label", has_text="◎").click()
        expect(row.locator("output")).to_contain_text("保存しました")
        row.get_by_role("textbox").fill(MEMO)
        with leader.expect_response(lambda r: r.url.endswith(f"/items/{K1}")) as saved:
            row.get_by_label("取組事例として共有する", exact=False).check()
        assert saved.value.status == 200
        expect(row.get_by_label("取組事例として共有する", exact=False)).to_be_checked()
        leader.get_by_role("button", name="提出する").click()
        expect(leader.get_by_role("button", name="提出を取り消す")).to_be_visible()

        # the desk confirms the whole sheet
        desk.goto(sheet_a1)
        expect(desk.locator("#review-panel .review-state")).to_have_text("確認中")
        expect(desk.locator("#review-1")).to_contain_text("差戻し後に再提出")
        desk.get_by_role("button", name="シート全体を確認済にする").click()
        expect(desk.locator("#review-panel .review-state")).to_have_text("確認済")

        # B1, at × on item 1, sees A1's practice in its hints and asks to be connected
        sign_in(other, served, "leader.b1@test.example")
        other.goto(f"{served}/rounds/{world.round.id}/sections/B1")
        hints = other.locator("#r1 details.item-hints")
        hints.locator("summary").click()
        practice = hints.locator("li.practice")
        expect(practice).to_contain_text("取組事例：A部 一課")
        expect(practice).to_contain_text(MEMO)
        practice.get_by_role("button", name="この所属に聞いてみる").click()
        expect(other.get_by_role("status").filter(has_text="相談を送りました")).to_be_visible()

        # the desk sees the 相談
        desk.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="伴走支援").click()
        request = desk.locator("tr.support-row", has_text="B部 一課")
        expect(request).to_contain_text("所属からの相談")
        request.get_by_role("link", name="詳細").click()
        expect(desk.locator(".prewrap").first).to_contain_text("A部 一課（所属コード A1）が共有している取組事例")
    finally:
        for context in contexts:
            context.close()
