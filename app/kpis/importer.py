"""Bulk import of figures from an export file: upload → column mapping → dry-run preview with row errors →
all-or-nothing apply in one transaction (through ``service.write_values``, recorded in history).

The file is kept in ``kpi_upload`` between the steps. The plan is pure over the table, the 所属 codes and
the stored values; the apply plans again from what it reads under the values' lock, so a value changed
since the preview is written over only as planned now (and the preview's counts are shown again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from app.auth import permissions
from app.auth.permissions import Principal
from app.db import one_at_a_time
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.jpdate import now_utc
from app.kpis import service
from app.kpis.catalogue import Catalogue, ratio_problems, slot
from app.kpis.models import KpiUpload
from app.kpis.parse import ParseError, month_label, parse_count, parse_month
from app.kpis.tabular import Cell, Table, read_table
from app.orgs import service as orgs
from app.orgs.models import UnitKind

TOTAL_WORDS = ("合計", "小計", "総計", "計")
MAX_ERRORS_SHOWN = 200


@dataclass(frozen=True)
class ColumnMap:
    """Which column is what (0-based column numbers of the table)."""

    code: int | None
    month: int | None
    month_fixed: str  # the month of every row, when the file has no month column
    figures: dict[str, int]  # figure key → column

    def refusal(self, table: Table, catalogue: Catalogue) -> dict[str, str]:
        errors: dict[str, str] = {}
        width = len(table.columns)
        if self.code is None or not 0 <= self.code < width:
            errors["code"] = "所属コードの列を選んでください。"
        if self.month is None and not self.month_fixed.strip():
            errors["month"] = "月の列を選ぶか、すべての行の月を入力してください。"
        if self.month is not None and not 0 <= self.month < width:
            errors["month"] = "月の列を選び直してください。"
        if not self.figures:
            errors["figures"] = "取り込む実績値の列を1つ以上選んでください。"
        for key, column in self.figures.items():
            figure = catalogue.by_key.get(key)
            if figure is None or not figure.entered:
                errors["figures"] = f"実績値「{key}」は取り込めません（定義にない、または計算で求める値です）。"
            elif not 0 <= column < width:
                errors["figures"] = f"「{figure.name}」の列を選び直してください。"
        used = [c for c in (self.code, self.month, *self.figures.values()) if c is not None]
        if len(used) != len(set(used)):
            errors.setdefault("figures", "同じ列を2つの役割に選んでいます。列の選び方を確認してください。")
        return errors


@dataclass(frozen=True)
class RowError:
    line: int
    code: str
    reason: str


@dataclass(frozen=True)
class Planned:
    line: int
    unit_id: int
    code: str
    name: str
    month: date  # the slot
    figure_key: str
    value: int


@dataclass
class Plan:
    values: list[Planned] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, why): totals rows, empty rows
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    changes: list[service.Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors_shown(self) -> list[RowError]:
        return self.errors[:MAX_ERRORS_SHOWN]


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def is_total_row(code: str) -> bool:
    return code == "" or any(code.startswith(w) or code.endswith(w) for w in TOTAL_WORDS)


def plan(table: Table, mapping: ColumnMap, catalogue: Catalogue, codes: Mapping[str, tuple[int, str]],
         stored: Mapping[tuple, service.Stored] | None, *, today: date) -> Plan:
    """Every row checked; ``stored`` (None: not read yet) gives the counts of new and changed values."""
    result = Plan()
    fixed_month: date | None = None
    if mapping.month is None:
        fixed_month = parse_month(mapping.month_fixed[:40], today=today)  # ParseError: the caller's field error
    seen: dict[tuple[int, date, str], int] = {}
    for line, cells in table.rows:
        code = _text(cells[mapping.code]) if mapping.code is not None else ""
        if is_total_row(code):
            result.skipped.append((line, "合計行・空の行" if code else "所属コードが空の行（合計行など）"))
            continue
        found = codes.get(code)
        if found is None:
            result.errors.append(RowError(line, code, f"所属コード「{code}」の所属はありません。"))
            continue
        unit_id, name = found
        if fixed_month is not None:
            month = fixed_month
        else:
            try:
                month = parse_month(cells[mapping.month] if isinstance(cells[mapping.month], date)
                                    else _text(cells[mapping.month]), today=today)
            except ParseError as exc:
                result.errors.append(RowError(line, code, f"月: {exc.message}"))
                continue
        for key, column in mapping.figures.items():
            figure = catalogue.by_key[key]
            cell = cells[column]
            try:
                value = parse_count(cell if isinstance(cell, (int, float)) else _text(cell), unit=figure.unit)
            except ParseError as exc:
                result.errors.append(RowError(line, code, f"{figure.name}: {exc.message}（値: {_text(cell)}）"))
                continue
            if value is None:
                continue
            where = (unit_id, slot(figure, month), key)
            if where in seen:
                result.errors.append(RowError(line, code, f"{figure.name}: 同じ所属・{month_label(where[1])}の値が"
                                                          f"{seen[where]}行目にもあります（重複した行）。"))
                continue
            seen[where] = line
            result.values.append(Planned(line, unit_id, code, name, where[1], key, value))
    if stored is not None:
        result.errors += ratio_row_errors(result.values, catalogue, stored)
        result.errors.sort(key=lambda e: e.line)
        for v in result.values:
            before = stored.get((v.unit_id, v.month, v.figure_key), service.NOTHING)
            if before.value == v.value:
                result.unchanged += 1
                continue
            if before.id is None:
                result.new += 1
            else:
                result.changed += 1
            result.changes.append(service.Change(v.unit_id, v.month, v.figure_key, before, v.value))
    return result


def formula_parts(catalogue: Catalogue, keys: set[str]) -> set[str]:
    """Every count a ratio computed from any of ``keys`` is made of (電子決裁件数 → 決裁件数, …)."""
    found = set()
    for figure in catalogue.figures:
        f = figure.formula
        if f is not None and keys & {f.numerator, f.denominator, *f.subtract}:
            found |= {f.numerator, f.denominator, *f.subtract}
    return found


def ratio_row_errors(values: list[Planned], catalogue: Catalogue, stored: Mapping[tuple, service.Stored]
                     ) -> list[RowError]:
    """Counts of one 所属 and month that no ratio can come from (a numerator above its denominator, e.g. more
    電子決裁件数 than 決裁件数), the file's values taken over the stored ones: the row of the numerator (or of
    the first count of the ratio in the file) with the reason, as the entry form refuses them."""
    by_slot: dict[tuple[int, date], dict[str, Planned]] = {}
    for v in values:
        by_slot.setdefault((v.unit_id, v.month), {})[v.figure_key] = v
    errors = []
    for (unit_id, month), planned in by_slot.items():
        parts = formula_parts(catalogue, set(planned))
        if not parts:
            continue
        merged = {k: stored.get((unit_id, month, k), service.NOTHING).value for k in parts}
        merged |= {k: p.value for k, p in planned.items() if k in parts}
        for numerator, reason in ratio_problems(catalogue, merged).items():
            ratios = [f.formula for f in catalogue.figures if f.formula and f.formula.numerator == numerator]
            involved = [k for r in ratios for k in (r.numerator, r.denominator, *r.subtract)]
            row = planned.get(numerator) or next((planned[k] for k in involved if k in planned), None)
            if row is None:
                continue  # stored values only: not this file's doing
            from_stored = [catalogue.by_key[k].name for k in dict.fromkeys(involved)
                           if k not in planned and merged.get(k) is not None]
            note = f"（{'・'.join(from_stored)}は登録済みの値）" if from_stored else ""
            errors.append(RowError(row.line, row.code, f"{month_label(month)}: {reason}{note}"))
    return errors


# --- the use cases ------------------------------------------------------------------------------------------


def upload(session: Session, principal: Principal, filename: str, data: bytes, *, max_expanded_bytes: int) -> int:
    _allowed(principal)
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200]
    read_table(name, data, max_expanded_bytes=max_expanded_bytes)  # refused now if unreadable
    row = KpiUpload(filename=name, content=data, sha256=hashlib.sha256(data).hexdigest(),
                    created_by_id=principal.user_id)
    session.add(row)
    session.flush()
    return row.id


def get_upload(session: Session, principal: Principal, upload_id: int) -> KpiUpload:
    _allowed(principal)
    row = session.get(KpiUpload, upload_id)
    if row is None:
        raise NotFound("取込みのファイルが見つかりません。もう一度アップロードしてください。")
    return row


def table_of(row: KpiUpload, *, max_expanded_bytes: int) -> Table:
    return read_table(row.filename, row.content, max_expanded_bytes=max_expanded_bytes)


def section_codes(session: Session, today: date) -> dict[str, tuple[int, str]]:
    return {u.code: (u.id, u.name) for u in orgs.units_in_force(session, today, UnitKind.SECTION)}


def preview(session: Session, table: Table, mapping: ColumnMap, catalogue: Catalogue, *, today: date) -> Plan:
    errors = mapping.refusal(table, catalogue)
    if errors:
        raise InvalidInput("列の選び方を確認してください。", fields=errors)
    try:
        first = plan(table, mapping, catalogue, section_codes(session, today), None, today=today)
    except ParseError as exc:
        raise InvalidInput(exc.message, fields={"month": exc.message}) from None
    keys = [(v.unit_id, v.month, v.figure_key) for v in first.values]
    slots = {(v.unit_id, v.month) for v in first.values}
    keys += [(u, m, k) for u, m in slots for k in formula_parts(catalogue, {v.figure_key for v in first.values})]
    return plan(table, mapping, catalogue, section_codes(session, today), service.stored(session, keys), today=today)


def apply(session: Session, principal: Principal, row: KpiUpload, table: Table, mapping: ColumnMap,
          catalogue: Catalogue, *, today: date, expected_sha256: str) -> Plan:
    """All or nothing: any row error refuses the whole file; values are written under their lock."""
    _allowed(principal)
    one_at_a_time(session, "kpi-import")
    if row.sha256 != expected_sha256:
        raise Conflict("確認したファイルと違います。もう一度アップロードしてください。")
    if row.applied_at is not None:
        raise Conflict(f"このファイルは取込み済みです（{row.applied_values}件）。同じファイルは2回取り込めません。")
    result = preview(session, table, mapping, catalogue, today=today)
    if not result.ok:
        raise InvalidInput(f"{len(result.errors)}件の誤りがあるため、取り込めません（何も変更していません）。")
    locked = service.stored(session, [(c.unit_id, c.month, c.figure_key) for c in result.changes], lock=True)
    changes = [service.Change(c.unit_id, c.month, c.figure_key, locked.get((c.unit_id, c.month, c.figure_key),
                                                                             service.NOTHING), c.value)
               for c in result.changes]
    changes = [c for c in changes if c.before.value != c.value]
    service.write_values(session, catalogue, changes, actor_id=principal.user_id, source="import",
                         note=f"取込み: {row.filename}")
    row.applied_at = now_utc()
    row.applied_values = len(changes)
    session.add(row)
    session.flush()
    return result


def _allowed(principal: Principal) -> None:
    refusal = permissions.why_not_import_figures(principal)
    if refusal:
        raise Forbidden(refusal)


def recent_uploads(session: Session, limit: int = 20) -> list:
    """The latest uploads (without their content): id, filename, created_at, applied_at, applied_values."""
    return list(session.exec(select(KpiUpload.id, KpiUpload.filename, KpiUpload.created_at, KpiUpload.applied_at,
                                    KpiUpload.applied_values).order_by(KpiUpload.id.desc()).limit(limit)).all())


def column_map(params: Mapping[str, str]) -> ColumnMap:
    """The mapping as the form sends it: code, month (column numbers), month_fixed, fig.<key> (column)."""
    def column(raw: str | None) -> int | None:
        raw = (raw or "").strip()
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else None

    figures = {name[4:]: c for name, raw in params.items() if name.startswith("fig.")
               if (c := column(raw)) is not None}
    return ColumnMap(column(params.get("code")), column(params.get("month")), (params.get("month_fixed") or "")[:40],
                     figures)
