"""In a real browser, the sheet as a person fills it in (issue 11, point 6): a memo saves itself while typing
and when the page is left, a real conflict says so and keeps what was typed, the progress line follows each
answer, and the page fits a phone with memos that grow with their text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import V1_KEYS

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
LONG_MEMO = "\n".join(f"{n}行目：共有フォルダに保存し、紙の回覧をやめた経緯を書いておく。" for n in range(1, 9))


def row(page, key: str):
    return page.locator(f"#r{V1_KEYS.index(key) + 1}")


def open_sheet(chromium, base: str, world, *, viewport=DESKTOP, **options):
    context = chromium.new_context(viewport=viewport, **options)
    page = context.new_page()
    page.goto(f"{base}/auth/login")
    page.locator("button[value='member.a1@test.example']").click()
    page.wait_for_load_state()
    page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
    return context, page


def test_a_memo_saves_itself_while_typing_and_is_there_after_a_reload(live, chromium):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    key = "office.daily.no-personal-printing"
    memo = row(page, key).get_by_role("textbox")
    memo.press_sequentially("裏紙のメモ帳をやめた")
    # nothing pressed, nothing left: the pause after the last keystroke saves it
    expect(row(page, key).locator("output")).to_contain_text("保存しました")
    expect(memo).to_be_focused()
    version = int(page.input_value("#v2"))
    assert version == 1
    memo.press_sequentially("。両面印刷も徹底")  # a second save carries the version the first one left: no conflict
    expect(page.locator("#v2")).to_have_value("2")
    expect(row(page, key).locator("output")).to_contain_text("保存しました")
    page.reload()
    expect(row(page, key).get_by_role("textbox")).to_have_value("裏紙のメモ帳をやめた。両面印刷も徹底")
    context.close()


def stored_memo(page, base: str, round_id: int, key: str) -> str | None:
    sheet = page.request.get(f"{base}/api/v1/rounds/{round_id}/sections/A1/sheet").json()
    return next(i["answer"]["memo"] for i in sheet["items"] if i["item_key"] == key)


def test_a_memo_typed_just_before_leaving_the_page_is_saved(live, chromium):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    key = "briefing.section.paperless"
    row(page, key).get_by_role("textbox").fill("打合せはモニターに投影")
    page.goto(f"{base}/sections/A1/trend")  # at once, long before the typing pause would save it
    # The keepalive request outlives the page, but Playwright reports no event for a request of a page that
    # is gone: ask the server until it has it (a bounded wait for the save, not a measure of its time).
    for _ in range(100):
        if stored_memo(page, base, world.round.id, key) == "打合せはモニターに投影":
            break
        page.wait_for_timeout(100)
    assert stored_memo(page, base, world.round.id, key) == "打合せはモニターに投影"
    page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
    expect(row(page, key).get_by_role("textbox")).to_have_value("打合せはモニターに投影")
    context.close()


def test_a_real_conflict_keeps_the_text_typed_and_offers_to_overwrite(live, chromium):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    key = "briefing.bureau.paperless"
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    other = page.request.put(f"{base}/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}",
                             data={"status": "○", "memo": "別の人のメモ", "version": 0},
                             headers={"X-CSRF-Token": token})
    assert other.status == 200, other.text()
    memo = row(page, key).get_by_role("textbox")
    memo.press_sequentially("私のメモ")
    output = row(page, key).locator("output")
    expect(output).to_contain_text("メモを保存できませんでした")
    expect(output).to_contain_text("保存されているメモ：別の人のメモ")
    expect(memo).to_have_value("私のメモ")
    row(page, key).get_by_role("button", name="入力中のメモで上書き保存").click()
    expect(output).to_contain_text("保存しました")
    page.reload()
    expect(row(page, key).get_by_role("textbox")).to_have_value("私のメモ")
    expect(row(page, key).get_by_role("radio", name="○ 60～30%程度")).to_be_checked()  # their status is kept
    context.close()


def test_the_progress_line_follows_each_answer_without_taking_the_focus(live, chromium):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    line = page.locator("#progress-line")
    expect(line).to_have_attribute("aria-live", "polite")
    expect(line).to_contain_text("回答 0/6")
    expect(line).to_contain_text("成熟度 —")
    key = "office.daily.keep-electronic"
    row(page, key).locator("label", has_text="◎").click()
    expect(line).to_contain_text("回答 1/6")
    expect(line).to_contain_text("成熟度 100.0点")
    expect(row(page, key).get_by_role("radio", name="◎ 60%以上")).to_be_focused()
    # it stays in view while the rows scroll by
    page.locator(f"#r{len(V1_KEYS)}").scroll_into_view_if_needed()
    page.mouse.wheel(0, 2000)
    assert page.evaluate("() => document.getElementById('progress-line').getBoundingClientRect().top") >= 0
    expect(line).to_be_in_viewport()
    context.close()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 768, "height": 1024}, DESKTOP], ids=["phone", "tablet", "desktop"])
def test_the_sheet_fits_the_width_and_a_long_memo_is_never_cut_off(live, chromium, viewport):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world, viewport=viewport)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    memo = row(page, "meeting.internal.no-paper-handouts").get_by_role("textbox")
    memo.fill(LONG_MEMO)
    assert memo.evaluate("m => [m.scrollHeight, m.clientHeight]")[0] <= memo.evaluate("m => m.clientHeight")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    context.close()


def test_without_css_field_sizing_the_script_grows_the_memo(live, chromium):
    """Browsers without ``field-sizing: content``: static/js/app.js sets the height from the text."""
    base, world, _ = live
    context, page = open_sheet(chromium, base, world, bypass_csp=True)  # for the style added below
    page.add_style_tag(content=".item-row textarea { field-sizing: fixed !important; }")
    memo = row(page, "meeting.external.advance-or-tablet").get_by_role("textbox")
    memo.fill(LONG_MEMO)
    height, client = memo.evaluate("m => [m.scrollHeight, m.clientHeight]")
    assert height <= client
    assert client > 100  # grown from one line
    context.close()


def test_reference_links_open_over_the_rows_and_close_with_escape(live, chromium):
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    refs = page.locator(".item-refs").first
    refs.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(refs.locator("li").first).to_be_visible()
    page.keyboard.press("Escape")
    expect(refs.locator("li").first).to_be_hidden()
    expect(refs.locator("summary")).to_be_focused()
    context.close()


def test_typing_a_memo_then_choosing_a_status_at_once_saves_both_without_a_conflict(live, chromium):
    """Leaving the memo for a status of the same row starts the memo's save, then the status's: the status
    waits for the memo's answer (and its version) instead of meeting it as someone else's change."""
    base, world, _ = live
    context, page = open_sheet(chromium, base, world)
    key = "meeting.internal.no-paper-handouts"
    memo = row(page, key).get_by_role("textbox")
    memo.press_sequentially("資料は画面共有")
    with page.expect_response(lambda r: r.url.endswith(f"/items/{key}") and r.request.headers.get("x-csrf-token")
                              and "s5=%E2%97%8E" in (r.request.post_data or "")) as status_saved:
        row(page, key).locator("label", has_text="◎").click()  # the memo loses the focus: its save starts first
    assert status_saved.value.status == 200
    expect(row(page, key).locator("output")).to_contain_text("保存しました")
    expect(row(page, key)).not_to_have_class(re.compile("item-row--error"))
    page.reload()
    expect(row(page, key).get_by_role("radio", name="◎ 60%以上")).to_be_checked()
    expect(row(page, key).get_by_role("textbox")).to_have_value("資料は画面共有")
    context.close()
