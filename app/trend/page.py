"""The leader page of a 所属 (推移・目標): its maturity over rounds beside its 部局's average and the
prefecture median, per category and per item since the previous round, its targets, next steps for
items at △ or ×. One view-model, built here; the route only renders it. (The page loads the 所属's support
records from the support room with htmx: support reads trend, never the reverse.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from markupsafe import Markup
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.charts.trend import CategoryBar, LineSeries, category_bars, line_chart
from app.checklists import service as checklists
from app.checklists.service import ItemDef
from app.jpdate import fiscal_year_label
from app.orgs.models import Unit
from app.rounds.models import Round, RoundState
from app.scoring.rules import (
    CHANGE_LABELS,
    CHANGE_MARKS,
    COUNTING_MARK,
    MIN_GROUP_SIZE,
    PENDING_ITEM_LABEL,
    TARGET_LIMIT,
    TARGET_STATUSES,
    Change,
    Comparison,
    GroupFigure,
    comparison,
    is_final,
    target_below_current,
)
from app.sheets import figures, practice
from app.sheets.figures import GroupKey
from app.sheets.models import PREFECTURE
from app.statuses import Status
from app.trend import service as trend_service
from app.trend import targets as targets_service
from app.trend.service import ItemComparison, Trend, TrendPoint
from app.trend.targets import TargetSet

NEEDS_WORK = (Status.FAIR, Status.NOT_DONE)
FALLBACK_HINTS = {
    1: "やりやすい項目です。まず所属内で「次の打合せから」などと申し合わせ、できるところから始めてみましょう。",
    2: "少し準備が要る項目です。所属内で担当を決め、やり方（保存場所・手順）を共有してから進めましょう。",
    3: "相手方（会議の参加者や外部の方）との調整が必要な項目です。業務DX相談窓口が調整や機器の貸出を支援できます。",
}


@dataclass
class RoundRow:
    """One round of the 所属's history, with its groups."""

    round: Round
    points: list[TrendPoint]
    main: TrendPoint | None
    bureau: Unit | None
    bureau_figure: GroupFigure | None
    prefecture: GroupFigure
    # the main maturity against the previous round's: provisional (暫定) or 集計中 while the sheet is open
    comparison: Comparison

    @property
    def change(self) -> Change | None:
        """None: 集計中 (nothing answered in both rounds yet)."""
        return self.comparison.change

    @property
    def change_mark(self) -> str:
        return self.comparison.mark

    @property
    def change_label(self) -> str:
        return self.comparison.label


@dataclass
class CategoryRow:
    name: str
    before: float | None
    after: float | None
    in_before: bool
    in_after: bool
    bureau: GroupFigure | None
    prefecture: GroupFigure | None
    compared: Comparison  # the category's maturity against the previous round's (暫定 while open)

    @property
    def comparison(self) -> Comparison:
        if not self.in_before:
            return Comparison(Change.NEW_ITEM, False, self.before, self.after)
        if not self.in_after:
            return Comparison(Change.REMOVED_ITEM, False, self.before, self.after)
        return self.compared

    @property
    def change(self) -> Change | None:
        """None: 集計中."""
        return self.comparison.change


PENDING_LABEL = PENDING_ITEM_LABEL


@dataclass
class ChangeCount:
    change: Change | None  # None: items not answered yet in an open round (集計中)
    count: int

    @property
    def mark(self) -> str:
        return COUNTING_MARK if self.change is None else CHANGE_MARKS[self.change]

    @property
    def label(self) -> str:
        return PENDING_LABEL if self.change is None else CHANGE_LABELS[self.change]

    @property
    def css(self) -> str:
        return "counting" if self.change is None else self.change.value


@dataclass
class NextStep:
    item: ItemDef
    status: Status
    hints: tuple[str, ...]
    fallback: str
    target: Status | None
    practices: list[practice.Practice] = field(default_factory=list)  # other 所属's 取組事例 on the item
    can_ask: bool = False  # 「この所属に聞いてみる」 on them (permissions.why_not_ask_practice)


@dataclass
class TargetFormRow:
    item: ItemDef
    current: Status | None
    chosen: str  # "" or the symbol shown as selected
    error: str | None
    options: tuple[Status, ...] = ()  # the statuses the picker offers (above the current one, and the chosen)

    @property
    def needs_work(self) -> bool:
        return self.current in NEEDS_WORK


def target_options(current: Status | None, chosen: str) -> tuple[Status, ...]:
    """The picker offers only statuses above the current result (the rule ``target_below_current`` also
    allows keeping the same status: a target already chosen stays on offer, so that saving keeps it)."""
    return tuple(s for s in TARGET_STATUSES
                 if (s != current and not target_below_current(s, current)) or s.value == chosen)


@dataclass
class TrendPage:
    unit: Unit
    bureau: Unit | None
    trend: Trend
    rows: list[RoundRow]
    latest: Round | None
    previous: Round | None
    line_chart: Markup
    line_desc: str
    category_chart: Markup
    category_desc: str
    categories: list[CategoryRow]
    items: list[ItemComparison]
    change_counts: list[ChangeCount]
    target_sets: list[TargetSet]
    current_targets: TargetSet | None
    target_form: list[TargetFormRow]
    target_error: str | None
    why_not_set_targets: str | None
    next_steps: list[NextStep]
    why_not_request: str | None
    sheet_round: Round | None  # the latest round, when the 所属 has a sheet of its own in it
    suppressed: bool  # some group figure on the page is withheld (fewer than MIN_GROUP_SIZE 所属 answered)
    # items of the latest round not answered yet while it is open and the sheet not submitted: 集計中, not
    # 「比較できません」
    pending_items: frozenset[str] = frozenset()
    pending_label: str = PENDING_LABEL
    counting_mark: str = COUNTING_MARK
    min_group_size: int = MIN_GROUP_SIZE
    target_limit: int = TARGET_LIMIT
    target_statuses: tuple[Status, ...] = TARGET_STATUSES
    bureau_names: dict[int, str] = field(default_factory=dict)

    @staticmethod
    def change_mark(change: Change | None) -> str:
        return CHANGE_MARKS[change] if change else ""

    @staticmethod
    def change_label(change: Change | None) -> str:
        return CHANGE_LABELS[change] if change else "統合前の所属ごとに表示"

    @property
    def provisional(self) -> bool:
        """The latest comparison is 暫定 or 集計中: the 所属's sheet of an open round is not submitted yet."""
        return bool(self.rows) and self.rows[-1].comparison.provisional

    @property
    def can_set_targets(self) -> bool:
        return self.why_not_set_targets is None and self.latest is not None

    @property
    def can_request(self) -> bool:
        return self.why_not_request is None


def round_label(round_: Round) -> tuple[str, str]:
    """Two lines for a chart axis: 令和7年度 / 第1回 (the title's first word and the rest)."""
    first, _, rest = round_.title.partition(" ")
    if rest:
        return first, rest
    return fiscal_year_label(round_.fiscal_year), round_.title


def build(session: Session, principal: Principal, unit: Unit, *, typed_targets: Mapping[str, str] | None = None,
          target_errors: Mapping[str, str] | None = None, target_error: str | None = None) -> TrendPage:
    """The page for ``unit``; the caller has checked access with ``auth.scope.resolve_section``."""
    trend = trend_service.section_trend(session, unit)
    rounds = trend.rounds
    latest = rounds[-1] if rounds else None
    previous = rounds[-2] if len(rounds) > 1 else None
    # The latest round's groups per category too (its table of categories), read with the others' overall
    # figures in one pass over that round's tallies rather than two.
    bureau_ids = {p.score.bureau_id for p in trend.points}
    groups = figures.groups(session, principal, [r.id for r in rounds if r is not latest], bureau_ids=bureau_ids)
    if latest is not None:
        groups |= figures.groups(session, principal, [latest.id], bureau_ids=bureau_ids, categories=True)
    rows = _round_rows(session, trend, groups)
    bureau = session.get(Unit, unit.parent_id) if unit.parent_id else None

    line, line_desc = _line_chart(unit, rows)
    categories = _category_rows(session, trend, latest, previous, groups)
    bars, bars_desc = _category_chart(unit, categories, latest, previous)
    items = trend_service.compare(session, trend, previous.id, latest.id) if previous and latest else []
    latest_point = trend.main_point(latest.id) if latest else None
    pending = trend_service.pending(trend, items, latest.id) if latest else frozenset()
    counted = Counter(None if c.key in pending else c.change for c in items
                      if c.change is not None or c.key in pending)
    change_counts = [ChangeCount(ch, counted[ch]) for ch in (*Change, None) if counted[ch]]

    sets = targets_service.target_sets(session, trend)
    current = next((s for s in sets if latest and s.base_round.id == latest.id), None)
    definition = checklists.get_definition(session, latest.checklist_version_id) if latest else None
    current_targets = {r.item_key: r.target for r in current.rows} if current else {}
    typed = typed_targets or {}
    errors = target_errors or {}
    form = []
    for item in definition.items if definition else ():
        now = latest_point.statuses.get(item.key) if latest_point else None
        chosen = typed.get(item.key, current_targets[item.key].value if item.key in current_targets else "")
        form.append(TargetFormRow(item, now, chosen, errors.get(item.key), target_options(now, chosen)))
    steps = []
    if definition and latest_point:
        for item in definition.items:
            status = latest_point.statuses.get(item.key)
            if status in NEEDS_WORK:
                steps.append(NextStep(item, status, item.hints, FALLBACK_HINTS.get(item.difficulty, ""),
                                      current_targets.get(item.key)))
    shared = practice.hints(session, [step.item.key for step in steps], except_unit_id=unit.id)
    askable = practice.askable(session, principal, unit.id, list(shared))
    for step in steps:
        step.practices = shared.get(step.item.key, [])
        step.can_ask = step.item.key in askable
    suppressed = any(r.bureau_figure is None or r.bureau_figure.suppressed or r.prefecture.suppressed for r in rows)
    return TrendPage(
        unit=unit, bureau=bureau, trend=trend, rows=rows, latest=latest, previous=previous,
        line_chart=line, line_desc=line_desc, category_chart=bars, category_desc=bars_desc, categories=categories,
        items=items, change_counts=change_counts, target_sets=sets, current_targets=current, target_form=form,
        # what is not about one row of the form: the limit of items, an item no longer on the sheet
        target_error=" ".join(m for m in (target_error, errors.get("targets"), *(
            v for k, v in errors.items() if k != "targets" and (definition is None or k not in definition.by_key)
        )) if m) or None,
        why_not_set_targets=permissions.why_not_set_targets(principal, unit.id),
        next_steps=steps, why_not_request=permissions.why_not_request_support(principal, unit.id),
        sheet_round=latest if latest_point and latest_point.relation == "self" else None,
        suppressed=suppressed,
        pending_items=pending,
        bureau_names={r.bureau.id: r.bureau.name for r in rows if r.bureau},
    )


def _round_rows(session: Session, trend: Trend, groups: Mapping[GroupKey, GroupFigure]) -> list[RoundRow]:
    rows: list[RoundRow] = []
    bureau_ids = {p.score.bureau_id for p in trend.points}
    bureaus = trend_service.units_by_id(session, bureau_ids)
    previous: TrendPoint | None = None
    for round_ in trend.rounds:
        points = trend.points_in(round_.id)
        main = trend.main_point(round_.id)
        anchor = main or points[0]
        figure = groups.get(GroupKey(round_.id, anchor.score.bureau_id))
        change = _compare(session, previous, main) if rows else Comparison(Change.NEW_ITEM, False, None, None)
        rows.append(RoundRow(round_, points, main, bureaus.get(anchor.score.bureau_id), figure,
                             groups[GroupKey(round_.id, PREFECTURE)], change))
        previous = main
    return rows


def _compare(session: Session, before: TrendPoint | None, after: TrendPoint | None, category: str | None = None
             ) -> Comparison:
    """``after``'s maturity (overall, or of one category) against ``before``'s: as they are once ``after``
    is final; while its round is open and it is not submitted, over the items answered in both (暫定)."""
    def maturity(point: TrendPoint | None) -> float | None:
        if point is None:
            return None
        tally = point.score.overall if category is None else point.score.categories.get(category)
        return tally.maturity if tally else None

    if before is None or after is None:
        return comparison(maturity(before), maturity(after), final=True, before_statuses={}, after_statuses={})
    before_def = checklists.get_definition(session, before.round.checklist_version_id)
    after_def = checklists.get_definition(session, after.round.checklist_version_id)
    keys = None if category is None else [i.key for i in after_def.items if i.category == category]
    return comparison(maturity(before), maturity(after),
                      final=is_final(after.round.state != RoundState.CLOSED, after.score.submitted),
                      before_statuses=before.statuses, after_statuses=after.statuses, keys=keys,
                      points_before=before_def.points, points_after=after_def.points)


def _line_chart(unit: Unit, rows: list[RoundRow]) -> tuple[Markup, str]:
    labels = [round_label(r.round) for r in rows]
    main_values, hollow = [], []
    for r in rows:
        main = r.main if r.main and r.main.relation in ("self", "continued") else None
        main_values.append(main.score.overall.maturity if main else None)
        hollow.append(bool(main and main.relation == "continued"))
    series = [LineSeries(f"{unit.name}（この所属）", main_values, "section", hollow, show_values=True)]
    others: dict[int, tuple[TrendPoint, dict[int, float | None]]] = {}
    for i, r in enumerate(rows):
        for p in r.points:
            if p.relation in ("merged", "split"):
                others.setdefault(p.unit.id, (p, {}))[1][i] = p.score.overall.maturity
    for point, values in others.values():
        series.append(LineSeries(f"{point.unit.name}（{point.relation_label}）",
                                 [values.get(i) for i in range(len(rows))], "predecessor"))
    bureau_names = {r.bureau.name for r in rows if r.bureau}
    bureau_values = [r.bureau_figure.mean if r.bureau_figure else None for r in rows]
    bureau_label = f"部局平均（{next(iter(bureau_names))}）" if len(bureau_names) == 1 else "部局平均"
    if rows and all(v is None for v in bureau_values):
        bureau_label += f"：回答した所属が{MIN_GROUP_SIZE}未満のため表示しません"
    series.append(LineSeries(bureau_label, bureau_values, "bureau"))
    prefecture_values = [r.prefecture.median for r in rows]
    prefecture_label = "全庁の中央値"
    if rows and all(r.prefecture.suppressed for r in rows):
        prefecture_label += f"：回答した所属が{MIN_GROUP_SIZE}未満のため表示しません"
    series.append(LineSeries(prefecture_label, prefecture_values, "prefecture"))
    parts = []
    for r in rows:
        own = "回答なし" if not r.main or r.main.score.overall.maturity is None else \
            f"{r.main.score.overall.maturity:.1f}点"
        parts.append(f"{r.round.title}: この所属 {own}、部局平均 {_figure_text(r.bureau_figure, 'mean')}、"
                     f"全庁の中央値 {_figure_text(r.prefecture, 'median')}")
    desc = (f"{unit.name}の成熟度（100点満点）の推移。" + "。".join(parts) + "。") if rows else \
        f"{unit.name}には、まだ調査回の結果がありません。"
    return line_chart(labels, series, title=f"{unit.name} 成熟度の推移", desc=desc), desc


def _figure_text(figure: GroupFigure | None, attr: str) -> str:
    if figure is None or figure.suppressed:
        return f"非表示（回答した所属が{MIN_GROUP_SIZE}未満）"
    value = getattr(figure, attr)
    return "回答なし" if value is None else f"{value:.1f}点"


def _category_rows(session: Session, trend: Trend, latest: Round | None, previous: Round | None,
                   groups: Mapping[GroupKey, GroupFigure]) -> list[CategoryRow]:
    if latest is None:
        return []
    now = trend.main_point(latest.id)
    before = trend.main_point(previous.id) if previous else None
    latest_def = checklists.get_definition(session, latest.checklist_version_id)
    previous_def = checklists.get_definition(session, previous.checklist_version_id) if previous else None
    names = list(latest_def.categories) + [
        n for n in (previous_def.categories if previous_def else ()) if n not in latest_def.categories]
    rows = []
    for name in names:
        after_t = now.score.categories.get(name) if now else None
        before_t = before.score.categories.get(name) if before else None
        rows.append(CategoryRow(
            name=name,
            before=before_t.maturity if before_t else None,
            after=after_t.maturity if after_t else None,
            in_before=previous_def is None or name in previous_def.categories,
            in_after=name in latest_def.categories,
            compared=_compare(session, before, now, name),
            bureau=groups.get(GroupKey(latest.id, now.score.bureau_id, name)) if now else None,
            prefecture=groups.get(GroupKey(latest.id, PREFECTURE, name)),
        ))
    return rows


def _category_chart(unit: Unit, rows: list[CategoryRow], latest: Round | None, previous: Round | None
                    ) -> tuple[Markup, str]:
    bars = [CategoryBar(r.name, r.before if previous else None, r.after,
                        r.bureau.mean if r.bureau and not r.bureau.suppressed else None,
                        r.prefecture.median if r.prefecture and not r.prefecture.suppressed else None)
            for r in rows]
    after_label = latest.title if latest else "今回"
    before_label = previous.title if previous else "前回"
    parts = []
    for r in rows:
        text = f"{r.name}: {after_label} {_num(r.after)}"
        if previous:
            text += f"（{before_label} {_num(r.before)}）"
        parts.append(text)
    desc = (f"{unit.name}のカテゴリ別の成熟度。" + "、".join(parts) + "。") if rows else \
        f"{unit.name}には、まだ調査回の結果がありません。"
    chart = category_bars(bars, title=f"{unit.name} カテゴリ別の成熟度", desc=desc,
                          before_label=f"前回（{before_label}）", after_label=f"今回（{after_label}）")
    return chart, desc


def _num(value: float | None) -> str:
    return "回答なし" if value is None else f"{value:.1f}点"
