"""Exports of a round as CSV (for Excel, Power BI) and XLSX (the prefecture's sheet layout).

GET only, so personal API tokens (``Authorization: Bearer …``) work here as on every ``GET /api/v1/…``.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from app.auth.deps import CurrentPrincipal
from app.excel import export, writer
from app.web.deps import DbSession, csrf_protect
from app.web.params import RoundId

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
    **_RESPONSES, 200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM, CRLF (or CP932, see `encoding`)",
                        "headers": {REPLACED_HEADER: {"description": "with `encoding=shift_jis`: how many characters "
                                                      "were replaced by 〓", "schema": {"type": "integer"}}}}})
def export_csv(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauFilter = None,
               section: SectionFilter = None, encoding: Encoding = "utf-8") -> Response:
    """One row per 所属 × item, header in Japanese, ISO dates; opens in Japanese Excel as it is.
    Narrow with ``bureau=部局コード`` or ``section=所属コード``."""
    bundle = export.gather(session, principal, round_id, bureau=bureau, section=section)
    if encoding == "utf-8":
        return _download(writer.write_csv(bundle), "text/csv; charset=utf-8", export.file_name(bundle, "csv"))
    content, replaced = writer.write_csv_cp932(bundle)
    ascii_name, name = export.file_name(bundle, "csv", variant="sjis", replaced=replaced)
    response = _download(content, "text/csv; charset=shift_jis", (ascii_name, name))
    response.headers[REPLACED_HEADER] = str(replaced)
    return response


@router.get("/rounds/{round_id}/export.xlsx", response_class=Response, responses={
    **_RESPONSES, 200: {"content": {XLSX: {}}, "description": "集計 worksheet, then one worksheet per 所属"}})
def export_xlsx(round_id: RoundId, session: DbSession, principal: CurrentPrincipal, bureau: BureauFilter = None,
                section: SectionFilter = None) -> Response:
    """A workbook in the layout of the prefecture's sheet: a summary worksheet (scores per 所属 and
    部局), then one worksheet per 所属. Narrow with ``bureau=部局コード`` or ``section=所属コード``."""
    bundle = export.gather(session, principal, round_id, bureau=bureau, section=section)
    return _download(writer.write_xlsx(bundle), XLSX, export.file_name(bundle, "xlsx"))
