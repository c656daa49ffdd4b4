"""A 所属's history across rounds: scores per round (following its lineage through reorganisations)
and item-by-item comparison between two rounds (items joined by key across checklist versions)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from app.checklists import service as checklists
from app.errors import NotFound
from app.orgs import service as orgs
from app.orgs.models import Unit
from app.rounds.models import Round, RoundState
from app.scoring.rules import Change, change, is_final
from app.sheets import figures
from app.sheets.models import Answer, Sheet
from app.statuses import Status

RELATION_LABELS = {
    "self": "",
    "continued": "名称変更・移管前",
    "merged": "統合前の所属",
    "split": "分割前の所属（参考）",
}


@dataclass
class TrendPoint:
    round: Round
    unit: Unit
    relation: str  # self | continued | merged | split (see orgs.service.Ancestor)
    score: figures.SheetScore
    statuses: dict[str, Status | None]

    @property
    def relation_label(self) -> str:
        return RELATION_LABELS[self.relation]


@dataclass
class ItemComparison:
    key: str
    text: str
    category: str
    difficulty: int | None
    before: list[tuple[Unit, Status | None]]  # (所属, status) — several after a merge
    after: Status | None
    in_before: bool
    in_after: bool
    change: Change | None  # None when there are several predecessors (shown side by side)


@dataclass
class Trend:
    unit: Unit
    points: list[TrendPoint] = field(default_factory=list)

    @property
    def rounds(self) -> list[Round]:
        return list({p.round.id: p.round for p in self.points}.values())

    def series(self) -> dict[tuple[int, str], list[TrendPoint]]:
        """Points grouped per unit (the 所属 itself and each predecessor), in round order."""
        grouped: dict[tuple[int, str], list[TrendPoint]] = defaultdict(list)
        for point in self.points:
            grouped[(point.unit.id, point.relation)].append(point)
        return dict(grouped)

    def points_in(self, round_id: int) -> list[TrendPoint]:
        return list(self._by_round.get(round_id, ()))

    @cached_property
    def _by_round(self) -> dict[int, list[TrendPoint]]:
        """The points per round, worked out once (the page asks for each round's points several times);
        ``points`` is complete when a Trend is made (``section_trend``)."""
        by_round: dict[int, list[TrendPoint]] = defaultdict(list)
        for point in self.points:
            by_round[point.round.id].append(point)
        return dict(by_round)

    def main_point(self, round_id: int) -> TrendPoint | None:
        """The 所属's own point in a round: itself, or itself under an older name (renamed or moved);
        else its only predecessor (merged or split) when there is just one; None when there are several."""
        points = self.points_in(round_id)
        for point in points:
            if point.relation in ("self", "continued"):
                return point
        return points[0] if len(points) == 1 else None


# Built once (building a statement and its cache key costs more than running these two).
_SHEETS_OF_UNITS = select(Sheet.id).where(Sheet.unit_id.in_(bindparam("units", expanding=True)))
_ROUNDS = select(Round).where(Round.id.in_(bindparam("ids", expanding=True)))
_UNITS = select(Unit).where(Unit.id.in_(bindparam("ids", expanding=True)))


def units_by_id(session: Session, ids: set[int]) -> dict[int, Unit]:
    """Some units (the 部局 of a trend's sheets) by id."""
    return {u.id: u for u in session.exec(_UNITS, params={"ids": sorted(ids)})} if ids else {}


def section_trend(session: Session, unit: Unit) -> Trend:
    ancestors = orgs.lineage(session, unit.id)
    relation = {a.unit.id: a.relation for a in ancestors}
    units = {a.unit.id: a.unit for a in ancestors}
    sheet_ids = session.connection().execute(_SHEETS_OF_UNITS, {"units": list(units)}).scalars().all()
    scores = figures.sheet_scores(session, sheet_ids)
    rounds = {r.id: r for r in session.exec(_ROUNDS, params={"ids": sorted({s.round_id for s in scores.values()})})}
    statuses = _statuses(session, list(scores))
    points = [
        TrendPoint(rounds[s.round_id], units[s.unit_id], relation[s.unit_id], s, statuses.get(s.sheet_id, {}))
        for s in scores.values()
    ]
    order = list(RELATION_LABELS)
    points.sort(key=lambda p: (p.round.opens_on, p.round.id, order.index(p.relation), p.unit.position, p.unit.code))
    return Trend(unit, points)


# One row per sheet, its answers as "key=status" lines (status empty when unanswered): a trend over 20
# rounds is 20 rows instead of 800 (fetching rows costs more than the database's work).
_STATUSES = (select(Answer.sheet_id,
                    func.aggregate_strings(Answer.item_key + "=" + func.coalesce(Answer.status, ""), "\n"))
             .where(Answer.sheet_id.in_(bindparam("ids", expanding=True)))
             .group_by(Answer.sheet_id))
_STATUS_OF: dict[str, Status | None] = {"": None, **{s.value: s for s in Status}}


def _statuses(session: Session, sheet_ids: list[int]) -> dict[int, dict[str, Status | None]]:
    if not sheet_ids:
        return {}
    rows = session.connection().execute(_STATUSES, {"ids": sheet_ids}).all()
    found = {}
    for sheet_id, joined in rows:  # keys and statuses hold no "=" or line break: key, status, key, status…
        flat = joined.replace("=", "\n").split("\n")
        found[sheet_id] = dict(zip(flat[::2], map(_STATUS_OF.__getitem__, flat[1::2]), strict=True))
    return found


def compare(session: Session, trend: Trend, before_round_id: int, after_round_id: int) -> list[ItemComparison]:
    """Item by item, the later round against the earlier one, over the union of both versions' items."""
    before = [p for p in trend.points if p.round.id == before_round_id]
    after = [p for p in trend.points if p.round.id == after_round_id]
    if not before or not after:
        raise NotFound("比較する調査回に、この所属（または前身の所属）のチェックシートがありません。")
    before_def = checklists.get_definition(session, before[0].round.checklist_version_id)
    after_def = checklists.get_definition(session, after[0].round.checklist_version_id)
    current = after[0]
    keys = list(after_def.by_key) + [k for k in before_def.by_key if k not in after_def.by_key]
    result = []
    for key in keys:
        item = after_def.by_key.get(key) or before_def.by_key[key]
        in_before, in_after = key in before_def.by_key, key in after_def.by_key
        previous = [(p.unit, p.statuses.get(key)) for p in before]
        now = current.statuses.get(key) if in_after else None
        single = previous[0][1] if len(previous) == 1 else None
        verdict = change(single, now, in_before=in_before, in_after=in_after) if len(previous) == 1 or not (
            in_before and in_after) else None
        result.append(ItemComparison(key, item.text, item.category, item.difficulty, previous, now, in_before,
                                     in_after, verdict))
    return result


def pending(trend: Trend, items: list[ItemComparison], round_id: int) -> frozenset[str]:
    """The items of ``compare`` not answered yet in round ``round_id`` while the 所属's sheet there is not final
    (its round open, the sheet not submitted): 集計中, rather than 「比較できません」."""
    point = trend.main_point(round_id)
    if point is None or is_final(point.round.state != RoundState.CLOSED, point.score.submitted):
        return frozenset()
    return frozenset(c.key for c in items if c.in_after and c.after is None and c.change is Change.NOT_COMPARABLE)
