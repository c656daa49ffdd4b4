"""Figures (実績値): reading a 所属's values, and the one writer of ``kpi_value`` and ``kpi_event`` (the entry
form and the bulk import both write through ``write_values``). The same save semantics as the sheet: each
value carries the version it was read at; a value someone else changed since is refused with 409 and what is
stored now; each change writes one history row in the same transaction. Services never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app.auth import permissions
from app.auth.models import User
from app.auth.permissions import Principal
from app.errors import Conflict, Forbidden, InvalidInput
from app.jpdate import fiscal_year_of, now_utc
from app.kpis.catalogue import Catalogue, ratio_problems, slot
from app.kpis.loader import LoadedKpis
from app.kpis.models import KpiEvent, KpiTally, KpiValue, KpiVersion
from app.kpis.parse import ParseError, month_label, parse_count
from app.kpis.schema import Figure
from app.orgs.models import Unit

SOURCES = ("form", "import", "demo")


@dataclass(frozen=True)
class Stored:
    id: int | None  # None: nothing stored yet
    value: int | None
    version: int  # 0 when nothing is stored
    updated_at: datetime | None = None
    updated_by_id: int | None = None


NOTHING = Stored(None, None, 0)


@dataclass(frozen=True)
class Change:
    unit_id: int
    month: date  # the slot (yearly figures: April)
    figure_key: str
    before: Stored
    value: int | None


@dataclass(frozen=True)
class FigureInput:
    key: str
    raw: str
    version: int


def publish(session: Session, loaded: LoadedKpis) -> int:
    """The id of the published version of this file, recording it on first use. A file changed after its
    version was published is refused: published versions never change."""
    kpis = loaded.kpis
    row = session.exec(select(KpiVersion).where(KpiVersion.set_id == kpis.id, KpiVersion.version == kpis.version)).first()
    if row is None:
        row = KpiVersion(set_id=kpis.id, version=kpis.version, title=kpis.title, sha256=loaded.sha256,
                         source=loaded.source)
        session.add(row)
        session.flush()
    elif row.sha256 != loaded.sha256:
        raise Conflict(f"実績値の定義 {kpis.id} の第{kpis.version}版は使用済み（公開済み）で、ファイルの内容が変わっています。"
                       f"公開済みの版は変更できません。ファイルを元に戻し、変更は第{kpis.version + 1}版の新しい"
                       f"ファイルにしてください（{loaded.path}）。")
    return row.id


def stored(session: Session, keys: Iterable[tuple[int, date, str]], *, lock: bool = False) -> dict[tuple, Stored]:
    """The values at (unit id, slot month, figure key); under a row lock with ``lock`` (PostgreSQL: ``FOR
    UPDATE``; SQLite: the write transaction holds the database's write lock)."""
    wanted = set(keys)
    columns = (KpiValue.id, KpiValue.unit_id, KpiValue.month, KpiValue.figure_key, KpiValue.value, KpiValue.version,
               KpiValue.updated_at, KpiValue.updated_by_id)
    # Plain IN lists that an index serves on both databases (a row-value IN is a full scan on SQLite): per
    # 所属 through the unique index (unit_id, month, figure_key) for a few 所属 (a form), per figure through
    # ix_kpi_value_figure_month for many (an import); whatever else matches is dropped here.
    queries = []
    units = sorted({k[0] for k in wanted})
    if len(units) <= 20:
        for unit_id in units:
            mine = [k for k in wanted if k[0] == unit_id]
            queries.append(select(*columns).where(
                KpiValue.unit_id == unit_id, KpiValue.month.in_(sorted({k[1] for k in mine})),
                KpiValue.figure_key.in_(sorted({k[2] for k in mine}))))
    else:
        for figure_key in sorted({k[2] for k in wanted}):
            months = sorted({k[1] for k in wanted if k[2] == figure_key})
            for start in range(0, len(units), 500):
                queries.append(select(*columns).where(
                    KpiValue.figure_key == figure_key, KpiValue.month.in_(months),
                    KpiValue.unit_id.in_(units[start:start + 500])))
    found: dict[tuple, Stored] = {}
    for query in queries:
        query = query.order_by(KpiValue.id)
        if lock:
            query = query.with_for_update()
        for row in session.exec(query):
            where = (row.unit_id, row.month, row.figure_key)
            if where in wanted:
                found[where] = Stored(row.id, row.value, row.version, row.updated_at, row.updated_by_id)
    return found


def write_values(session: Session, catalogue: Catalogue, changes: list[Change], *, actor_id: int | None,
                 source: str, note: str = "", now: datetime | None = None, history: bool = True) -> int:
    """The one writer of figures: each change updates (at the version read) or inserts its value and adds a
    history row. A value changed by someone else since it was read: Conflict, and the caller rolls back.
    New values and history rows go in as one multi-row insert each, and ``kpi_tally`` follows in the same
    transaction. ``history=False`` only for the demo generator's ``--no-history`` (benchmark-size data)."""
    assert source in SOURCES
    assert history or source == "demo"
    now = now or now_utc()
    version_ids = {entry.kpis.id: publish(session, entry) for entry in catalogue.files
                   if any(catalogue.file_of[c.figure_key] is entry for c in changes)}
    inserts = []
    for change in changes:
        version_id = version_ids[catalogue.set_of(change.figure_key).id]
        if change.before.id is None:
            inserts.append({"unit_id": change.unit_id, "month": change.month, "figure_key": change.figure_key,
                            "value": change.value, "version": 1, "kpi_version_id": version_id, "updated_at": now,
                            "updated_by_id": actor_id})
            continue
        done = session.exec(update(KpiValue).where(KpiValue.id == change.before.id,
                                                   KpiValue.version == change.before.version)
                            .values(value=change.value, version=change.before.version + 1,
                                    kpi_version_id=version_id, updated_at=now, updated_by_id=actor_id))
        if done.rowcount != 1:
            raise Conflict("実績値が読み込んだ後に変更されました。画面を再読み込みして確認してください。")
    if inserts:
        session.execute(insert(KpiValue), inserts)
    _tally(session, changes)
    if history and changes:
        session.execute(insert(KpiEvent), [
            {"unit_id": c.unit_id, "month": c.month, "figure_key": c.figure_key, "old_value": c.before.value,
             "new_value": c.value, "version": c.before.version + 1, "source": source, "note": note[:200],
             "actor_id": actor_id, "at": now} for c in changes])
    return len(changes)


def _tally_upserts() -> dict[str, object]:  # built once at import
    statements = {}
    table = KpiTally.__table__
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
        stmt = dialect.insert(KpiTally)
        statements[name] = stmt.on_conflict_do_update(
            index_elements=["unit_id", "fiscal_year", "figure_key"],
            set_={"total": table.c.total + stmt.excluded.total, "months": table.c.months + stmt.excluded.months})
    return statements


_TALLY_UPSERT = _tally_upserts()


def _tally(session: Session, changes: list[Change]) -> None:
    """``kpi_tally`` follows the changes: per 所属, fiscal year and figure, the sum moves by new − old and the
    count of stored values by whether each is set now and was before (one multi-row upsert)."""
    deltas: dict[tuple[int, int, str], list[int]] = {}
    for c in changes:
        delta = deltas.setdefault((c.unit_id, fiscal_year_of(c.month), c.figure_key), [0, 0])
        delta[0] += (c.value or 0) - (c.before.value or 0)
        delta[1] += (c.value is not None) - (c.before.value is not None)
    rows = [{"unit_id": u, "fiscal_year": fy, "figure_key": k, "total": t, "months": m}
            for (u, fy, k), (t, m) in sorted(deltas.items()) if t or m]  # one lock order for concurrent writers
    if rows:
        session.execute(_TALLY_UPSERT[session.get_bind().dialect.name], rows)


# --- The entry form: one month of one 所属 ----------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    figure: Figure
    slot: date
    stored: Stored
    typed: str | None = None  # what was typed, when the form comes back with errors
    error: str | None = None

    @property
    def shown(self) -> str:
        if self.typed is not None:
            return self.typed
        return "" if self.stored.value is None else f"{self.stored.value:,}"


@dataclass(frozen=True)
class Entry:
    unit: Unit
    month: date
    monthly: tuple[EntryRow, ...]
    yearly: tuple[EntryRow, ...]
    why_not_enter: str | None

    @property
    def month_label(self) -> str:
        return month_label(self.month)

    @property
    def rows(self) -> tuple[EntryRow, ...]:
        return self.monthly + self.yearly

    @property
    def can_enter(self) -> bool:
        return self.why_not_enter is None


def entry(session: Session, principal: Principal, unit: Unit, month: date, catalogue: Catalogue, *,
          typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Entry:
    """The form of one month (the caller has checked that ``principal`` may read ``unit``)."""
    figures = catalogue.entered
    now = stored(session, [(unit.id, slot(f, month), f.key) for f in figures])
    typed, errors = typed or {}, errors or {}
    rows = [EntryRow(f, slot(f, month), now.get((unit.id, slot(f, month), f.key), NOTHING), typed.get(f.key),
                     errors.get(f.key)) for f in figures]
    return Entry(unit, month, tuple(r for r in rows if r.figure.period == "monthly"),
                 tuple(r for r in rows if r.figure.period == "yearly"),
                 permissions.why_not_enter_figures(principal, unit.id))


@dataclass(frozen=True)
class Saved:
    changed: int


def save_month(session: Session, principal: Principal, unit: Unit, month: date, catalogue: Catalogue,
               inputs: list[FigureInput]) -> Saved:
    """Save one month's figures of one 所属: all or (on any error) none. Values sent unchanged are left
    alone; a value changed by someone else since the form was read is refused (409, naming it)."""
    refusal = permissions.why_not_enter_figures(principal, unit.id)
    if refusal:
        raise Forbidden(refusal)
    figures = [catalogue.figure(raw.key) for raw in inputs]
    for figure in figures:
        if not figure.entered:
            raise InvalidInput(f"「{figure.name}」は計算で求める値のため、入力できません。")
    errors: dict[str, str] = {}
    parsed: dict[str, int | None] = {}
    for figure, raw in zip(figures, inputs, strict=True):
        try:
            parsed[figure.key] = parse_count(raw.raw, unit=figure.unit)
        except ParseError as exc:
            errors[figure.key] = exc.message
        if raw.version < 0:
            errors[figure.key] = "版（version）の指定が正しくありません。画面を再読み込みしてください。"
    if errors:
        raise InvalidInput(f"{len(errors)}件の実績値に誤りがあります。示した欄を直してください。", fields=errors)
    now = stored(session, [(unit.id, slot(f, month), f.key) for f in catalogue.entered], lock=True)
    month_values = {f.key: now.get((unit.id, slot(f, month), f.key), NOTHING).value for f in catalogue.entered}
    problems = ratio_problems(catalogue, month_values | parsed)
    if problems:
        raise InvalidInput(f"{len(problems)}件の実績値の組み合わせに誤りがあります。示した欄を直してください。", fields=problems)
    changes = []
    for figure, raw in zip(figures, inputs, strict=True):
        current = now.get((unit.id, slot(figure, month), figure.key), NOTHING)
        if parsed[figure.key] == current.value:
            continue
        if raw.version != current.version:
            raise _conflict(session, figure, current)
        changes.append(Change(unit.id, slot(figure, month), figure.key, current, parsed[figure.key]))
    write_values(session, catalogue, changes, actor_id=principal.user_id, source="form")
    return Saved(len(changes))


def _conflict(session: Session, figure: Figure, current: Stored) -> Conflict:
    who = session.get(User, current.updated_by_id) if current.updated_by_id else None
    name = f"{who.display_name}さん" if who else "他の方"
    shown = "未入力" if current.value is None else f"{current.value:,}{figure.unit}"
    return Conflict(f"「{figure.name}」は、読み込んだ後に{name}が変更しました（現在: {shown}）。"
                    "内容を確認して、必要ならもう一度入力してください。",
                    fields={figure.key: f"読み込んだ後に{name}が変更しました（現在: {shown}）。"},
                    figure_key=figure.key, current={"value": current.value, "version": current.version})
