"""送信できなかった通知 (admins: the reason, 「再送」 with the same key) and 通知設定 (everyone: non-essential
notices off, essential ones stay on)."""

from __future__ import annotations

from sqlmodel import select

from app.outbox import notices
from app.outbox.models import NotifyOptOut, OutboxMessage
from app.outbox.service import enqueue_mail
from tests.conftest import sign_in


def failed_notice(session, world) -> OutboxMessage:
    notice = notices.round_closed(round_id=world.round.id, round_title=world.round.title,
                                  closes_on=world.round.closes_on)
    enqueue_mail(session, notice, [(None, "nobody@refused.example")], key="closed")
    row = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == "nobody@refused.example")).one()
    row.state, row.attempts, row.last_error = "failed", 1, "宛先「nobody@refused.example」はメールサーバーに拒否されました（550）"
    session.add(row)
    session.commit()
    return row


def test_the_admin_sees_why_a_notice_failed_and_puts_it_back_once(client, session, world):
    row = failed_notice(session, world)
    token = sign_in(client, "admin@test.example")
    page = client.get("/admin/notices")
    assert page.status_code == 200 and "メールサーバーに拒否されました（550）" in page.text and "nobody@refused.example" in page.text
    assert client.post(f"/admin/notices/{row.id}/resend", data={"csrf_token": token}).status_code == 303
    again = client.post(f"/admin/notices/{row.id}/resend", data={"csrf_token": token})
    assert again.status_code == 409 and "既に再送済み" in again.text
    assert client.post("/admin/notices/999999/resend", data={"csrf_token": token}).status_code == 404
    back = session.exec(select(OutboxMessage).where(OutboxMessage.id == row.id)
                        .execution_options(populate_existing=True)).one()
    assert (back.state, back.attempts, back.idempotency_key) == ("pending", 0, row.idempotency_key)
    session.commit()
    assert "送信できなかった通知はありません" in client.get("/admin/notices").text


def test_the_desk_cannot_resend(client, session, world):
    row = failed_notice(session, world)
    token = sign_in(client, "desk@test.example")
    assert client.post(f"/admin/notices/{row.id}/resend", data={"csrf_token": token}).status_code == 403


def test_a_person_turns_off_non_essential_notices_and_cannot_turn_off_reminders(client, session, world):
    token = sign_in(client, "leader.a1@test.example")
    page = client.get("/settings/notices")
    assert page.status_code == 200 and "未提出の督促" in page.text and "（必ず届きます）" in page.text
    # everything unticked, and an attempt to turn reminders off: only the non-essential kinds go off
    assert client.post("/settings/notices", data={"csrf_token": token, "on": ["consult_answer"]}).status_code == 303
    off = set(session.exec(select(NotifyOptOut.kind).where(NotifyOptOut.user_id == world.leader_a.id)).all())
    session.commit()
    assert off == {"deadline_soon", "consult_new", "sheet_reopened", "round_opened", "round_closed"}
    assert 'value="consult_answer" checked' in client.get("/settings/notices").text
