"""Accessibility (JIS X 8341-3 / WCAG 2.x AA): axe-core, injected by Playwright into Debian's Chromium,
finds no serious or critical violation on any page, and every control of every page shows a focus outline
(2px or more) when reached with the keyboard; the sheet can be filled in and submitted with the keyboard
alone; the status radio groups read as 「達成状況：…」 with options 「◎ 60%以上」.

Adding a page: add one line to ``PAGES`` (who looks, which URL; ``then`` for a state reached by acting on
the page). A GET page route that is in neither ``PAGES`` nor ``NOT_PAGES`` fails
``test_every_page_route_is_checked_by_axe``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.routing import iter_route_contexts
from playwright.sync_api import Page, expect

from app.auth import service as auth_service
from app.auth import tokens
from app.config import PROJECT_ROOT
from app.main import create_app
from app.rounds import service as rounds_service
from app.sheets import evidence
from app.sheets import service as sheets_service
from app.sheets.evidence_rules import Limits
from app.sheets.models import EventSource
from tests import factories
from tests.conftest import browser_sign_in, make_settings, sign_in

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
DESKTOP = {"width": 1280, "height": 720}  # Playwright's default
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class A11yPage:
    name: str
    persona: str | None  # None: not signed in
    path: str  # placeholders: the ids of ``rich_site`` ({round_id}: the open round, where 所属 B1's sheet is submitted)
    route: str  # the route pattern this page stands for (for the coverage check)
    status: int = 200
    viewport: dict | None = None
    then: Callable[[Page, dict[str, int]], None] | None = None  # brings the page to a state worth checking
    msal: bool = False  # served by the app with Microsoft 365 sign-in (the same database)


def _open_confirm_previous(page: Page, ids: dict[str, int]) -> None:
    """The confirmation step of 「前回どおりで確認」: the list of items (loaded when the step opens) and the button
    (issue 11.11)."""
    page.locator("#previous-panel summary").click()
    page.get_by_role("button", name="1項目を前回どおりで確認する").wait_for()
    page.locator("ul.previous-confirm__list li").first.wait_for()


def _refused_send_back(page: Page, ids: dict[str, int]) -> None:
    """The desk's review panel after a 差戻し sent without its comment (htmx swaps the panel with the message)."""
    with page.expect_response(lambda r: "/review/items/" in r.url):
        page.locator("#review-1 button[value=returned]").click()
    page.locator("#review-error").wait_for()


def _stale_row_save(page: Page, ids: dict[str, int]) -> None:
    """A row after a refused save (htmx): someone else saved it first, so the row shows their answer."""
    key = KEYS[5]
    origin, token = page.evaluate(
        "() => [location.origin, JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']]")
    other = page.request.put(f"{origin}/api/v1/rounds/{ids['round_id']}/sections/A1/answers/{key}",
                             data={"status": "○", "version": 0}, headers={"X-CSRF-Token": token})
    assert other.status == 200, other.text()
    row = f"#r{KEYS.index(key) + 1}"
    with page.expect_response(lambda r: r.url.endswith(f"/items/{key}")) as saved:
        page.locator(f"{row} span.e").click()
    assert saved.value.status == 409
    expect(page.locator(f"{row} .save-state__error")).to_be_visible()


def _practice_hint_open(page: Page, ids: dict[str, int]) -> None:
    """A1's △ item with 所属 B1's shared practice (取組事例) in its 改善のヒント, opened: the name, the memo and
    「この所属に聞いてみる」."""
    hint = page.locator("#r2 details.item-hints")
    hint.locator("summary").click()
    expect(hint.get_by_role("button", name=re.compile(r"この所属に聞いてみる\s*（B部 一課）"))).to_be_visible()


def _evidence_open(page: Page, ids: dict[str, int]) -> None:
    """A1's first item's 根拠資料 opened: the link and the PDF (and, for its staff, the forms)."""
    page.locator("#evb1 summary").click()
    expect(page.locator("#evb1 a", has_text="保管ルール.pdf")).to_be_visible()


def _evidence_refused_link(page: Page, ids: dict[str, int]) -> None:
    """A ``javascript:`` link refused in the item's 根拠資料 box (htmx swaps the box with the message)."""
    _evidence_open(page, ids)
    page.locator("#evb1").get_by_role("link", name="追加・削除").click()
    page.locator("#evu1").fill("javascript:alert(1)")
    with page.expect_response(lambda r: "/evidence/" in r.url) as sent:
        page.locator("#evb1").get_by_role("button", name="リンクを追加").click()
    assert sent.value.status == 422
    expect(page.locator("#eve1")).to_contain_text("「javascript:」で始まるリンクは登録できません")


def _memo_conflict_and_links_open(page: Page, ids: dict[str, int]) -> None:
    """A memo whose autosave met someone else's change (its message, their memo and the overwrite button),
    and an item's 参考リンク opened over the rows."""
    key = KEYS[4]
    n = KEYS.index(key) + 1
    origin, token = page.evaluate(
        "() => [location.origin, JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']]")
    other = page.request.put(f"{origin}/api/v1/rounds/{ids['round_id']}/sections/A1/answers/{key}",
                             data={"status": "○", "memo": "別の人のメモ", "version": int(page.input_value(f"#v{n}"))},
                             headers={"X-CSRF-Token": token})
    assert other.status == 200, other.text()
    page.locator(f"#m{n}").press_sequentially("私のメモ")
    expect(page.locator(f"#r{n} output")).to_contain_text("メモを保存できませんでした")
    page.locator(".item-refs summary").first.click()
    expect(page.locator(".item-refs[open] a, .item-refs[open] .intranet-path").first).to_be_visible()


def _bad_checklist_upload(page: Page, ids: dict[str, int]) -> None:
    """A checklist file that is not a valid definition, uploaded: the page again (422), problems at the field."""
    page.set_input_files("#f-file", files=[{"name": "v9.yaml", "mimeType": "application/yaml",
                                            "buffer": b"id: x\nversion: 9\ncategories: []\n"}])
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="違いを確認する").click()
    assert sent.value.status == 422
    expect(page.locator("#file-error")).to_be_visible()


def _bad_cap(page: Page, ids: dict[str, int]) -> None:
    """A cap of 0 for 部局 A sent from the desk's figures page: the page again (422), the message at the field."""
    page.fill("#f-cap-A", "０")
    page.fill("#f-cap-B", "１２，０００")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="令和8年度の上限を保存する").click()
    assert sent.value.status == 422
    expect(page.locator("#e-cap-A")).to_be_visible()


def _future_reorg_preview(page: Page, ids: dict[str, int]) -> None:
    """A reorganisation dated next April previewed: offered as a schedule (予定)."""
    page.set_input_files("#f-file", files=[{"name": "reorg.csv", "mimeType": "text/csv", "buffer": (
        "種別,旧コード,新コード,新名称,新部局コード\nrename,A2,,A部 第二課,\n").encode()}])
    page.fill("#f-effective_on", "2099-04-01")
    with page.expect_navigation():
        page.get_by_role("button", name="内容を確認する").click()
    expect(page.get_by_role("button", name="令和81年4月1日の予定として登録する")).to_be_visible()


def _empty_support_form(page: Page, ids: dict[str, int]) -> None:
    """The desk's form sent without the required date: shown again (422) with the messages."""
    page.fill("#consulted_on", "")
    page.fill("#advice", "")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="記録する").click()
    assert sent.value.status == 422
    expect(page.locator(".field-error").first).to_be_visible()


def _premature_submit(page: Page, ids: dict[str, int]) -> None:
    """提出 with an item unanswered (htmx): the panel lists it, linked to its row, and takes the focus. (The
    member's pages before answered A1's last item: it is cleared again first.)"""
    key = KEYS[5]
    origin, token = page.evaluate(
        "() => [location.origin, JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']]")
    cleared = page.request.put(f"{origin}/api/v1/rounds/{ids['round_id']}/sections/A1/answers/{key}",
                               data={"status": None, "version": int(page.input_value("#v6"))},
                               headers={"X-CSRF-Token": token})
    assert cleared.status == 200, cleared.text()
    page.reload()
    with page.expect_response(lambda r: r.url.endswith("/submit")) as sent:
        page.get_by_role("button", name="提出する").click()
    assert sent.value.status == 422
    expect(page.locator("#submit-error")).to_be_focused()
    expect(page.locator("#submit-error a[href='#r6']")).to_be_visible()


def _target_below_current(page: Page, ids: dict[str, int]) -> None:
    """A target that became lower than this round's answer while the form was open (the picker offers only
    statuses above the answer it was drawn with): htmx swaps the section, the message at the field and
    the summary focused."""
    key = KEYS[1]  # △ in this round: the picker offers ◎ and ○
    page.locator(f"select[name='target:{key}']").select_option("○")
    origin, token = page.evaluate(
        "() => [location.origin, JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']]")
    sheet = page.request.get(f"{origin}/api/v1/rounds/{ids['round_id']}/sections/A1/sheet").json()
    version = next(i["answer"]["version"] for i in sheet["items"] if i["item_key"] == key)
    raised = page.request.put(f"{origin}/api/v1/rounds/{ids['round_id']}/sections/A1/answers/{key}",
                              data={"status": "◎", "version": version}, headers={"X-CSRF-Token": token})
    assert raised.status == 200, raised.text()
    with page.expect_response(lambda r: r.url.endswith("/targets")) as sent:
        page.get_by_role("button", name="目標を保存する").click()
    assert sent.value.status == 422
    expect(page.locator(".row--error .field-error")).to_be_visible()
    expect(page.locator("#targets-error")).to_be_focused()


def _negative_figure(page: Page, ids: dict[str, int]) -> None:
    """A negative figure: htmx swaps the form, the message at the field and the summary focused."""
    page.get_by_label("FAX送信件数（件）").fill("－５")
    with page.expect_response(lambda r: r.url.endswith("/figures/entry")) as sent:
        page.get_by_role("button", name="実績値を保存する").click()
    assert sent.value.status == 422
    expect(page.locator("#entry-error")).to_be_focused()
    expect(page.locator(".field--error .field-error")).to_be_visible()


SHEET = "/rounds/{round_id}/sections/{code}"
FIGURES_ENTRY = "/sections/{code}/figures/entry"
SUPPORT_RECORD = "/support/{record_id}"
PAGES = [
    A11yPage("sign-in", None, "/auth/login", "/auth/login"),
    A11yPage("signed out", None, "/auth/signed-out", "/auth/signed-out"),
    # Where Entra returns; without a pending sign-in of this browser the sign-in is refused, with the reason.
    A11yPage("sign-in refused (Microsoft 365)", None, "/auth/callback", "/auth/callback", 400, msal=True),
    A11yPage("sign-out", "member_a", "/auth/logout", "/auth/logout"),
    A11yPage("home without a sheet", "no_section", "/", "/"),
    # 所属 A1 has answers (checked options of every colour) and history in both rounds.
    A11yPage("sheet as member", "member_a", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("sheet row after a refused save", "member_a", "/rounds/{round_id}/sections/A1", SHEET,
             then=_stale_row_save),
    A11yPage("sheet: a memo's autosave after someone else's change, 参考リンク open", "member_a",
             "/rounds/{round_id}/sections/A1", SHEET, then=_memo_conflict_and_links_open),
    A11yPage("sheet as leader", "leader_a", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("sheet: a shared practice in 改善のヒント", "leader_a", "/rounds/{round_id}/sections/A1", SHEET,
             then=_practice_hint_open),
    A11yPage("sheet: 根拠資料 opened, a refused link (htmx)", "member_a", "/rounds/{round_id}/sections/A1", SHEET,
             then=_evidence_refused_link),
    A11yPage("sheet: 根拠資料 as desk (read only)", "desk", "/rounds/{round_id}/sections/A1", SHEET,
             then=_evidence_open),
    A11yPage("sheet: a refused 提出 (htmx)", "leader_a", "/rounds/{round_id}/sections/A1", SHEET,
             then=_premature_submit),
    # 所属 A1's item still unanswered (cleared again just before) is offered last year's answer; 「前回どおりで確認」 opened (its confirmation step)
    A11yPage("sheet: 前回どおりで確認 opened", "leader_a", "/rounds/{round_id}/sections/A1", SHEET,
             then=_open_confirm_previous),
    # the same list as a page (its link without JavaScript)
    A11yPage("sheet: 前回どおりで確認's list", "leader_a", "/rounds/{round_id}/sections/A1/previous",
             "/rounds/{round_id}/sections/{code}/previous"),
    A11yPage("sheet: only the unanswered rows", "leader_a", "/rounds/{round_id}/sections/A1?only=unanswered", SHEET),
    A11yPage("sheet: a refused 提出 (no JavaScript)", "leader_a",
             "/rounds/{round_id}/sections/A1?submit=incomplete#submit-error", SHEET),
    A11yPage("sheet as desk (read only)", "desk", "/rounds/{round_id}/sections/A1", SHEET),
    A11yPage("submitted sheet", "member_b", "/rounds/{round_id}/sections/B1", SHEET),
    # the desk's review of B1's submitted sheet (issue 14.2): a 差戻し without a comment, refused in the panel
    A11yPage("sheet: the desk's review, a refused 差戻し", "desk", "/rounds/{round_id}/sections/B1", SHEET,
             then=_refused_send_back),
    A11yPage("sheet on a tablet", "member_a", "/rounds/{round_id}/sections/A1", SHEET, viewport=TABLET),
    A11yPage("history", "leader_a", "/rounds/{round_id}/sections/A1/history",
             "/rounds/{round_id}/sections/{code}/history"),
    A11yPage("history of the closed round", "leader_a", "/rounds/{past_round_id}/sections/A1/history",
             "/rounds/{round_id}/sections/{code}/history"),
    A11yPage("trend and targets", "leader_a", "/sections/A1/trend", "/sections/{code}/trend"),
    A11yPage("trend: a target refused", "leader_a", "/sections/A1/trend", "/sections/{code}/trend",
             then=_target_below_current),
    A11yPage("trend as member", "member_a", "/sections/A1/trend", "/sections/{code}/trend"),
    A11yPage("trend on a phone", "leader_a", "/sections/A1/trend", "/sections/{code}/trend", viewport=PHONE),
    A11yPage("figures of a 所属", "leader_a", "/sections/A1/figures", "/sections/{code}/figures"),
    A11yPage("figures of a 所属 as desk", "desk", "/sections/A1/figures?fy=2025", "/sections/{code}/figures"),
    A11yPage("desk: figures", "desk", "/desk/figures?figure=print.copies&fy=2026", "/desk/figures"),
    A11yPage("desk: figure caps refused", "desk", "/desk/figures?figure=paper.purchased&fy=2026", "/desk/figures",
             then=_bad_cap),
    A11yPage("figures: import", "desk", "/desk/figures/import", "/desk/figures/import"),
    A11yPage("figures: import mapping", "desk", "/desk/figures/import/{kpi_upload_id}",
             "/desk/figures/import/{upload_id}"),
    A11yPage("figures: import preview with row errors", "desk",
             "/desk/figures/import/{kpi_upload_id}?preview=1&code=0&month=2&fig.print.copies=3",
             "/desk/figures/import/{upload_id}"),
    A11yPage("figures: import mapping refused", "desk", "/desk/figures/import/{kpi_upload_id}?preview=1&month=2",
             "/desk/figures/import/{upload_id}", 422),
    A11yPage("figures: a month's entry", "leader_a", "/sections/A1/figures/entry", FIGURES_ENTRY),
    A11yPage("figures: a negative figure refused", "leader_a", "/sections/A1/figures/entry", FIGURES_ENTRY,
             then=_negative_figure),
    A11yPage("figures: a future month refused", "leader_a", "/sections/A1/figures/entry?month=2099-01", FIGURES_ENTRY,
             422),
    A11yPage("figures: entry as desk (read only)", "desk", "/sections/A1/figures/entry", FIGURES_ENTRY),
    A11yPage("the 所属's support records", "leader_a", "/sections/A1/support", "/sections/{code}/support"),
    A11yPage("相談する", "leader_a", "/sections/A1/consult?item=" + KEYS[2], "/sections/{code}/consult"),
    A11yPage("round overview", "desk", "/rounds/{round_id}", "/rounds/{round_id}"),
    A11yPage("desk: submission board", "desk", "/desk/board", "/desk/board"),
    A11yPage("desk: the leaders' mail list", "desk", "/desk/board/mail-list", "/desk/board/mail-list"),
    A11yPage("desk: heatmap", "desk", "/desk/heatmap", "/desk/heatmap"),
    A11yPage("desk: heatmap, every 所属 counted", "desk", "/desk/heatmap?scope=all", "/desk/heatmap"),
    A11yPage("desk: weak items, 確認済の所属のみ", "desk", "/desk/weak-items?scope=confirmed", "/desk/weak-items"),
    A11yPage("desk: reminders", "desk", "/desk/reminders", "/desk/reminders"),
    A11yPage("desk: reminders, send now preview", "desk", "/desk/reminders/preview?section=A1&section=A2",
             "/desk/reminders/preview"),
    A11yPage("desk: weak items", "desk", "/desk/weak-items", "/desk/weak-items"),
    A11yPage("desk: shared practices of an item", "desk", f"/desk/practices?item={KEYS[1]}", "/desk/practices"),
    A11yPage("desk: quick wins", "desk", "/desk/quick-wins", "/desk/quick-wins"),
    A11yPage("desk: distribution", "desk", "/desk/distribution", "/desk/distribution"),
    A11yPage("desk: downloads", "desk", "/desk/downloads", "/desk/downloads"),
    A11yPage("desk: downloads, 所属 searched", "desk", "/desk/downloads?q=A", "/desk/downloads"),
    A11yPage("trend: choose a 所属", "desk", "/trend", "/trend"),
    A11yPage("support records", "desk", "/support?state=all", "/support"),
    A11yPage("support effects", "desk", "/support/effects", "/support/effects"),
    A11yPage("support: new requests and overdue follow-ups", "desk", "/support/inbox", "/support/inbox"),
    A11yPage("support: new requests only", "desk", "/support?state=new", "/support"),
    A11yPage("support: choose a 所属", "desk", "/support/new", "/support/new"),
    A11yPage("support: a 所属 searched on a phone", "desk", "/support/new?q=A", "/support/new", viewport=PHONE),
    A11yPage("support: new record", "desk", "/support/new?section=A1", "/support/new"),
    A11yPage("support: new record refused", "desk", "/support/new?section=A1", "/support/new",
             then=_empty_support_form),
    A11yPage("support record", "desk", "/support/{record_id}", SUPPORT_RECORD),
    A11yPage("support record: edit", "desk", "/support/{open_record_id}/edit", "/support/{record_id}/edit"),
    A11yPage("API tokens", "desk", "/tokens", "/tokens"),
    A11yPage("admin", "admin", "/admin", "/admin"),
    A11yPage("admin: users", "admin", "/admin/users", "/admin/users"),
    A11yPage("admin: new user", "admin", "/admin/users/new", "/admin/users/new"),
    A11yPage("admin: a user", "admin", "/admin/users/{leader_id}", "/admin/users/{user_id}"),
    A11yPage("admin: import users", "admin", "/admin/users-import", "/admin/users-import"),
    A11yPage("admin: audit log", "admin", "/admin/audit", "/admin/audit"),
    A11yPage("admin: audit log filtered", "admin", "/admin/audit?person=admin&from=2020-01-01", "/admin/audit"),
    A11yPage("admin: audit log, a filter refused", "admin", "/admin/audit?from=2026-13-01", "/admin/audit", 422),
    A11yPage("admin: rounds", "admin", "/admin/rounds", "/admin/rounds"),
    A11yPage("admin: notices that could not be sent", "admin", "/admin/notices", "/admin/notices"),
    A11yPage("admin: where notices go", "admin", "/admin/notify-channels", "/admin/notify-channels"),
    A11yPage("my notification settings", "leader_a", "/settings/notices", "/settings/notices"),
    A11yPage("admin: a closed round", "admin", "/admin/rounds/{past_round_id}", "/admin/rounds/{round_id}"),
    A11yPage("admin: checklist versions", "admin", "/admin/checklists", "/admin/checklists"),
    A11yPage("admin: checklist v2 against v1", "admin", "/admin/checklists/preview?path=checklists/paperless/v2.yaml",
             "/admin/checklists/preview"),
    A11yPage("admin: reorganisation", "admin", "/admin/reorg", "/admin/reorg"),
    A11yPage("admin: a reorganisation to schedule", "admin", "/admin/reorg", "/admin/reorg",
             then=_future_reorg_preview),
    A11yPage("admin: a checklist upload refused", "admin", "/admin/checklists", "/admin/checklists",
             then=_bad_checklist_upload),
    A11yPage("admin: Excel import", "admin", "/admin/import", "/admin/import"),
    A11yPage("error 403", "member_b", "/rounds/{round_id}/sections/A1", SHEET, 403),
    A11yPage("error 404", "member_a", "/no-such-page", "/", 404),
]
PERSONA_ORDER = [None, *UPN]  # pages are checked persona by persona (sorted is stable: PAGES order within)
# GET routes that are not pages a person reads (JSON, files, redirects only).
NOT_PAGES = {
    "/healthz", "/api/v1/openapi.json", "/static",
    "/desk",  # only redirects to /desk/board
    "/sections/{code}/targets",  # only redirects to the targets on /sections/{code}/trend
    "/admin/audit.csv",  # a file (the audit log's page links to it)
    "/rounds/{round_id}/sections/{code}/evidence/{evidence_id}",  # a file (根拠資料), always an attachment
    # an evidence box with its fields (htmx) or a redirect to the sheet page: checked there (_evidence_refused_link)
    "/evidence/rounds/{round_id}/sections/{code}/items/{item_key}",
}


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


@pytest.fixture
def msal_base(database_url, live_server) -> Iterator[str]:
    """The same database served with Microsoft 365 sign-in. No provider is contacted: the page checked
    there (a refused sign-in) is answered before the app would talk to Entra."""
    application = create_app(make_settings(
        database_url, auth="msal", entra_tenant_id="11111111-2222-3333-4444-555555555555",
        entra_client_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", entra_client_secret="test-client-secret-0123456789",
        entra_redirect_uri="http://127.0.0.1/auth/callback"))
    yield live_server(application)
    application.state.engine.dispose()


@pytest.fixture
def rich_site(site, session):
    """``site`` with what the other pages show: last year's closed round (answers, history, targets and a
    supported item that improved), this round's answers and history for 所属 A1 (one item unanswered),
    support records (overdue, a request, done), a target for the next round and the desk's API token.
    Returns the base URL and the ids the page paths use."""
    base, world = site
    past = factories.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                                opens_on=date(2025, 10, 1))
    factories.fill(session, past.id, world.a1, world.leader_a,
                   {k: (s, "紙の資料が多い" if s == "×" else "") for k, s in zip(KEYS, "△×○△×○", strict=True)})
    factories.fill(session, past.id, world.a1, world.member_a, {KEYS[1]: ("△", "個人印刷を減らし始めた")})
    leader = auth_service.load_principal(session, world.leader_a.id)
    sheets_service.submit(session, leader, past.id, "A1", source=EventSource.PAGE)
    factories.set_answers(session, past.id, world.a2, dict(zip(KEYS, "○○△×◎×", strict=True)))
    factories.set_answers(session, past.id, world.b1, dict(zip(KEYS, ("◎", "○", "○", "△", "該当なし", "○"), strict=True)))
    for key, status in ((KEYS[0], "◎"), (KEYS[1], "○"), (KEYS[4], "△")):
        factories.make_target(session, world.a1, past.id, key, status, by=world.leader_a)
    done = factories.make_support_record(
        session, world.a1, round_id=past.id, state="done", consulted_on=date(2025, 11, 10), items=(KEYS[0], KEYS[4]),
        advice="共有フォルダの整理と、会議資料をTeamsで事前に共有する手順を説明した。", by=world.desk)
    rounds_service.close_round(session, past)

    factories.fill(session, world.round.id, world.a1, world.member_a,
                   {k: (s, "") for k, s in zip(KEYS[:5], ("◎", "△", "×", "○", "該当なし"), strict=True)})
    factories.fill(session, world.round.id, world.a1, world.leader_a, {KEYS[2]: ("×", "部局の会議は紙のまま")})
    factories.set_answers(session, world.round.id, world.a2, dict(zip(KEYS, "◎○○△◎△", strict=True)))
    factories.make_target(session, world.a1, world.round.id, KEYS[2], "△", by=world.leader_a)
    # 所属 B1 shares its ◎ on the item A1 answered △ (取組事例): A1's hint shows it, the desk lists it
    factories.share_practice(session, world.round.id, world.b1, KEYS[1], "個人用の印刷をやめ、資料はPDFに書き込んで保管している")
    # 根拠資料 on A1's first item (issue 14.1): a link and a PDF, on every A1 sheet page below
    member = auth_service.load_principal(session, world.member_a.id)
    evidence.add_link(session, member, world.round.id, "A1", KEYS[0], url="https://pref.sharepoint.com/sites/dx/plan",
                      label="電子保管の手順", limits=Limits())
    evidence.add_file(session, member, world.round.id, "A1", KEYS[0], filename="保管ルール.pdf",
                      data=b"%PDF-1.7\n%%EOF\n", limits=Limits())
    today = date.today()
    overdue = factories.make_support_record(
        session, world.a1, round_id=world.round.id, state="in_progress", consulted_on=today - timedelta(days=20),
        follow_up_on=today - timedelta(days=2), items=(KEYS[2],), advice="部局の会議資料の電子化を提案した。",
        by=world.desk)
    factories.make_support_record(session, world.a1, round_id=world.round.id, state="received", origin="request",
                                  items=(KEYS[2],), advice="", message="部局会議の資料をどう電子化するか相談したい。",
                                  by=world.leader_a)
    factories.make_support_record(session, world.b1, round_id=world.round.id, state="in_progress",
                                  follow_up_on=today + timedelta(days=3), items=(KEYS[3],), by=world.desk)
    tokens.create(session, world.desk, name="Power BI 集計", days=90)
    kpi_upload = _figures(session, world, leader)
    session.commit()
    return base, {"round_id": world.round.id, "past_round_id": past.id, "record_id": done.id,
                  "open_record_id": overdue.id, "leader_id": world.leader_a.id, "kpi_upload_id": kpi_upload}


def _figures(session, world, leader) -> int:
    """A1's figures of two months (this year and last), and a file with row errors uploaded for import."""
    from app.config import PROJECT_ROOT
    from app.kpis import service as kpi_service
    from app.kpis.catalogue import Catalogue
    from app.kpis.loader import load_directory
    from app.kpis.models import KpiUpload

    catalogue = Catalogue.of(load_directory(PROJECT_ROOT / "kpis"))
    for month, copies in ((date(2025, 5, 1), "9000"), (date(2026, 5, 1), "7000")):
        kpi_service.save_month(session, leader, world.a1, month, catalogue, [
            kpi_service.FigureInput(k, v, 0) for k, v in (("print.copies", copies), ("fax.sent", "30"),
                                                           ("staff.count", "20"), ("approvals.total", "100"),
                                                           ("approvals.electronic", "80"))])
    data = (PROJECT_ROOT / "tests" / "data" / "copier-errors-utf8.csv").read_bytes()
    upload = KpiUpload(filename="copier-errors-utf8.csv", content=data, sha256="0" * 64, created_by_id=world.desk.id)
    session.add(upload)
    session.flush()
    return upload.id


def _axe_context(chromium, **options):
    """A browser context whose every page has axe-core, injected before the page's own scripts: no transfer
    per page, Chromium compiles it once per context, and the page keeps its own CSP (no bypass)."""
    context = chromium.new_context(locale="ja-JP", **options)
    context.add_init_script(path=str(AXE))
    return context


def _axe(page) -> list[dict]:
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


FOCUSABLE = ("a[href], button, input:not([type=hidden]), select, textarea, summary, "
             "[tabindex]:not([tabindex='-1'])")


def _focus_not_visible(page) -> list[str]:
    """Controls that show no focus outline of 2px or more when reached with the keyboard.

    One Tab press puts the page in keyboard mode; focus() then moves on as the keyboard would show it. A
    hidden radio drawn by the element after it (the sheet's status options: a label around the radio and
    its button) shows the outline on that element. A date input is
    four Tab stops inside the one element (year, month, day, the calendar button): each is pressed to."""
    page.keyboard.press("Tab")
    missing = page.evaluate("""(selector) => {
        const missing = [];
        for (const el of document.querySelectorAll(selector)) {
            if (el.disabled || el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden') continue;
            el.focus();
            if (document.activeElement !== el) continue;
            const hidden = getComputedStyle(el).opacity === '0';
            const shown = hidden ? (el.nextElementSibling || (el.labels && el.labels[0]) || el) : el;
            const cs = getComputedStyle(shown);
            if (cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) < 2) {
                missing.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} `
                             + `${(el.name || el.textContent || '').trim().slice(0, 30)}`);
            }
        }
        return missing;
    }""", FOCUSABLE)
    dates = "input[type=date]:not([disabled])"
    for n in range(page.locator(dates).count()):
        page.evaluate("([s, n]) => document.querySelectorAll(s)[n].focus()", [dates, n])
        for stop in range(1, 5):
            field, width = page.evaluate("""([s, n]) => {
                const el = document.querySelectorAll(s)[n], cs = getComputedStyle(el);
                return [document.activeElement === el ? el.id : null,
                        cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth)];
            }""", [dates, n])
            if field is None:
                break
            if width < 2:
                missing.append(f"input#{field} (Tab stop {stop} of the date)")
            page.keyboard.press("Tab")
    return missing


def test_axe_finds_no_serious_or_critical_violation_and_focus_shows_on_every_page(rich_site, msal_base,
                                                                                   chromium):
    base, ids = rich_site
    # One browser for all pages, signed in as each persona in turn: a context per page (or per persona)
    # would start a renderer and compile axe again each time.
    context = _axe_context(chromium)
    problems = []
    try:
        page = context.new_page()
        # The harness itself: axe, injected, does report a known critical violation.
        page.set_content('<html lang="ja"><title>t</title><body><main><img src="x.png"></main></body></html>')
        assert "image-alt" in {v["id"] for v in _axe(page)}
        persona, viewport = None, None
        for entry in sorted(PAGES, key=lambda e: PERSONA_ORDER.index(e.persona)):
            if entry.persona != persona:
                context.clear_cookies()
                if entry.persona:
                    browser_sign_in(context, base, UPN[entry.persona])
                persona = entry.persona
            if entry.viewport != viewport:
                page.set_viewport_size(entry.viewport or DESKTOP)
                viewport = entry.viewport
            response = page.goto((msal_base if entry.msal else base) + entry.path.format(**ids))
            assert response.status == entry.status, (entry.name, response.status)
            if entry.then:
                entry.then(page, ids)
            problems += [f"{entry.name}: {violation}" for violation in _axe(page)]
            problems += [f"{entry.name}: focus not visible on {what}" for what in _focus_not_visible(page)]
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
            _tab_to(page, f"el.name === '{factories.field('status', key)}'")
            # Focus is visible: the focused (hidden) radio's button (the span beside it) carries a thick outline.
            label = "document.activeElement.nextElementSibling"
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
        row = page.locator("#r1")
        expect(row.locator("output")).to_contain_text("保存しました")

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
        group = page.get_by_role("group", name="達成状況 資料を電子でも保管している", exact=True)
        expect(group).to_have_count(1)
        for name in ("◎ 60%以上", "○ 60～30%程度", "△ 30%以下", "× 未対応", "未回答"):
            expect(group.get_by_role("radio", name=name, exact=True)).to_have_count(1)
        snapshot = group.aria_snapshot()
        assert '- group "達成状況 資料を電子でも保管している"' in snapshot
        assert re.search(r'- radio "◎ 60%以上"', snapshot), snapshot
        # An item that allows 該当なし offers it, with its meaning.
        meeting = page.get_by_role("group", name="達成状況 紙資料を配っていない", exact=True)
        na = meeting.get_by_role("radio", name="該当なし この所属には該当しない", exact=True)
        expect(na).to_have_count(1)
        memo = page.get_by_role("textbox", name="メモ 資料を電子でも保管している", exact=True)
        expect(memo).to_have_count(1)
    finally:
        context.close()
