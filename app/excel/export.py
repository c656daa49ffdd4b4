"""What an export contains: the sheets of a round (all, one 部局 or one 所属), every answer, and the
scores per 所属 and per 部局. Read-only; authorised through ``permissions.why_not_export``.

The writers (``app.excel.writer``) turn an ``ExportBundle`` into CSV or XLSX bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.models import User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import Forbidden, InvalidInput, NotFound
from app.jpdate import today_jst
from app.orgs.models import Unit
from app.rounds import service as rounds
from app.rounds.models import Round
from app.scoring.rules import PROGRESS_LABELS, GroupFigure, progress
from app.sheets import evidence, figures
from app.sheets.figures import GroupKey, SheetScore
from app.sheets.models import PREFECTURE, Answer, Sheet, SheetState
from app.text import scrub


@dataclass(frozen=True)
class ExportAnswer:
    item: ItemDef
    status: str | None
    memo: str
    updated_at: datetime | None
    updated_by: str | None
    evidence: tuple[str, ...] = ()  # 根拠資料 as links: a link's URL, a file's download URL (absolute)


@dataclass(frozen=True)
class ExportSheet:
    sheet_id: int
    section_code: str
    section_name: str
    bureau_code: str
    bureau_name: str
    submitted: bool
    progress_label: str
    entry_on: date | None
    submitted_at: datetime | None
    answers: tuple[ExportAnswer, ...]
    score: SheetScore


@dataclass(frozen=True)
class GroupRow:
    """A 部局 or the prefecture in the summary: its figures overall and the mean maturity per category."""

    code: str
    name: str
    figure: GroupFigure
    categories: dict[str, float | None]

    @property
    def sections(self) -> int:
        return self.figure.sections

    @property
    def maturity(self) -> float | None:
        return self.figure.mean

    @property
    def median(self) -> float | None:
        return self.figure.median

    @property
    def completion(self) -> float | None:
        return self.figure.completion


@dataclass(frozen=True)
class BureauSummary:
    group: GroupRow
    suppressed: bool  # under MIN_GROUP_SIZE 所属: no figure of it (only its size) but for the desk and admins


@dataclass(frozen=True)
class ExportBundle:
    round: Round
    definition: Definition
    scope_label: str  # 全所属 / 部局「…」 / 所属「…」
    scope_slug: str  # for file names: all, bureau-CODE, section-CODE
    sheets: tuple[ExportSheet, ...]
    bureaus: tuple[BureauSummary, ...]
    prefecture: GroupRow | None  # 全庁, for whole-round exports by the desk and admins
    generated_on: date
    figures: Any = None  # figures_sheet.FiguresTable: the 「実績値」 worksheet (XLSX only; not imported here, as
    # figures_sheet reads this module's sheets)


def gather(session: Session, principal: Principal | None, round_id: int, *, bureau: str | None = None,
           section: str | None = None, public_url: str = "") -> ExportBundle:
    """The export of a round, narrowed to a 部局 or a 所属. ``principal`` None is the command line
    (the operator of the server sees everything). ``public_url``: the app's address, for the absolute links to
    the evidence files (根拠資料, listed for the sheets whose evidence the person may read)."""
    if bureau and section:
        raise InvalidInput("bureau（部局コード）と section（所属コード）は、どちらか一方だけを指定してください。")
    round_ = rounds.get_round(session, round_id)
    section_unit = aliased(Unit)
    bureau_unit = aliased(Unit)
    query = (
        select(Sheet, section_unit, bureau_unit)
        .join(section_unit, section_unit.id == Sheet.unit_id)
        .join(bureau_unit, bureau_unit.id == Sheet.bureau_id)
        .where(Sheet.round_id == round_id)
        .order_by(bureau_unit.position, bureau_unit.code, section_unit.position, section_unit.code)
    )
    scope_label, slug = "全所属", "all"
    if section:
        query = query.where(section_unit.code == section)
    if bureau:
        query = query.where(bureau_unit.code == bureau)
    rows = session.exec(query).all()
    if section and not rows:
        raise NotFound(f"所属コード「{section}」のチェックシートはこの調査回にありません。")
    if bureau and not rows:
        raise NotFound(f"部局コード「{bureau}」の所属はこの調査回にありません。")
    if not rows:
        raise NotFound("この調査回にはチェックシートがありません（調査回が開始されていません）。")
    if principal is not None:
        refusal = permissions.why_not_export(principal, [unit.id for _, unit, _ in rows])
        if refusal:
            raise Forbidden(refusal)
    if section:
        scope_label, slug = f"所属「{rows[0][1].name}」", f"section-{section}"
    elif bureau:
        scope_label, slug = f"部局「{rows[0][2].name}」", f"bureau-{bureau}"

    definition = checklists.get_definition(session, round_.checklist_version_id)
    sheet_ids = [sheet.id for sheet, _, _ in rows]
    scores = figures.sheet_scores(session, sheet_ids)
    readable = [sheet.id for sheet, unit, _ in rows
                if principal is None or permissions.why_not_read_evidence(principal, unit.id) is None]
    links = _evidence_links(session, readable, round_id, {sheet.id: unit.code for sheet, unit, _ in rows}, public_url)
    answers = _answers(session, round_id, set(sheet_ids), definition, links)
    sheets = tuple(
        ExportSheet(
            sheet_id=sheet.id, section_code=unit.code, section_name=unit.name, bureau_code=bu.code,
            bureau_name=bu.name, submitted=sheet.state == SheetState.SUBMITTED,
            progress_label=PROGRESS_LABELS[progress(sheet.state == SheetState.SUBMITTED, scores[sheet.id].overall)],
            entry_on=sheet.entry_on, submitted_at=sheet.submitted_at,
            answers=answers.get(sheet.id, ()), score=scores[sheet.id],
        )
        for sheet, unit, bu in rows
    )
    full = principal is None or principal.sees_everything
    bureau_units = {bu.id: bu for _, _, bu in rows}  # in export order
    whole = full and not (bureau or section)
    # A 部局's figures cover all its 所属, also when one 所属 is exported.
    found = figures.groups(session, principal, [round_id], bureau_ids=list(bureau_units), prefecture=whole,
                           categories=True, completion=True)

    def row(scope: int, code: str, name: str) -> GroupRow:
        return GroupRow(code, name, found[GroupKey(round_id, scope)], {
            c: found[k].mean if (k := GroupKey(round_id, scope, c)) in found else None
            for c in definition.categories})

    bureaus = tuple(BureauSummary(group=(g := row(uid, unit.code, unit.name)), suppressed=g.figure.suppressed)
                    for uid, unit in bureau_units.items())
    prefecture = row(PREFECTURE, "", "全庁") if whole else None
    return ExportBundle(round=round_, definition=definition, scope_label=scope_label, scope_slug=slug,
                        sheets=sheets, bureaus=bureaus, prefecture=prefecture, generated_on=today_jst())


def _evidence_links(session: Session, sheet_ids: list[int], round_id: int, codes: dict[int, str],
                    public_url: str) -> dict[tuple[int, str], tuple[str, ...]]:
    """(sheet id, item key) → the evidence of the answer as links, oldest first."""
    base = public_url.rstrip("/")
    found: dict[tuple[int, str], list[str]] = {}
    for sheet_id, items in evidence.for_sheets(session, sheet_ids).items():
        for e in items:
            url = f"{base}/rounds/{round_id}/sections/{codes[sheet_id]}/evidence/{e.id}" if e.is_file else e.url
            found.setdefault((sheet_id, e.item_key), []).append(url)
    return {key: tuple(urls) for key, urls in found.items()}


def _answers(session: Session, round_id: int, sheet_ids: set[int], definition: Definition,
             links: dict[tuple[int, str], tuple[str, ...]] | None = None) -> dict[int, tuple[ExportAnswer, ...]]:
    """Every sheet's answers in sheet order (an item without an answer row counts as unanswered)."""
    query = (
        select(Answer.sheet_id, Answer.item_key, Answer.status, Answer.memo, Answer.updated_at, User.display_name)
        .join(Sheet, and_(Sheet.id == Answer.sheet_id, Sheet.round_id == round_id))
        .outerjoin(User, User.id == Answer.updated_by_id)
    )
    if len(sheet_ids) <= 500:  # a 部局 or a 所属: read only theirs
        query = query.where(Answer.sheet_id.in_(sorted(sheet_ids)))
    rows = session.exec(query).all()
    found: dict[int, dict[str, tuple]] = {}
    for sheet_id, key, status, memo, updated_at, who in rows:
        if sheet_id in sheet_ids:
            found.setdefault(sheet_id, {})[key] = (status, memo, updated_at, who)
    result = {}
    for sheet_id in sheet_ids:
        mine = found.get(sheet_id, {})
        result[sheet_id] = tuple(
            ExportAnswer(item, *mine.get(item.key, (None, "", None, None)),
                         evidence=(links or {}).get((sheet_id, item.key), ()))
            for item in definition.items
        )
    return result


def file_name(bundle: ExportBundle, extension: str, *, variant: str = "", replaced: int = 0) -> tuple[str, str]:
    """(ASCII fallback, Japanese) file names for Content-Disposition. ``variant`` "sjis": the Shift_JIS CSV,
    whose name also says how many characters were replaced (the count a person sees in the download list)."""
    suffix = f"-{variant}" if variant else ""
    ascii_name = f"paperless-round{bundle.round.id}-{bundle.scope_slug}{suffix}.{extension}"
    scope = "全所属" if bundle.scope_slug == "all" else bundle.scope_slug.split("-", 1)[1]
    title = scrub(bundle.round.title, multiline=False)  # a title stored before the rule may hold a line break
    tail = ""
    if variant == "sjis":
        tail = "_ShiftJIS" + (f"_置換{replaced}文字" if replaced else "")
    return ascii_name, f"ペーパーレス化状況チェック_{title}_{scope}{tail}.{extension}".replace(" ", "")
