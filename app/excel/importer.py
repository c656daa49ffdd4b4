"""Importing filled-in Excel sheets into a round (admin): plan (the dry run), then apply, all or nothing.

``plan_import`` checks every file, worksheet and row against the round — which 所属, which item,
which symbol — and lists what would change, without writing. ``apply_import`` writes a plan that has
no error, through ``sheets.service.write_imported_answers`` (history: source=import). Neither commits.

How a worksheet's 所属 is found, in order:
1. the 所属コード cell (the export and its blank form have one: E2 → F2);
2. the 所属名 cell;
3. the worksheet's name, and for a file with one checklist worksheet the file name: a 所属コード
   standing alone (``A1.xlsx``, ``A1_一課.xlsx``) or the 所属's full name inside it.
A blank 達成状況 or メモ cell leaves what is stored as it is; the import never clears an answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import User
from app.auth.permissions import Principal
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import InvalidInput, Unavailable
from app.excel import layout
from app.excel.reader import ParsedFile, ParsedSheet
from app.orgs.models import Unit
from app.rounds import service as rounds
from app.rounds.models import Round, RoundState
from app.sheets import service as sheets_service
from app.sheets.models import Answer, Sheet, SheetState
from app.sheets.service import MEMO_MAX, ImportedAnswer, ImportedSheet
from app.statuses import Status, parse_status
from app.text import check_text

_TOKEN_SPLIT = re.compile(r"[\s_\-－＿()（）\[\]［］【】・.]+")
_running = threading.Lock()


class ImportRunning(Unavailable):
    """Another import is running in this process."""

    default_message = "ほかの取込みを処理中です。しばらくしてからもう一度お試しください。何も取り込んでいません。"


@contextmanager
def import_slot() -> Iterator[None]:
    """At most one import (reading the files, checking, writing) at a time in this process. A second one is
    refused at once (``ImportRunning``, 503), never queued: reading a large upload takes a core for seconds."""
    if not _running.acquire(blocking=False):
        raise ImportRunning()
    try:
        yield
    finally:
        _running.release()


@dataclass(frozen=True)
class Change:
    row: int
    item_key: str
    item_text: str
    old_status: str | None
    new_status: str | None
    old_memo: str
    new_memo: str
    version: int

    @property
    def status_changed(self) -> bool:
        return self.old_status != self.new_status

    @property
    def memo_changed(self) -> bool:
        return self.old_memo != self.new_memo


@dataclass
class SheetPlan:
    file: str
    title: str
    section_code: str | None = None
    section_name: str | None = None
    sheet_id: int | None = None
    entry_on: date | None = None
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.file}／{self.title}"


@dataclass
class FilePlan:
    name: str
    error: str | None = None
    sheets: list[SheetPlan] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return (1 if self.error else 0) + sum(len(s.errors) for s in self.sheets)


@dataclass
class ImportPlan:
    round: Round
    files: list[FilePlan]

    @property
    def error_count(self) -> int:
        return sum(f.error_count for f in self.files)

    @property
    def ok(self) -> bool:
        return bool(self.files) and self.error_count == 0 and any(f.sheets for f in self.files)

    @property
    def sheets(self) -> list[SheetPlan]:
        return [s for f in self.files for s in f.sheets]

    @property
    def change_count(self) -> int:
        return sum(len(s.changes) for s in self.sheets)

    def fingerprint(self) -> str:
        """What apply would write; a preview is applied only if this has not changed since."""
        data = [(s.sheet_id, s.entry_on.isoformat() if s.entry_on else None,
                 [(c.item_key, c.version, c.new_status, c.new_memo) for c in s.changes]) for s in self.sheets]
        return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class _Target:
    sheet: Sheet
    unit: Unit


def plan_import(session: Session, round_id: int, files: list[ParsedFile],
                progress: Callable[[int], None] = lambda n: None) -> ImportPlan:
    """Check ``files`` against the round and list what would change. Writes nothing."""
    round_ = rounds.get_round(session, round_id)
    if round_.state == RoundState.PREPARING:
        raise InvalidInput("準備中（開始前）の調査回には取り込めません。調査回を開始してから取り込んでください。")
    definition = checklists.get_definition(session, round_.checklist_version_id)
    targets = {unit.code: _Target(sheet, unit) for sheet, unit in session.exec(
        select(Sheet, Unit).join(Unit, Unit.id == Sheet.unit_id).where(Sheet.round_id == round_id)).all()}
    answers: dict[int, dict[str, Answer]] = {}
    for answer in session.exec(select(Answer).join(Sheet, Sheet.id == Answer.sheet_id)
                               .where(Sheet.round_id == round_id)).all():
        answers.setdefault(answer.sheet_id, {})[answer.item_key] = answer
    claimed: dict[str, str] = {}  # section code → the worksheet that brings it
    plan = ImportPlan(round=round_, files=[])
    for parsed in files:
        file_plan = FilePlan(name=parsed.name, error=parsed.error)
        plan.files.append(file_plan)
        for sheet in parsed.sheets:
            sheet_plan = SheetPlan(file=parsed.name, title=sheet.title, entry_on=sheet.entry_on,
                                   errors=list(sheet.errors), warnings=list(sheet.warnings))
            file_plan.sheets.append(sheet_plan)
            target = _resolve_section(sheet, parsed, targets, sheet_plan)
            if target is None:
                continue
            sheet_plan.section_code, sheet_plan.section_name = target.unit.code, target.unit.name
            sheet_plan.sheet_id = target.sheet.id
            if target.unit.code in claimed:
                sheet_plan.errors.append(f"所属「{target.unit.name}」は「{claimed[target.unit.code]}」でも取り込もうと"
                                         "しています。1つの所属につき1つのシートにしてください。")
                continue
            claimed[target.unit.code] = sheet_plan.label
            if target.sheet.state == SheetState.SUBMITTED:
                sheet_plan.errors.append(f"所属「{target.unit.name}」のチェックシートは提出済みのため取り込めません"
                                         "（DX推進リーダーが提出を取り消した後なら取り込めます）。")
                continue
            _plan_rows(sheet, sheet_plan, definition, answers.get(target.sheet.id, {}))
        progress(1)
    return plan


def _resolve_section(sheet: ParsedSheet, parsed: ParsedFile, targets: dict[str, _Target],
                     plan: SheetPlan) -> _Target | None:
    by_code = {_fold_code(code): t for code, t in targets.items()}
    if sheet.code:
        target = by_code.get(_fold_code(sheet.code))
        if target is None:
            plan.errors.append(f"所属コード「{sheet.code}」はこの調査回にありません。"
                               "この調査回の所属コードを「所属コード」欄に書いてください。")
        return target
    by_name: dict[str, list[_Target]] = {}
    for t in targets.values():
        by_name.setdefault(layout.normalise(t.unit.name), []).append(t)
    if sheet.name:
        found = by_name.get(layout.normalise(sheet.name), [])
        if len(found) == 1:
            return found[0]
        plan.errors.append(f"所属名「{sheet.name}」はこの調査回に{'複数' if found else 'ありません'}。"
                           "「所属コード」欄に所属コードを書いてください。")
        return None
    sources = [sheet.title]
    if len(parsed.sheets) == 1:
        sources.append(parsed.stem)
    for source in sources:
        codes = {by_code[_fold_code(token)].unit.code for token in _TOKEN_SPLIT.split(source)
                 if _fold_code(token) in by_code}
        folded = layout.normalise(source)
        names = {name: ts for name, ts in by_name.items() if name and name in folded}
        if names:  # 「総務課長室」 contains 「総務課」 too: the longest name wins
            longest = max(names, key=len)
            names = {longest: names[longest]} if all(n in longest for n in names) else names
        found = codes or {t.unit.code for ts in names.values() for t in ts}
        if len(found) == 1:
            target = targets[found.pop()]
            plan.warnings.append(f"所属は「{source}」から「{target.unit.name}（{target.unit.code}）」と判断しました。"
                                 "違う場合は「所属コード」欄に所属コードを書いてください。")
            return target
    plan.errors.append("所属が分かりません。シートの「所属コード」欄に所属コードを書くか、"
                       "ファイル名を「所属コード_….xlsx」（例: A1_チェックシート.xlsx）にしてください。")
    return None


def _fold_code(code: str) -> str:
    return unicodedata.normalize("NFKC", code).strip().upper()


def _item_index(definition: Definition) -> dict[str, list[ItemDef]]:
    index: dict[str, list[ItemDef]] = {}
    for item in definition.items:
        index.setdefault(layout.normalise(item.text), []).append(item)
    return index


def _plan_rows(sheet: ParsedSheet, plan: SheetPlan, definition: Definition, stored: dict[str, Answer]) -> None:
    index = _item_index(definition)
    seen: dict[str, int] = {}
    for row in sheet.rows:
        item = definition.by_key.get(row.key) if row.key else None
        if item is None:
            candidates = index.get(layout.normalise(row.text), [])
            if len(candidates) > 1:
                plan.errors.append(f"{row.row}行目: チェック項目「{row.text[:40]}」が複数あり、どれか決められません。")
                continue
            item = candidates[0] if candidates else None
        if item is None:
            if row.status is None and row.memo is None:
                continue  # a note under the table, nothing filled in
            shown = row.text[:40] or "（空欄）"
            plan.errors.append(f"{row.row}行目: チェック項目「{shown}」はこの調査回のチェックシートにありません。"
                               "項目の文言を変えていないか確認してください。")
            continue
        if item.key in seen:
            plan.errors.append(f"{row.row}行目: 「{item.text}」は{seen[item.key]}行目にもあります。"
                               "1回だけにしてください。")
            continue
        seen[item.key] = row.row
        current = stored.get(item.key)
        if current is None:  # no answer row (should not happen: opening a round creates them)
            plan.errors.append(f"{row.row}行目: 「{item.text}」の回答欄がありません。管理者に連絡してください。")
            continue
        status = _status(row.status, row.status_ref, item, plan)
        if status is False:
            continue
        new_status = current.status if row.status is None else status
        new_memo, problem = (current.memo, None) if row.memo is None else check_text(row.memo, "メモ", multiline=True)
        if problem:
            plan.errors.append(f"{row.row}行目: {problem}")
            continue
        if len(new_memo) > MEMO_MAX:
            plan.errors.append(f"{row.row}行目: メモは{MEMO_MAX:,}文字以内にしてください（{len(new_memo):,}文字）。")
            continue
        if new_status == current.status and new_memo == current.memo:
            plan.unchanged += 1
            continue
        plan.changes.append(Change(row=row.row, item_key=item.key, item_text=item.text, old_status=current.status,
                                   new_status=new_status, old_memo=current.memo, new_memo=new_memo,
                                   version=current.version))
    missing = [item for item in definition.items if item.key not in seen]
    if not seen:
        plan.warnings.append("この調査回のチェック項目が1つも見つかりませんでした（変更はありません）。")
    elif missing:
        plan.warnings.append(f"ファイルにない項目が{len(missing)}件あります（変更しません）: "
                             + "、".join(f"「{i.text}」" for i in missing[:3]) + (" ほか" if len(missing) > 3 else ""))


def _status(raw: str | None, ref: str, item: ItemDef, plan: SheetPlan) -> str | None | bool:
    """The canonical symbol; None for blank; False (with an error recorded) when it cannot be used."""
    if raw is None:
        return None
    try:
        status = parse_status(raw)
    except ValueError:
        try:
            status = parse_status(unicodedata.normalize("NFKC", raw))
        except ValueError:
            allowed = "◎ ○ △ × 該当なし" if item.allows_na else "◎ ○ △ ×"
            plan.errors.append(f"セル{ref}: 達成状況「{raw[:20]}」は使えません。{allowed} のいずれかにしてください"
                               f"（「{item.text}」）。")
            return False
    if status is Status.NOT_APPLICABLE and not item.allows_na:
        plan.errors.append(f"セル{ref}: 「{item.text}」では「該当なし」は選べません。"
                           "◎ ○ △ × のいずれかにしてください。")
        return False
    return status.value if status else None


def apply_import(session: Session, plan: ImportPlan, *, actor: Principal | User | None,
                 actor_label: str = "") -> tuple[int, int]:
    """Write a checked plan: every change of every worksheet, or (on any conflict) none — the caller
    rolls back. Returns (sheets changed, answers changed). Never commits."""
    actor_id = getattr(actor, "user_id", None) or getattr(actor, "id", None)
    if not plan.ok:
        raise InvalidInput(f"取り込めない内容が{plan.error_count}件あります。直してから、もう一度選んでください。")
    sheets, answers = sheets_service.import_answers(session, [
        ImportedSheet(sheet.sheet_id, [ImportedAnswer(c.item_key, c.new_status, c.new_memo, c.version)
                                       for c in sheet.changes], sheet.entry_on, f"取り込み: {sheet.label}")
        for sheet in plan.sheets], actor_id=actor_id)
    auth_service.audit(session, "excel_import", actor=actor, label=actor_label, detail={
        "round_id": plan.round.id, "files": [f.name for f in plan.files], "sheets": sheets, "answers": answers})
    return sheets, answers
