"""The desk's review (issue 14.2): each item 確認済 or 差戻し (a comment is required), or the whole sheet 確認済;
a 差戻し reopens the sheet through the writer and tells the leaders; the leader answers and submits again;
history records every step; the board counts 未確認 / 確認中 / 確認済 / 差戻し."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.auth import service as auth_service
from app.errors import Forbidden, InvalidInput
from app.outbox.models import OutboxMessage
from app.sheets import review, service
from app.sheets.history import sheet_history
from app.sheets.models import EventSource, Sheet, SheetReview, SheetState
from app.sheets.review import ReviewState
from tests import factories as f
from tests.factories import V1_KEYS

K1, K2 = V1_KEYS[0], V1_KEYS[1]


def who(session, user):
    return auth_service.load_principal(session, user.id)


def submitted(session, world, code="A1", unit=None):
    f.set_answers(session, world.round.id, unit or world.a1, dict.fromkeys(V1_KEYS, "○"))
    service.submit(session, who(session, world.leader_a), world.round.id, code, source=EventSource.PAGE)
    session.commit()


def state_of(session, world, code="A1"):
    view = service.get_sheet_for(session, who(session, world.desk), world.round.id, code)
    return view.sheet.state, review.review_of(session, who(session, world.desk), view).state


def test_the_desk_confirms_items_one_by_one_then_the_sheet_is_confirmed(session, world):
    submitted(session, world)
    assert state_of(session, world)[1] is ReviewState.UNREVIEWED
    review.review_item(session, who(session, world.desk), world.round.id, "A1", K1, mark="confirmed")
    session.commit()
    assert state_of(session, world) == (SheetState.SUBMITTED, ReviewState.REVIEWING)
    for key in V1_KEYS[1:]:
        review.review_item(session, who(session, world.admin), world.round.id, "A1", key, mark="confirmed")
    session.commit()
    assert state_of(session, world) == (SheetState.SUBMITTED, ReviewState.CONFIRMED)


def test_the_whole_sheet_confirmed_at_once(session, world):
    submitted(session, world)
    assert review.confirm_all(session, who(session, world.desk), world.round.id, "A1") == len(V1_KEYS)
    session.commit()
    assert state_of(session, world)[1] is ReviewState.CONFIRMED


def test_a_send_back_needs_a_comment_and_changes_nothing_without_one(session, world):
    submitted(session, world)
    for comment in ("", "   "):
        with pytest.raises(InvalidInput, match="コメントが必要"):
            review.review_item(session, who(session, world.desk), world.round.id, "A1", K1, mark="returned",
                               comment=comment)
    with pytest.raises(InvalidInput):
        review.review_item(session, who(session, world.desk), world.round.id, "A1", K1, mark="maybe")
    session.rollback()
    assert session.exec(select(SheetReview)).all() == []
    assert state_of(session, world) == (SheetState.SUBMITTED, ReviewState.UNREVIEWED)


def test_a_send_back_reopens_the_sheet_tells_the_leader_and_the_leader_resubmits(session, world):
    submitted(session, world)
    desk = who(session, world.desk)
    review.review_item(session, desk, world.round.id, "A1", K2, mark="confirmed")
    review.review_item(session, desk, world.round.id, "A1", K1, mark="returned", comment="根拠の文書名を書いてください")
    session.commit()
    assert state_of(session, world) == (SheetState.DRAFT, ReviewState.RETURNED)
    # the sheet is open for the 所属 again, with the comment beside the item
    leader = who(session, world.leader_a)
    view = service.get_sheet_for(session, leader, world.round.id, "A1")
    assert view.can_edit and view.can_submit
    assert review.review_of(session, leader, view).returned() == {K1: "根拠の文書名を書いてください"}
    # a further comment while it is sent back does not reopen it again
    review.review_item(session, desk, world.round.id, "A1", V1_KEYS[2], mark="returned", comment="こちらも")
    session.commit()
    [mail] = session.exec(select(OutboxMessage).where(OutboxMessage.kind.in_(["sheet_sent_back", "sheet_reopened"]))
                          ).all()
    assert mail.kind == "sheet_sent_back" and "差戻し" in mail.subject  # not 「提出が取り消されました」
    assert mail.recipient == "leader.a1@test.example" and "根拠の文書名を書いてください" in mail.body
    service.save_answers(session, leader, world.round.id, "A1",
                         [service.AnswerInput(K1, "◎", "文書管理規程", view.answers[K1].version)],
                         source=EventSource.PAGE)
    service.submit(session, leader, world.round.id, "A1", source=EventSource.PAGE)
    session.commit()
    assert state_of(session, world) == (SheetState.SUBMITTED, ReviewState.REVIEWING)
    review.confirm_all(session, desk, world.round.id, "A1")
    session.commit()
    assert state_of(session, world)[1] is ReviewState.CONFIRMED


def test_review_is_refused_on_a_draft_sheet(session, world):
    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    session.commit()
    desk = who(session, world.desk)
    for mark, comment in (("confirmed", ""), ("returned", "まだ提出されていません")):
        with pytest.raises(Forbidden, match="提出されていない"):
            review.review_item(session, desk, world.round.id, "A1", K1, mark=mark, comment=comment)
    with pytest.raises(Forbidden, match="提出されていない"):
        review.confirm_all(session, desk, world.round.id, "A1")


@pytest.mark.parametrize("persona", ["leader_a", "member_a", "member_b"])
def test_only_the_desk_and_admins_review(session, world, persona):
    submitted(session, world)
    person = who(session, getattr(world, persona))
    with pytest.raises(Forbidden):
        review.review_item(session, person, world.round.id, "A1", K1, mark="returned", comment="自分で差戻し")
    with pytest.raises(Forbidden):
        review.confirm_all(session, person, world.round.id, "A1")
    session.rollback()
    assert state_of(session, world) == (SheetState.SUBMITTED, ReviewState.UNREVIEWED)


def test_history_records_each_step_in_japanese(session, world):
    submitted(session, world)
    desk = who(session, world.desk)
    review.review_item(session, desk, world.round.id, "A1", K2, mark="confirmed")
    review.review_item(session, desk, world.round.id, "A1", K1, mark="returned", comment="要確認")
    session.commit()
    service.submit(session, who(session, world.leader_a), world.round.id, "A1", source=EventSource.PAGE)
    review.confirm_all(session, desk, world.round.id, "A1")
    session.commit()
    entries = sheet_history(session, who(session, world.leader_a), world.round.id, "A1").entries
    steps = [(e.kind_label, e.note) for e in entries if e.kind != "answer"][::-1]
    assert steps == [
        ("提出", ""), ("確認済（窓口）", ""), ("差戻し（窓口）", "要確認"),
        ("提出の取消", f"差戻し（1. {f.definition_item_text(session, world, K1)}）: 要確認"),
        ("提出", ""), ("シート全体を確認済（窓口）", "")]


def test_the_board_counts_sheets_per_review_state(session, world):
    submitted(session, world)  # A1
    f.set_answers(session, world.round.id, world.b1, dict.fromkeys(V1_KEYS, "○"))
    service.submit(session, who(session, world.leader_b), world.round.id, "B1", source=EventSource.PAGE)
    review.review_item(session, who(session, world.desk), world.round.id, "B1", K1, mark="returned", comment="再確認")
    session.commit()
    counts = review.review_counts(session, world.round.id)
    assert counts == {ReviewState.UNREVIEWED: 1, ReviewState.REVIEWING: 0, ReviewState.CONFIRMED: 0,
                      ReviewState.RETURNED: 1}
    review.confirm_all(session, who(session, world.desk), world.round.id, "A1")
    session.commit()
    assert review.review_counts(session, world.round.id, world.bureau_a.id)[ReviewState.CONFIRMED] == 1
    assert review.review_counts(session, world.round.id, world.bureau_b.id)[ReviewState.RETURNED] == 1


def test_pure_review_state():
    assert review.review_state(submitted=False, items=3, confirmed=0, returned=0, marked=0) is None
    assert review.review_state(submitted=False, items=3, confirmed=1, returned=0, marked=2) is None  # taken back
    assert review.review_state(submitted=False, items=3, confirmed=2, returned=1, marked=3) is ReviewState.RETURNED
    assert review.review_state(submitted=True, items=3, confirmed=0, returned=0, marked=0) is ReviewState.UNREVIEWED
    assert review.review_state(submitted=True, items=3, confirmed=0, returned=0, marked=1) is ReviewState.REVIEWING
    assert review.review_state(submitted=True, items=3, confirmed=2, returned=0, marked=3) is ReviewState.REVIEWING
    assert review.review_state(submitted=True, items=3, confirmed=3, returned=0, marked=3) is ReviewState.CONFIRMED


# --- a 差戻し racing the leader's own 提出の取消 (checked under the sheet's lock) ------------------------------


def test_a_send_back_racing_the_leaders_reopening_reopens_the_sheet_once(engine, session, world):
    """Each pair: the sheet submitted, then the desk's 差戻し and the leader's 提出の取消 released together, each in
    its own transaction. Whichever comes second sees the sheet a draft under the lock and is refused: never two
    reopenings of one 提出, never a 差戻し recorded on a sheet the leader had already taken back."""
    import threading

    from app.db import session_for
    from app.errors import Conflict
    from app.sheets.models import SheetEvent

    f.set_answers(session, world.round.id, world.a1, dict.fromkeys(V1_KEYS, "○"))
    session.commit()
    desk, leader = who(session, world.desk), who(session, world.leader_a)
    session.commit()  # and no more reading through this session: on SQLite it would hold the write lock
    outcomes = []
    for n in range(10):
        with session_for(engine, write=True) as s:
            service.submit(s, leader, world.round.id, "A1", source=EventSource.PAGE)
            s.commit()
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def run(name, action, barrier=barrier, results=results):
            with session_for(engine, write=True) as s:
                barrier.wait()
                try:
                    action(s)
                    s.commit()
                    results[name] = "done"
                except (Forbidden, Conflict):
                    s.rollback()
                    results[name] = "refused"

        threads = [
            threading.Thread(target=run, args=("desk", lambda s, n=n: review.review_item(
                s, desk, world.round.id, "A1", K1, mark="returned", comment=f"差戻し{n}"))),
            threading.Thread(target=run, args=("leader", lambda s, n=n: service.reopen(
                s, leader, world.round.id, "A1", source=EventSource.PAGE, reason=f"取消{n}"))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.append(results)
        with session_for(engine) as s:  # a new 提出 for the next pair: the sheet must be a draft here
            assert s.exec(select(Sheet.state).where(Sheet.id == f.sheet_of(s, world.round.id, world.a1).id)
                          ).one() == SheetState.DRAFT
    assert all(sorted(r.values()) == ["done", "refused"] for r in outcomes), outcomes
    with session_for(engine) as s:
        kinds = [k for k in s.exec(select(SheetEvent.kind).order_by(SheetEvent.id)).all() if k != "answer"]
    assert kinds.count("submit") == 10 and kinds.count("reopen") == 10
    backs = kinds.count("review_back")
    assert backs == sum(r["desk"] == "done" for r in outcomes)
