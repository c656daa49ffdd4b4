"""The demo's data is a history that could have happened (issue 15.6): every answer saved before the sheet's
submission, every change of a submitted sheet after a recorded reopening, each answer's last history event
at its last update with its status, memo, author and version, 記載日 the day of the last change, and
nothing after the round's last day (or, in the open round, in the future)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from app import demo
from app.checklists.loader import load_checklist
from app.config import PROJECT_ROOT
from app.jpdate import JST, now_utc, to_jst
from app.rounds.models import Round, RoundState
from app.sheets.models import Answer, Sheet, SheetEvent


def aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@pytest.fixture
def demo_data(session):
    files = demo.version_files(PROJECT_ROOT / "checklists" / "paperless")
    demo.load(session, load_checklist(files[0]), demo.DemoPlan(sections=60, rounds=3, seed=7))
    session.commit()
    rounds = {r.id: r for r in session.execute(select(Round)).scalars()}
    sheets = {s.id: s for s in session.execute(select(Sheet)).scalars()}
    answers = defaultdict(list)
    for a in session.execute(select(Answer)).scalars():
        answers[a.sheet_id].append(a)
    events = defaultdict(list)
    for e in session.execute(select(SheetEvent).order_by(SheetEvent.at, SheetEvent.id)).scalars():
        events[e.sheet_id].append(e)
    return rounds, sheets, answers, events


def test_the_demo_timeline_could_have_happened(demo_data):
    rounds, sheets, answers, events = demo_data
    now = now_utc()
    reopened = resubmitted = still_reopened = 0
    for sheet_id, sheet in sheets.items():
        round_ = rounds[sheet.round_id]
        opens = datetime.combine(round_.opens_on, time(0, 0), tzinfo=JST)
        closes = datetime.combine(round_.closes_on, time(23, 59, 59), tzinfo=JST)
        mine = events[sheet_id]
        where = f"sheet {sheet_id} (round {round_.id})"
        for e in mine:  # everything within the round's days, nothing in the future
            assert opens <= aware(e.at) <= min(closes, now), (where, e.kind, e.at)

        # Submissions and reopenings alternate, starting with a submission; the state follows the last one.
        states = [e for e in mine if e.kind in ("submit", "reopen")]
        assert [e.kind for e in states] == ["submit", "reopen"] * (len(states) // 2) + ["submit"] * (len(states) % 2)
        assert sheet.state == ("submitted" if states and states[-1].kind == "submit" else "draft"), where
        if sheet.state == "submitted":
            assert aware(sheet.submitted_at) == aware(states[-1].at), where  # the last submission is the sheet's
        else:
            assert sheet.submitted_at is None, where
        if any(e.kind == "reopen" for e in mine):
            reopened += 1
            resubmitted += sheet.state == "submitted"
            still_reopened += sheet.state == "draft"
            assert all(e.note for e in mine if e.kind == "reopen"), where  # the reason is recorded

        # No answer is saved while the sheet is submitted: every save after a submission follows a reopening.
        submitted = False
        for e in mine:
            if e.kind == "submit":
                submitted = True
            elif e.kind == "reopen":
                submitted = False
            else:
                assert not submitted, (where, "answer saved while submitted", e.item_key, e.at)

        # Each answer: its last history event is its last update (status, memo, author, time), its version
        # the number of its saves, and the statuses chain (each save's old status is the previous new one).
        by_item = defaultdict(list)
        for e in mine:
            if e.kind == "answer":
                by_item[e.item_key].append(e)
        for a in answers[sheet_id]:
            saves = by_item.get(a.item_key, [])
            assert len(saves) == a.version, (where, a.item_key)
            if a.status is None:
                assert not saves and a.updated_at is None, (where, a.item_key)
                continue
            last = saves[-1]
            assert aware(last.at) == aware(a.updated_at), (where, a.item_key)
            assert (last.new_status, last.actor_id) == (a.status, a.updated_by_id), (where, a.item_key)
            assert [s.old_status for s in saves] == [None] + [s.new_status for s in saves[:-1]], (where, a.item_key)
            memos = [s.new_memo for s in saves if s.new_memo is not None]
            assert (memos[-1] if memos else "") == a.memo, (where, a.item_key)
            if sheet.submitted_at is not None:
                assert aware(a.updated_at) < aware(sheet.submitted_at), (where, a.item_key)
        updates = [aware(a.updated_at) for a in answers[sheet_id] if a.updated_at is not None]
        if updates:
            assert sheet.entry_on == to_jst(max(updates)).date(), where  # 記載日: the day of the last change
            assert aware(sheet.updated_at) >= max(updates), where
        else:
            assert sheet.entry_on is None, where
    # The demo shows reopenings: most submitted again, some (in the open round) still being corrected.
    assert reopened >= 5 and resubmitted >= 3, (reopened, resubmitted, still_reopened)
    assert any(r.state == RoundState.OPEN for r in rounds.values())
