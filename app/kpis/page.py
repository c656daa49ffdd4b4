"""The 所属's figures page: each figure by month of a fiscal year with the last year beside it, per employee
where defined, against its target if any, and the 所属's own rating of the items the figure speaks to."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from markupsafe import Markup
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.charts.figures import month_lines
from app.charts.trend import LineSeries
from app.errors import Forbidden, NotFound
from app.jpdate import fiscal_year_label, fiscal_year_of
from app.kpis import desk, lineage
from app.kpis.catalogue import Catalogue
from app.kpis.parse import fmt
from app.kpis.schema import Figure
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind
from app.rounds import service as rounds
from app.scoring.rules import MIN_GROUP_SIZE
from app.sheets import service as sheets

Values = dict[tuple[str, date], int | None]  # (figure key, slot month) → value


def fiscal_months(fy: int) -> list[date]:
    return [date(fy + (m < 4), m, 1) for m in (*range(4, 13), 1, 2, 3)]


def figure_value(catalogue: Catalogue, values: Values, figure: Figure, month: date) -> float | None:
    """A stored count, or a ratio computed from its counts (None when a part is missing or the base is 0)."""
    if figure.formula is None:
        return values.get((figure.key, month))
    f = figure.formula
    numerator = values.get((f.numerator, month))
    denominator = values.get((f.denominator, month))
    subtract = [values.get((key, month)) for key in f.subtract]
    if numerator is None or denominator is None or any(v is None for v in subtract):
        return None
    base = denominator - sum(v for v in subtract if v is not None)
    if base <= 0:
        return None
    return numerator / base * 100


def per_employee(value: float | None, headcount: int | None) -> float | None:
    if value is None or not headcount:
        return None
    return value / headcount


@dataclass(frozen=True)
class MonthRow:
    month: date
    label: str  # 4月
    this: float | None
    last: float | None
    this_per: float | None  # per employee
    last_per: float | None


@dataclass(frozen=True)
class GroupCell:
    """A group (the 所属's 部局, the prefecture) beside the 所属: per employee, or the ratio."""

    name: str
    units: int  # 所属 that reported
    value: float | None
    withheld: str | None  # why the person may not see it (fewer than five 所属 reported)


@dataclass(frozen=True)
class FigureBlock:
    figure: Figure
    rows: tuple[MonthRow, ...]  # 12 months (monthly) or one row (yearly)
    total: float | None  # the fiscal year so far (sum of counts, or the ratio of the sums)
    last_total: float | None  # the same months of the last year
    total_per: float | None
    last_total_per: float | None
    ratings: tuple[tuple[str, str | None], ...]  # (item text, status) in the latest round
    chart: Markup | None
    chart_desc: str
    groups: tuple[GroupCell, ...] = ()  # the 部局 and the prefecture, where comparable

    @property
    def dom_id(self) -> str:
        return "fig-" + self.figure.key.replace(".", "-")

    @property
    def compared_value(self) -> float | None:
        return self.total_per if self.figure.per_employee else self.total

    @property
    def target_met(self) -> bool | None:
        target = self.figure.target
        value = self.compared_value
        if target is None or value is None or self.figure.direction is None:
            return None
        return value <= target.value if self.figure.direction == "lower" else value >= target.value


@dataclass(frozen=True)
class FiguresPage:
    unit: Unit
    fy: int
    fy_label: str
    last_label: str
    months: tuple[date, ...]
    upto: date  # the last month of the fiscal year counted (this month at the latest)
    blocks: tuple[FigureBlock, ...]
    headcount: int | None
    can_enter: bool
    round_title: str | None
    has_values: bool

    @property
    def headline(self) -> tuple[FigureBlock, ...]:
        """Figures with a better direction: the ones charted."""
        return tuple(b for b in self.blocks if b.figure.direction is not None)


@dataclass(frozen=True)
class Ratings:
    """The 所属's own answers in the current round (the sheet's read path), for the items figures link to."""

    round_title: str | None
    text: dict[str, str]  # item key → item text
    status: dict[str, str | None]  # item key → ◎ ○ △ × 該当なし or None (unanswered)


def latest_ratings(session: Session, principal: Principal, unit: Unit) -> Ratings:
    round_ = rounds.current_round(session)
    if round_ is None:
        return Ratings(None, {}, {})
    try:
        view = sheets.get_sheet_for(session, principal, round_.id, unit.code)
    except (NotFound, Forbidden):
        return Ratings(None, {}, {})
    return Ratings(round_.title, {i.key: i.text for i in view.definition.items},
                   {key: answer.status for key, answer in view.answers.items()})


def build(session: Session, principal: Principal, unit: Unit, catalogue: Catalogue, *, fy: int | None,
          today: date) -> FiguresPage:
    current = fiscal_year_of(today)
    fy = current if fy is None else fy
    if not 2000 <= fy <= current:
        raise NotFound(f"{fy}年度の実績値はありません（{current}年度までです）。")
    months = fiscal_months(fy)
    last_months = fiscal_months(fy - 1)
    upto = min(months[-1], date(today.year, today.month, 1))
    values = lineage.load_values(session, unit.id, last_months[0], months[-1])  # predecessors' months too
    ratings = latest_ratings(session, principal, unit)
    blocks = []
    bureaus = {u.id: u for u in orgs.units_in_force(session, today, UnitKind.BUREAU)}
    compared = [f for f in catalogue.figures if f.direction is not None and (f.per_employee or f.formula is not None)]
    groups = desk.group_rows_for(session, catalogue, compared, fy, today, bureaus, only_bureau=unit.parent_id or 0)
    for figure in catalogue.figures:
        head = catalogue.headcount_of(figure.key)
        block = _block(catalogue, values, figure, head, months, last_months, upto, ratings)
        if figure.key in groups:
            block = replace(block, groups=_groups(principal, figure, groups[figure.key], unit))
        blocks.append(block)
    head_key = next((e.kpis.headcount for e in catalogue.files if e.kpis.headcount), None)
    headcount = values.get((head_key, months[0])) if head_key else None
    return FiguresPage(unit, fy, fiscal_year_label(fy), fiscal_year_label(fy - 1), tuple(months), upto,
                       tuple(blocks), headcount, permissions.why_not_enter_figures(principal, unit.id) is None,
                       ratings.round_title, any(v is not None for v in values.values()))


def _groups(principal: Principal, figure: Figure, found: tuple, unit: Unit) -> tuple[GroupCell, ...]:
    prefecture, rows = found
    cells = []
    for row in (next((r for r in rows if r.bureau_id == unit.parent_id), None), prefecture):
        if row is None:
            continue
        value = row.per_employee if figure.per_employee else row.value
        cells.append(GroupCell(row.name, row.units, value,
                               permissions.why_not_see_group(principal, row.units, MIN_GROUP_SIZE)))
    return tuple(cells)


def _block(catalogue: Catalogue, values: Values, figure: Figure, head: Figure | None, months: list[date],
           last_months: list[date], upto: date, ratings) -> FigureBlock:
    def headcount(month: date) -> int | None:
        return values.get((head.key, date(fiscal_year_of(month), 4, 1))) if head else None

    def per(value: float | None, month: date) -> float | None:
        return per_employee(value, headcount(month)) if figure.per_employee else None

    shown = months if figure.period == "monthly" else months[:1]
    shown_last = last_months if figure.period == "monthly" else last_months[:1]
    rows = []
    for month, before in zip(shown, shown_last, strict=True):
        this = figure_value(catalogue, values, figure, month)
        last = figure_value(catalogue, values, figure, before)
        label = f"{month.month}月" if figure.period == "monthly" else "年度"
        rows.append(MonthRow(month, label, this, last, per(this, month), per(last, before)))
    counted = [(m, b) for m, b in zip(shown, shown_last, strict=True) if m <= upto]
    total = _total(catalogue, values, figure, [m for m, _ in counted])
    last_total = _total(catalogue, values, figure, [b for _, b in counted])
    fy_head = headcount(months[0])
    last_head = headcount(last_months[0])
    total_per = per_employee(total, fy_head) if figure.per_employee else None
    last_total_per = per_employee(last_total, last_head) if figure.per_employee else None
    items = tuple((ratings.text.get(key, key), ratings.status.get(key)) for key in figure.items
                  if key in ratings.text)
    chart, desc = None, ""
    if figure.direction is not None and figure.period == "monthly":
        use_per = figure.per_employee
        unit = f"{figure.unit}／人" if use_per else figure.unit
        series = [LineSeries(f"{fiscal_year_label(fiscal_year_of(months[0]))}", [r.this_per if use_per else r.this
                                                                                for r in rows], kind="this"),
                  LineSeries(f"{fiscal_year_label(fiscal_year_of(last_months[0]))}（前年度）",
                             [r.last_per if use_per else r.last for r in rows], kind="last")]
        if figure.target is not None:
            series.append(LineSeries(f"目標 {fmt(figure.target.value)}", [figure.target.value] * len(rows), kind="target"))
        what = f"{figure.name}（職員1人当たり）" if use_per else figure.name
        desc = (f"{what}の月ごとの推移。今年度と前年度を比べています。値は下の表にあります。"
                + (f"目標は{fmt(figure.target.value, unit)}。" if figure.target else ""))
        chart = month_lines([r.label for r in rows], series, unit=unit, title=f"{what}の推移", desc=desc,
                            empty_message="この年度の値はまだありません。")
    return FigureBlock(figure, tuple(rows), total, last_total, total_per, last_total_per, items, chart, desc)


def _total(catalogue: Catalogue, values: Values, figure: Figure, months: list[date]) -> float | None:
    """Counts: the sum of the months with a value. Ratios: the ratio of the sums of their parts."""
    if figure.formula is None:
        found = [values.get((figure.key, m)) for m in months]
        found = [v for v in found if v is not None]
        return float(sum(found)) if found else None
    f = figure.formula
    parts = [f.numerator, f.denominator, *f.subtract]
    complete = [m for m in months if all(values.get((key, m)) is not None for key in parts)]
    if not complete:
        return None
    summed = {(key, months[0]): sum(values[(key, m)] or 0 for m in complete) for key in parts}
    return figure_value(catalogue, summed, figure, months[0])
