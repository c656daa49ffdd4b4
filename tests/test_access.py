"""Who may do what, route by route: every route of the app, walked as every persona, from ONE table.

A route that is not in ``ACCESS`` fails ``test_every_route_of_the_app_has_an_access_rule``: when you add a
route, add its line here with the outcome for each persona (and, if it needs them, its path values or
body). Outcomes are status codes, or ``LOGIN`` (pages: 303 to the sign-in page; API: 401).

Personas (``tests/factories.build_world``): member and leader of 所属 A1, member of B1, desk, admin. Unless a
rule says otherwise the walk uses 所属 A1's sheet of the open round and its first item, so "member_b"
is always the person of another 所属.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tests.conftest import csrf_from, sign_in

LOGIN = "login"
ROLES = ("anonymous", "member_a", "leader_a", "member_b", "desk", "admin")
UPN = {
    "member_a": "member.a1@test.example",
    "leader_a": "leader.a1@test.example",
    "member_b": "member.b1@test.example",
    "desk": "desk@test.example",
    "admin": "admin@test.example",
}
# Path values used unless a rule gives its own; {round_id} is the open round of the world.
PATH_DEFAULTS = {"code": "A1", "item_key": "office.daily.keep-electronic", "path": "css/app.css"}
K1 = PATH_DEFAULTS["item_key"]
UNCHANGED_FORM = {f"version:{K1}": "0", f"status:{K1}": "◎"}  # saving ◎ again changes nothing


@dataclass(frozen=True)
class Rule:
    """Expected outcome per persona for one (method, path pattern)."""

    expect: dict[str, int | str]
    path: dict[str, str] = field(default_factory=dict)
    json: dict | None = None
    form: dict | None = None

    def outcome(self, role: str) -> int | str:
        return self.expect[role] if role in self.expect else self.expect["*"]


def everyone(outcome: int | str, **body) -> Rule:
    return Rule({"*": outcome}, **body)


def by_role(anonymous, member_a, leader_a, member_b, desk, admin, **body) -> Rule:
    return Rule(dict(anonymous=anonymous, member_a=member_a, leader_a=leader_a, member_b=member_b, desk=desk,
                     admin=admin), **body)


def signed_in(outcome: int | str, **body) -> Rule:
    return Rule({"anonymous": LOGIN, "*": outcome}, **body)


# by_role(anonymous, member_a, leader_a, member_b, desk, admin)
ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): everyone(200),
    ("GET", "/api/v1/openapi.json"): everyone(200),
    ("GET", "/static/{path:path}"): everyone(200),
    ("GET", "/auth/login"): by_role(200, 303, 303, 303, 303, 303),
    ("POST", "/auth/dev-login"): everyone(303, form={"upn": "{upn}"}),
    ("GET", "/auth/logout"): by_role(303, 200, 200, 200, 200, 200),
    ("POST", "/auth/logout"): everyone(303),
    ("GET", "/"): signed_in(303),  # each person is sent to where they work
    ("GET", "/api/v1/me"): signed_in(200),
    ("GET", "/api/v1/rounds"): signed_in(200),
    ("GET", "/api/v1/rounds/{round_id}/scores"): signed_in(200),  # filtered to what each may see
    ("GET", "/api/v1/rounds/{round_id}/sections/{code}/sheet"): by_role(LOGIN, 200, 200, 403, 200, 200),
    ("PUT", "/api/v1/rounds/{round_id}/sections/{code}/answers/{item_key}"):
        by_role(LOGIN, 200, 200, 403, 403, 403, json={"status": "◎", "version": 0}),
    # Only a leader of the 所属 gets past authorisation: 422 (unanswered items) and 409 (not submitted).
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/submit"): by_role(LOGIN, 403, 422, 403, 403, 403),
    ("POST", "/api/v1/rounds/{round_id}/sections/{code}/reopen"): by_role(LOGIN, 403, 409, 403, 403, 403),
    ("GET", "/rounds/{round_id}"): by_role(LOGIN, 303, 303, 303, 200, 200),  # 所属 people go home
    ("GET", "/rounds/{round_id}/sections/{code}"): by_role(LOGIN, 200, 200, 403, 200, 200),
    ("POST", "/rounds/{round_id}/sections/{code}"):
        by_role(LOGIN, 303, 303, 403, 403, 403, form=UNCHANGED_FORM),
    ("POST", "/rounds/{round_id}/sections/{code}/items/{item_key}"):
        by_role(LOGIN, 200, 200, 403, 403, 403, form=UNCHANGED_FORM),
    ("POST", "/rounds/{round_id}/sections/{code}/submit"): by_role(LOGIN, 403, 422, 403, 403, 403),
    ("POST", "/rounds/{round_id}/sections/{code}/reopen"): by_role(LOGIN, 403, 409, 403, 403, 403),
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


@pytest.mark.parametrize("role", ROLES)
def test_each_persona_gets_the_expected_outcome_on_every_route(app, world, new_client, role):
    values = {**PATH_DEFAULTS, "round_id": str(world.round.id)}
    failures = []
    for (method, pattern), rule in ACCESS.items():
        client = new_client()
        if role == "anonymous":
            token = csrf_from(client.get("/auth/login").text)
        else:
            token = sign_in(client, UPN[role])
        path = pattern.replace("{path:path}", "{path}").format(**{**values, **rule.path})
        upn = UPN.get(role, UPN["member_a"])
        form = {k: v.format(upn=upn) for k, v in rule.form.items()} if rule.form else None
        response = client.request(method, path, headers={"X-CSRF-Token": token}, json=rule.json, data=form)
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
    assert not failures, "\n".join(failures)
