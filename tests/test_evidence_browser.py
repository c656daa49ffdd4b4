"""In a real browser (issue 14's 「Done when」, its first steps): a member attaches a link and a PDF to an item of
the sheet (htmx swaps the item's 根拠資料 box, the row's answer is not saved by it), the leader submits, and the
evidence stays, read-only; and the same forms work with JavaScript off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import V1_KEYS
from tests.test_sheet_browser import sign_in

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LINK = "https://pref.sharepoint.com/sites/dx/Shared%20Documents/keep.pdf"


def test_a_member_attaches_a_link_and_a_pdf_and_the_leader_submits(live, chromium):
    base, world, _ = live
    sheet = f"{base}/rounds/{world.round.id}/sections/A1"
    member = chromium.new_context()
    page = member.new_page()
    sign_in(page, base, "member.a1@test.example")
    expect(page).to_have_url(sheet)
    box = page.locator("#evb1")
    expect(box.locator("summary")).to_contain_text("根拠資料（0）")
    box.locator("summary").click()
    expect(page.locator("#evu1")).to_have_count(0)  # a closed box carries no fields: they come when asked for
    with page.expect_response(lambda r: "/evidence/" in r.url and r.request.method == "GET") as asked:
        box.get_by_role("link", name="追加・削除").click()
    assert asked.value.status == 200
    expect(page.locator("#evu1")).to_be_focused()  # the first field takes the focus
    expect(page.locator("#evidence-forms #ev1")).to_have_count(1)  # its forms, outside the sheet's form
    page.locator("#evu1").fill(LINK)
    page.locator("#evl1").fill("電子保管の手順")
    with page.expect_response(lambda r: "/evidence/" in r.url) as sent:
        box.get_by_role("button", name="リンクを追加").click()
    assert sent.value.status == 200
    expect(page.locator("#evb1")).to_contain_text("リンクを追加しました。")
    expect(page.locator("#evb1 a", has_text="電子保管の手順")).to_have_attribute("href", LINK)
    page.locator("#evf1").set_input_files(files=[{"name": "保管ルール.pdf", "mimeType": "application/pdf",
                                                   "buffer": PDF}])
    with page.expect_response(lambda r: "/evidence/" in r.url) as sent:
        page.locator("#evb1").get_by_role("button", name="ファイルを添付").click()
    assert sent.value.status == 200
    expect(page.locator("#evb1 summary")).to_contain_text("根拠資料（2）")
    expect(page.locator("#evb1 a", has_text="保管ルール.pdf")).to_be_visible()
    expect(page.locator("#r1 output")).not_to_contain_text("保存しました")  # the answer itself was not touched
    # the file downloads as an attachment
    with page.expect_download() as download:
        page.locator("#evb1 a", has_text="保管ルール.pdf").click()
    assert download.value.suggested_filename == "保管ルール.pdf"
    # the member answers every item; the leader submits
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    for key in V1_KEYS:
        answered = page.request.put(f"{base}/api/v1/rounds/{world.round.id}/sections/A1/answers/{key}",
                                    data={"status": "○", "version": 0}, headers={"X-CSRF-Token": token})
        assert answered.status == 200, answered.text()
    member.close()
    leader = chromium.new_context()
    page = leader.new_page()
    sign_in(page, base, "leader.a1@test.example")
    page.goto(sheet)
    page.get_by_role("button", name="提出する").click()
    expect(page).to_have_url(f"{sheet}?submitted=1")
    page.locator("#evb1 summary").click()
    expect(page.locator("#evb1 a", has_text="保管ルール.pdf")).to_be_visible()
    expect(page.locator("#evb1").get_by_role("button", name="リンクを追加")).to_have_count(0)  # submitted: read only
    page.goto(f"{sheet}/history")
    expect(page.locator("main")).to_contain_text("根拠資料を追加: 保管ルール.pdf")
    expect(page.locator("main")).to_contain_text(f"リンクを追加: 電子保管の手順（{LINK}）")
    leader.close()


def test_without_javascript_the_item_s_form_posts_and_comes_back_to_the_item(live, chromium):
    base, world, _ = live
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base, "member.a1@test.example")
    page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
    page.locator("#evb2 summary").click()
    page.locator("#evb2").get_by_role("link", name="追加・削除").click()
    expect(page).to_have_url(f"{base}/rounds/{world.round.id}/sections/A1?evidence=2#evb2")
    page.locator("#evu2").fill("javascript:alert(1)")
    page.locator("#evb2").get_by_role("button", name="リンクを追加").click()
    expect(page.locator("#eve2")).to_contain_text("「javascript:」で始まるリンクは登録できません")
    page.locator("#evu2").fill(LINK)
    page.locator("#evb2").get_by_role("button", name="リンクを追加").click()
    expect(page).to_have_url(f"{base}/rounds/{world.round.id}/sections/A1?evidence=2#evb2")
    expect(page.locator("#evb2 a", has_text=LINK)).to_be_visible()  # the box is open after the round trip
    page.locator("#evb2").get_by_role("button", name="削除").click()
    expect(page.locator("#evb2 summary")).to_contain_text("根拠資料（0）")
    context.close()
