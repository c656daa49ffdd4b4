"""Who may do what, route by route: every route of the app, walked as every persona, from ONE table.

A route that is not in ``ACCESS`` fails ``test_every_route_of_the_app_has_an_access_rule``: when you add a
route, add its line here with the outcome for each persona (and, if it needs them, its path values, query
or body). Outcomes are status codes, or ``LOGIN`` (pages: 303 to the sign-in page; API: 401).

Personas (``tests/factories.build_world``): member and leader of 所属 A1, member of B1, desk, admin. Unless a
rule says otherwise the walk uses 所属 A1's sheet of the open round and its first item, so "member_b"
is always the person of another 所属. The outcomes are what the product should allow (README「誰が何を
できるか」, docs/leader-and-support.md, ``app/auth/permissions.py``), not merely what the app does.

The walk: one browser per persona, signed in once, reused for every rule (a rule marked ``fresh`` gets a
browser of its own: it changes who is signed in; since signing out ends every session of that person, the
walk signs the persona in again after it). Each persona walks its own copy of the world, in the
order of the table, so a write stays for the rules after it: rules that change something act on objects
made for them (``more_world``: a closed round to reopen, an open one to close, a draft to open, a user who
is not a persona, the leader's requests, the desk's and the admin's own API tokens) or change nothing a
later rule depends on. Bodies get past validation where they can, so the outcome shows who is let through
(where a body cannot be valid, the line says why the permitted persona gets 409 or 422).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tests.conftest import csrf_from, sign_in
from tests.factories import field as form_field

LOGIN = "login"
ROLES = ("anonymous", "member_a", "leader_a", "member_b", "desk", "admin")
UPN = {
    "member_a": "member.a1@test.example",
    "leader_a": "leader.a1@test.example",
    "member_b": "member.b1@test.example",
    "desk": "desk@test.example",
    "admin": "admin@test.example",
}
# Path values used unless a rule gives its own; {round_id} is the open round of the world. Other values
# (ids of what ``more_world`` makes) are named in the rules as "{name}".
PATH_DEFAULTS = {"code": "A1", "item_key": "office.daily.keep-electronic", "path": "css/app.css"}
K1 = PATH_DEFAULTS["item_key"]
K2 = "office.daily.no-personal-printing"
UNCHANGED_FORM = {form_field("version", K1): "0", form_field("status", K1): "◎"}  # saving ◎ again changes nothing
# member.a2 is nobody's persona: the admin's changes to a user are made to them (and change nothing).
A2_USER_FORM = {"upn": "member.a2@test.example", "display_name": "職員 A2", "unit_code": "A2", "role": "member"}
A2_USER_CSV = "UPN,表示名,所属コード,役割\r\nmember.a2@test.example,職員 A2,A2,member\r\n"
NEW_SECTION_CSV = "種別,旧コード,新コード,新名称,新部局コード\r\ncreate,,B9,B部 九課,B\r\n"  # 新設: touches no 所属


@dataclass(frozen=True)
class Value:
    """A value of the walk put into a JSON body as it is (an int stays an int)."""

    name: str


@dataclass(frozen=True)
class Rule:
    """Expected outcome per persona for one (method, path pattern)."""

    expect: dict[str, int | str]
    path: dict[str, str] = field(default_factory=dict)
    query: str = ""
    json: dict | None = None
    form: dict | None = None
    files: tuple[tuple[str, str, str], ...] = ()  # (field, file name, name of the walk's value with the bytes)
    fresh: bool = False  # needs a browser of its own (signs in or out)

    def outcome(self, role: str) -> int | str:
        return self.expect[role] if role in self.expect else self.expect["*"]


def everyone(outcome: int | str, **body) -> Rule:
    return Rule({"*": outcome}, **body)


def by_role(anonymous, member_a, leader_a, member_b, desk, admin, **body) -> Rule:
    return Rule(dict(anonymous=anonymous, member_a=member_a, leader_a=leader_a, member_b=member_b, desk=desk,
                     admin=admin), **body)


def signed_in(outcome: int | str, **body) -> Rule:
    return Rule({"anonymous": LOGIN, "*": outcome}, **body)


def own_section(outcome: int | str, **body) -> Rule:
    """A 所属's own things: its staff, the desk and admins; the person of another 所属 gets 403."""
    return by_role(LOGIN, outcome, outcome, 403, outcome, outcome, **body)


def desk_only(outcome: int | str, **body) -> Rule:
    """The desk's pages and figures: the desk and admins; 所属 staff get 403."""
    return by_role(LOGIN, 403, 403, 403, outcome, outcome, **body)


def admin_only(outcome: int | str, **body) -> Rule:
    """/admin/*: admins; everyone else, the desk too, gets 403."""
    return by_role(LOGIN, 403, 403, 403, 403, outcome, **body)


def leader_only(outcome: int | str, **body) -> Rule:
    """Things only the 所属's DX推進リーダー does (submit, targets, 「相談する」): all others 403."""
    return by_role(LOGIN, 403, outcome, 403, 403, 403, **body)


# by_role(anonymous, member_a, leader_a, member_b, desk, admin)
ACCESS: dict[tuple[str, str], Rule] = {
    # --- public, sign-in and sign-out ---------------------------------------------------------------------
    ("GET", "/healthz"): everyone(200),
    ("GET", "/api/v1/openapi.json"): everyone(200),
    ("GET", "/static/{path:path}"): everyone(200),
    ("GET", "/auth/login"): by_role(200, 303, 303, 303, 303, 303),
    ("POST", "/auth/dev-login"): everyone(303, form={"upn": "{upn}"}, fresh=True),
    # Development sign-in has no Entra ID: where Entra would return is not there (as dev-login under msal).
    ("GET", "/auth/callback"): everyone(404),
    ("POST", "/auth/callback"): everyone(404),
    ("GET", "/auth/signed-out"): everyone(200),
    ("GET", "/auth/logout"): by_role(303, 200, 200, 200, 200, 200),
    ("POST", "/auth/logout"): everyone(303, fresh=True),
    ("GET", "/"): signed_in(303),  # each person is sent to where they work
    ("GET", "/api/v1/me"): signed_in(200),
    ("GET", "/api/v1/rounds"): signed_in(200),
    ("GET", "/settings/notices"): signed_in(200),
    ("POST", "/settings/notices"): signed_in(303, form={"on": "round_opened"}),

    # --- sheets ---------------------------------------------------------------------------------------------
    ("GET", "/api/v1/rounds/{round_id}/sections/{code}/sheet"): own_section(200),
    ("PUT", "/api/v1/rounds/{round_id}/sections/{code}/answers/{item_key}"):
        by_role(LOGIN, 200, 200, 403, 403, 403, json={"status": "◎", "version": 0}),
    # Only a leader of the 所属 gets past authorisation: 422 (unanswered items) and 409 (not submitted).
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/submit"): leader_only(422),
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/reopen"): leader_only(409),
    ("GET", "/api/v1/rounds/{round_id}/sections/{code}/history"): own_section(200),
    # 前回どおりで確認 (issue 11.11): the walk's world has no previous round, so the 所属's staff confirm nothing (0)
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/previous-answers/confirm"):
        by_role(LOGIN, 200, 200, 403, 403, 403, json={}),
    ("GET", "/rounds/{round_id}"): by_role(LOGIN, 303, 303, 303, 200, 200),  # 所属 people go home
    ("GET", "/rounds/{round_id}/sections/{code}"): own_section(200),
    ("POST", "/rounds/{round_id}/sections/{code}"):
        by_role(LOGIN, 303, 303, 403, 403, 403, form=UNCHANGED_FORM),
    ("POST", "/rounds/{round_id}/sections/{code}/items/{item_key}"):
        by_role(LOGIN, 200, 200, 403, 403, 403, form=UNCHANGED_FORM),
    # an unanswered item: back to the sheet, which lists them (?submit=incomplete); an htmx 提出 gets 422
    ("POST", "/rounds/{round_id}/sections/{code}/submit"): leader_only(303),
    ("POST", "/rounds/{round_id}/sections/{code}/reopen"): leader_only(409),
    ("GET", "/rounds/{round_id}/sections/{code}/history"): own_section(200),
    ("GET", "/rounds/{round_id}/sections/{code}/previous"): own_section(200),
    ("POST", "/rounds/{round_id}/sections/{code}/previous"): by_role(LOGIN, 303, 303, 403, 403, 403),
    # 変更なし: no previous round in the walk's world, so the 所属's staff get 409 (no previous answer to confirm)
    ("POST", "/rounds/{round_id}/sections/{code}/items/{item_key}/previous"):
        by_role(LOGIN, 409, 409, 403, 403, 403, form={form_field("version", K1): "0"}),
    # 根拠資料 (issue 14.1): the 所属's staff add a link while the sheet is a draft (back to the item: 303); reading a
    # file (A1's, made for the walk) is for the 所属's staff and the desk only, not an admin who is not the desk
    ("POST", "/evidence/rounds/{round_id}/sections/{code}/items/{item_key}"):
        by_role(LOGIN, 303, 303, 403, 403, 403, form={"do": "link", "url": "https://pref.sharepoint.com/sites/dx"}),
    # 「追加・削除」: the box with its fields is for those who may change the evidence (plain GET: back to the page, 303)
    ("GET", "/evidence/rounds/{round_id}/sections/{code}/items/{item_key}"): by_role(LOGIN, 303, 303, 403, 403, 403),
    ("GET", "/rounds/{round_id}/sections/{code}/evidence/{evidence_id}"): by_role(LOGIN, 200, 200, 403, 200, 403),
    # the same through the JSON API: the 所属's staff add a link (201) and remove one (a link on A1's first item,
    # made for the walk: each persona walks its own world, so member_a's removal leaves leader_a's to remove)
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/answers/{item_key}/evidence"):
        by_role(LOGIN, 201, 201, 403, 403, 403, json={"url": "https://pref.sharepoint.com/sites/dx", "label": "計画"}),
    ("DELETE", "/api/v1/rounds/{round_id}/sections/{code}/answers/{item_key}/evidence/{evidence_id}"):
        by_role(LOGIN, 200, 200, 403, 403, 403, path={"evidence_id": "{link_evidence_id}"}),
    # the desk's review (issue 14.2) of B1's sheet submitted in the round the admin closes later
    ("POST", "/rounds/{round_id}/sections/{code}/review/items/{item_key}"):
        desk_only(303, path={"round_id": "{closable_round_id}", "code": "B1"}, form={"mark": "confirmed"}),
    ("POST", "/rounds/{round_id}/sections/{code}/review/confirm-all"):
        desk_only(303, path={"round_id": "{closable_round_id}", "code": "B1"}),
    # the same through the JSON API (after the page's lines: the whole sheet is already 確認済, so the desk's
    # 「シート全体を確認済にする」 gets 409); reading a sheet's review: the 所属 and the desk
    ("GET", "/api/v1/rounds/{round_id}/sections/{code}/review"): own_section(200),
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/review/items/{item_key}"):
        desk_only(200, path={"round_id": "{closable_round_id}", "code": "B1"}, json={"mark": "confirmed"}),
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/review/confirm-all"):
        desk_only(409, path={"round_id": "{closable_round_id}", "code": "B1"}),

    # --- figures: scores for everyone (filtered, groups under 5 所属 withheld), the desk's figures ------------
    ("GET", "/api/v1/rounds/{round_id}/scores"): signed_in(200),  # filtered to what each may see
    ("GET", "/api/v1/rounds/{round_id}/submissions"): desk_only(200),
    ("GET", "/api/v1/rounds/{round_id}/submissions/mail-list"): desk_only(200),
    ("GET", "/api/v1/rounds/{round_id}/heatmap"): desk_only(200),
    ("GET", "/api/v1/rounds/{round_id}/distribution"): desk_only(200),
    # 所属 staff may read a group of at least 5 所属; the world's prefecture has 3: 403.
    ("GET", "/api/v1/rounds/{round_id}/weak-items"): desk_only(200),
    ("GET", "/api/v1/rounds/{round_id}/quick-wins"): signed_in(200),  # 所属 staff: their own rows only
    ("GET", "/desk"): desk_only(303),
    ("GET", "/desk/board"): desk_only(200),
    ("GET", "/desk/board/mail-list"): desk_only(200),
    ("GET", "/desk/reminders"): desk_only(200),
    ("POST", "/desk/reminders"):
        desk_only(303, form={"starts_on": "2020-04-01", "min_days_between": "7", "max_per_section": "3",
                             "targets": "not_started", "escalate_after": "0"}),
    ("GET", "/desk/reminders/preview"): desk_only(200, query="section=A1"),
    ("POST", "/desk/reminders/send"): desk_only(303, form={"section": "A1"}),
    ("GET", "/desk/heatmap"): desk_only(200),
    # shared practices (取組事例, issue 14.3): the desk's list of one item, featuring or hiding one (B1's, made for the walk)
    ("GET", "/desk/practices"): desk_only(200, query=f"item={K1}"),
    ("POST", "/desk/practices/{sheet_id}/{item_key}"):
        desk_only(303, path={"sheet_id": "{practice_sheet_id}"}, form={"action": "feature"}),
    ("GET", "/desk/weak-items"): desk_only(200),
    ("GET", "/desk/quick-wins"): desk_only(200),
    ("GET", "/desk/distribution"): desk_only(200),
    ("GET", "/desk/downloads"): desk_only(200),

    # --- exports: the desk and admins any; a leader their own 所属 only; members none --------------------------
    ("GET", "/api/v1/rounds/{round_id}/export.csv"): by_role(LOGIN, 403, 200, 403, 200, 200, query="section=A1"),
    ("GET", "/api/v1/rounds/{round_id}/export.xlsx"): by_role(LOGIN, 403, 200, 403, 200, 200, query="section=A1"),
    # the flat table of every answer (Power BI): the desk and admins only
    ("GET", "/api/v1/analysis/answers"): desk_only(200),
    ("GET", "/api/v1/analysis/answers.csv"): desk_only(200),

    # --- measured figures (実績値): read as the sheet; entered by the 所属's staff; imported by the desk ----------
    ("GET", "/sections/{code}/figures"): own_section(200),
    ("GET", "/sections/{code}/figures/entry"): own_section(200),
    ("POST", "/sections/{code}/figures/entry"):
        by_role(LOGIN, 303, 303, 403, 403, 403, form={"month": "2025-04", "value:fax.sent": "", "version:fax.sent": "0"}),  # nothing changes
    ("GET", "/desk/figures"): desk_only(200),
    ("GET", "/api/v1/figure-definitions"): signed_in(200),
    ("GET", "/api/v1/sections/{code}/figures"): own_section(200),
    ("GET", "/api/v1/figures"): desk_only(200),  # every 所属 by name: the desk only
    ("GET", "/api/v1/sections/{code}/figures.csv"): own_section(200),
    ("GET", "/api/v1/figures.csv"): desk_only(200),
    # caps per 部局: the desk and admins set them (no cap in the form: nothing changes) and read them as JSON
    ("POST", "/desk/figures/caps"): desk_only(303, form={"figure": "paper.purchased", "fy": "2026"}),
    ("GET", "/api/v1/figure-caps"): desk_only(200),
    ("GET", "/desk/figures/import"): desk_only(200),
    # no file: the desk gets past authorisation and is asked for one (422)
    ("POST", "/desk/figures/import"): desk_only(422, form={}),
    ("GET", "/desk/figures/import/{upload_id}"): desk_only(200, path={"upload_id": "{kpi_upload_id}"}),
    # a sha256 that is not the file's: 409 for the desk (nothing imported)
    ("POST", "/desk/figures/import/{upload_id}/apply"):
        desk_only(409, path={"upload_id": "{kpi_upload_id}"}, form={"sha256": "x"}),

    # --- trend and targets: the 所属's staff, the desk and admins read; its leader sets the targets -------------
    ("GET", "/trend"): by_role(LOGIN, 303, 303, 303, 200, 200),  # 所属 staff: straight to their own 所属
    ("GET", "/sections/{code}/trend"): own_section(200),
    ("GET", "/sections/{code}/targets"): own_section(303),  # back to the form on the trend page
    ("GET", "/api/v1/sections/{code}/trend"): own_section(200),
    ("GET", "/api/v1/sections/{code}/targets"): own_section(200),
    ("POST", "/sections/{code}/targets"): leader_only(303, form={"round_id": "{round_id}", f"target:{K1}": "◎"}),
    ("PUT", "/api/v1/sections/{code}/targets"):
        leader_only(200, json={"round_id": Value("round_id"), "targets": [{"item_key": K1, "status": "◎"}]}),

    # --- 伴走支援: the 所属's staff read its records; its leader sends 「相談する」 and edits their own request
    # while it is 受付; the desk and admins read, record and change every record ------------------------------
    ("GET", "/sections/{code}/support"): own_section(200),
    ("GET", "/api/v1/sections/{code}/support-records"): own_section(200),
    ("GET", "/sections/{code}/consult"): leader_only(200),
    # 「この所属に聞いてみる」 on B1's shared practice of K2, on which A1 is at ×: a 相談 of A1, sent by its leader
    # (as 「相談する」)
    ("POST", "/sections/{code}/practices/{sheet_id}/{item_key}/ask"):
        leader_only(303, path={"sheet_id": "{practice_sheet_id}", "item_key": K2}),
    ("POST", "/sections/{code}/consult"): leader_only(303, form={"request_message": "会議資料の電子化を相談したい"}),
    ("POST", "/api/v1/sections/{code}/support-requests"): leader_only(201, json={"message": "相談したい"}),
    ("POST", "/api/v1/sections/{code}/support-records"):
        desk_only(201, json={"consulted_on": "{today}", "advice": "Teamsで資料を共有する"}),
    ("GET", "/api/v1/support-records"): desk_only(200),
    ("GET", "/api/v1/support-records/{record_id}"): own_section(200, path={"record_id": "{request_id}"}),
    ("PATCH", "/api/v1/support-records/{record_id}"):
        by_role(LOGIN, 403, 200, 403, 200, 200, path={"record_id": "{other_request_id}"},
                json={"request_message": "相談の内容を直しました", "version": 0}),
    ("GET", "/support"): desk_only(200),
    ("GET", "/support/effects"): desk_only(200),
    ("GET", "/support/inbox"): desk_only(200),
    ("GET", "/support/new"): desk_only(200),
    ("POST", "/support/new"):
        desk_only(303, query="section=A1", form={"consulted_on": "{today}", "advice": "Teamsで資料を共有する"}),
    ("GET", "/support/{record_id}"): own_section(200, path={"record_id": "{request_id}"}),
    ("GET", "/support/{record_id}/edit"): by_role(LOGIN, 403, 200, 403, 200, 200, path={"record_id": "{request_id}"}),
    ("POST", "/support/{record_id}/edit"):
        by_role(LOGIN, 403, 303, 403, 303, 303, path={"record_id": "{request_id}"},
                form={"request_message": "相談の内容を直しました", "version": "0"}),

    # --- personal API tokens: the desk and admins, their own tokens -------------------------------------------
    ("GET", "/tokens"): desk_only(200),
    ("POST", "/tokens"): desk_only(200, form={"name": "Power BI 集計", "days": "30"}),  # shown once, on this page
    ("POST", "/tokens/{token_id}/revoke"): desk_only(303, path={"token_id": "{token_id}"}),

    # --- administration: admins only (the desk gets 403) --------------------------------------------------------
    ("GET", "/admin"): admin_only(200),
    ("GET", "/admin/audit"): admin_only(200),
    ("GET", "/admin/audit.csv"): admin_only(200),
    ("GET", "/admin/users"): admin_only(200),
    ("GET", "/admin/users/new"): admin_only(200),
    ("POST", "/admin/users"):
        admin_only(303, form={"upn": "new.person@test.example", "display_name": "新しい職員", "unit_code": "B1",
                              "role": "member"}),
    ("GET", "/admin/users/{user_id}"): admin_only(200, path={"user_id": "{user_id}"}),
    ("POST", "/admin/users/{user_id}"): admin_only(303, path={"user_id": "{user_id}"}, form=A2_USER_FORM),
    ("POST", "/admin/users/{user_id}/disable"): admin_only(303, path={"user_id": "{user_id}"}),
    ("POST", "/admin/users/{user_id}/enable"): admin_only(303, path={"user_id": "{user_id}"}),
    ("POST", "/admin/users/{user_id}/end-sessions"): admin_only(303, path={"user_id": "{user_id}"}),
    ("GET", "/admin/users-import"): admin_only(200),
    ("POST", "/admin/users-import"): admin_only(200, files=(("file", "users.csv", "users_csv"),)),
    ("POST", "/admin/users-import/apply"): admin_only(303, form={"payload": "{users_payload}"}),
    ("GET", "/admin/notices"): admin_only(200),
    # nothing failed in the walk's world: the admin is told the notice is not one to resend
    ("POST", "/admin/notices/{message_id}/resend"): admin_only(404, path={"message_id": "999999"}),
    ("GET", "/admin/notify-channels"): admin_only(200),
    ("POST", "/admin/notify-channels"): admin_only(303, form={"scope": "desk", "contact_address": "desk@test.example"}),
    ("GET", "/admin/rounds"): admin_only(200),
    ("POST", "/admin/rounds"):
        admin_only(303, form={"fiscal_year": "2027", "title": "令和9年度 第1回", "checklist_version_id": "{version_id}",
                              "opens_on": "2027-05-01", "closes_on": "2027-06-30"}),
    ("GET", "/admin/rounds/{round_id}"): admin_only(200),
    ("POST", "/admin/rounds/{round_id}/open"): admin_only(303, path={"round_id": "{draft_round_id}"}),
    ("POST", "/admin/rounds/{round_id}/close"): admin_only(303, path={"round_id": "{closable_round_id}"}),
    ("POST", "/admin/rounds/{round_id}/deadline"):
        admin_only(303, path={"round_id": "{draft_round_id}"}, form={"closes_on": "2099-03-31"}),
    ("POST", "/admin/rounds/{round_id}/reopen"):
        admin_only(303, path={"round_id": "{closed_round_id}"}, form={"reason": "提出漏れの所属があるため"}),
    ("GET", "/admin/checklists"): admin_only(200),
    ("GET", "/admin/checklists/preview"): admin_only(200, query="path={v2_path}"),
    ("POST", "/admin/checklists/publish"): admin_only(303, form={"path": "{v2_path}", "sha256": "{v2_sha256}"}),
    ("POST", "/admin/checklists/upload"): admin_only(200, files=(("file", "v3.yaml", "v3_raw"),)),
    ("POST", "/admin/checklists/publish-upload"):
        admin_only(303, form={"data": "{v3_data}", "filename": "v3.yaml", "sha256": "{v3_sha256}"}),
    ("GET", "/admin/reorg"): admin_only(200),
    ("POST", "/admin/reorg/preview"):
        admin_only(200, form={"effective_on": "{today}"}, files=(("file", "reorg.csv", "reorg_csv"),)),
    ("POST", "/admin/reorg/apply"):
        admin_only(303, form={"data": "{reorg_data}", "filename": "reorg.csv", "effective_on": "{today}"}),
    ("POST", "/admin/reorg/schedule"):
        admin_only(303, form={"data": "{later_reorg_data}", "filename": "reorg.csv", "effective_on": "{later}"}),
    ("POST", "/admin/reorg/scheduled/{schedule_id}/cancel"): admin_only(303),
    ("GET", "/admin/import"): admin_only(200),
    ("POST", "/admin/import/preview"):
        admin_only(200, form={"round_id": "{round_id}"}, files=(("files", "A1.xlsx", "a1_xlsx"),)),
    # Applying needs the signed plan that only a preview's page carries: without it the admin gets 422.
    ("POST", "/admin/import/apply"): admin_only(422),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path pattern) of every route the app answers (HEAD is GET's; mounts take any sub-path)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, Mount):
            found.add(("GET", f"{route.path}/{{path:path}}"))
            continue
        for method in context.methods or ():
            if method != "HEAD":
                found.add((method, context.path))
    return found


def test_every_route_of_the_app_has_an_access_rule(app):
    routes = app_routes(app)
    missing = sorted(routes - set(ACCESS))
    stale = sorted(set(ACCESS) - routes)
    assert not missing, f"routes without a line in tests/test_access.py ACCESS: {missing}"
    assert not stale, f"ACCESS lines for routes that no longer exist: {stale}"


def test_every_rule_names_an_outcome_for_every_persona():
    for key, rule in ACCESS.items():
        for role in ROLES:
            assert role in rule.expect or "*" in rule.expect, (key, role)


# --- the walk ---------------------------------------------------------------------------------------------


def more_world(app, session, world, role: str) -> dict:
    """What the rules that change something act on, so that they change nothing another rule reads; and
    the values the rules name ("{name}" in paths, queries and forms; ``Value(name)`` in JSON)."""
    from app.auth import service as auth_service
    from app.auth import tokens
    from app.checklists.loader import load_directory
    from app.excel import export, writer
    from app.jpdate import today_jst
    from app.kpis.models import KpiUpload
    from app.reorg.models import ScheduledReorg
    from app.rounds import service as rounds
    from app.sheets import evidence
    from app.sheets import service as sheets_service
    from app.sheets.evidence_rules import Limits
    from app.sheets.models import EventSource
    from tests import factories

    closed = factories.make_round(session, world.version_id, title="令和5年度 第1回", fiscal_year=2023,
                                  opens_on=date(2023, 5, 1))
    rounds.close_round(session, closed)  # the admin reopens it
    closable = factories.make_round(session, world.version_id, title="令和6年度 第1回", fiscal_year=2024,
                                    opens_on=date(2024, 5, 1))  # the admin closes it
    # B1's sheet in it answered and submitted: the desk reviews it (not A1's: its answers would be offered
    # to A1's sheet of the open round as the previous round's)
    factories.set_answers(session, closable.id, world.b1, dict.fromkeys(factories.V1_KEYS, "○"))
    sheets_service.submit(session, auth_service.load_principal(session, world.leader_b.id), closable.id, "B1",
                          source=EventSource.PAGE)
    draft = factories.make_round(session, world.version_id, title="令和7年度 第1回", fiscal_year=2025,
                                 opens_on=date(2025, 5, 1), open_it=False)  # the admin opens it
    # Two 「相談する」 requests of A1's leader, still 受付: one changed by page, the other by the API.
    requests = [factories.make_support_record(session, world.a1, round_id=world.round.id, state="received",
                                              origin="request", advice="", message="相談したい", by=world.leader_a)
                for _ in range(2)]
    # Each of the desk and admins revokes a token of their own (the others are refused before the lookup).
    token, _ = tokens.create(session, world.admin if role == "admin" else world.desk, name="walk", days=30)
    [v2] = [f for f in load_directory(app.state.settings.checklists_dir) if f.checklist.version == 2]
    [v3] = [f for f in load_directory(app.state.settings.checklists_dir) if f.checklist.version == 3]
    later = today_jst() + timedelta(days=30)
    planned = ScheduledReorg(effective_on=later, filename="reorg.csv", data=NEW_SECTION_CSV.encode())  # cancelled
    session.add(planned)
    # A figures file uploaded by the desk, to map and (refused: another sha256) apply.
    # B1 shares its ◎ on the first item (取組事例): A1's leader asks about it, the desk features it.
    factories.share_practice(session, world.round.id, world.b1, K1, "共有フォルダで電子保管している")
    # and on the second, on which A1 is at × (only a 所属 at △ or × asks to be connected; no rule changes K2)
    factories.share_practice(session, world.round.id, world.b1, K2, "個人印刷をやめた")
    factories.set_answers(session, world.round.id, world.a1, {K2: "×"})
    practice_sheet_id = factories.sheet_of(session, world.round.id, world.b1).id
    # A file on A1's first item (根拠資料): its staff and the desk download it
    evidence_id = evidence.add_file(session, auth_service.load_principal(session, world.member_a.id), world.round.id,
                                    "A1", K1, filename="計画.pdf", data=b"%PDF-1.7 walk", limits=Limits())
    link_evidence_id = evidence.add_link(session, auth_service.load_principal(session, world.member_a.id),
                                         world.round.id, "A1", K1, url="https://pref.sharepoint.com/sites/walk",
                                         label="", limits=Limits())  # removed through the API
    kpi_upload = KpiUpload(filename="copier.csv", content="所属コード,合計\r\nA1,10\r\n".encode(), sha256="0" * 64)
    session.add(kpi_upload)
    session.flush()
    values = {
        **PATH_DEFAULTS, "round_id": world.round.id, "version_id": world.version_id,
        "upn": UPN.get(role, UPN["member_a"]), "today": today_jst().isoformat(),
        "later": later.isoformat(), "schedule_id": planned.id,
        "later_reorg_data": base64.b64encode(NEW_SECTION_CSV.replace("B9", "B8").encode()).decode(),
        "user_id": world.member_a2.id,
        "closed_round_id": closed.id, "closable_round_id": closable.id, "draft_round_id": draft.id,
        "practice_sheet_id": practice_sheet_id, "evidence_id": evidence_id,
        "link_evidence_id": link_evidence_id, "request_id": requests[0].id, "other_request_id": requests[1].id, "token_id": token.id,
        "v2_path": v2.path, "v2_sha256": v2.sha256, "v3_raw": v3.source.encode(), "v3_sha256": v3.sha256,
        "v3_data": base64.b64encode(v3.source.encode()).decode(), "kpi_upload_id": kpi_upload.id,
        "users_csv": A2_USER_CSV.encode(), "users_payload": base64.b64encode(A2_USER_CSV.encode()).decode(),
        "reorg_csv": NEW_SECTION_CSV.encode(), "reorg_data": base64.b64encode(NEW_SECTION_CSV.encode()).decode(),
        # A1's sheet as the desk would download it: the admin previews importing it back (a dry run).
        "a1_xlsx": writer.write_xlsx(export.gather(session, None, world.round.id, section="A1")),
    }
    session.commit()  # and no more reading through this session: on SQLite it would hold the write lock
    return values


def _fill(body, values: dict):
    """A rule's body with the walk's values put in."""
    if isinstance(body, Value):
        return values[body.name]
    if isinstance(body, str):
        return body.format(**values)
    if isinstance(body, dict):
        return {k: _fill(v, values) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, values) for v in body]
    return body


def _browser(new_client, role: str):
    """A browser of this persona, signed in (anonymous: with a session, so with a CSRF token)."""
    client = new_client()
    if role == "anonymous":
        return client, csrf_from(client.get("/auth/login").text)
    return client, sign_in(client, UPN[role])


_OPENAPI: dict[str, dict] = {}


@pytest.mark.parametrize("role", ROLES)
def test_each_persona_gets_the_expected_outcome_on_every_route(app, session, world, new_client, role):
    # The schema comes from the code alone (same settings, same routes): built by the first walk, not by
    # each persona's app again (the slowest request of the walk).
    app.openapi_schema = _OPENAPI.get("schema")
    values = more_world(app, session, world, role)
    shared = _browser(new_client, role)
    failures = []
    for (method, pattern), rule in ACCESS.items():
        client, token = _browser(new_client, role) if rule.fresh else shared
        path = pattern.replace("{path:path}", "{path}").format(**{**values, **_fill(rule.path, values)})
        if rule.query:
            path += "?" + _fill(rule.query, values)
        files = [(name, (filename, values[key])) for name, filename, key in rule.files] or None
        response = client.request(method, path, headers={"X-CSRF-Token": token}, json=_fill(rule.json, values),
                                  data=_fill(rule.form, values), files=files)
        expected = rule.outcome(role)
        if expected == LOGIN:
            if path.startswith("/api/"):
                ok = response.status_code == 401
            else:
                ok = response.status_code == 303 and response.headers["location"].startswith("/auth/login")
        else:
            ok = response.status_code == expected
        if not ok:
            failures.append(f"{method} {path} as {role}: expected {expected}, got {response.status_code} "
                            f"{response.headers.get('location', '')} {response.text[:160]!r}")
        if response.status_code >= 500:
            failures.append(f"{method} {path} as {role}: server error")
        if rule.fresh:
            shared = _browser(new_client, role)
    _OPENAPI.setdefault("schema", app.openapi_schema)
    assert not failures, "\n".join(failures)
