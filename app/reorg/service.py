"""The April reorganisation (組織改正): check a CSV's changes against the organisation in force (dry run),
then apply them all in one transaction on an effective date.

A reorganisation never edits a 所属 in place: the old unit is closed (``valid_to`` = the effective date)
and its successor opened, joined by a ``UnitLink`` (rename, move, merge, split), so trends follow the
lineage. Memberships move to the successor for rename, move and merge; after a split or an abolition
the people are listed for an administrator to reassign. A round that is open gets sheets for the new
所属, and the sheet of a renamed or moved 所属 follows it (its answers are kept).

部局 may be created, renamed (its 所属 follow it) and abolished (once no 所属 is left in it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import AuditEvent, Membership, SectionRole, User
from app.auth.permissions import Principal
from app.db import one_at_a_time
from app.errors import Conflict, InvalidInput, NotFound
from app.jpdate import now_utc, wareki
from app.orgs.models import LinkKind, Unit, UnitKind, UnitLink
from app.reorg import csvfile
from app.reorg.csvfile import KIND_LABELS, Row, RowError
from app.reorg.models import SCHEDULE_STATE_LABELS, ScheduledReorg, ScheduleState
from app.rounds import service as rounds
from app.rounds.models import Round
from app.sheets import service as sheets
from app.sheets.models import Sheet
from app.text import scrub

MOVES_MEMBERS = {"rename", "move", "merge"}
LINK_KINDS = {"rename": LinkKind.RENAME, "move": LinkKind.MOVE, "merge": LinkKind.MERGE, "split": LinkKind.SPLIT}


@dataclass(frozen=True)
class NewUnit:
    """A unit this reorganisation opens. ``bureau``: an existing 部局, or the code of one opened here."""

    code: str
    name: str
    is_bureau: bool
    bureau: Unit | str | None = None
    position: int = 0


@dataclass(frozen=True)
class Person:
    name: str
    upn: str
    role: str
    unit: Unit


@dataclass
class Change:
    """One change: a row, or the rows of one merge (same 新コード) or one split (same 旧コード)."""

    kind: str
    lines: list[int]
    old: list[Unit] = field(default_factory=list)
    new: list[NewUnit] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)  # staff of the old units

    @property
    def label(self) -> str:
        what = "部局" if self.is_bureau else "所属"
        return f"{what}の{KIND_LABELS[self.kind]}"

    @property
    def is_bureau(self) -> bool:
        units = [u.kind == UnitKind.BUREAU for u in self.old] + [n.is_bureau for n in self.new]
        return bool(units) and all(units)

    @property
    def moves_people(self) -> bool:
        return self.kind in MOVES_MEMBERS and not self.is_bureau

    @property
    def to_reassign(self) -> list[Person]:
        return [] if self.moves_people else self.people


@dataclass
class RoundEffect:
    round: Round
    follow: list[tuple[Unit, NewUnit]]  # sheets that follow their renamed or moved 所属
    create: list[NewUnit]  # new 所属 that get a sheet
    # merged 所属 with sheets: the one with the most answers is handed on, the others folded into it
    merge: list[tuple[list[Unit], NewUnit]] = field(default_factory=list)


@dataclass
class ReorgPlan:
    effective_on: date
    changes: list[Change]
    errors: list[RowError]
    bureaus: dict[int, Unit]  # current 部局 by id
    new_bureaus: dict[str, NewUnit]  # 部局 opened here, by code
    rounds: list[RoundEffect] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def to_reassign(self) -> list[Person]:
        return [p for c in self.changes for p in c.to_reassign]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for c in self.changes:
            counts[c.label] += 1
        return dict(counts)

    def bureau_name(self, unit: NewUnit | Unit) -> str:
        """The 部局 a new 所属 will be in, or the one an existing 所属 is in."""
        ref = unit.bureau if isinstance(unit, NewUnit) else self.bureaus.get(unit.parent_id)
        if isinstance(ref, Unit):
            return ref.name
        if isinstance(ref, str) and ref in self.new_bureaus:
            return self.new_bureaus[ref].name
        return ""


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.bad: set[int] = set()

    def add(self, lines: int | list[int], message: str) -> None:
        for line in [lines] if isinstance(lines, int) else lines:
            self.items.append(RowError(line, message))
            self.bad.add(line)


def _label(unit: Unit) -> str:
    return f"「{unit.name}」（{unit.code}）"


def plan(session: Session, rows: list[Row], effective_on: date, row_errors: list[RowError] = ()) -> ReorgPlan:
    """Check every row against the organisation in force; the plan lists every change and every error."""
    errors = _Errors()
    for e in row_errors:
        errors.add(e.line, e.message)
    current = {u.code: u for u in session.exec(select(Unit).where(Unit.valid_to.is_(None)))}
    bureaus = {u.id: u for u in current.values() if u.kind == UnitKind.BUREAU}
    old_of: dict[int, Unit] = {}

    # 1. Each row on its own: the fields its kind needs, and the unit it names.
    for row in rows:
        _check_fields(row, errors)
        if row.old_code and row.line not in errors.bad:
            unit = current.get(row.old_code)
            if unit is None:
                errors.add(row.line, f"旧コード「{row.old_code}」の所属・部局は今はありません"
                                     "（コードの誤りか、既に廃止されています）。")
            elif unit.kind == UnitKind.BUREAU and row.kind in ("move", "merge", "split"):
                errors.add(row.line, f"{_label(unit)}は部局です。部局の統合・分割・移管は、部局の新設（create）・"
                                      "所属の移管（move）・部局の廃止（abolish）を組み合わせて書いてください。")
            elif unit.kind == UnitKind.BUREAU and row.new_bureau:
                errors.add(row.line, f"{_label(unit)}は部局です。部局の行には新部局コードを書かないでください。")
            else:
                old_of[row.line] = unit

    # 2. One unit, one change (a split has several rows with the same 旧コード).
    rows_of_old: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.old_code:
            rows_of_old[row.old_code].append(row)
    for code, same in rows_of_old.items():
        kinds = {r.kind for r in same}
        if len(same) > 1 and kinds != {"split"}:
            lines = [r.line for r in same]
            if {"merge", "split"} <= kinds:
                message = (f"旧コード「{code}」が統合（merge）と分割（split）の両方にあります。"
                           "1回の組織改正では、どちらか一方にしてください。")
            else:
                message = (f"旧コード「{code}」が複数の行（{_lines(lines)}）にあります。1つの所属・部局の変更は1行に"
                           "書いてください（分割は split の行を分割後の所属の数だけ書きます）。")
            errors.add(lines, message)

    # 3. Changes: merges grouped by 新コード, splits by 旧コード, the rest one row each.
    changes: list[Change] = []
    merges: dict[str, list[Row]] = defaultdict(list)
    splits: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.kind == "merge":
            merges[row.new_code].append(row)
        elif row.kind == "split":
            splits[row.old_code].append(row)
        else:
            changes.append(Change(row.kind, [row.line]))
    by_line = {r.line: r for r in rows}
    for code, group in merges.items():
        lines = [r.line for r in group]
        if len(group) < 2:
            errors.add(lines, "統合（merge）は2つ以上の所属を1つにまとめる変更です。"
                              f"新コード「{code}」の統合の行が1行だけです"
                              "（1つの所属の名称やコードを変えるなら rename を使ってください）。")
        names = {r.new_name for r in group if r.new_name}
        if len(names) > 1:
            errors.add(lines, f"新コード「{code}」への統合の行で、新名称が食い違っています"
                              f"（{'、'.join(sorted(names))}）。")
        elif not names:
            errors.add(lines, f"新コード「{code}」への統合の行に、統合後の新名称を書いてください。")
        if len({r.new_bureau for r in group if r.new_bureau}) > 1:
            errors.add(lines, f"新コード「{code}」への統合の行で、新部局コードが食い違っています。")
        changes.append(Change("merge", lines))
    for code, group in splits.items():
        lines = [r.line for r in group]
        if len(group) < 2:
            errors.add(lines, "分割（split）は1つの所属を2つ以上に分ける変更です。"
                              f"旧コード「{code}」の分割の行が1行だけです"
                              "（1つの所属の名称やコードを変えるなら rename を使ってください）。")
        changes.append(Change("split", lines))
    changes.sort(key=lambda c: min(c.lines))
    for change in changes:
        change.old = list({old_of[line].id: old_of[line] for line in change.lines if line in old_of}.values())

    closing = {u.id for c in changes for u in c.old}

    # 4. 部局 after the reorganisation: those in force and not closed, and those opened here.
    new_bureaus: dict[str, NewUnit] = {}
    bureau_successor: dict[int, str] = {}  # a renamed 部局's id → its new code
    next_position = max((b.position for b in bureaus.values()), default=0) + 1
    for change in changes:
        row = by_line[change.lines[0]]
        if any(line in errors.bad for line in change.lines):
            continue
        if change.kind == "create" and not row.new_bureau:
            new_bureaus[row.new_code] = NewUnit(row.new_code, row.new_name, True, position=next_position)
            next_position += 1
        elif change.kind == "rename" and change.old and change.old[0].kind == UnitKind.BUREAU:
            old = change.old[0]
            code = row.new_code or old.code
            new_bureaus[code] = NewUnit(code, row.new_name, True, position=old.position)
            bureau_successor[old.id] = code

    def bureau_after(code: str, line: int) -> Unit | str | None:
        if code in new_bureaus:
            return code
        unit = current.get(code)
        if unit is None:
            errors.add(line, f"新部局コード「{code}」の部局はありません（この組織改正で新設する部局なら、create の行で"
                             "新部局コードを空にして作ってください）。")
        elif unit.kind != UnitKind.BUREAU:
            errors.add(line, f"新部局コード「{code}」は所属{_label(unit)}のコードです。部局のコードを書いてください。")
        elif unit.id in closing:
            errors.add(line, f"新部局コード「{code}」の部局{_label(unit)}は、この組織改正で廃止・名称変更されます。"
                             "変更後の部局のコードを書いてください。")
        else:
            return unit
        return None

    def bureau_of(unit: Unit, line: int) -> Unit | str | None:
        parent = bureaus.get(unit.parent_id)
        if parent is None:
            errors.add(line, f"{_label(unit)}の部局が分かりません。新部局コードを書いてください。")
            return None
        if parent.id in bureau_successor:
            return bureau_successor[parent.id]
        if parent.id in closing:
            errors.add(line, f"{_label(unit)}の部局{_label(parent)}がこの組織改正で廃止されます。"
                             "新部局コードを書いてください。")
            return None
        return parent

    # 5. The units each change opens.
    last_position: dict[int, int] = defaultdict(int)
    for unit in current.values():
        if unit.parent_id is not None:
            last_position[unit.parent_id] = max(last_position[unit.parent_id], unit.position)
    for change in changes:
        group = [by_line[line] for line in change.lines]
        if any(line in errors.bad for line in change.lines):
            continue
        first, row = (change.old[0] if change.old else None), group[0]
        if change.kind == "abolish":
            continue
        if change.kind == "create" and not row.new_bureau:
            change.new = [new_bureaus[row.new_code]]
            continue
        if change.kind == "rename" and first.kind == UnitKind.BUREAU:
            change.new = [new_bureaus[row.new_code or first.code]]
            continue
        if change.kind == "split":
            for r in group:
                bureau = bureau_after(r.new_bureau, r.line) if r.new_bureau else bureau_of(first, r.line)
                change.new.append(NewUnit(r.new_code, r.new_name, False, bureau, first.position))
            continue
        explicit = next((r.new_bureau for r in group if r.new_bureau), "")
        if change.kind == "create":
            bureau = bureau_after(explicit, row.line)
            position = last_position[bureau.id] + 1 if isinstance(bureau, Unit) else 1
            if isinstance(bureau, Unit):
                last_position[bureau.id] = position
            change.new = [NewUnit(row.new_code, row.new_name, False, bureau, position)]
            continue
        bureau = bureau_after(explicit, row.line) if explicit else bureau_of(first, row.line)
        same_bureau = (isinstance(bureau, Unit) and bureau.id == first.parent_id) or (
            bureau is not None and bureau == bureau_successor.get(first.parent_id))
        if change.kind == "move" and same_bureau:
            errors.add(change.lines, f"{_label(first)}の移管先が今と同じ部局です。"
                                     "名称だけを変えるなら rename を使ってください。")
            continue
        if change.kind == "merge":
            name = next(r.new_name for r in group if r.new_name)
            change.new = [NewUnit(row.new_code, name, False, bureau, min(u.position for u in change.old))]
            continue
        new = NewUnit(row.new_code or first.code, row.new_name or first.name, False, bureau, first.position)
        if change.kind == "rename" and new.code == first.code and new.name == first.name and same_bureau:
            errors.add(change.lines, f"{_label(first)}の名称・コード・部局が今と同じです（変更がありません）。")
            continue
        change.new = [new]

    # 6. New codes: each used once, and not by a unit that stays in force.
    claims: dict[str, list[list[int]]] = defaultdict(list)
    for change in changes:
        if change.kind == "split" and change.new:
            for line in change.lines:
                claims[by_line[line].new_code].append([line])
        else:
            for new in change.new:
                claims[new.code].append(change.lines)
    for code, owners in claims.items():
        lines = sorted({line for owner in owners for line in owner})
        if len(owners) > 1:
            errors.add(lines, f"新コード「{code}」が複数の行（{_lines(lines)}）で使われています。"
                              "新しい所属・部局には、それぞれ別のコードを付けてください。")
        holder = current.get(code)
        if holder is not None and holder.id not in closing:
            errors.add(lines, f"新コード「{code}」は既に{_label(holder)}が使っています。別のコードにしてください。")

    # 7. A 部局 is abolished only when no 所属 is left in it.
    for change in changes:
        if change.kind == "abolish" and change.is_bureau:
            bureau = change.old[0]
            left = [u for u in current.values() if u.parent_id == bureau.id and u.id not in closing]
            if left:
                shown = "、".join(_label(u) for u in left[:5]) + (" ほか" if len(left) > 5 else "")
                errors.add(change.lines, f"部局{_label(bureau)}には、まだ所属が残っています（{shown}）。"
                                         "先に移管（move）か廃止（abolish）の行を書いてください。")

    # 8. The effective date comes after each closed unit began.
    for change in changes:
        for unit in change.old:
            if effective_on <= unit.valid_from:
                errors.add(change.lines, f"効力発生日（{wareki(effective_on)}）は、{_label(unit)}ができた日"
                                         f"（{wareki(unit.valid_from)}）より後の日にしてください。")

    valid = [c for c in changes if (c.old or c.new) and not set(c.lines) & errors.bad]
    result = ReorgPlan(effective_on, valid, sorted(errors.items, key=lambda e: e.line), bureaus, new_bureaus)
    if result.ok:
        _people(session, result)
        result.rounds = _round_effects(session, result)
    return result


def _check_fields(row: Row, errors: _Errors) -> None:
    need, forbid = {
        "rename": (("old_code", "new_name"), ()),
        "move": (("old_code", "new_bureau"), ()),
        "merge": (("old_code", "new_code"), ()),
        "split": (("old_code", "new_code", "new_name"), ()),
        "create": (("new_code", "new_name"), ("old_code",)),
        "abolish": (("old_code",), ("new_code", "new_name", "new_bureau")),
    }[row.kind]
    labels = {"old_code": "旧コード", "new_code": "新コード", "new_name": "新名称", "new_bureau": "新部局コード"}
    missing = [labels[f] for f in need if not getattr(row, f)]
    extra = [labels[f] for f in forbid if getattr(row, f)]
    if missing:
        errors.add(row.line, f"{KIND_LABELS[row.kind]}（{row.kind}）の行には{'・'.join(missing)}が必要です。")
    if extra:
        errors.add(row.line, f"{KIND_LABELS[row.kind]}（{row.kind}）の行には{'・'.join(extra)}を書かないでください。")


def _lines(lines: list[int]) -> str:
    return "、".join(f"{n}行目" for n in lines)


def _people(session: Session, p: ReorgPlan) -> None:
    old_ids = {u.id: c for c in p.changes for u in c.old if u.kind == UnitKind.SECTION}
    if not old_ids:
        return
    rows = session.exec(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.unit_id.in_(list(old_ids))).order_by(User.display_name)
    ).all()
    units = {u.id: u for c in p.changes for u in c.old}
    for membership, user in rows:
        old_ids[membership.unit_id].people.append(
            Person(user.display_name, user.upn, membership.role, units[membership.unit_id]))


def _round_effects(session: Session, p: ReorgPlan) -> list[RoundEffect]:
    effects = []
    for round_ in rounds.open_rounds(session):
        with_sheet = set(session.exec(select(Sheet.unit_id).where(Sheet.round_id == round_.id)).all())
        follow, create, merge = [], [], []
        for c in p.changes:
            if c.is_bureau:
                continue
            if c.kind in ("rename", "move"):
                if c.old[0].id in with_sheet:
                    follow.append((c.old[0], c.new[0]))
                else:
                    create.extend(c.new)
            elif c.kind == "merge" and any(u.id in with_sheet for u in c.old):
                merge.append(([u for u in c.old if u.id in with_sheet], c.new[0]))
            elif c.kind in ("merge", "split", "create"):
                create.extend(c.new)
        if follow or create or merge:
            effects.append(RoundEffect(round_, follow, create, merge))
    return effects


# --- applying ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    changes: int
    units_opened: int
    units_closed: int
    memberships_moved: int
    sheets_created: int
    sheets_followed: int
    to_reassign: list[Person]


def apply(session: Session, p: ReorgPlan, *, today: date, actor: Principal | None = None, source: str = "",
          label: str = "") -> Applied:
    """All changes of the plan, or (on any error) none: the caller commits once."""
    if not p.ok:
        raise InvalidInput(f"誤りが{len(p.errors)}件あるため、組織改正を適用できません。"
                           "誤りを直したCSVでもう一度確認してください。")
    if p.effective_on > today:
        raise InvalidInput(f"効力発生日（{wareki(p.effective_on)}）がまだ来ていません。職員の所属も移るため、"
                           "効力発生日以降に適用してください（内容の確認は今でもできます）。")
    closed = [u for c in p.changes for u in c.old]
    for unit in closed:
        unit.valid_to = p.effective_on
        session.add(unit)
    session.flush()  # the codes of closed units are free for their successors from here on

    opened: dict[str, Unit] = {}

    def open_unit(new: NewUnit) -> Unit:
        parent = None
        if isinstance(new.bureau, Unit):
            parent = new.bureau.id
        elif isinstance(new.bureau, str):
            parent = opened[new.bureau].id
        unit = Unit(code=new.code, name=new.name, kind=UnitKind.BUREAU if new.is_bureau else UnitKind.SECTION,
                    parent_id=parent, position=new.position, valid_from=p.effective_on)
        session.add(unit)
        session.flush()
        opened[new.code] = unit
        return unit

    for new in p.new_bureaus.values():
        open_unit(new)
    for c in p.changes:  # a renamed 部局: link it, and its 所属 follow it
        if c.is_bureau and c.kind == "rename":
            successor = opened[c.new[0].code]
            session.add(UnitLink(predecessor_id=c.old[0].id, successor_id=successor.id, kind=LinkKind.RENAME,
                                 effective_on=p.effective_on))
            for child in session.exec(select(Unit).where(Unit.parent_id == c.old[0].id, Unit.valid_to.is_(None))):
                child.parent_id = successor.id
                session.add(child)
    moved = 0
    for c in p.changes:
        if c.is_bureau:
            continue
        new_units = [open_unit(n) for n in c.new]
        for old in c.old:
            for new in new_units:
                session.add(UnitLink(predecessor_id=old.id, successor_id=new.id, kind=LINK_KINDS[c.kind],
                                     effective_on=p.effective_on))
        if c.moves_people and new_units:
            moved += _move_memberships(session, [u.id for u in c.old], new_units[0].id)
    session.flush()
    created = followed = 0
    for effect in p.rounds:
        for old, new in effect.follow:
            sheets.hand_on(session, effect.round.id, old.id, opened[new.code])
            followed += 1
        for olds, new in effect.merge:
            sheets.merge_sheets(session, effect.round.id, olds, opened[new.code])
            followed += 1
        sections = [(opened[n.code].id, opened[n.code].parent_id) for n in effect.create]
        created += len(sheets.create_sheets(session, effect.round, sections))
    result = Applied(len(p.changes), len(opened), len(closed), moved, created, followed, p.to_reassign)
    auth_service.audit(session, "reorg_apply", actor=actor, label=label, detail={
        "effective_on": p.effective_on.isoformat(), "source": scrub(source, multiline=False), "changes": p.counts,
        "summary": summary_lines(p), "memberships_moved": moved, "sheets_created": created,
        "to_reassign": [f"{x.name} <{x.upn}> ({x.unit.name})" for x in result.to_reassign],
    })
    session.flush()
    return result


def _move_memberships(session: Session, old_ids: list[int], new_id: int) -> int:
    """Move every membership of the old units to the new one; someone in several keeps one (leader wins)."""
    rows = session.exec(select(Membership).where(Membership.unit_id.in_(old_ids)).order_by(Membership.id)).all()
    kept: dict[int, Membership] = {}
    for m in rows:
        if m.user_id not in kept:
            kept[m.user_id] = m
            continue
        if m.role == SectionRole.LEADER:
            kept[m.user_id].role = SectionRole.LEADER
        session.delete(m)
    session.flush()
    for m in kept.values():
        m.unit_id = new_id
        session.add(m)
    session.flush()
    return len(kept)


def summary_lines(p: ReorgPlan) -> list[str]:
    """One line per change, for the audit log and the command line."""
    lines = []
    for c in p.changes:
        before = "、".join(f"{u.name}（{u.code}）" for u in c.old)
        after = "、".join(f"{n.name}（{n.code}）" for n in c.new)
        if c.kind == "move" or (c.kind in ("rename", "merge", "split") and not c.is_bureau):
            after = "、".join(f"{n.name}（{n.code}・{p.bureau_name(n)}）" for n in c.new)
        text = {"create": f"{after}", "abolish": f"{before}"}.get(c.kind, f"{before} → {after}")
        lines.append(f"{_lines(c.lines)}: {c.label}: {text}")
    return lines


def people_to_reassign(session: Session) -> list[tuple[User, Membership, Unit]]:
    """Staff still attached to a 所属 that no longer exists (after a split or an abolition)."""
    return list(session.exec(
        select(User, Membership, Unit)
        .join(Membership, Membership.user_id == User.id)
        .join(Unit, Unit.id == Membership.unit_id)
        .where(Unit.valid_to.is_not(None), User.is_active)
        .order_by(Unit.code, User.display_name)
    ).all())


@dataclass(frozen=True)
class PastReorg:
    event: AuditEvent
    effective_on: date | None
    source: str
    summary: list[str]


def recent(session: Session, limit: int = 10) -> list[PastReorg]:
    """The reorganisations applied so far (from the audit log), newest first."""
    result = []
    for event in session.exec(
        select(AuditEvent).where(AuditEvent.kind == "reorg_apply").order_by(AuditEvent.at.desc()).limit(limit)
    ):
        detail = json.loads(event.detail or "{}")
        effective = detail.get("effective_on")
        result.append(PastReorg(event, date.fromisoformat(effective) if effective else None,
                                detail.get("source", ""), list(detail.get("summary", []))))
    return result


# --- scheduled ahead of the effective date ----------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """A scheduled reorganisation with what it will change (planned against today's organisation)."""

    row: ScheduledReorg
    summary: list[str]

    @property
    def state_label(self) -> str:
        return SCHEDULE_STATE_LABELS[ScheduleState(self.row.state)]


def schedule(session: Session, raw: bytes, filename: str, effective_on: date, *, today: date,
             actor: Principal | None = None) -> ScheduledReorg:
    """Keep a reorganisation whose effective date is still to come, to apply on that day (``apply_due``).
    Refused (InvalidInput) when its date has come (apply it now instead) or its plan has errors today."""
    if effective_on <= today:
        raise InvalidInput(f"効力発生日（{wareki(effective_on)}）が来ているため予定にはできません。"
                           "このまま適用してください。")
    rows, row_errors = csvfile.parse(raw)
    p = plan(session, rows, effective_on, row_errors)
    if not p.ok:
        raise InvalidInput(f"誤りが{len(p.errors)}件あるため、予定として登録できません。")
    row = ScheduledReorg(effective_on=effective_on, filename=scrub(filename, multiline=False)[:200], data=raw,
                         created_by_id=getattr(actor, "user_id", None))
    session.add(row)
    session.flush()
    auth_service.audit(session, "reorg_schedule", actor=actor, detail={
        "effective_on": effective_on.isoformat(), "source": row.filename, "summary": summary_lines(p)})
    return row


def cancel(session: Session, schedule_id: int, *, actor: Principal | None = None) -> ScheduledReorg:
    one_at_a_time(session, "reorg")  # not while it is being applied
    row = session.get(ScheduledReorg, schedule_id, populate_existing=True)
    if row is None:
        raise NotFound("この組織改正の予定は見つかりません。")
    if row.state != ScheduleState.SCHEDULED:
        raise Conflict(f"この予定は{SCHEDULE_STATE_LABELS[ScheduleState(row.state)]}のため、取り消せません。")
    row.state = ScheduleState.CANCELLED.value
    row.done_at = now_utc()
    row.done_by_id = getattr(actor, "user_id", None)
    session.add(row)
    auth_service.audit(session, "reorg_cancel", actor=actor, detail={
        "effective_on": row.effective_on.isoformat(), "source": row.filename})
    session.flush()
    return row


def scheduled(session: Session, *, limit: int = 20) -> list[Scheduled]:
    """Scheduled reorganisations still to come first (by date), then the latest done, with their changes."""
    rows = session.exec(select(ScheduledReorg).order_by(
        (ScheduledReorg.state != ScheduleState.SCHEDULED.value), ScheduledReorg.effective_on.desc(),
        ScheduledReorg.id.desc()).limit(limit)).all()
    result = []
    for row in rows:
        summary: list[str] = []
        if row.state == ScheduleState.SCHEDULED:
            rows_, errors = csvfile.parse(row.data)
            summary = summary_lines(plan(session, rows_, row.effective_on, errors))
        result.append(Scheduled(row, summary))
    return result


def due(session: Session, today: date) -> list[int]:
    """Ids of the scheduled reorganisations whose effective date has come, in date order."""
    return list(session.exec(select(ScheduledReorg.id).where(
        ScheduledReorg.state == ScheduleState.SCHEDULED.value, ScheduledReorg.effective_on <= today)
        .order_by(ScheduledReorg.effective_on, ScheduledReorg.id)).all())


def apply_scheduled(session: Session, schedule_id: int, *, today: date, label: str) -> Applied | None:
    """Apply one due reorganisation (the caller commits): planned again against the organisation of the day.
    If that plan has errors nothing changes and the schedule is marked 「適用できず」 with them (None)."""
    one_at_a_time(session, "reorg")  # two processes starting at once: the second finds it applied
    row = session.get(ScheduledReorg, schedule_id, populate_existing=True)
    if row is None or row.state != ScheduleState.SCHEDULED or row.effective_on > today:
        return None
    rows, row_errors = csvfile.parse(row.data)
    p = plan(session, rows, row.effective_on, row_errors)
    row.done_at = now_utc()
    if not p.ok:
        row.state = ScheduleState.FAILED.value
        row.message = "\n".join(f"{e.line}行目: {e.message}" if e.line else e.message for e in p.errors)[:4000]
        session.add(row)
        auth_service.audit(session, "reorg_failed", label=label, detail={
            "effective_on": row.effective_on.isoformat(), "source": row.filename, "errors": len(p.errors)})
        session.flush()
        return None
    result = apply(session, p, today=today, label=label, source=row.filename)
    row.state = ScheduleState.APPLIED.value
    session.add(row)
    session.flush()
    return result


def apply_due(session_factory, today: date, *, label: str) -> list[tuple[ScheduledReorg, Applied | None]]:
    """Every due reorganisation, each in its own transaction (``session_factory()``: a write session)."""
    done = []
    with session_factory() as session:
        ids = due(session, today)
        session.commit()
    for schedule_id in ids:
        with session_factory() as session:
            result = apply_scheduled(session, schedule_id, today=today, label=label)
            session.commit()
            done.append((session.get(ScheduledReorg, schedule_id), result))
    return done
