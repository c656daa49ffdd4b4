"""Evidence on an answer (根拠資料, issue 14.1): links and files on a sheet's items. Adding and removing are changes
of the sheet: decided under the sheet's lock (a draft of an open round, a person who may change it), checked by
the pure rules (``evidence_rules``), written by the one writer with a history event. Reading is for the 所属's
staff and the desk only (``permissions.why_not_read_evidence``). Services never commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlmodel import Session, select

from app.auth import permissions, scope
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.config import Settings
from app.errors import Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc
from app.sheets import evidence_rules as rules
from app.sheets import writer
from app.sheets.evidence_rules import EvidenceRefused, Limits
from app.sheets.models import AnswerEvidence, EventSource, EvidenceKind
from app.sheets.service import SheetView, _lock_for, _states


def limits_of(settings: Settings) -> Limits:
    """The evidence settings as the rules take them."""
    return Limits(
        schemes=tuple(s.strip().lower() for s in settings.evidence_schemes.split(",") if s.strip()),
        hosts=tuple(h.strip().lower() for h in settings.evidence_hosts.split(",") if h.strip()),
        max_file_bytes=settings.evidence_max_file_bytes, max_files=settings.evidence_max_files,
        max_links=settings.evidence_max_links, zip_max_entries=settings.evidence_zip_max_entries,
        zip_max_total_bytes=settings.evidence_zip_max_total_bytes, zip_max_ratio=settings.evidence_zip_max_ratio)


def why_not_read(session: Session, principal: Principal, unit_id: int) -> str | None:
    """The evidence rule, with the 所属 a person's own continue (worked out only when needed)."""
    refusal = permissions.why_not_read_evidence(principal, unit_id)
    if refusal is None or principal.is_desk:
        return refusal
    return permissions.why_not_read_evidence(principal, unit_id, readable=scope.readable_units(session, principal) or ())


class SheetEvidence:
    """The evidence of a sheet as its page shows it (None from ``of_view`` for someone who may not read it). Read on
    first use: a row's save answers with a fragment that shows none, and costs no statement for it."""

    def __init__(self, session: Session, sheet_id: int, why_not_edit: str | None) -> None:
        self._session = session
        self._sheet_id = sheet_id
        self._by_item: dict[str, list[writer.StoredEvidence]] | None = None
        self.why_not_edit = why_not_edit

    @property
    def can_edit(self) -> bool:
        return self.why_not_edit is None

    @property
    def by_item(self) -> dict[str, list[writer.StoredEvidence]]:
        if self._by_item is None:
            self._by_item = {}
            for e in writer.evidence(self._session, [self._sheet_id]).get(self._sheet_id, []):
                self._by_item.setdefault(e.item_key, []).append(e)
        return self._by_item

    def of(self, item_key: str) -> list[writer.StoredEvidence]:
        return self.by_item.get(item_key, [])


def of_view(session: Session, principal: Principal, view: SheetView) -> SheetEvidence | None:
    """The evidence of a sheet someone may read (``view`` comes from the scoped getter), or None when the evidence
    is not theirs to read."""
    if why_not_read(session, principal, view.unit.id):
        return None
    why_not_edit = permissions.why_not_edit_evidence(principal, view.unit.id, sheet_submitted=view.submitted,
                                                     round_open=view.round_open)
    return SheetEvidence(session, view.sheet.id, why_not_edit)


def check_edit(session: Session, principal: Principal, view: SheetView) -> None:
    """Refuse (403) to show an item's add and remove forms to someone who may not change its evidence: the rule of
    the changes themselves (``permissions.why_not_edit_evidence``)."""
    refusal = why_not_read(session, principal, view.unit.id) or permissions.why_not_edit_evidence(
        principal, view.unit.id, sheet_submitted=view.submitted, round_open=view.round_open)
    if refusal:
        raise Forbidden(refusal)


def _locked_for_change(session: Session, principal: Principal, round_id: int, code: str, item_key: str):
    sheet = _lock_for(session, round_id, code)
    refusal = scope.why_not_read(session, principal, sheet.unit_id) or permissions.why_not_edit_evidence(
        principal, sheet.unit_id, **_states(sheet))
    if refusal:
        raise Forbidden(refusal)
    item = checklists.get_definition(session, sheet.version_id).item(item_key)  # 404 for an unknown item
    present = writer.evidence(session, [sheet.id]).get(sheet.id, [])
    return sheet, item, [e for e in present if e.item_key == item.key]


def _refused(exc: EvidenceRefused, field: str) -> InvalidInput:
    return InvalidInput(str(exc), fields={field: str(exc)})


def add_link(session: Session, principal: Principal, round_id: int, code: str, item_key: str, *, url: str,
             label: str, limits: Limits, source: EventSource = EventSource.PAGE) -> int:
    """Add a link to an answer (the scheme and host must be allowed). Returns its id."""
    try:
        url = rules.check_link(url, limits)
    except EvidenceRefused as exc:
        raise _refused(exc, "url") from None
    try:
        label = rules.clean_label(label)
    except EvidenceRefused as exc:
        raise _refused(exc, "label") from None
    sheet, item, present = _locked_for_change(session, principal, round_id, code, item_key)
    try:
        rules.check_count("link", sum(not e.is_file for e in present), limits)
    except EvidenceRefused as exc:
        raise _refused(exc, "url") from None
    shown = f"{label}（{url}）" if label else url
    return writer.add_evidence(session, sheet, item.key, kind=EvidenceKind.LINK, url=url, label=label,
                               actor_id=principal.user_id, now=now_utc(), note=f"リンクを追加: {shown}", source=source)


def add_file(session: Session, principal: Principal, round_id: int, code: str, item_key: str, *, filename: str,
             data: bytes, limits: Limits) -> int:
    """Add a file to an answer: its type judged from its content, its size and the count bounded. Returns its id."""
    try:
        content_type = rules.sniff(data, limits)
    except EvidenceRefused as exc:
        raise _refused(exc, "file") from None
    name = rules.clean_filename(filename, content_type)
    sheet, item, present = _locked_for_change(session, principal, round_id, code, item_key)
    try:
        rules.check_count("file", sum(e.is_file for e in present), limits)
    except EvidenceRefused as exc:
        raise _refused(exc, "file") from None
    return writer.add_evidence(session, sheet, item.key, kind=EvidenceKind.FILE, filename=name,
                               content_type=content_type, data=data, sha256=hashlib.sha256(data).hexdigest(),
                               actor_id=principal.user_id, now=now_utc(), note=f"根拠資料を追加: {name}")


def remove(session: Session, principal: Principal, round_id: int, code: str, item_key: str, evidence_id: int, *,
           source: EventSource = EventSource.PAGE) -> str:
    """Remove a link or a file from an answer. Returns what it was (for the message)."""
    sheet, item, present = _locked_for_change(session, principal, round_id, code, item_key)
    found = next((e for e in present if e.id == evidence_id), None)
    if found is None:
        raise NotFound("この根拠資料はありません（既に削除されています）。")
    what = "根拠資料を削除" if found.is_file else "リンクを削除"
    writer.remove_evidence(session, sheet, found.id, item.key, actor_id=principal.user_id, now=now_utc(),
                           note=f"{what}: {found.name}", source=source)
    return found.name


@dataclass(frozen=True)
class EvidenceFile:
    filename: str
    content_type: str
    data: bytes


def file_for(session: Session, principal: Principal, view: SheetView, evidence_id: int) -> EvidenceFile:
    """A file of a sheet someone may read (``view`` from the scoped getter), if its evidence is theirs to read."""
    refusal = why_not_read(session, principal, view.unit.id)
    if refusal:
        raise Forbidden(refusal)
    row = session.exec(select(AnswerEvidence.filename, AnswerEvidence.content_type, AnswerEvidence.data).where(
        AnswerEvidence.id == evidence_id, AnswerEvidence.sheet_id == view.sheet.id,
        AnswerEvidence.kind == EvidenceKind.FILE.value, AnswerEvidence.removed_at.is_(None))).first()
    if row is None or row[2] is None:
        raise NotFound("この根拠資料はありません（削除されたか、別のシートのものです）。")
    return EvidenceFile(*row)


def for_sheets(session: Session, sheet_ids: list[int]) -> dict[int, list[writer.StoredEvidence]]:
    """The current evidence of sheets the caller may export (exports list it as links)."""
    return writer.evidence(session, sheet_ids)

