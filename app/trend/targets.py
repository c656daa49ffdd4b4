"""Targets (目標): a 所属's DX推進リーダー picks up to five items and the status aimed for in the next
round. Stored per 所属 and base round (the round whose results the leader was looking at); the result
is read in the round that follows it in the 所属's history (following reorganisations)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc
from app.orgs.models import Unit
from app.rounds.models import Round
from app.scoring.rules import (
    TARGET_LIMIT,
    TARGET_RESULT_LABELS,
    TARGET_RESULT_MARKS,
    TARGET_STATUSES,
    TargetResult,
    target_below_current,
    target_result,
)
from app.statuses import STATUS_LABELS, Status, parse_status
from app.trend.models import Target
from app.trend.service import Trend


@dataclass
class TargetRow:
    item_key: str
    text: str
    category: str
    target: Status
    base_status: Status | None  # when the target was set (the base round)
    result_status: Status | None  # in the result round (None: unanswered or no result round yet)
    result: TargetResult | None  # None while there is no result round
    set_by_unit: Unit  # the 所属 that set it (an older name after a reorganisation)
    set_at: datetime

    @property
    def result_label(self) -> str:
        return TARGET_RESULT_LABELS[self.result] if self.result else "次の調査回で判定します"

    @property
    def result_mark(self) -> str:
        return TARGET_RESULT_MARKS[self.result] if self.result else ""


@dataclass
class TargetSet:
    base_round: Round
    result_round: Round | None
    rows: list[TargetRow]

    @property
    def met(self) -> int:
        return sum(1 for r in self.rows if r.result is TargetResult.MET)

    @property
    def judged(self) -> int:
        return sum(1 for r in self.rows if r.result in (TargetResult.MET, TargetResult.NOT_MET))


_TARGETS_OF = (select(Target)  # built once: the targets of some units in some rounds
               .where(Target.unit_id.in_(bindparam("units", expanding=True)),
                      Target.round_id.in_(bindparam("rounds", expanding=True)))
               .order_by(Target.round_id, Target.id))


def target_sets(session: Session, trend: Trend) -> list[TargetSet]:
    """Every base round of the 所属's history that has targets, newest first, with results where the
    following round exists."""
    rounds = trend.rounds
    if not rounds:
        return []
    unit_ids = {p.unit.id for p in trend.points} | {trend.unit.id}
    units = {p.unit.id: p.unit for p in trend.points} | {trend.unit.id: trend.unit}
    found = session.exec(_TARGETS_OF, params={"units": sorted(unit_ids), "rounds": [r.id for r in rounds]}).all()
    by_round: dict[int, list[Target]] = defaultdict(list)
    for target in found:
        by_round[target.round_id].append(target)
    result = []
    for index, base in enumerate(rounds):
        if base.id not in by_round:
            continue
        after = rounds[index + 1] if index + 1 < len(rounds) else None
        base_def = checklists.get_definition(session, base.checklist_version_id)
        after_def = checklists.get_definition(session, after.checklist_version_id) if after else None
        after_point = trend.main_point(after.id) if after else None
        rows = []
        for t in by_round[base.id]:
            base_point = next((p for p in trend.points_in(base.id) if p.unit.id == t.unit_id), None)
            item = (after_def.by_key.get(t.item_key) if after_def else None) or base_def.by_key.get(t.item_key)
            target = Status(t.status)
            outcome = now = None
            if after is not None:
                in_after = after_def is not None and t.item_key in after_def.by_key
                now = after_point.statuses.get(t.item_key) if (after_point and in_after) else None
                outcome = target_result(target, now, in_result_round=in_after and after_point is not None)
            rows.append(TargetRow(
                item_key=t.item_key, text=item.text if item else t.item_key, category=item.category if item else "",
                target=target, base_status=base_point.statuses.get(t.item_key) if base_point else None,
                result_status=now, result=outcome, set_by_unit=units[t.unit_id], set_at=t.set_at,
            ))
        result.append(TargetSet(base, after, rows))
    result.reverse()
    return result


def set_targets(session: Session, principal: Principal, unit: Unit, trend: Trend, base_round_id: int,
                wanted: Mapping[str, str | None]) -> list[Target]:
    """Replace the 所属's targets set from its latest round. ``wanted`` maps item keys to a status
    (◎ ○ △); an empty status means no target for that item. All or nothing: any error changes nothing."""
    refusal = permissions.why_not_set_targets(principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    rounds = trend.rounds
    if not rounds:
        raise NotFound("この所属にはまだ調査回の結果がないため、目標を設定できません。")
    latest = rounds[-1]
    if base_round_id != latest.id:
        raise Conflict(f"目標は最新の調査回（{latest.title}）の結果をもとに設定します。"
                       "画面を再読み込みしてから、もう一度設定してください。")
    definition = checklists.get_definition(session, latest.checklist_version_id)
    current = trend.main_point(latest.id)
    errors: dict[str, str] = {}
    chosen: dict[str, Status] = {}
    for key, raw in wanted.items():
        item = definition.by_key.get(key)
        if item is None:
            errors[key] = f"チェック項目「{key[:100]}」はこの調査回のチェックシートにありません。"
            continue
        if raw is None or raw.strip() == "":
            continue
        try:
            status = parse_status(raw)
        except ValueError:
            status = None
        if status not in TARGET_STATUSES:
            errors[key] = f"「{item.text}」の目標は ◎ ○ △ のいずれかを選んでください。"
            continue
        now = current.statuses.get(key) if current else None
        if target_below_current(status, now):
            errors[key] = (f"「{item.text}」の目標（{status.value} {STATUS_LABELS[status]}）が、今回の達成状況"
                           f"（{now.value}）より低くなっています。今回と同じか、より高い状況を選んでください。")
            continue
        chosen[key] = status
    if len(chosen) > TARGET_LIMIT:
        errors["targets"] = f"目標は{TARGET_LIMIT}項目までにしてください（{len(chosen)}項目が選ばれています）。"
    if errors:
        raise InvalidInput("目標を保存できませんでした: " + " ".join(errors.values()), fields=errors)
    # Serialise concurrent edits of one 所属's targets (PostgreSQL row lock; SQLite writes are serial).
    session.exec(select(Unit.id).where(Unit.id == unit.id).with_for_update())
    session.execute(delete(Target).where(Target.unit_id == unit.id, Target.round_id == latest.id))
    at = now_utc()
    saved = [Target(unit_id=unit.id, round_id=latest.id, item_key=key, status=status.value, set_at=at,
                    set_by_id=principal.user_id)
             for key, status in sorted(chosen.items(), key=lambda kv: definition.by_key[kv[0]].position)]
    session.add_all(saved)
    session.flush()
    return saved
