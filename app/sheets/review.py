"""The desk's review of submitted sheets: each item 確認済 or 差戻し (with a comment), or the whole sheet
確認済. A 差戻し reopens the sheet (through the writer, in the same transaction) with the comment beside the
item, and tells the 所属's leaders; they answer and submit again, and the desk reviews again.

Like every change of a sheet, a mark is decided from what is read under the sheet's lock and written by
``app.sheets.writer``. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, func
from sqlmodel import Session, select

from app.auth import permissions, scope
from app.auth import service as auth_service
from app.auth.models import User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.errors import Conflict, Forbidden, InvalidInput
from app.jpdate import now_utc
from app.orgs.models import Unit
from app.outbox import notices
from app.outbox.service import enqueue_mail
from app.rounds.models import Round, RoundState
from app.sheets import writer
from app.sheets.models import EventKind, EventSource, ReviewMark, Sheet, SheetReview, SheetState
from app.sheets.service import SheetView, _lock_for
from app.text import check_text

COMMENT_MAX = 500
MARK_LABELS = {ReviewMark.CONFIRMED: "確認済", ReviewMark.RETURNED: "差戻し", ReviewMark.RESUBMITTED: "差戻し後に再提出"}


class ReviewState(StrEnum):
    UNREVIEWED = "unreviewed"
    REVIEWING = "reviewing"
    CONFIRMED = "confirmed"
    RETURNED = "returned"


REVIEW_STATE_LABELS = {ReviewState.UNREVIEWED: "未確認", ReviewState.REVIEWING: "確認中",
                       ReviewState.CONFIRMED: "確認済", ReviewState.RETURNED: "差戻し"}


def review_state(*, submitted: bool, items: int, confirmed: int, returned: int, marked: int) -> ReviewState | None:
    """A sheet's review state from its marks (``marked``: items with any mark): 差戻し (a draft with items sent
    back and not yet submitted again), 未確認 / 確認中 / 確認済 (submitted); None for any other draft."""
    if not submitted:
        return ReviewState.RETURNED if returned else None
    if marked == 0:
        return ReviewState.UNREVIEWED
    if confirmed >= items:
        return ReviewState.CONFIRMED
    return ReviewState.REVIEWING


@dataclass(frozen=True)
class Review:
    """The desk's marks on a sheet as its page shows them."""

    marks: dict[str, tuple[str, str]]  # item key → (mark, comment)
    state: ReviewState | None
    why_not_confirm: str | None
    why_not_send_back: str | None

    @property
    def state_label(self) -> str | None:
        return REVIEW_STATE_LABELS[self.state] if self.state else None

    @property
    def can_review(self) -> bool:
        return self.why_not_confirm is None or self.why_not_send_back is None

    def returned(self) -> dict[str, str]:
        return {key: comment for key, (mark, comment) in self.marks.items() if mark == ReviewMark.RETURNED}


def _state_of(marks: dict[str, tuple[str, str]], *, submitted: bool, items: int) -> ReviewState | None:
    values = [mark for mark, _ in marks.values()]
    return review_state(submitted=submitted, items=items, confirmed=values.count(ReviewMark.CONFIRMED),
                        returned=values.count(ReviewMark.RETURNED), marked=len(values))


def _rules(principal: Principal, *, submitted: bool, sent_back: bool, round_open: bool) -> tuple[str | None, ...]:
    states = {"sheet_submitted": submitted, "sent_back": sent_back, "round_open": round_open}
    return (permissions.why_not_review(principal, send_back=False, **states),
            permissions.why_not_review(principal, send_back=True, **states))


def review_of(session: Session, principal: Principal, view: SheetView) -> Review:
    """The marks on a sheet someone may read (``view`` comes from the scoped getter): the 所属 reads the
    comments, the desk reviews."""
    marks = writer.reviews(session, view.sheet.id)
    state = _state_of(marks, submitted=view.submitted, items=len(view.definition.items))
    why_not = _rules(principal, submitted=view.submitted, sent_back=state is ReviewState.RETURNED,
                     round_open=view.round.state == RoundState.OPEN)
    return Review(marks, state, *why_not)


def review_item(session: Session, principal: Principal, round_id: int, section_code: str, item_key: str, *,
                mark: str, comment: str = "", source: EventSource = EventSource.PAGE) -> ReviewMark:
    """Mark one item 確認済 or 差戻し. A 差戻し needs a comment and reopens a submitted sheet (its leaders are
    told in the same transaction). Checked under the sheet's lock."""
    try:
        chosen = ReviewMark(mark)
    except ValueError:
        raise InvalidInput("「確認済」か「差戻し」を選んでください。", fields={"mark": "選んでください。"}) from None
    comment, problem = check_text((comment or "").strip(), "コメント", multiline=True)
    if problem:
        raise InvalidInput(problem, fields={"comment": problem})
    if chosen is ReviewMark.RETURNED and not comment:
        raise InvalidInput("差戻しにはコメントが必要です。直してほしい点を書いてください。",
                           fields={"comment": "差戻しの理由を書いてください。"})
    if len(comment) > COMMENT_MAX:
        raise InvalidInput(f"コメントは{COMMENT_MAX}文字以内にしてください（現在{len(comment)}文字）。",
                           fields={"comment": f"{COMMENT_MAX}文字以内にしてください。"})
    sheet = _lock_for(session, round_id, section_code)
    definition = checklists.get_definition(session, sheet.version_id)
    item = definition.item(item_key)  # 404 for an unknown item
    submitted = sheet.state == SheetState.SUBMITTED
    marks = writer.reviews(session, sheet.id)
    sent_back = not submitted and any(m == ReviewMark.RETURNED for m, _ in marks.values())
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or _rules(
        principal, submitted=submitted, sent_back=sent_back,
        round_open=sheet.round_state == RoundState.OPEN)[chosen is ReviewMark.RETURNED]
    if refusal:
        raise Forbidden(refusal)
    now = now_utc()
    kind = EventKind.REVIEW_BACK if chosen is ReviewMark.RETURNED else EventKind.REVIEW_OK
    writer.mark_review(session, sheet, {item.key: (chosen.value, comment)}, kind=kind, actor_id=principal.user_id,
                       now=now, source=source)
    if chosen is ReviewMark.RETURNED and submitted:
        note = f"差戻し（{item.position}. {item.text}）: {comment}"
        writer.set_state(session, sheet, definition, SheetState.DRAFT, actor_id=principal.user_id,
                         source=source, now=now, note=note)
        unit = session.get(Unit, sheet.unit_id)
        round_ = session.get(Round, round_id)
        notice = notices.sheet_sent_back(round_id=round_id, round_title=round_.title, section_code=unit.code,
                                         section_name=unit.name, item=f"{item.position}. {item.text}",
                                         comment=comment, by=principal.display_name)
        enqueue_mail(session, notice, auth_service.leader_recipients(session, [unit.id]),
                     key=f"sheet_returned.sh{sheet.id}.{now:%Y%m%dT%H%M%S%f}")
    return chosen


def confirm_all(session: Session, principal: Principal, round_id: int, section_code: str, *,
                source: EventSource = EventSource.PAGE) -> int:
    """「シート全体を確認済にする」: every item 確認済 (one history event). Returns how many items were marked."""
    sheet = _lock_for(session, round_id, section_code)
    submitted = sheet.state == SheetState.SUBMITTED
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or _rules(
        principal, submitted=submitted, sent_back=False, round_open=sheet.round_state == RoundState.OPEN)[0]
    if refusal:
        raise Forbidden(refusal)
    definition = checklists.get_definition(session, sheet.version_id)
    marks = writer.reviews(session, sheet.id)
    todo = {item.key: (ReviewMark.CONFIRMED.value, "") for item in definition.items
            if marks.get(item.key, ("", ""))[0] != ReviewMark.CONFIRMED}
    if not todo:
        raise Conflict("すべての項目が既に確認済です。")
    writer.mark_review(session, sheet, todo, kind=EventKind.REVIEW_ALL, actor_id=principal.user_id, now=now_utc(),
                       source=source)
    return len(todo)


@dataclass(frozen=True)
class MarkDetail:
    """The desk's latest mark on one item, with who made it and when (the JSON's)."""

    mark: str
    comment: str
    at: datetime
    by: str | None  # display name; None if not recorded


def mark_details(session: Session, view: SheetView) -> dict[str, MarkDetail]:
    """The marks on a sheet someone may read (``view`` comes from the scoped getter), by item key."""
    rows = session.exec(select(SheetReview.item_key, SheetReview.mark, SheetReview.comment, SheetReview.at,
                               User.display_name).outerjoin(User, User.id == SheetReview.by_id)
                        .where(SheetReview.sheet_id == view.sheet.id)).all()
    return {key: MarkDetail(mark, comment, at, by) for key, mark, comment, at, by in rows}


def review_counts(session: Session, round_id: int, bureau_id: int | None = None) -> dict[ReviewState, int]:
    """Sheets of a round (or of one 部局) per review state, counted in SQL (the board)."""
    per_sheet = (
        select(SheetReview.sheet_id,
               func.sum(case((SheetReview.mark == ReviewMark.CONFIRMED.value, 1), else_=0)).label("ok"),
               func.sum(case((SheetReview.mark == ReviewMark.RETURNED.value, 1), else_=0)).label("back"),
               func.count().label("marked"))
        # the marks on this round's sheets only (marks of every round are millions of rows after a few years)
        .where(SheetReview.sheet_id.in_(select(Sheet.id).where(Sheet.round_id == round_id)))
        .group_by(SheetReview.sheet_id).subquery())
    ok = func.coalesce(per_sheet.c.ok, 0)
    back = func.coalesce(per_sheet.c.back, 0)
    marked = func.coalesce(per_sheet.c.marked, 0)
    submitted = Sheet.state == SheetState.SUBMITTED.value
    state = case(
        (~submitted & (back > 0), ReviewState.RETURNED.value),
        (~submitted, ""),
        (marked == 0, ReviewState.UNREVIEWED.value),
        (ok >= Sheet.tally_total, ReviewState.CONFIRMED.value),
        else_=ReviewState.REVIEWING.value)
    query = (select(state, func.count()).select_from(Sheet).outerjoin(per_sheet, per_sheet.c.sheet_id == Sheet.id)
             .where(Sheet.round_id == round_id).group_by(state))
    if bureau_id is not None:
        query = query.where(Sheet.bureau_id == bureau_id)
    found = {value: n for value, n in session.exec(query).all() if value}
    return {s: found.get(s.value, 0) for s in ReviewState}


def sent_back(session: Session, round_id: int, unit_ids: list[int]) -> set[int]:
    """Of ``unit_ids``, the 所属 whose sheet of the round is sent back (差戻し) and not yet submitted again."""
    if not unit_ids:
        return set()
    return set(session.exec(
        select(Sheet.unit_id).join(SheetReview, SheetReview.sheet_id == Sheet.id)
        .where(Sheet.round_id == round_id, Sheet.unit_id.in_(unit_ids), Sheet.state == SheetState.DRAFT.value,
               SheetReview.mark == ReviewMark.RETURNED.value).distinct()).all())
