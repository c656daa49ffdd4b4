"""In a real browser: choose ◎ on a row, reload, it is kept — with htmx, and with JavaScript off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import V1_KEYS

pytestmark = pytest.mark.browser


def row(page, key: str):
    return page.locator(f"#r{V1_KEYS.index(key) + 1}")


def sign_in(page, base: str, upn: str) -> None:
    """Pick a user on the development sign-in page."""
    page.goto(f"{base}/auth/login")
    page.locator(f"button[value='{upn}']").click()
    page.wait_for_load_state()


def test_clicking_a_status_saves_the_row_at_once(live, chromium):
    base, world, _ = live
    context = chromium.new_context()
    page = context.new_page()
    sign_in(page, base, "member.a1@test.example")
    expect(page).to_have_url(f"{base}/rounds/{world.round.id}/sections/A1")
    first = row(page, "office.daily.keep-electronic")
    first.locator("label", has_text="◎").click()
    expect(first.locator("output")).to_contain_text("保存しました")
    expect(page.locator("#score-panel")).to_contain_text("100.0")
    memo = first.get_by_role("textbox")
    memo.fill("共有フォルダに保存している")
    # Wait for the memo's own save: 「保存しました」 is already shown from the status, so waiting for the
    # text alone let the reload below cut the save short on a busy machine.
    with page.expect_response(lambda r: r.url.endswith("/items/office.daily.keep-electronic")) as saved:
        memo.press("Tab")
    assert saved.value.status == 200
    expect(first.locator("output")).to_contain_text("保存しました")
    page.reload()
    first = row(page, "office.daily.keep-electronic")
    expect(first.get_by_role("radio", name="◎ 60%以上")).to_be_checked()
    expect(first.get_by_role("textbox")).to_have_value("共有フォルダに保存している")
    context.close()


def test_without_javascript_the_page_is_a_form_with_a_save_button(live, chromium):
    base, world, _ = live
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base, "member.a1@test.example")
    page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
    row(page, "office.daily.no-personal-printing").locator("label", has_text="△").click()
    row(page, "meeting.internal.no-paper-handouts").locator("label", has_text="該当なし").click()
    page.get_by_role("button", name="まとめて保存する").click()
    expect(page.get_by_role("status").filter(has_text="2件の回答を保存しました")).to_be_visible()
    page.reload()
    expect(row(page, "office.daily.no-personal-printing").get_by_role("radio", name="△ 30%以下")).to_be_checked()
    expect(row(page, "meeting.internal.no-paper-handouts").get_by_role("radio", name="該当なし この所属には該当しない")
           ).to_be_checked()
    context.close()
