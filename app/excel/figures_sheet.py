"""The 「実績値」 worksheet of a round's XLSX export (issue 13, point 4): the measured figures of the exported
所属 per month of the round's fiscal year, one row per 所属 × month with a value, one column per figure
(counts as stored; ratios such as 電子決裁率 computed from the same month's counts; yearly figures on the
April row). The same 所属 as the rest of the export (its scope was authorised by ``export.gather``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlmodel import Session, select

from app.kpis.catalogue import Catalogue
from app.kpis.models import KpiValue
from app.kpis.page import figure_value, fiscal_months
from app.kpis.schema import Figure
from app.sheets.models import Sheet

CHUNK = 500


class ExportedSheet(Protocol):
    """What is read of an ``export.ExportSheet`` (not imported: ``export`` names this module's table)."""

    sheet_id: int
    bureau_code: str
    bureau_name: str
    section_code: str
    section_name: str


@dataclass(frozen=True)
class FigureRow:
    bureau_code: str
    bureau_name: str
    section_code: str
    section_name: str
    month: date
    values: tuple[float | int | None, ...]  # in the order of ``FiguresTable.figures``


@dataclass(frozen=True)
class FiguresTable:
    fy: int
    start: date
    end: date
    figures: tuple[Figure, ...]
    rows: tuple[FigureRow, ...]


def gather(session: Session, fy: int, sheets: Sequence[ExportedSheet], catalogue: Catalogue, today: date
           ) -> FiguresTable:
    """The figures of the exported 所属 (their sheets of the round) over the round's fiscal year up to this month."""
    months = [m for m in fiscal_months(fy) if m <= date(today.year, today.month, 1)]
    figures = catalogue.figures
    if not months or not sheets:
        return FiguresTable(fy, date(fy, 4, 1), date(fy, 4, 1), figures, ())
    sheet_ids = [s.sheet_id for s in sheets]
    unit_of: dict[int, int] = {}
    for i in range(0, len(sheet_ids), CHUNK):
        unit_of |= dict(session.exec(select(Sheet.id, Sheet.unit_id).where(Sheet.id.in_(sheet_ids[i:i + CHUNK]))).all())
    unit_ids = sorted(set(unit_of.values()))
    values: dict[int, dict[tuple[str, date], int | None]] = {}
    for i in range(0, len(unit_ids), CHUNK):
        query = select(KpiValue.unit_id, KpiValue.figure_key, KpiValue.month, KpiValue.value).where(
            KpiValue.unit_id.in_(unit_ids[i:i + CHUNK]), KpiValue.month >= months[0], KpiValue.month <= months[-1])
        for unit_id, key, month, value in session.exec(query):
            values.setdefault(unit_id, {})[(key, month)] = value
    rows = []
    for sheet in sheets:
        mine = values.get(unit_of.get(sheet.sheet_id, -1), {})
        if not mine:
            continue
        for month in months:
            found = tuple(figure_value(catalogue, mine, f, month) if f.period == "monthly" or month.month == 4
                          else None for f in figures)
            if any(v is not None for v in found):
                rows.append(FigureRow(sheet.bureau_code, sheet.bureau_name, sheet.section_code, sheet.section_name,
                                      month, found))
    return FiguresTable(fy, months[0], months[-1], figures, tuple(rows))
