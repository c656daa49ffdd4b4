"""The desk's review through the JSON API (issue 14.2): GET a sheet's review (each item's mark, comment, who and
when; the review state), POST a mark or the whole sheet 確認済 — the services of the page, a session and its CSRF
token to write (tokens only read), Japanese refusals that change nothing, history marked as from the API."""

from __future__ import annotations

from sqlmodel import select

from app.auth import tokens
from app.sheets.models import EventSource, SheetEvent, SheetReview
from tests import factories as f
from tests.conftest import sign_in as first_sign_in
from tests.factories import V1_KEYS

K1, K2 = V1_KEYS[0], V1_KEYS[1]


def sign_in(client, upn: str) -> str:
    """Sign in as someone else (one client, one person at a time)."""
    client.cookies.clear()
    return first_sign_in(client, upn)


def url(world, tail="") -> str:
    return f"/api/v1/rounds/{world.round.id}/sections/A1/review{tail}"


def submit_a1(client, session, world) -> None:
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    session.commit()
    csrf = sign_in(client, "leader.a1@test.example")
    assert client.post(f"/api/v1/rounds/{world.round.id}/sections/A1/submit",
                       headers={"X-CSRF-Token": csrf}).status_code == 200


def test_send_back_resubmit_and_confirm_through_the_api(client, session, world):
    submit_a1(client, session, world)
    csrf = sign_in(client, "desk@test.example")
    first = client.get(url(world)).json()
    assert (first["sheet_state"], first["state"], first["state_label"]) == ("submitted", "unreviewed", "未確認")
    assert first["can_confirm"] and first["can_send_back"]
    assert [i["item_key"] for i in first["items"]] == list(V1_KEYS) and all(i["mark"] is None for i in first["items"])

    ok = client.post(url(world, f"/items/{K2}"), json={"mark": "confirmed"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["state"] == "reviewing"
    back = client.post(url(world, f"/items/{K1}"), json={"mark": "returned", "comment": "根拠の文書名を書いてください"},
                       headers={"X-CSRF-Token": csrf}).json()
    assert (back["sheet_state"], back["state"], back["can_confirm"]) == ("draft", "returned", False)
    k1 = back["items"][0]
    assert (k1["mark"], k1["mark_label"], k1["comment"], k1["by"]) == ("returned", "差戻し", "根拠の文書名を書いてください",
                                                                       "窓口")
    assert k1["at"] is not None and back["items"][1]["mark"] == "confirmed"
    sources = {e.kind: e.source for e in session.exec(select(SheetEvent)) if e.kind.startswith("review")}
    assert sources == {"review_ok": EventSource.API, "review_back": EventSource.API}
    session.commit()  # end the read (SQLite: the test session holds the write lock while in a transaction)

    csrf = sign_in(client, "leader.a1@test.example")  # the leader reads the comment, fixes and submits again
    seen = client.get(url(world)).json()
    assert seen["items"][0]["comment"] == "根拠の文書名を書いてください" and not seen["can_confirm"]
    sheet = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/sheet").json()
    version = sheet["items"][0]["answer"]["version"]
    assert client.put(f"/api/v1/rounds/{world.round.id}/sections/A1/answers/{K1}", headers={"X-CSRF-Token": csrf},
                      json={"status": "◎", "memo": "文書管理規程", "version": version}).status_code == 200
    assert client.post(f"/api/v1/rounds/{world.round.id}/sections/A1/submit",
                       headers={"X-CSRF-Token": csrf}).status_code == 200
    again = client.get(url(world)).json()
    assert (again["state"], again["items"][0]["mark"], again["items"][0]["mark_label"]) == (
        "reviewing", "resubmitted", "差戻し後に再提出")

    csrf = sign_in(client, "desk@test.example")
    done = client.post(url(world, "/confirm-all"), headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200
    assert done.json()["state"] == "confirmed" and {i["mark"] for i in done.json()["items"]} == {"confirmed"}
    twice = client.post(url(world, "/confirm-all"), headers={"X-CSRF-Token": csrf})
    assert twice.status_code == 409 and "既に確認済" in twice.json()["detail"]
    # the sheet's history JSON lists each review step (a kind it did not know made it a 500)
    history = client.get(f"/api/v1/rounds/{world.round.id}/sections/A1/history")
    assert history.status_code == 200, history.text
    steps = [(e["kind"], e["source"], e["item_key"]) for e in history.json()["events"] if e["kind"] != "answer"][::-1]
    assert steps == [("submit", "api", None), ("review_ok", "api", K2), ("review_back", "api", K1),
                     ("reopen", "api", None), ("submit", "api", None), ("review_all", "api", None)]


def test_bad_marks_are_refused_in_japanese_and_change_nothing(client, session, world):
    submit_a1(client, session, world)
    csrf = sign_in(client, "desk@test.example")
    for body, words in (({"mark": "returned"}, "コメントが必要"), ({"mark": "returned", "comment": "  "}, "コメントが必要"),
                        ({"mark": "maybe"}, "「確認済」か「差戻し」"),
                        ({"mark": "returned", "comment": "あ" * 501}, "500文字以内"),
                        ({"mark": "returned", "comment": "a\x00b"}, "コメント")):
        response = client.post(url(world, f"/items/{K1}"), json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 422 and words in response.json()["detail"], (body, response.text)
    unknown = client.post(url(world, "/items/no.such.item"), json={"mark": "confirmed"},
                          headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 404
    session.expire_all()
    assert session.exec(select(SheetReview)).all() == []
    assert client.get(url(world)).json()["state"] == "unreviewed"


def test_who_may_read_and_who_may_mark(client, session, world):
    submit_a1(client, session, world)
    csrf = sign_in(client, "leader.a1@test.example")  # the 所属 reads, never marks
    assert client.get(url(world)).status_code == 200
    refused = client.post(url(world, f"/items/{K1}"), json={"mark": "confirmed"}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403 and "窓口" in refused.json()["detail"]
    sign_in(client, "member.b1@test.example")  # another 所属 reads nothing
    assert client.get(url(world)).status_code == 403
    sign_in(client, "desk@test.example")
    no_csrf = client.post(url(world, "/confirm-all"))
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf"
    _, clear = tokens.create(session, world.desk, name="Power BI", days=30)
    session.commit()
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {clear}"}
    assert client.get(url(world), headers=bearer).json()["state"] == "unreviewed"  # a token reads
    assert client.post(url(world, "/confirm-all"), headers=bearer).status_code == 403  # and never writes
    session.expire_all()
    assert session.exec(select(SheetReview)).all() == []
