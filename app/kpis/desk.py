"""The desk's figures: 部局 and prefecture totals and per-employee figures of a fiscal year so far, and
「評価と実績のずれ」: 所属 rating a linked item ◎ while the figure is in the worst quarter of the 所属 that
reported it (and △・× while in the best quarter), with both shown. Sums come from SQL (``queries``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.errors import Forbidden, NotFound
from app.jpdate import fiscal_year_label, fiscal_year_of
from app.kpis import lineage, queries
from app.kpis.catalogue import Catalogue
from app.kpis.parse import fmt, month_label
from app.kpis.schema import Figure
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind
from app.rounds import service as rounds
from app.rounds.models import Round
from app.scoring.rules import MIN_GROUP_SIZE

PREFECTURE = 0
_STAFF = Principal(0, "", "所属の職員")  # anyone but the desk: whether a group would be withheld from them
GOOD, BAD = ("◎",), ("△", "×")


@dataclass(frozen=True)
class GroupRow:
    name: str
    bureau_id: int  # 0: the prefecture
    units: int  # 所属 that reported
    value: float | None  # the sum (counts) or the ratio of the sums
    per_employee: float | None
    withheld_for_staff: bool  # fewer than MIN_GROUP_SIZE 所属: staff would not see it


@dataclass(frozen=True)
class Mismatch:
    code: str
    name: str
    bureau: str
    figure: Figure
    item_text: str
    status: str
    value: float
    threshold: float
    quarter: str  # 「悪い方の25%」 | 「良い方の25%」
    compared: int  # 所属 compared


@dataclass(frozen=True)
class DeskFigures:
    fy: int
    fy_label: str
    start: date
    end: date
    figure: Figure
    choices: tuple[Figure, ...]
    prefecture: GroupRow
    bureaus: tuple[GroupRow, ...]
    round: Round | None
    mismatches: tuple[Mismatch, ...]
    upto: date  # the last month of the fiscal year so far
    min_group: int = MIN_GROUP_SIZE

    @property
    def period_label(self) -> str:
        return f"{month_label(self.start)}～{month_label(self.end)}"

    def shown(self, value: float | None) -> str:
        return fmt(value, self.figure.unit)


def _parts(figure: Figure) -> list[str]:
    if figure.formula is None:
        return [figure.key]
    return [figure.formula.numerator, figure.formula.denominator, *figure.formula.subtract]


def _value(figure: Figure, sums: dict[str, float]) -> float | None:
    if figure.formula is None:
        return sums.get(figure.key)
    f = figure.formula
    num, den = sums.get(f.numerator), sums.get(f.denominator)
    if num is None or den is None:
        return None
    base = den - sum(sums.get(k, 0) for k in f.subtract)
    return num / base * 100 if base > 0 else None


def build(session: Session, principal: Principal, catalogue: Catalogue, *, figure_key: str | None, fy: int | None,
          round_id: int | None, today: date) -> DeskFigures:
    refusal = permissions.why_not_see_figures_desk(principal)
    if refusal:
        raise Forbidden(refusal)
    current = fiscal_year_of(today)
    fy = current if fy is None else fy
    if not 2000 <= fy <= current:
        raise NotFound(f"{fy}年度の実績値はありません（{current}年度までです）。")
    choices = tuple(f for f in catalogue.figures if f.direction is not None)
    figure = catalogue.figure(figure_key) if figure_key else choices[0]
    start, end = figure.months_counted(fy, today)
    bureaus = {u.id: u for u in orgs.units_in_force(session, today, UnitKind.BUREAU)}
    prefecture, rows = group_rows(session, catalogue, figure, fy, today, bureaus)
    round_ = rounds.get_round(session, round_id) if round_id else rounds.current_round(session)
    mismatches = _mismatches(session, catalogue, figure, round_, fy, today) if round_ else ()
    return DeskFigures(fy, fiscal_year_label(fy), start, end, figure, choices, prefecture, tuple(rows), round_,
                       tuple(mismatches), min(date(fy + 1, 3, 1), date(today.year, today.month, 1)))


def group_rows(session: Session, catalogue: Catalogue, figure: Figure, fy: int, today: date,
               bureaus: dict[int, Unit]) -> tuple[GroupRow, list[GroupRow]]:
    """The prefecture and each 部局 (with a value) for one figure over its fiscal year so far."""
    return group_rows_for(session, catalogue, [figure], fy, today, bureaus)[figure.key]


def group_rows_for(session: Session, catalogue: Catalogue, figures: list[Figure], fy: int, today: date,
                   bureaus: dict[int, Unit], *, only_bureau: int | None = None
                   ) -> dict[str, tuple[GroupRow, list[GroupRow]]]:
    """``group_rows`` of several figures from a few statements. ``only_bureau``: the rows of that 部局 alone
    beside the prefecture (the 所属's page), summed over that 部局's 所属 and over all without grouping."""
    if not figures:
        return {}
    heads = {catalogue.headcount_of(f.key).key for f in figures if f.per_employee and catalogue.headcount_of(f.key)}
    staff_key = next(iter(heads)) if len(heads) == 1 else None
    keys = {k for f in figures for k in _parts(f)}
    staffed = {f.formula.denominator if f.formula else f.key for f in figures if f.per_employee}
    # each 所属 under the 部局 it belongs to now (docs/kpis.md「組織改正と実績値」)
    sums = lineage.bureau_sums_now(session, keys, fy, staff_key, staffed, today, bureau_id=only_bureau)
    whole = (None if only_bureau is None else
             {s.key: s for s in queries.bureau_sums(session, keys, fy, staff_key, staffed, prefecture=True)})
    result = {}
    for figure in figures:
        parts = set(_parts(figure))
        by_bureau: dict[int, dict[str, queries.GroupSum]] = {}
        for row in sums:
            if row.key in parts:
                by_bureau.setdefault(row.bureau_id or PREFECTURE, {})[row.key] = row
        rows = [_group(figure, bureaus[b].name if b in bureaus else "（廃止された部局）", b, p)
                for b, p in by_bureau.items()]
        rows.sort(key=lambda r: (bureaus[r.bureau_id].position if r.bureau_id in bureaus else 10**6, r.name))
        pooled: dict[str, queries.GroupSum] = {k: s for k, s in (whole or {}).items() if k in parts}
        for p in by_bureau.values() if whole is None else ():
            for key, s in p.items():
                have = pooled.get(key)
                pooled[key] = s if have is None else queries.GroupSum(
                    PREFECTURE, key, have.units + s.units, have.total + s.total, have.with_staff + s.with_staff,
                    have.staff + s.staff)
        result[figure.key] = (_group(figure, "全庁", PREFECTURE, pooled), rows)
    return result


def _group(figure: Figure, name: str, bureau_id: int,
           parts: dict[str, queries.GroupSum]) -> GroupRow:
    main = parts.get(figure.formula.denominator if figure.formula else figure.key)
    units = main.units if main else 0
    value = _value(figure, {k: float(s.total) for k, s in parts.items()})
    per = None
    if figure.per_employee and main and main.staff:
        per = main.with_staff / main.staff
    withheld = permissions.why_not_see_group(_STAFF, units, MIN_GROUP_SIZE) is not None
    return GroupRow(name, bureau_id, units, value, per, withheld)


def _mismatches(session: Session, catalogue: Catalogue, chosen: Figure, round_: Round, fy: int, today: date
                ) -> list[Mismatch]:
    """For the chosen figure (the page shows one figure at a time)."""
    definition = checklists.get_definition(session, round_.checklist_version_id)
    figures = [f for f in (chosen,) if f.direction is not None and any(k in definition.by_key for k in f.items)]
    if not figures:
        return []
    units = {u.id: u for u in orgs.units_in_force(session, today, UnitKind.SECTION)}
    bureaus = {u.id: u for u in orgs.units_in_force(session, today, UnitKind.BUREAU)}
    item_keys = {k for f in figures for k in f.items if k in definition.by_key}
    found: list[Mismatch] = []
    for figure in figures:
        f = figure.formula
        parts = (f.numerator, f.denominator, tuple(f.subtract)) if f else (figure.key, None, ())
        head = catalogue.headcount_of(figure.key) if figure.per_employee else None
        # ◎ in the worst quarter, △・× in the best: which is the low quarter depends on the direction
        low, high = (GOOD, BAD) if figure.direction == "higher" else (BAD, GOOD)
        for o in queries.outliers(session, fy, parts, head.key if head else None, round_.id,
                                  [k for k in figure.items if k in item_keys], low, high):
            unit = units.get(o.unit_id)
            if unit is None or o.compared < MIN_GROUP_SIZE:
                continue
            if o.status in GOOD:
                quarter_label, edge = "悪い方の25%", (o.low_edge if figure.direction == "higher" else o.high_edge)
            else:
                quarter_label, edge = "良い方の25%", (o.high_edge if figure.direction == "higher" else o.low_edge)
            found.append(Mismatch(unit.code, unit.name, bureaus[unit.parent_id].name if unit.parent_id in bureaus
                                  else "", figure, definition.by_key[o.item_key].text, o.status, o.value, edge,
                                  quarter_label, o.compared))
    found.sort(key=lambda m: (m.figure.key, m.quarter, m.code))
    return found
