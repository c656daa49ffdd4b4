"""Evidence on an answer through the JSON API (根拠資料, issue 14.1), on both databases: the sheet's JSON lists each
item's links and files for the 所属's staff and the desk (null for others); POST adds a link and DELETE removes a
link or a file, through the services of the page — a session and its CSRF token to write (tokens only read), the
same people and the same moments as the page, Japanese refusals that store nothing, history marked as from the API."""

from __future__ import annotations

from sqlmodel import select

from app.auth import service as auth_service
from app.auth import tokens
from app.sheets import evidence
from app.sheets.evidence_rules import Limits
from app.sheets.models import AnswerEvidence, EventSource, SheetEvent
from tests import factories as f
from tests.conftest import sign_in as first_sign_in
from tests.factories import V1_KEYS

K1, K2 = V1_KEYS[0], V1_KEYS[1]
PDF = b"%PDF-1.7\n%evidence\n1 0 obj<<>>endobj\n%%EOF\n"
LINK = "https://pref.sharepoint.com/sites/dx/plan.pdf"


def sign_in(client, upn: str) -> str:
    """Sign in as someone else (one client, one person at a time)."""
    client.cookies.clear()
    return first_sign_in(client, upn)


def sheet_url(world, code="A1") -> str:
    return f"/api/v1/rounds/{world.round.id}/sections/{code}/sheet"


def evidence_url(world, key=K1, tail="", code="A1") -> str:
    return f"/api/v1/rounds/{world.round.id}/sections/{code}/answers/{key}/evidence{tail}"


def add_file(session, world, code="A1", key=K1) -> int:
    user = world.member_a if code == "A1" else world.member_b
    found = evidence.add_file(session, auth_service.load_principal(session, user.id), world.round.id, code, key,
                              filename="会議資料.pdf", data=PDF, limits=Limits())
    session.commit()
    return found


def stored(session) -> list[tuple[int, str, bool]]:
    rows = [(e.id, e.kind, e.removed_at is None) for e in session.exec(select(AnswerEvidence)
                                                                         .order_by(AnswerEvidence.id)).all()]
    session.commit()  # ends the read (SQLite: the write lock the requests need)
    return rows


def events(session) -> list[tuple[str, str, str]]:
    rows = [tuple(r) for r in session.exec(select(SheetEvent.kind, SheetEvent.source, SheetEvent.note)
                                           .where(SheetEvent.kind.like("evidence%")).order_by(SheetEvent.id))]
    session.commit()
    return rows


def item(sheet: dict, key: str) -> dict:
    return next(i for i in sheet["items"] if i["item_key"] == key)


def test_a_member_adds_a_link_and_removes_it_and_history_says_it_came_from_the_api(client, session, world):
    csrf = sign_in(client, "member.a1@test.example")
    added = client.post(evidence_url(world), json={"url": LINK, "label": "業務計画"}, headers={"X-CSRF-Token": csrf})
    assert added.status_code == 201, added.text
    [link] = added.json()["evidence"]
    assert added.json()["item_key"] == K1
    assert {k: link[k] for k in ("kind", "url", "label", "filename", "content_type", "size", "added_by")} == {
        "kind": "link", "url": LINK, "label": "業務計画", "filename": None, "content_type": None, "size": None,
        "added_by": "職員 A1"}
    sheet = client.get(sheet_url(world)).json()
    assert item(sheet, K1)["evidence"] == [link] and item(sheet, K2)["evidence"] == []
    assert events(session) == [("evidence_add", EventSource.API.value, f"リンクを追加: 業務計画（{LINK}）")]

    removed = client.delete(evidence_url(world, tail=f"/{link['id']}"), headers={"X-CSRF-Token": csrf})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"item_key": K1, "evidence": []}
    assert item(client.get(sheet_url(world)).json(), K1)["evidence"] == []
    assert events(session)[-1] == ("evidence_remove", EventSource.API.value, f"リンクを削除: 業務計画（{LINK}）")
    assert stored(session) == [(link["id"], "link", False)]  # the row stays for history
    again = client.delete(evidence_url(world, tail=f"/{link['id']}"), headers={"X-CSRF-Token": csrf})
    assert again.status_code == 404 and "既に削除" in again.json()["detail"]


def test_the_sheet_json_lists_evidence_for_the_section_and_the_desk_only(client, session, world):
    file_id = add_file(session, world)
    for upn, readable in (("member.a1@test.example", True), ("leader.a1@test.example", True),
                          ("desk@test.example", True), ("admin@test.example", False)):
        sign_in(client, upn)
        response = client.get(sheet_url(world))
        assert response.status_code == 200, (upn, response.text)
        shown = item(response.json(), K1)["evidence"]
        if not readable:
            assert shown is None and item(response.json(), K2)["evidence"] is None, upn
            continue
        [found] = shown
        assert found == {**found, "id": file_id, "kind": "file", "label": None, "filename": "会議資料.pdf",
                         "content_type": "application/pdf", "size": len(PDF), "added_by": "職員 A1"}, upn
        download = client.get(found["url"])  # the download URL, served as an attachment
        assert download.status_code == 200 and download.content == PDF, upn
        assert download.headers["content-disposition"].startswith("attachment")
    sign_in(client, "member.b1@test.example")  # another 所属 reads no sheet at all
    assert client.get(sheet_url(world)).status_code == 403


def test_only_the_section_adds_or_removes_and_only_while_the_sheet_may_change(client, session, world):
    file_id = add_file(session, world)
    before = stored(session)
    for upn in ("member.b1@test.example", "desk@test.example", "admin@test.example"):
        csrf = sign_in(client, upn)
        refused = client.post(evidence_url(world), json={"url": LINK}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403, (upn, refused.text)
        refused = client.delete(evidence_url(world, tail=f"/{file_id}"), headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403, (upn, refused.text)
    csrf = sign_in(client, "member.a1@test.example")
    no_csrf = client.post(evidence_url(world), json={"url": LINK})
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf"
    assert client.delete(evidence_url(world, tail=f"/{file_id}")).json()["code"] == "csrf"
    _, clear = tokens.create(session, world.member_a, name="Power BI", days=30)
    session.commit()
    bearer = {"Authorization": f"Bearer {clear}", "X-CSRF-Token": csrf}  # a token writes nothing, even with a session
    assert item(client.get(sheet_url(world), headers=bearer).json(), K1)["evidence"][0]["id"] == file_id  # it reads
    token_post = client.post(evidence_url(world), json={"url": LINK}, headers=bearer)
    assert token_post.status_code == 403 and "APIトークン" in token_post.json()["detail"]
    assert client.delete(evidence_url(world, tail=f"/{file_id}"), headers=bearer).status_code == 403
    # submitted: no change until the leader reopens it
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    session.commit()
    leader_csrf = sign_in(client, "leader.a1@test.example")
    assert client.post(f"/api/v1/rounds/{world.round.id}/sections/A1/submit",
                       headers={"X-CSRF-Token": leader_csrf}).status_code == 200
    refused = client.post(evidence_url(world), json={"url": LINK}, headers={"X-CSRF-Token": leader_csrf})
    assert refused.status_code == 403 and "提出済み" in refused.json()["detail"]
    assert client.delete(evidence_url(world, tail=f"/{file_id}"),
                         headers={"X-CSRF-Token": leader_csrf}).status_code == 403
    assert stored(session) == before


def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(client, session, world):
    other_file = add_file(session, world, code="B1")  # B1's: not A1's to remove
    own_file = add_file(session, world)  # on A1's first item, not its second
    before = stored(session)
    csrf = sign_in(client, "member.a1@test.example")
    headers = {"X-CSRF-Token": csrf}
    for body, field, says in (({"url": "javascript:alert(document.cookie)"}, "url", "javascript:"),
                              ({"url": "file:///C:/secret.txt"}, "url", "file:"),
                              ({"url": "https://evil.example.com/x"}, "url", "evil.example.com"),
                              ({"url": LINK, "label": "x" * 201}, "label", "表示名は200文字以内")):
        response = client.post(evidence_url(world), json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert says in response.json()["detail"], (body, response.json())
        assert list(response.json()["errors"]) == [field], (body, response.json())  # the field to correct
    assert client.post(evidence_url(world), json={"url": LINK, "extra": 1}, headers=headers).status_code == 422
    assert client.post(evidence_url(world), json={}, headers=headers).status_code == 422
    assert client.post(evidence_url(world, key="no.such.item"), json={"url": LINK}, headers=headers).status_code == 404
    assert client.post(evidence_url(world, code="ZZ"), json={"url": LINK}, headers=headers).status_code == 404
    wrong_sheet = client.delete(evidence_url(world, tail=f"/{other_file}"), headers=headers)
    assert wrong_sheet.status_code == 404
    wrong_item = client.delete(evidence_url(world, key=K2, tail=f"/{own_file}"), headers=headers)
    assert wrong_item.status_code == 404
    assert client.delete(evidence_url(world, tail="/0"), headers=headers).status_code == 422
    assert stored(session) == before and [e[0] for e in events(session)] == ["evidence_add", "evidence_add"]
