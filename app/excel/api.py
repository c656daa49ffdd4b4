"""Exports of a round as CSV (for Excel, Power BI) and XLSX (the prefecture's sheet layout).

GET only, so personal API tokens (``Authorization: Bearer …``) work here as on every ``GET /api/v1/…``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import CurrentPrincipal
from app.excel import export, figures_sheet, flat, writer
from app.jpdate import today_jst
from app.web.deps import DbSession, SettingsDep, csrf_protect
from app.web.params import MAX_ID, RoundId

router = APIRouter(prefix="/api/v1", tags=["export"], dependencies=[Depends(csrf_protect)])

BureauFilter = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$",
                                          description="only this 部局 (部局コード); not with `section`")]
SectionFilter = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$",
                                           description="only this 所属 (所属コード); not with `bureau`")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_RESPONSES = {
    401: {"description": "Not signed in (or an invalid, revoked or expired token)"},
    403: {"description": "Not allowed: members; leaders outside their own 所属"},
    404: {"description": "Unknown round, 部局 or 所属"},
    422: {"description": "Both bureau and section given, or a malformed code"},
}


def _download(content: bytes, media_type: str, names: tuple[str, str]) -> Response:
    ascii_name, name = names
    # RFC 6266: an ASCII fallback (built from ids and codes), and the whole name percent-encoded (RFC 5987)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


Encoding = Annotated[Literal["utf-8", "shift_jis"], Query(
    description="`utf-8` (default: with BOM, for Excel 2016 and later, Power BI) or `shift_jis` (CP932 without "
                "BOM, for older Excel, LibreOffice's default import and tools that expect Shift_JIS; characters "
                "CP932 cannot hold become 〓, counted in `X-Replaced-Characters`)")]
REPLACED_HEADER = "X-Replaced-Characters"


@router.get("/rounds/{round_id}/export.csv", response_class=Response, responses={
    **_RESPONSES, 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                        "description": "UTF-8 with BOM, CRLF (or CP932, see `encoding`)",
                        "headers": {REPLACED_HEADER: {"description": "with `encoding=shift_jis`: how many characters "
                                                      "were replaced by 〓", "schema": {"type": "integer"}}}}})
def export_csv(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep,
               bureau: BureauFilter = None, section: SectionFilter = None, encoding: Encoding = "utf-8") -> Response:
    """One row per 所属 × item, header in Japanese, ISO dates; opens in Japanese Excel as it is.
    Narrow with ``bureau=部局コード`` or ``section=所属コード``."""
    bundle = export.gather(session, principal, round_id, bureau=bureau, section=section,
                            public_url=settings.public_url)
    if encoding == "utf-8":
        return _download(writer.write_csv(bundle), "text/csv; charset=utf-8", export.file_name(bundle, "csv"))
    content, replaced = writer.write_csv_cp932(bundle)
    ascii_name, name = export.file_name(bundle, "csv", variant="sjis", replaced=replaced)
    response = _download(content, "text/csv; charset=shift_jis", (ascii_name, name))
    response.headers[REPLACED_HEADER] = str(replaced)
    return response


@router.get("/rounds/{round_id}/export.xlsx", response_class=Response, responses={
    **_RESPONSES, 200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
                        "description": "集計, 所属別集計 and 実績値 worksheets, then one worksheet per 所属"}})
def export_xlsx(request: Request, round_id: RoundId, session: DbSession, principal: CurrentPrincipal,
                settings: SettingsDep, bureau: BureauFilter = None, section: SectionFilter = None) -> Response:
    """A workbook in the layout of the prefecture's sheet: a summary worksheet (scores per 所属 and
    部局), the measured figures (実績値) of the round's fiscal year per 所属 and month, then one worksheet per 所属. Narrow with ``bureau=部局コード`` or ``section=所属コード``."""
    bundle = export.gather(session, principal, round_id, bureau=bureau, section=section,
                           public_url=settings.public_url)
    bundle = replace(bundle, figures=figures_sheet.gather(session, bundle.round.fiscal_year, bundle.sheets,
                                                          request.app.state.kpis, today_jst()))
    return _download(writer.write_xlsx(bundle), XLSX, export.file_name(bundle, "xlsx"))


# --- the flat table for analysis (Power BI / Power Query) ----------------------------------------------

analysis_router = APIRouter(prefix="/api/v1", tags=["analysis"], dependencies=[Depends(csrf_protect)])


_FLAT_EXAMPLE = {
    "answer_id": 81234, "round_id": 2, "round_title": "令和8年度 第1回", "fiscal_year": 2026, "bureau_code": "10",
    "bureau_name": "経営管理部", "section_code": "1001", "section_name": "総務課",
    "item_key": "office.daily.keep-electronic", "item_text": "資料を電子でも保管している", "category": "所属内",
    "difficulty": 1, "status": "◎", "points": 3, "memo_length": 12, "updated_at": "2026-11-20T10:15:00+09:00"}


class FlatAnswer(BaseModel):
    """One answer of one 所属 in one round (the columns of the CSV, in the same order)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FLAT_EXAMPLE]})

    answer_id: int = Field(description=dict(flat.COLUMNS)["answer_id"])
    round_id: int = Field(description=dict(flat.COLUMNS)["round_id"])
    round_title: str = Field(description=dict(flat.COLUMNS)["round_title"])
    fiscal_year: int = Field(description=dict(flat.COLUMNS)["fiscal_year"])
    bureau_code: str = Field(description=dict(flat.COLUMNS)["bureau_code"])
    bureau_name: str = Field(description=dict(flat.COLUMNS)["bureau_name"])
    section_code: str = Field(description=dict(flat.COLUMNS)["section_code"])
    section_name: str = Field(description=dict(flat.COLUMNS)["section_name"])
    item_key: str = Field(description=dict(flat.COLUMNS)["item_key"])
    item_text: str = Field(description=dict(flat.COLUMNS)["item_text"])
    category: str = Field(description=dict(flat.COLUMNS)["category"])
    difficulty: int | None = Field(description=dict(flat.COLUMNS)["difficulty"])
    status: str | None = Field(description=dict(flat.COLUMNS)["status"])
    points: int | None = Field(description=dict(flat.COLUMNS)["points"])
    memo_length: int = Field(description=dict(flat.COLUMNS)["memo_length"])
    updated_at: str | None = Field(description=dict(flat.COLUMNS)["updated_at"])


class FlatAnswersPage(BaseModel):
    """A page of the flat table."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"next_cursor": "YTE6ODEyMzQ", "columns": list(flat.COLUMN_NAMES), "rows": [_FLAT_EXAMPLE]}]})

    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    columns: list[str] = Field(description="the column names, in CSV order")
    rows: list[FlatAnswer] = Field(description="the rows of this page, in `answer_id` order")


assert tuple(FlatAnswer.model_fields) == flat.COLUMN_NAMES  # one list of columns

Cursor = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_\-]+$",
                                     description="opaque: the `next_cursor` of the previous page (absent: first page)")]
Limit = Annotated[int, Query(ge=1, le=flat.MAX_LIMIT, description="rows per page")]
Since = Annotated[datetime | None, Query(
    description="only answers changed at or after this instant (ISO 8601; without an offset: JST), "
                "for incremental refresh")]
FlatRound = Annotated[int | None, Query(alias="round", ge=1, le=MAX_ID, description="only this round (調査回のID)")]
NEXT_CURSOR_HEADER = "X-Next-Cursor"
_FLAT_RESPONSES = {
    401: {"description": "Not signed in (or an invalid, revoked or expired token)"},
    403: {"description": "Not allowed: only the desk and admins (and their read-only tokens)"},
    422: {"description": "A malformed cursor, limit, since or round"},
}


def _flat_page(request: Request, session, principal, cursor, limit, since, round_id) -> flat.Page:
    query = flat.make_query(principal, cursor=cursor, limit=limit, since=since, round_id=round_id)
    return flat.plan_page(session, query)


def _next_link(request: Request, page: flat.Page) -> dict[str, str]:
    if page.next_cursor is None:
        return {}
    url = request.url.include_query_params(cursor=page.next_cursor)
    return {NEXT_CURSOR_HEADER: page.next_cursor, "Link": f'<{url}>; rel="next"'}


@analysis_router.get("/analysis/answers", response_model=FlatAnswersPage, responses={
    **_FLAT_RESPONSES, 200: {"description": "A page of the flat table; `next_cursor` null on the last page"}})
def flat_answers_json(request: Request, session: DbSession, principal: CurrentPrincipal, cursor: Cursor = None,
                      limit: Limit = flat.DEFAULT_LIMIT, since: Since = None, round_id: FlatRound = None):
    """One row per answer per round (round, fiscal year, 部局 and 所属 as of that round, item, category,
    difficulty, status, points, memo length, updated at), ordered by a stable key and paged by an opaque
    cursor; `since=` for incremental refresh. Streamed: any page size in constant memory."""
    page = _flat_page(request, session, principal, cursor, limit, since, round_id)
    return StreamingResponse(flat.json_chunks(page, flat.rows(session, page)), media_type="application/json",
                             headers=_next_link(request, page))


@analysis_router.get("/analysis/answers.csv", response_class=StreamingResponse, responses={
    **_FLAT_RESPONSES,
    200: {"description": "A page of the flat table as CSV (UTF-8 with BOM, CRLF, header of column names); "
                         "the next page's cursor in `X-Next-Cursor` (absent on the last page) and `Link: rel=next`",
          "content": {"text/csv": {"schema": {"type": "string"}}},
          "headers": {NEXT_CURSOR_HEADER: {"description": "the cursor of the next page", "schema": {"type": "string"}},
                      "Link": {"description": "the URL of the next page (rel=next)", "schema": {"type": "string"}}}}})
def flat_answers_csv(request: Request, session: DbSession, principal: CurrentPrincipal, cursor: Cursor = None,
                     limit: Limit = flat.DEFAULT_LIMIT, since: Since = None, round_id: FlatRound = None):
    """The same table as `GET /api/v1/analysis/answers`, as CSV."""
    page = _flat_page(request, session, principal, cursor, limit, since, round_id)
    headers = {**_next_link(request, page),
               "Content-Disposition": 'attachment; filename="paperless-answers.csv"'}

    def body():
        yield "\ufeff".encode()
        yield from flat.csv_chunks(flat.rows(session, page))

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
