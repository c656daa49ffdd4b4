"""Only administrators reach /admin/rounds, /admin/checklists and /admin/reorg: members, leaders and the
desk get 403 with the reason; anonymous visitors are sent to sign in. The menu shows them to admins only."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in

PAGES = ["/admin/rounds", "/admin/rounds/{rid}", "/admin/checklists",
         "/admin/checklists/preview?path=checklists/paperless/v2.yaml", "/admin/reorg"]
ACTIONS = ["/admin/rounds", "/admin/rounds/{rid}/close", "/admin/rounds/{rid}/reopen", "/admin/checklists/publish",
           "/admin/reorg/preview", "/admin/reorg/apply"]
NOT_ADMINS = ["member.a1@test.example", "leader.a1@test.example", "desk@test.example"]


@pytest.mark.parametrize("upn", NOT_ADMINS)
def test_members_leaders_and_the_desk_are_refused_with_the_reason(client, world, upn):
    token = sign_in(client, upn)
    for page in PAGES:
        response = client.get(page.format(rid=world.round.id))
        assert response.status_code == 403, page
        assert "この操作は管理者だけができます" in response.text
    for action in ACTIONS:
        response = client.post(action.format(rid=world.round.id), data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 403, action
    menu = client.get(f"/rounds/{world.round.id}/sections/A1").text
    assert 'aria-label="メインメニュー"' in menu and "/admin/" not in menu


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    for page in PAGES:
        response = client.get(page.format(rid=world.round.id))
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/auth/login?next=/admin/")


def test_admins_reach_every_page_from_the_admin_menu(client, world):
    sign_in(client, "admin@test.example")
    for page in PAGES:
        response = client.get(page.format(rid=world.round.id))
        assert response.status_code == 200, page
    menu = client.get("/admin/rounds").text
    assert '<a href="/admin" aria-current="page">管理</a>' in menu
    index = client.get("/admin").text
    for href, label in [("/admin/rounds", "調査回の管理"), ("/admin/checklists", "チェックシートの版"),
                        ("/admin/reorg", "組織改正")]:
        assert f'href="{href}"' in index and label in index
