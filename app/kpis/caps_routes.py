"""Caps per 部局 (上限): the desk sets them on its figures page (one form, every 部局 of one figure and fiscal
year) and reads them there or as JSON. Thin: parse → one service call → commit → redirect or render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.errors import Conflict, InvalidInput
from app.jpdate import fiscal_year_of, today_jst
from app.kpis import caps
from app.kpis import desk as figures_desk
from app.kpis import page as figures_page
from app.kpis.parse import month_iso
from app.kpis.routes import catalogue_of
from app.web.deps import DbSession, FormDep, csrf_protect
from app.web.nav import DESK_PAGES
from app.web.render import render
from app.web.schemas import BureauRef, bureau_ref

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["figures"], dependencies=[Depends(csrf_protect)])

CAP = "cap:"
VERSION = "version:"
FigureKey = Annotated[str, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$", description="実績値のキー")]


def desk_url(figure_key: str, fy: int) -> str:
    return f"/desk/figures?figure={figure_key}&fy={fy}"


@router.post("/desk/figures/caps")
def save_caps(request: Request, session: DbSession, principal: CurrentPrincipal, form: FormDep):
    """Every 部局's cap of one figure and fiscal year, all or none."""
    catalogue = catalogue_of(request)
    today = today_jst()
    figure_key = form.get("figure")
    raw_fy = form.get("fy")
    if not isinstance(figure_key, str) or not isinstance(raw_fy, str) or not raw_fy.isascii() \
            or not raw_fy.isdigit() or len(raw_fy) != 4:
        raise InvalidInput("実績値と年度が指定されていません。画面を再読み込みしてください。")
    fy = int(raw_fy)
    typed = {name[len(CAP):]: value[:40] for name, value in form.multi_items()
             if name.startswith(CAP) and isinstance(value, str)}
    versions = {name[len(VERSION):]: value for name, value in form.multi_items()
                if name.startswith(VERSION) and isinstance(value, str)}
    inputs = [caps.CapInput(code[:32], raw, _version(versions.get(code))) for code, raw in typed.items()]
    try:
        changed = caps.save_caps(session, principal, catalogue, figure_key[:100], fy, inputs, today)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        if not exc.fields:
            raise
        page = figures_desk.build(session, principal, catalogue, figure_key=figure_key[:100], fy=fy, round_id=None,
                                  today=today)
        table = caps.cap_table(session, principal, catalogue, page.figure.key, fy, today, typed=typed,
                               errors=exc.fields)
        return render(request, "kpis/desk.html", {"page": page, "fmt": figures_page.fmt, "DESK_TABS": DESK_PAGES,
                                                  "caps": table, "caps_error": exc.message, "caps_saved": None},
                      status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"{desk_url(figure_key, fy)}&caps_saved={changed}#caps", status_code=303)


def _version(raw: str | None) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return -1  # refused by the service, at the field
    return int(raw)


class CapRowOut(BaseModel):
    bureau: BureauRef = Field(description="部局（現在の組織）")
    cap: int | None = Field(description="上限（null は未設定）", examples=[1200000])
    used: int = Field(description="今年度これまでの合計（所属は現在の部局で数える）", examples=[1250000])
    left: int | None = Field(description="残り（上限 − 使用。超過はマイナス、上限がなければ null）", examples=[-50000])
    used_percent: float | None = Field(description="使用率（%、上限がなければ null）", examples=[104.2])
    over: bool = Field(description="上限を超えているか")


class CapsOut(BaseModel):
    """The caps of one "lower is better" count for one fiscal year, per 部局, with what is used and left."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "figure_key": "paper.purchased", "unit": "枚", "fiscal_year": 2026, "from_month": "2026-04",
        "to_month": "2026-11", "rows": [{"bureau": {"code": "10", "name": "総務部"}, "cap": 1200000, "used": 1250000,
                                         "left": -50000, "used_percent": 104.2, "over": True}]}]})
    figure_key: str = Field(description="実績値のキー", examples=["paper.purchased"])
    unit: str = Field(description="単位", examples=["枚"])
    fiscal_year: int = Field(description="年度（西暦、4月始まり）", examples=[2026])
    from_month: str = Field(description="数えた最初の月（YYYY-MM）", examples=["2026-04"])
    to_month: str = Field(description="数えた最後の月（YYYY-MM）", examples=["2026-11"])
    rows: list[CapRowOut] = Field(description="部局ごと（現在の部局すべて、組織の順）")


@api_router.get("/figure-caps", response_model=CapsOut, summary="部局ごとの上限と残り（窓口）",
                responses={401: {}, 403: {}, 404: {}, 422: {}})
def figure_caps(request: Request, session: DbSession, principal: CurrentPrincipal,
                figure: FigureKey = "paper.purchased",
                fy: Annotated[int | None, Query(ge=2000, le=2100, description="年度（西暦）。省略時は今年度")] = None
                ) -> CapsOut:
    today = today_jst()
    fy = fiscal_year_of(today) if fy is None else fy
    if fy > fiscal_year_of(today):
        raise InvalidInput(f"{fy}年度はまだ始まっていません。")
    table = caps.cap_table(session, principal, catalogue_of(request), figure, fy, today)
    if table is None:
        raise InvalidInput("この実績値には上限を設定できません（少ないほどよい件数だけです）。")
    return CapsOut(figure_key=table.figure.key, unit=table.figure.unit, fiscal_year=fy,
                   from_month=month_iso(table.start), to_month=month_iso(table.end),
                   rows=[CapRowOut(bureau=bureau_ref(r.bureau), cap=r.cap, used=r.used, left=r.left,
                                   used_percent=None if r.percent is None else round(r.percent, 1), over=r.over)
                         for r in table.rows])
