"""The desk's downloads page (「ダウンロード」 among the desk's tabs): every round that has sheets, newest
first, each with its round-wide CSV/XLSX; for the round chosen, its 部局 and a searchable, paged list of
its 所属. The files themselves come from the export endpoints (``app/excel/api.py``); this page only lists
what may be downloaded, for people who may export everything (``permissions.why_not_export``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.permissions import Principal
from app.errors import Forbidden
from app.orgs.models import Unit
from app.paging import Pager
from app.reports import service as reports
from app.reports.service import DeskContext
from app.rounds.models import Round, RoundState
from app.scoring.rules import Scope
from app.sheets.models import Sheet

SECTIONS_PER_PAGE = 50
SEARCH_MAX = 50


@dataclass(frozen=True)
class BureauRow:
    code: str
    name: str
    sections: int  # 所属 with a sheet in the round


@dataclass(frozen=True)
class SectionRow:
    code: str
    name: str
    bureau_code: str
    bureau_name: str


@dataclass(frozen=True)
class DownloadsPage:
    ctx: DeskContext  # the round chosen (and the 部局 filter of the 所属 list)
    rounds: list[Round]  # rounds with sheets, newest first
    bureaus: list[BureauRow]  # the chosen round's 部局 that have sheets
    sections: list[SectionRow]  # one page of the chosen round's 所属 (filtered)
    pager: Pager
    search: str

    @property
    def has_sheets(self) -> bool:
        return self.ctx.round.state != RoundState.PREPARING


def downloads_page(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
                   search: str = "", page: int = 1, scope: str | None = None) -> DownloadsPage:
    refusal = permissions.why_not_export(principal, ())  # every 所属: the desk and admins
    if refusal:
        raise Forbidden(refusal)
    ctx = reports.desk_context(session, principal, round_id, bureau_code, scope=Scope(scope) if scope else None)
    shown_rounds = [r for r in ctx.rounds if r.state != RoundState.PREPARING]
    section, bureau = aliased(Unit), aliased(Unit)
    counts = dict(session.execute(
        select(Sheet.bureau_id, func.count()).where(Sheet.round_id == ctx.round.id).group_by(Sheet.bureau_id)
    ).all())
    bureaus = [BureauRow(b.code, b.name, counts[b.id]) for b in ctx.bureaus if counts.get(b.id)]
    search = search.strip()[:SEARCH_MAX]
    where = [Sheet.round_id == ctx.round.id]
    if ctx.bureau is not None:
        where.append(Sheet.bureau_id == ctx.bureau.id)
    if search:
        where.append(or_(section.name.contains(search, autoescape=True),
                         section.code.startswith(search, autoescape=True)))
    base = (select(Sheet.id).join(section, section.id == Sheet.unit_id).join(bureau, bureau.id == Sheet.bureau_id)
            .where(*where))
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    pager = Pager.of(page, SECTIONS_PER_PAGE, total)
    rows = session.execute(
        select(section.code, section.name, bureau.code, bureau.name)
        .select_from(Sheet).join(section, section.id == Sheet.unit_id).join(bureau, bureau.id == Sheet.bureau_id)
        .where(*where)
        .order_by(bureau.position, bureau.code, section.position, section.code)
        .offset(pager.offset).limit(pager.per_page)
    ).all()
    return DownloadsPage(ctx, shown_rounds, bureaus, [SectionRow(*r) for r in rows], pager, search)
