"""Less work each round (issue 11.11): a sheet of an open round is offered the 所属's answers of the previous
round, item by item (joined by item key, so across checklist versions), shown as 「前回の回答」 and not
counted until someone confirms them: 「変更なし」 for one item, 「前回どおりで確認」 for every item still
unanswered. Items whose key the previous round's checklist version did not have are 「新しい項目」.

"The previous round" is the latest earlier round (by opening date) in which the 所属, or a 所属 it
continues (renamed, moved, merged into it or split from it: ``orgs.lineage``), has a sheet. Only a
*submitted* sheet of that round is offered: a draft the 所属 never submitted offers nothing, and older
rounds are not searched (their answers are more than a round old). When several 所属 of the lineage
have a submitted sheet in that round (a merge), the nearest one is used: the 所属 itself, then one it
continues under another name or place, then a merged, then a split one; nearer reorganisations first.

The offer is computed on read, never stored: finding the previous sheet is one query over the few units
of the lineage, and the offers are one query joining this sheet's unanswered answers to the previous
sheet's answers by item key. Confirming writes through the one writer (``app.sheets.writer``): under the
sheet's lock, the state, round and (for one item) the version are checked, the answers, history events
(source ``previous``) and tallies written in one transaction. An item already answered in this round is
never overwritten; a memo typed here before the status is kept, else the previous memo comes with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.auth import permissions, scope
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import Definition
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc, today_jst
from app.orgs.models import Unit
from app.rounds import service as rounds
from app.rounds.models import Round, RoundState
from app.sheets import service, writer
from app.sheets.models import Answer, EventSource, Sheet, SheetState
from app.statuses import Status

# Which predecessor's sheet wins when several have one in the previous round (orgs.Ancestor.relation).
_NEAREST = ("self", "continued", "merged", "split")


@dataclass(frozen=True)
class PreviousAnswer:
    status: str  # ◎ ○ △ × 該当なし
    memo: str


@dataclass(frozen=True)
class Previous:
    """What a sheet is offered from the previous round."""

    round: Round  # the previous round
    unit: Unit  # whose sheet it was: the 所属 itself or a predecessor
    sheet_id: int
    keys: frozenset[str]  # the item keys of the previous round's checklist version
    offers: dict[str, PreviousAnswer]  # item key → previous answer, for this sheet's unanswered items, sheet order

    def is_new(self, key: str) -> bool:
        """An item the previous round's checklist did not have (「新しい項目」)."""
        return key not in self.keys

    def offer(self, key: str) -> PreviousAnswer | None:
        return self.offers.get(key)


# The sheets of some 所属 (``units``) in the rounds held before one (``opens_on``, ``round_id``), newest first; built
# once (building it costs more than running it).
_EARLIER_SHEETS = (
    select(Round, Sheet.id, Sheet.unit_id, Sheet.state)
    .join(Sheet, Sheet.round_id == Round.id)
    .where(Sheet.unit_id.in_(bindparam("units", expanding=True)), Round.state != RoundState.PREPARING,
           or_(Round.opens_on < bindparam("opens_on"),
               and_(Round.opens_on == bindparam("opens_on"), Round.id < bindparam("round_id"))))
    .order_by(Round.opens_on.desc(), Round.id.desc())
)


def find(session: Session, principal: Principal, round_: Round, unit_id: int) -> tuple[Round, Unit, int] | None:
    """The previous round's submitted sheet of this 所属's lineage that ``principal`` may read:
    (round, unit, sheet id), or None."""
    family = {a.unit.id: (_NEAREST.index(a.relation), a.depth, a.unit.code) for a in scope.lineage(session, unit_id)}
    if not family:
        return None
    rows = session.execute(_EARLIER_SHEETS, {"units": list(family), "opens_on": round_.opens_on,
                                             "round_id": round_.id}).all()
    if not rows:
        return None
    latest = rows[0][0].id
    submitted = [(family[u], r, s, u) for r, s, u, state in rows if r.id == latest and state == SheetState.SUBMITTED]
    if not submitted:
        return None  # the previous round's sheet was never submitted: nothing to offer
    _, round_before, sheet_id, unit = min(submitted, key=lambda row: row[0])
    if scope.why_not_read(session, principal, unit) is not None:
        return None
    return round_before, session.get(Unit, unit), sheet_id


_now = aliased(Answer)
_then = aliased(Answer)
# This sheet's unanswered items joined by item key to the previous sheet's answered ones.
_OFFERS = (
    select(_now.item_key, _then.status, _then.memo)
    .join(_then, and_(_then.item_key == _now.item_key, _then.sheet_id == bindparam("previous_id")))
    .where(_now.sheet_id == bindparam("sheet_id"), _now.status.is_(None), _then.status.is_not(None))
)


def _offers(session: Session, definition: Definition, sheet_id: int, previous_id: int) -> dict[str, PreviousAnswer]:
    found = {key: PreviousAnswer(status, memo) for key, status, memo in session.connection().execute(
        _OFFERS, {"sheet_id": sheet_id, "previous_id": previous_id})}
    # in sheet order; an item that no longer allows 該当なし is not offered one
    return {item.key: found[item.key] for item in definition.items
            if item.key in found and (item.allows_na or found[item.key].status != Status.NOT_APPLICABLE)}


def offer_for(session: Session, principal: Principal, view: service.SheetView) -> Previous | None:
    """The offer shown on a sheet: only a draft of an open round is offered anything."""
    if view.submitted or not view.round_open:
        return None
    found = find(session, principal, view.round, view.unit.id)
    if found is None:
        return None
    round_before, unit, sheet_id = found
    keys = frozenset(checklists.get_definition(session, round_before.checklist_version_id).by_key)
    return Previous(round_before, unit, sheet_id, keys, _offers(session, view.definition, view.sheet.id, sheet_id))


def confirm(session: Session, principal: Principal, round_id: int, section_code: str, *, item_key: str | None = None,
            version: int | None = None, source: EventSource) -> int:
    """「変更なし」 (``item_key`` with the ``version`` the person read) or 「前回どおりで確認」 (no ``item_key``: every
    item still unanswered that has a previous answer). Returns how many answers were written. Never commits."""
    sheet = writer.lock_by_code(session, round_id, section_code)
    if sheet is None:
        rounds.get_round(session, round_id)  # 404 for an unknown round
        raise NotFound(f"所属コード「{section_code}」のチェックシートはこの調査回にありません。")
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or permissions.why_not_confirm_previous(
        principal, sheet.unit_id, sheet_submitted=sheet.state == SheetState.SUBMITTED,
        round_open=sheet.round_state == RoundState.OPEN)
    if refusal:
        raise Forbidden(refusal)
    definition = checklists.get_definition(session, sheet.version_id)
    item = definition.item(item_key) if item_key is not None else None  # 404 for an unknown item
    if item is not None and version is None:
        raise InvalidInput("version（読み込んだときの版番号）を指定してください。",
                           fields={"version": "version を指定してください。"})
    found = find(session, principal, rounds.get_round(session, round_id), sheet.unit_id)
    offers = _offers(session, definition, sheet.id, found[2]) if found else {}
    if item is not None:
        stored = writer.answers(session, sheet.id, [item.key])[item.key]
        if stored.version != version:
            raise service.conflict(session, item, stored)
        if stored.status is not None:
            raise Conflict(f"「{item.text}」は既に回答されています（{stored.status}）。前回の回答では上書きしません。",
                           item_key=item.key)
        if item.key not in offers:
            raise Conflict(f"「{item.text}」には、確認できる前回の回答がありません。", item_key=item.key)
        offers = {item.key: offers[item.key]}
    if not offers:
        return 0
    stored = writer.answers(session, sheet.id, list(offers))
    changes = [writer.Change(definition.by_key[key], stored[key], offer.status, stored[key].memo or offer.memo)
               for key, offer in offers.items()]
    how = "（API）" if source == EventSource.API else ""
    writer.write_answers(session, sheet, definition, changes, actor_id=principal.user_id, source=EventSource.PREVIOUS,
                         now=now_utc(), entry_on=today_jst(), note=f"{found[0].title}の回答を変更なしで確認{how}")
    return len(changes)
