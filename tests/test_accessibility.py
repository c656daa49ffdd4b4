"""Accessibility (JIS X 8341-3 / WCAG 2.x AA): axe-core, injected by Playwright into Debian's Chromium,
finds no serious or critical violation on any main page; the sheet can be filled in and submitted with the
keyboard alone; focus is visible; the status radio groups read as 「達成状況：…」 with options 「◎ 60%以上」.

Adding a page: add one line to ``PAGES`` (who looks, which URL). A GET page route that is in neither
``PAGES`` nor ``NOT_PAGES`` fails ``test_every_page_route_is_checked_by_axe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.routing import iter_route_contexts
from playwright.sync_api import expect

from app.config import PROJECT_ROOT
from tests import factories
from tests.conftest import browser_sign_in, sign_in

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
UPN = {
    "member_a": "member.a1@test.example",
    "leader_a": "leader.a1@test.example",
    "member_b": "member.b1@test.example",
    "leader_b": "leader.b1@test.example",
    "desk": "desk@test.example",
    "admin": "admin@test.example",
    "no_section": "nosection@test.example",
}
KEYS = ["office.daily.keep-electronic", "office.daily.no-personal-printing", "briefing.section.paperless",
        "briefing.bureau.paperless", "meeting.internal.no-paper-handouts",
        "meeting.external.advance-or-tablet"]
TABLET = {"width": 800, "height": 1280}


@dataclass(frozen=True)
class A11yPage:
    name: str
    persona: str | None  # None: not signed in
    path: str  # {round_id}: the open round; 所属 B1's sheet is submitted
    route: str  # the route pattern this page stands for (for the coverage check)
    status: int = 200
    viewport: dict | None = None


SHEET = "/rounds/{round_id}/sections/{code}"
PAGES = [
    A11yPage("sign-in", None, "/auth/login", "/auth/login"),
    A11yPage("sign-out", "member_a", "/auth/logout", "/auth/logout"),
    A11yPage("home without a sheet", "no_section", "/", "/"),
    A11yPage("sheet as member", "member_a", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("sheet as leader", "leader_a", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("sheet as desk (read only)", "desk", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("submitted sheet", "member_b", "/rounds/{round_id}/sections/B1", SHEET),
    A11yPage("sheet on a tablet", "member_a", "/rounds/{round_id}/sections/A1", SHEET, viewport=TABLET),
    A11yPage("round overview", "desk", "/rounds/{round_id}", "/rounds/{round_id}"),
    A11yPage("error 403", "member_b", "/rounds/{round_id}/sections/A1", SHEET, 403),
    A11yPage("error 404", "member_a", "/no-such-page", "/", 404),
]
# GET routes that are not pages a person reads (JSON, files, redirects only).
NOT_PAGES = {"/healthz", "/api/v1/openapi.json", "/static"}


def test_every_page_route_is_checked_by_axe(app):
    checked = {p.route for p in PAGES}
    unchecked = []
    for context in iter_route_contexts(app.routes):
        path = context.path
        if "GET" not in (context.methods or {"GET"}) or path.startswith("/api/") or path in NOT_PAGES:
            continue
        if path not in checked:
            unchecked.append(path)
    assert not unchecked, f"page routes without a line in tests/test_accessibility.py PAGES: {unchecked}"


@pytest.fixture
def site(app, session, world, client, live_server):
    """The app on a real port, with 所属 B1's sheet answered and submitted, and a person with no 所属."""
    factories.make_user(session, UPN["no_section"], "所属なし")
    session.commit()
    token = sign_in(client, UPN["leader_b"])
    for key, status in zip(KEYS, "◎○△×◎○", strict=True):
        response = client.put(f"/api/v1/rounds/{world.round.id}/sections/B1/answers/{key}",
                              json={"status": status, "memo": "提出前の確認済み", "version": 0},
                              headers={"X-CSRF-Token": token})
        assert response.status_code == 200, response.text
    assert client.post(f"/api/v1/rounds/{world.round.id}/sections/B1/submit",
                       headers={"X-CSRF-Token": token}).status_code == 200
    return live_server(app), world


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_or_critical_violation_on_any_main_page(site, chromium):
    base, world = site
    probe = chromium.new_context(bypass_csp=True)
    try:  # the harness itself: axe, injected, does report a known critical violation
        page = probe.new_page()
        page.set_content('<html lang="ja"><title>t</title><body><main><img src="x.png"></main></body></html>')
        assert "image-alt" in {v["id"] for v in _axe(page)}
    finally:
        probe.close()
    problems = []
    for entry in PAGES:
        context = chromium.new_context(bypass_csp=True, locale="ja-JP", viewport=entry.viewport)
        try:
            if entry.persona:
                browser_sign_in(context, base, UPN[entry.persona])
            page = context.new_page()
            response = page.goto(base + entry.path.format(round_id=world.round.id))
            assert response.status == entry.status, (entry.name, response.status)
            for violation in _axe(page):
                problems.append(f"{entry.name}: {violation}")
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def _tab_to(page, predicate: str, *, backwards: bool = False, limit: int = 120) -> None:
    """Press Tab (or Shift+Tab) until ``predicate`` (JS over document.activeElement ``el``) holds."""
    for _ in range(limit):
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({predicate}); }}"):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"focus never reached: {predicate}")


def _outline(page, selector_js: str) -> tuple[str, float]:
    style, width = page.evaluate(f"""() => {{
        const el = {selector_js};
        const cs = getComputedStyle(el);
        return [cs.outlineStyle, parseFloat(cs.outlineWidth)];
    }}""")
    return style, width


def test_the_sheet_is_filled_in_and_submitted_with_the_keyboard_alone_with_visible_focus(site, chromium):
    base, world = site
    context = chromium.new_context(locale="ja-JP")
    try:
        browser_sign_in(context, base, UPN["leader_a"])
        page = context.new_page()
        page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
        page.wait_for_function("() => window.htmx !== undefined")
        for n, key in enumerate(KEYS):
            _tab_to(page, f"el.name === 'status:{key}'")
            # Focus is visible: the focused (hidden) radio's label carries a thick outline.
            label = "document.querySelector(`label[for='${document.activeElement.id}']`)"
            style, width = _outline(page, label)
            assert style != "none" and width >= 2, (key, style, width)
            with page.expect_response(lambda r, key=key: r.url.endswith(f"/items/{key}")) as saved:
                page.keyboard.press("ArrowRight")  # from 未回答 (last) round to ◎ (first)
            assert saved.value.status == 200
            assert page.evaluate("() => document.activeElement.value") == "◎"
            if n == 0:
                page.keyboard.press("Tab")  # leaves the radio group for the memo
                assert page.evaluate("() => document.activeElement.tagName") == "TEXTAREA"
                style, width = _outline(page, "document.activeElement")
                assert style != "none" and width >= 2, ("memo", style, width)
                page.keyboard.type("キーボードだけで入力")
                with page.expect_response(lambda r, key=key: r.url.endswith(f"/items/{key}")) as saved:
                    page.keyboard.press("Tab")  # leaving the memo saves it
                assert saved.value.status == 200
        row = page.locator(f"#row-{KEYS[0].replace('.', '_')}")
        expect(row.locator(".save-state")).to_contain_text("保存しました")

        _tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === '提出する'", backwards=True)
        style, width = _outline(page, "document.activeElement")
        assert style != "none" and width >= 2, ("submit button", style, width)
        with page.expect_navigation():
            page.keyboard.press("Space")
        expect(page.locator(".notice--success")).to_contain_text("提出しました")

        sheet = context.request.get(f"{base}/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
        assert sheet["state"] == "submitted"
        assert [i["answer"]["status"] for i in sheet["items"]] == ["◎"] * 6
        assert sheet["items"][0]["answer"]["memo"] == "キーボードだけで入力"
    finally:
        context.close()


def test_status_radio_groups_read_as_achievement_with_labelled_options(site, chromium):
    base, world = site
    context = chromium.new_context(locale="ja-JP")
    try:
        browser_sign_in(context, base, UPN["member_a"])
        page = context.new_page()
        page.goto(f"{base}/rounds/{world.round.id}/sections/A1")
        group = page.get_by_role("group", name="達成状況：資料を電子でも保管している", exact=True)
        expect(group).to_have_count(1)
        for name in ("◎ 60%以上", "○ 60～30%程度", "△ 30%以下", "× 未対応", "未回答"):
            expect(group.get_by_role("radio", name=name, exact=True)).to_have_count(1)
        snapshot = group.aria_snapshot()
        assert '- group "達成状況：資料を電子でも保管している"' in snapshot
        assert re.search(r'- radio "◎ 60%以上"', snapshot), snapshot
        # An item that allows 該当なし offers it, with its meaning.
        meeting = page.get_by_role("group", name="達成状況：紙資料を配っていない", exact=True)
        na = meeting.get_by_role("radio", name="該当なし この所属には該当しない", exact=True)
        expect(na).to_have_count(1)
        memo = page.get_by_role("textbox", name="メモ：資料を電子でも保管している", exact=True)
        expect(memo).to_have_count(1)
    finally:
        context.close()
