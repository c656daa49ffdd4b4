"""Caps per 部局 (上限, issue 13 point 3): the desk or an admin sets, for a fiscal year, a cap on a "lower is
better" count (コピー用紙購入枚数) per 部局; the desk's figures page and JSON show per 部局 the cap, what was used
so far this fiscal year, what is left and the share used, and mark a 部局 over its cap.

"Used" counts each 所属 under the 部局 it belongs to now (``kpis.lineage``). Saving is all or nothing: every
typed cap is checked first (a positive whole number, full-width digits and separators read as in
``parse.parse_count``; empty removes the cap); each cap carries the version it was read at (409 on a stale
write); every change is recorded in the audit log (kind ``kpi_cap``, the cap before → after). Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, update
from sqlmodel import Session, select

from app.auth import permissions
from app.auth import service as auth_service
from app.auth.permissions import Principal
from app.errors import Conflict, Forbidden, InvalidInput
from app.jpdate import fiscal_year_label, fiscal_year_of, now_utc
from app.kpis import lineage
from app.kpis.catalogue import Catalogue
from app.kpis.models import KpiCap
from app.kpis.parse import ParseError, fmt, month_label, parse_count
from app.kpis.schema import Figure
from app.orgs import service as orgs
from app.orgs.models import Unit, UnitKind

OVER_MARK = "▲"  # the Japanese sign of a shortfall; the word 「超過」 is always beside it


def cappable(catalogue: Catalogue) -> tuple[Figure, ...]:
    """Figures a cap makes sense for: counts (entered, not ratios) where lower is better."""
    return tuple(f for f in catalogue.figures if f.entered and f.direction == "lower")


@dataclass(frozen=True)
class CapRow:
    bureau: Unit
    cap: int | None  # None: no cap set
    used: int
    version: int  # 0: no cap stored
    typed: str | None = None  # what was typed, when the form comes back with errors
    error: str | None = None

    @property
    def left(self) -> int | None:
        return None if self.cap is None else self.cap - self.used

    @property
    def percent(self) -> float | None:
        return None if self.cap is None else self.used / self.cap * 100

    @property
    def over(self) -> bool:
        return self.cap is not None and self.used > self.cap

    @property
    def shown(self) -> str:
        if self.typed is not None:
            return self.typed
        return "" if self.cap is None else f"{self.cap:,}"

    @property
    def state(self) -> str:
        if self.cap is None:
            return "上限なし"
        return f"{OVER_MARK} 上限超過" if self.over else "上限内"


@dataclass(frozen=True)
class CapTable:
    figure: Figure
    fy: int
    fy_label: str
    start: date
    end: date
    rows: tuple[CapRow, ...]
    why_not_set: str | None

    @property
    def period_label(self) -> str:
        return f"{month_label(self.start)}～{month_label(self.end)}"

    @property
    def over(self) -> tuple[CapRow, ...]:
        return tuple(r for r in self.rows if r.over)

    @property
    def can_set(self) -> bool:
        return self.why_not_set is None

    def shown(self, value: float | None) -> str:
        return fmt(value, self.figure.unit)

    def left_shown(self, row: CapRow) -> str:
        if row.left is None:
            return "—"
        return f"{OVER_MARK}{-row.left:,}{self.figure.unit}" if row.left < 0 else f"{row.left:,}{self.figure.unit}"


def _bureaus(session: Session, today: date) -> list[Unit]:
    return orgs.units_in_force(session, today, UnitKind.BUREAU)


def _stored(session: Session, figure_key: str, fy: int, *, lock: bool = False) -> dict[int, KpiCap]:
    query = select(KpiCap).where(KpiCap.fiscal_year == fy, KpiCap.figure_key == figure_key).order_by(KpiCap.id)
    if lock:
        query = query.with_for_update()
    return {c.bureau_id: c for c in session.exec(query.execution_options(populate_existing=True))}


def _check_figure_and_year(catalogue: Catalogue, figure_key: str, fy: int, today: date) -> Figure:
    figure = catalogue.figure(figure_key)
    if figure not in cappable(catalogue):
        raise InvalidInput(f"「{figure.name}」には上限を設定できません。上限は、少ないほどよい件数"
                           f"（{'・'.join(f.name for f in cappable(catalogue))}）に設定できます。")
    current = fiscal_year_of(today)
    if not 2000 <= fy <= current:
        raise InvalidInput(f"上限は2000年度から{current}年度（今年度）までの年度に設定できます。")
    return figure


def cap_table(session: Session, principal: Principal, catalogue: Catalogue, figure_key: str, fy: int, today: date,
              *, typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> CapTable | None:
    """The caps of one figure and fiscal year for every 部局 in force (None: the figure takes no cap)."""
    refusal = permissions.why_not_see_figures_desk(principal)
    if refusal:
        raise Forbidden(refusal)
    figure = catalogue.figure(figure_key)
    if figure not in cappable(catalogue):
        return None
    start, end = figure.months_counted(fy, today)
    stored = _stored(session, figure.key, fy)
    used = lineage.bureau_used(session, figure.key, fy, today) if start <= end else {}
    typed, errors = typed or {}, errors or {}
    rows = tuple(CapRow(b, stored[b.id].cap if b.id in stored else None, used.get(b.id, 0),
                        stored[b.id].version if b.id in stored else 0, typed.get(b.code), errors.get(b.code))
                 for b in _bureaus(session, today))
    return CapTable(figure, fy, fiscal_year_label(fy), start, end, rows, permissions.why_not_set_caps(principal))


@dataclass(frozen=True)
class CapInput:
    bureau_code: str
    raw: str
    version: int  # the version read (0: none stored); -1: broken


def parse_cap(raw: str, unit: str) -> int | None:
    """A cap as typed: None (empty: no cap), or a whole number of at least 1."""
    value = parse_count(raw, unit=unit)
    if value == 0:
        raise ParseError("上限は1以上の整数で入力してください。上限をなくすときは空欄にしてください。")
    return value


def save_caps(session: Session, principal: Principal, catalogue: Catalogue, figure_key: str, fy: int,
              inputs: list[CapInput], today: date) -> int:
    """Set (or, empty, remove) the caps of one figure and fiscal year: all or (on any error) none. Caps sent
    unchanged are left alone; a cap changed by someone else since the page was read is refused (409)."""
    refusal = permissions.why_not_set_caps(principal)
    if refusal:
        raise Forbidden(refusal)
    figure = _check_figure_and_year(catalogue, figure_key, fy, today)
    bureaus = {b.code: b for b in _bureaus(session, today)}
    errors: dict[str, str] = {}
    parsed: dict[str, int | None] = {}
    for entry in inputs:
        if entry.bureau_code not in bureaus:
            errors[entry.bureau_code] = f"部局コード「{entry.bureau_code}」の部局はありません。画面を再読み込みしてください。"
            continue
        try:
            parsed[entry.bureau_code] = parse_cap(entry.raw, figure.unit)
        except ParseError as exc:
            errors[entry.bureau_code] = exc.message
        if entry.version < 0:
            errors[entry.bureau_code] = "版（version）の指定が正しくありません。画面を再読み込みしてください。"
    if errors:
        raise InvalidInput(f"{len(errors)}件の上限に誤りがあります。示した欄を直してください。", fields=errors)
    stored = _stored(session, figure.key, fy, lock=True)
    now = now_utc()
    changed = 0
    for entry in inputs:
        bureau = bureaus[entry.bureau_code]
        row = stored.get(bureau.id)
        before = row.cap if row else None
        after = parsed[entry.bureau_code]
        if before == after:
            continue
        if entry.version != (row.version if row else 0):
            shown = "未設定" if before is None else f"{before:,}{figure.unit}"
            raise Conflict(f"{bureau.name}の上限は、読み込んだ後に他の方が変更しました（現在: {shown}）。"
                           "画面を再読み込みして確認してください。",
                           fields={bureau.code: f"読み込んだ後に変更されました（現在: {shown}）。"})
        if row is None:
            session.add(KpiCap(fiscal_year=fy, figure_key=figure.key, bureau_id=bureau.id, cap=after, updated_at=now,
                               updated_by_id=principal.user_id))
        elif after is None:
            session.execute(delete(KpiCap).where(KpiCap.id == row.id, KpiCap.version == row.version))
        else:
            session.execute(update(KpiCap).where(KpiCap.id == row.id, KpiCap.version == row.version)
                            .values(cap=after, version=row.version + 1, updated_at=now,
                                    updated_by_id=principal.user_id))
        auth_service.audit(session, "kpi_cap", actor=principal, detail={
            "figure": figure.name, "fy": fiscal_year_label(fy), "bureau": f"{bureau.name}（{bureau.code}）",
            "cap": ["なし" if before is None else f"{before:,}", "なし" if after is None else f"{after:,}"]})
        changed += 1
    session.flush()
    return changed
