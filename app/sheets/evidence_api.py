"""JSON API for evidence on an answer (根拠資料, issue 14.1): add a link to an item, remove a link or a file. Same
services as the sheet page's evidence box (``app.sheets.evidence``), authorised and CSRF-protected like saving an
answer (a session with its ``X-CSRF-Token`` header; API tokens only read). Files are added on the sheet page
(multipart); the sheet's JSON lists every item's evidence (``evidence_json``) for those who may read it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam
from sqlmodel import select

from app.auth.deps import CurrentPrincipal
from app.auth.models import User
from app.sheets import evidence, service, writer
from app.sheets.evidence_rules import LABEL_MAX, URL_MAX
from app.sheets.models import EventSource
from app.web.deps import DbSession, csrf_protect
from app.web.params import MAX_ID, Code, ItemKey, RoundId

router = APIRouter(prefix="/api/v1", tags=["sheets"], dependencies=[Depends(csrf_protect)])

EvidenceId = Annotated[int, Path(ge=1, le=MAX_ID, description="根拠資料のID")]

_LINK_EXAMPLE = {"id": 12, "kind": "link", "url": "https://pref.sharepoint.com/sites/dx/plan.pdf",
                 "label": "業務計画", "filename": None, "content_type": None, "size": None,
                 "added_at": "2026-11-29T01:23:45Z", "added_by": "富山 太郎"}
_FILE_EXAMPLE = {"id": 13, "kind": "file", "url": "/rounds/2/sections/1001/evidence/13", "label": None,
                 "filename": "会議資料.pdf", "content_type": "application/pdf", "size": 182044,
                 "added_at": "2026-11-29T01:25:02Z", "added_by": "富山 太郎"}


class EvidenceOut(BaseModel):
    """A link or a file on an answer (根拠資料)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LINK_EXAMPLE, _FILE_EXAMPLE]})
    id: int = Field(description="the evidence's id (to remove it)", examples=[12])
    kind: Literal["link", "file"] = Field(description="link (リンク) or file (添付ファイル)", examples=["link"])
    url: str = Field(description="a link: where it points; a file: its download URL (same-origin, signed-in, "
                     "always served as an attachment)", examples=["https://pref.sharepoint.com/sites/dx/plan.pdf"])
    label: str | None = Field(description="a link's text (may be empty); null for a file", examples=["業務計画"])
    filename: str | None = Field(description="a file's name; null for a link", examples=["会議資料.pdf"])
    content_type: str | None = Field(description="a file's type, judged from its content (PDF, PNG, JPEG, XLSX, "
                                     "DOCX); null for a link", examples=["application/pdf"])
    size: int | None = Field(description="a file's size in bytes; null for a link", examples=[182044])
    added_at: datetime = Field(description="when it was added (UTC)")
    added_by: str | None = Field(description="display name of who added it", examples=["富山 太郎"])


class ItemEvidenceOut(BaseModel):
    """An item's evidence after a change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_key": "office.daily.keep-electronic", "evidence": [_FILE_EXAMPLE]}]})
    item_key: str = Field(description="the item's key", examples=["office.daily.keep-electronic"])
    evidence: list[EvidenceOut] = Field(description="the item's links and files, oldest first")


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://pref.sharepoint.com/sites/dx/plan.pdf", "label": "業務計画"}]})
    url: str = Field(max_length=4 * URL_MAX, description=(
        f"the link (up to {URL_MAX} characters): its scheme and host must be allowed (settings "
        "PAPERLESS_EVIDENCE_SCHEMES and PAPERLESS_EVIDENCE_HOSTS); javascript:, file: and the like are refused (422)"),
        examples=["https://pref.sharepoint.com/sites/dx/plan.pdf"])
    label: str = Field(default="", max_length=4 * LABEL_MAX, description=(
        f"the link's text (optional, up to {LABEL_MAX} characters)"), examples=["業務計画"])


def download_url(round_id: int, code: str, evidence_id: int) -> str:
    """A file's download (``evidence_routes.download``: an attachment, sandboxed)."""
    return f"/rounds/{round_id}/sections/{code}/evidence/{evidence_id}"


def evidence_json(e: writer.StoredEvidence, round_id: int, code: str, names: dict[int, str]) -> dict:
    """One item of evidence as the API shows it (plain values, validated by the caller)."""
    by = names.get(e.created_by_id) if e.created_by_id is not None else None
    if e.is_file:
        return {"id": e.id, "kind": "file", "url": download_url(round_id, code, e.id), "label": None,
                "filename": e.filename, "content_type": e.content_type, "size": e.size, "added_at": e.created_at,
                "added_by": by}
    return {"id": e.id, "kind": "link", "url": e.url, "label": e.label, "filename": None, "content_type": None,
            "size": None, "added_at": e.created_at, "added_by": by}


_USER_NAMES = select(User.id, User.display_name).where(User.id.in_(bindparam("ids", expanding=True)))


def _item_evidence(session, principal, round_id: int, code: str, item_key: str) -> ItemEvidenceOut:
    view = service.get_sheet_for(session, principal, round_id, code)
    shown = evidence.of_view(session, principal, view)
    found = shown.of(view.definition.item(item_key).key) if shown else []
    ids = [e.created_by_id for e in found if e.created_by_id is not None]
    names = dict(session.connection().execute(_USER_NAMES, {"ids": ids}).all()) if ids else {}
    return ItemEvidenceOut(item_key=item_key, evidence=[evidence_json(e, round_id, view.unit.code, names)
                                                         for e in found])


_ERRORS = {
    401: {"description": "Not signed in"},
    403: {"description": "Not allowed: another 所属, the desk or an admin (they read only), a submitted sheet, a "
                         "closed round, an API token, or a missing CSRF token"},
    404: {"description": "Unknown round, 所属, item or evidence"},
}


@router.post("/rounds/{round_id}/sections/{code}/answers/{item_key}/evidence", response_model=ItemEvidenceOut,
             status_code=201, responses={**_ERRORS, 422: {"description": (
                 "A link whose scheme or host is not allowed, too many links on the item, or a bad body")}})
def add_link(request: Request, round_id: RoundId, code: Code, item_key: ItemKey, body: LinkIn, session: DbSession,
             principal: CurrentPrincipal) -> ItemEvidenceOut:
    """Add a link (根拠資料) to an answer: the 所属's staff, while the sheet is a draft of an open round. Answers
    with the item's evidence. Files are attached on the sheet page. Needs the ``X-CSRF-Token`` header (from
    ``/api/v1/me``)."""
    evidence.add_link(session, principal, round_id, code, item_key, url=body.url, label=body.label,
                      limits=evidence.limits_of(request.app.state.settings), source=EventSource.API)
    session.commit()
    return _item_evidence(session, principal, round_id, code, item_key)


@router.delete("/rounds/{round_id}/sections/{code}/answers/{item_key}/evidence/{evidence_id}",
               response_model=ItemEvidenceOut, responses=_ERRORS)
def remove(round_id: RoundId, code: Code, item_key: ItemKey, evidence_id: EvidenceId, session: DbSession,
           principal: CurrentPrincipal) -> ItemEvidenceOut:
    """Remove a link or a file from an answer (history keeps what it was; a file's bytes go): the 所属's staff,
    while the sheet is a draft of an open round. Answers with the item's remaining evidence. Needs the
    ``X-CSRF-Token`` header."""
    evidence.remove(session, principal, round_id, code, item_key, evidence_id, source=EventSource.API)
    session.commit()
    return _item_evidence(session, principal, round_id, code, item_key)
