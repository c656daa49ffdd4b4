"""JSON API of the figures (実績値): their definitions, a 所属's figures by month (its staff, the desk and
admins), and for the desk one flat table of every 所属's stored values per month range (Power BI). Read only;
API tokens read these as the other APIs."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import select

from app.auth import permissions, scope
from app.auth.deps import CurrentPrincipal
from app.errors import Forbidden, InvalidInput
from app.jpdate import fiscal_year_of, today_jst
from app.kpis import lineage
from app.kpis.catalogue import Catalogue
from app.kpis.models import KpiValue
from app.kpis.page import figure_value, per_employee
from app.kpis.parse import ParseError, month_iso, parse_month
from app.kpis.schema import Figure
from app.orgs.models import Unit
from app.paging import Pager
from app.text import scrub
from app.web.deps import DbSession, csrf_protect
from app.web.params import Code, PageQ
from app.web.schemas import BureauRef, PageOut, SectionRef, page_out, section_ref

router = APIRouter(prefix="/api/v1", tags=["figures"], dependencies=[Depends(csrf_protect)])

MAX_MONTHS = 36
PER_PAGE = 1000
FromMonth = Annotated[str | None, Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}$",
                                        description="最初の月（YYYY-MM）。省略時は今年度の4月")]
ToMonth = Annotated[str | None, Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}$",
                                      description="最後の月（YYYY-MM）。省略時は今月")]


class FormulaOut(BaseModel):
    numerator: str = Field(description="分子の実績値のキー", examples=["approvals.electronic"])
    denominator: str = Field(description="分母の実績値のキー", examples=["approvals.total"])
    subtract: list[str] = Field(description="分母から除く実績値のキー", examples=[["approvals.paper-required"]])
    exclusions: str | None = Field(description="除くものの説明", examples=["法令等で紙が必要な文書を除く"])


class TargetOut(BaseModel):
    value: float = Field(description="目標値（per_employee なら職員1人当たり）", examples=[400])
    note: str = Field(description="目標の出典", examples=["全庁の計画"])


class FigureDefinitionOut(BaseModel):
    figure_key: str = Field(description="実績値のキー（版をまたいで変わらない）", examples=["print.copies"])
    name: str = Field(description="名称", examples=["複合機の印刷・コピー枚数"])
    unit: str = Field(description="単位", examples=["枚"])
    period: Literal["monthly", "yearly"] = Field(description="monthly（月ごと）| yearly（年度ごと、4月の値）")
    direction: Literal["lower", "higher"] | None = Field(description="lower / higher（よい方向）。null はどちらでもない")
    per_employee: bool = Field(description="職員1人当たりの値も示すか")
    entered: bool = Field(description="true: 入力・取込みする件数、false: formula で計算する割合（%）")
    formula: FormulaOut | None = Field(description="割合の式（件数は null）")
    source: str = Field(description="出典", examples=["複合機の管理システムの月次集計"])
    description: str | None = Field(description="数え方の補足")
    item_keys: list[str] = Field(description="この実績値が関係するチェック項目のキー", examples=[["external.fax.no-fax"]])
    target: TargetOut | None = Field(description="全所属共通の目標（なければ null）")


class FigureSetOut(BaseModel):
    id: str = Field(description="定義のまとまりのID", examples=["paper"])
    version: int = Field(description="版", examples=[1])
    title: str = Field(description="名称", examples=["ペーパーレスの実績値"])
    checklist: str = Field(description="item_keys が指すチェックシートのID", examples=["paperless"])
    headcount: str | None = Field(description="職員1人当たりの分母の実績値のキー", examples=["staff.count"])
    figures: list[FigureDefinitionOut] = Field(description="実績値の定義")


class FigureDefinitionsOut(BaseModel):
    """The figure definitions in force (the newest version of each definition file)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"sets": [{
        "id": "paper", "version": 1, "title": "ペーパーレスの実績値", "checklist": "paperless", "headcount": "staff.count",
        "figures": [{"figure_key": "fax.sent", "name": "FAX送信件数", "unit": "件", "period": "monthly",
                     "direction": "lower", "per_employee": True, "entered": True, "formula": None,
                     "source": "FAXサーバーの送信記録の月次集計", "description": None,
                     "item_keys": ["external.fax.no-fax"], "target": None}]}]}]})
    sets: list[FigureSetOut] = Field(description="定義ファイルごと")


class FigureRowOut(BaseModel):
    month: str = Field(description="月（YYYY-MM）。年度ごとの値は年度の4月", examples=["2026-04"])
    figure_key: str = Field(description="実績値のキー", examples=["print.copies"])
    value: float | None = Field(description="値（割合は%）。null は未入力・計算できない", examples=[8906])
    per_employee: float | None = Field(description="職員1人当たり（per_employee の実績値で職員数があるとき）",
                                       examples=[404.8])


class SectionFiguresOut(BaseModel):
    """One 所属's figures per month: one flat table (a row per month and figure), ratios computed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "section": {"code": "1001", "name": "総務課"}, "from_month": "2026-04", "to_month": "2026-11",
        "rows": [{"month": "2026-04", "figure_key": "print.copies", "value": 8906, "per_employee": 404.8}]}]})
    section: SectionRef = Field(description="the 所属")
    from_month: str = Field(description="最初の月（YYYY-MM）", examples=["2026-04"])
    to_month: str = Field(description="最後の月（YYYY-MM）", examples=["2026-11"])
    rows: list[FigureRowOut] = Field(description="月・実績値ごとの行")


class StoredFigureOut(BaseModel):
    section: SectionRef = Field(description="the 所属")
    bureau: BureauRef | None = Field(description="its 部局")
    month: str = Field(description="月（YYYY-MM）", examples=["2026-04"])
    figure_key: str = Field(description="実績値のキー", examples=["print.copies"])
    value: int | None = Field(description="入力・取込みされた値（null は消された値）", examples=[8906])


class FiguresOut(BaseModel):
    """Every 所属's stored values (counts only, no ratios) per month range: the desk's flat table."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "rows": [{"section": {"code": "1001", "name": "総務課"}, "bureau": {"code": "10", "name": "総務部"},
                  "month": "2026-04", "figure_key": "print.copies", "value": 8906}],
        "page": {"page": 1, "per_page": 1000, "pages": 1, "total": 1}}]})
    rows: list[StoredFigureOut] = Field(description="所属・月・実績値ごとの行（所属コード・月・キーの順）")
    page: PageOut = Field(description="このページ")


def _definition(f: Figure) -> FigureDefinitionOut:
    formula = None
    if f.formula is not None:
        formula = FormulaOut(numerator=f.formula.numerator, denominator=f.formula.denominator,
                             subtract=list(f.formula.subtract), exclusions=f.formula.exclusions)
    target = TargetOut(value=f.target.value, note=f.target.note) if f.target else None
    return FigureDefinitionOut(figure_key=f.key, name=f.name, unit=f.unit, period=f.period, direction=f.direction,
                               per_employee=f.per_employee, entered=f.entered, formula=formula, source=f.source,
                               description=f.description, item_keys=list(f.items), target=target)


@router.get("/figure-definitions", response_model=FigureDefinitionsOut, summary="実績値の定義", responses={401: {}})
def definitions(request: Request, principal: CurrentPrincipal) -> FigureDefinitionsOut:
    catalogue: Catalogue = request.app.state.kpis
    return FigureDefinitionsOut(sets=[FigureSetOut(id=e.kpis.id, version=e.kpis.version, title=e.kpis.title,
                                                   checklist=e.kpis.checklist, headcount=e.kpis.headcount,
                                                   figures=[_definition(f) for f in e.kpis.figures])
                                      for e in catalogue.files])


def _range(from_month: str | None, to_month: str | None) -> tuple[date, date]:
    today = today_jst()
    try:
        start = parse_month(from_month, today=today) if from_month else date(fiscal_year_of(today), 4, 1)
        end = parse_month(to_month, today=today) if to_month else date(today.year, today.month, 1)
    except ParseError as exc:
        raise InvalidInput(exc.message) from None
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if months < 1 or months > MAX_MONTHS:
        raise InvalidInput(f"期間は1〜{MAX_MONTHS}か月にしてください（from ≤ to）。")
    return start, end


def _months(start: date, end: date) -> list[date]:
    out, m = [], start
    while m <= end:
        out.append(m)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return out


def _section_rows(session, catalogue: Catalogue, unit: Unit, start: date, end: date) -> list[FigureRowOut]:
    values = lineage.load_values(session, unit.id, date(fiscal_year_of(start), 4, 1), end)  # predecessors too
    rows = []
    for month in _months(start, end):
        for figure in catalogue.figures:
            if figure.period == "yearly" and month.month != 4:
                continue
            value = figure_value(catalogue, values, figure, month)
            head = catalogue.headcount_of(figure.key) if figure.per_employee else None
            staff = values.get((head.key, date(fiscal_year_of(month), 4, 1))) if head else None
            rows.append(FigureRowOut(month=month_iso(month), figure_key=figure.key, value=value,
                                     per_employee=per_employee(value, staff) if head else None))
    return rows


@router.get("/sections/{code}/figures", response_model=SectionFiguresOut, summary="所属の実績値（月ごと）",
            responses={401: {}, 403: {}, 404: {}})
def section_figures(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
                    from_month: FromMonth = None, to_month: ToMonth = None) -> SectionFiguresOut:
    unit = scope.resolve_section(session, principal, code)
    start, end = _range(from_month, to_month)
    return SectionFiguresOut(section=section_ref(unit), from_month=month_iso(start), to_month=month_iso(end),
                             rows=_section_rows(session, request.app.state.kpis, unit, start, end))


CSV_HEADER = ("所属コード", "所属", "月", "実績値キー", "実績値", "単位", "値", "職員1人当たり")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    value = scrub(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0")


def _csv(rows) -> bytes:
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _download(content: bytes, ascii_name: str, name: str) -> Response:
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(content, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


@router.get("/sections/{code}/figures.csv", response_class=Response, summary="所属の実績値（CSV）",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "UTF-8 with BOM, CRLF"},
                       401: {}, 403: {}, 404: {}})
def section_figures_csv(request: Request, code: Code, session: DbSession, principal: CurrentPrincipal,
                        from_month: FromMonth = None, to_month: ToMonth = None) -> Response:
    """The same flat table as the JSON (ratios and per-employee figures computed), for Excel and Power BI."""
    unit = scope.resolve_section(session, principal, code)
    catalogue: Catalogue = request.app.state.kpis
    start, end = _range(from_month, to_month)
    rows = [CSV_HEADER] + [
        (unit.code, _cell(unit.name), r.month, r.figure_key, _cell(catalogue.by_key[r.figure_key].name),
         catalogue.by_key[r.figure_key].unit, _number(r.value), _number(r.per_employee))
        for r in _section_rows(session, catalogue, unit, start, end)]
    span = f"{month_iso(start)}_{month_iso(end)}"
    return _download(_csv(rows), f"figures_{unit.code}_{span}.csv", f"実績値_{unit.name}_{span}.csv")


@router.get("/figures", response_model=FiguresOut, summary="全所属の実績値（窓口）", responses={401: {}, 403: {}})
def all_figures(session: DbSession, principal: CurrentPrincipal,
                from_month: FromMonth = None,
                to_month: ToMonth = None,
                figure: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$",
                                                    description="この実績値のキーだけ（省略時はすべて）")] = None,
                page: PageQ = 1) -> FiguresOut:
    refusal = permissions.why_not_see_figures_desk(principal)
    if refusal:
        raise Forbidden(refusal)
    start, end = _range(from_month, to_month)
    where = [KpiValue.month >= start, KpiValue.month <= end]
    if figure:
        where.append(KpiValue.figure_key == figure)
    total = session.exec(select(func.count()).select_from(KpiValue).where(*where)).one()
    pager = Pager.of(page, PER_PAGE, total)
    bureau = Unit.__table__.alias("bureau")
    rows = session.execute(
        select(Unit.code, Unit.name, bureau.c.code, bureau.c.name, KpiValue.month, KpiValue.figure_key, KpiValue.value)
        .join(Unit, Unit.id == KpiValue.unit_id).outerjoin(bureau, bureau.c.id == Unit.parent_id).where(*where)
        .order_by(Unit.code, KpiValue.month, KpiValue.figure_key, KpiValue.id).offset(pager.offset).limit(PER_PAGE))
    return FiguresOut(rows=[StoredFigureOut(section=SectionRef(code=c, name=n),
                                            bureau=BureauRef(code=bc, name=bn) if bc else None,
                                            month=month_iso(m), figure_key=k, value=v)
                            for c, n, bc, bn, m, k, v in rows], page=page_out(pager))


DESK_CSV_MONTHS = 12
DESK_CSV_HEADER = ("所属コード", "所属", "部局コード", "部局", "月", "実績値キー", "実績値", "単位", "値")


@router.get("/figures.csv", response_class=Response, summary="全所属の実績値（CSV、窓口）",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "UTF-8 with BOM, CRLF"},
                       401: {}, 403: {}})
def all_figures_csv(request: Request, session: DbSession, principal: CurrentPrincipal,
                    from_month: FromMonth = None, to_month: ToMonth = None) -> Response:
    """Every 所属's stored values (counts, no ratios) of up to 12 months, one row per 所属 × month × figure."""
    refusal = permissions.why_not_see_figures_desk(principal)
    if refusal:
        raise Forbidden(refusal)
    catalogue: Catalogue = request.app.state.kpis
    start, end = _range(from_month, to_month)
    if (end.year - start.year) * 12 + end.month - start.month >= DESK_CSV_MONTHS:
        raise InvalidInput(f"CSVの期間は{DESK_CSV_MONTHS}か月までです。分けてダウンロードしてください。")
    bureau = Unit.__table__.alias("bureau")
    found = session.execute(
        select(Unit.code, Unit.name, bureau.c.code, bureau.c.name, KpiValue.month, KpiValue.figure_key, KpiValue.value)
        .join(Unit, Unit.id == KpiValue.unit_id).outerjoin(bureau, bureau.c.id == Unit.parent_id)
        .where(KpiValue.month >= start, KpiValue.month <= end)
        .order_by(Unit.code, KpiValue.month, KpiValue.figure_key, KpiValue.id))
    rows = [DESK_CSV_HEADER] + [
        (c, _cell(n), bc or "", _cell(bn or ""), month_iso(m), k,
         _cell(catalogue.by_key[k].name) if k in catalogue.by_key else "",
         catalogue.by_key[k].unit if k in catalogue.by_key else "", _number(v))
        for c, n, bc, bn, m, k, v in found]
    span = f"{month_iso(start)}_{month_iso(end)}"
    return _download(_csv(rows), f"figures_{span}.csv", f"実績値_全所属_{span}.csv")
