"""Events that notify, each written to the outbox in the same transaction as the event: a new 「相談する」 (to
the desk), the desk's answer or follow-up date (to the leader), a sheet reopened (to its leaders), a round
opened and closed (to every leader). An event refused leaves no notice."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from app.jpdate import today_jst, wareki
from app.outbox.models import OutboxMessage
from app.outbox.service import set_opt_outs
from app.rounds import service as rounds
from tests import factories as f
from tests.conftest import sign_in
from tests.factories import V1_KEYS

KEEP = V1_KEYS[0]


def notices(session, kind):
    found = session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
                         .execution_options(populate_existing=True)).all()
    session.commit()
    return [(m.recipient, m.subject, m.body) for m in found]


def test_a_consultation_request_tells_the_desk_and_a_refused_one_tells_nobody(client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    refused = client.post("/sections/A1/consult", data={"csrf_token": token, "request_message": "  "})
    assert refused.status_code == 422 and notices(session, "consult_new") == []
    sent = client.post("/sections/A1/consult", data={"csrf_token": token, "items": [KEEP],
                                                     "request_message": "共有フォルダの整理方法を相談したい"})
    assert sent.status_code == 303
    [(to, subject, body)] = notices(session, "consult_new")
    assert to == "desk@test.example" and "新しい相談: A部 一課" in subject
    assert "リーダー A1さんから" in body and "共有フォルダの整理方法を相談したい" in body and "資料" in body


def test_the_desks_answer_and_follow_up_date_reach_the_leader(client, new_client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    record_id = client.post("/api/v1/sections/A1/support-requests", headers={"X-CSRF-Token": token},
                            json={"item_keys": [KEEP], "message": "相談です"}).json()["id"]
    desk = new_client()
    desk_token = sign_in(desk, "desk@test.example")
    taken = desk.patch(f"/api/v1/support-records/{record_id}", headers={"X-CSRF-Token": desk_token},
                       json={"state": "in_progress", "desk_staff": "窓口 花子", "version": 0})
    assert taken.status_code == 200 and notices(session, "consult_answer") == []  # no answer yet: nothing
    follow = today_jst() + timedelta(days=30)
    answered = desk.patch(f"/api/v1/support-records/{record_id}", headers={"X-CSRF-Token": desk_token},
                          json={"advice": "フォルダ構成の例をお送りします", "follow_up_on": follow.isoformat(),
                                "version": 1})
    assert answered.status_code == 200, answered.text
    [(to, subject, body)] = notices(session, "consult_answer")
    assert to == "leader.a1@test.example" and "相談への回答（A部 一課）" in subject
    assert "フォルダ構成の例をお送りします" in body and f"フォローアップ予定日: {wareki(follow)}" in body


def test_a_reopened_sheet_tells_its_leaders_unless_they_turned_that_notice_off(new_client, session, world):
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    f.set_answers(session, world.round.id, world.b1, dict.fromkeys(V1_KEYS, "○"))
    set_opt_outs(session, world.leader_b.id, ["sheet_reopened"])
    session.commit()
    for upn, code in (("leader.a1@test.example", "A1"), ("leader.b1@test.example", "B1")):
        client = new_client()
        token = sign_in(client, upn)
        url = f"/rounds/{world.round.id}/sections/{code}"
        assert client.post(url + "/submit", data={"csrf_token": token}).status_code == 303
        assert client.post(url + "/reopen", data={"csrf_token": token, "reason": "記入漏れ"}).status_code == 303
    [(to, subject, body)] = notices(session, "sheet_reopened")
    assert to == "leader.a1@test.example" and "提出が取り消されました（A部 一課）" in subject and "理由: 記入漏れ" in body


def test_opening_and_closing_a_round_tell_every_leader_once(client, session, world):
    token = sign_in(client, "admin@test.example")
    draft = rounds.create_round(session, fiscal_year=2026, title="令和8年度 第2回", checklist_version_id=world.version_id,
                                opens_on=date(2026, 10, 1), closes_on=date(2026, 11, 30))
    session.commit()
    assert client.post(f"/admin/rounds/{draft.id}/open", data={"csrf_token": token}).status_code == 303
    assert client.post(f"/admin/rounds/{draft.id}/open", data={"csrf_token": token}).status_code == 409
    opened = [n for n in notices(session, "round_opened") if "第2回" in n[1]]  # the world's round told them too
    assert sorted(to for to, _, _ in opened) == ["leader.a1@test.example", "leader.b1@test.example"]
    assert "令和8年度 第2回を開始しました（締切 令和8年11月30日）" in opened[0][1]
    assert client.post(f"/admin/rounds/{draft.id}/close", data={"csrf_token": token}).status_code == 303
    closed = notices(session, "round_closed")
    assert sorted(to for to, _, _ in closed) == ["leader.a1@test.example", "leader.b1@test.example"]
