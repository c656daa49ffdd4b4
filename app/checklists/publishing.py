"""Publishing a checklist file as a new version: which files are published, what a file changes compared
with the previous published version, and whether it may be published."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from app.checklists import diff as diffs
from app.checklists import service
from app.checklists.loader import ChecklistDefinitionError, LoadedChecklist, parse_checklist
from app.checklists.models import ChecklistVersion
from app.checklists.service import Definition
from app.errors import Conflict
from app.text import scrub


@dataclass(frozen=True)
class FileEntry:
    loaded: LoadedChecklist
    published: ChecklistVersion | None

    @property
    def state(self) -> str:
        """published | unpublished | changed (published, but the file has been edited since: refused)."""
        if self.published is None:
            return "unpublished"
        return "published" if self.published.sha256 == self.loaded.sha256 else "changed"


@dataclass(frozen=True)
class Preview:
    loaded: LoadedChecklist
    previous: Definition | None  # the newest published version older than this file's
    diff: diffs.VersionDiff
    published: ChecklistVersion | None  # this file's own version, if already published
    refusal: str | None  # why it cannot be published (None: it can, or it already is)

    @property
    def can_publish(self) -> bool:
        return self.published is None and self.refusal is None


def file_entries(session: Session, files: list[LoadedChecklist]) -> list[FileEntry]:
    return [FileEntry(f, service.find_version(session, f.checklist.id, f.checklist.version)) for f in files]


def preview(session: Session, loaded: LoadedChecklist) -> Preview:
    checklist = loaded.checklist
    published = service.find_version(session, checklist.id, checklist.version)
    previous_row = service.previous_version(session, checklist.id, checklist.version)
    previous = service.get_definition(session, previous_row.id) if previous_row else None
    return Preview(loaded, previous, diffs.diff(previous, checklist), published, _refusal(session, loaded, published))


def _refusal(session: Session, loaded: LoadedChecklist, published: ChecklistVersion | None) -> str | None:
    checklist = loaded.checklist
    if published is not None and published.sha256 != loaded.sha256:
        return (f"{checklist.id} の第{checklist.version}版は公開済みで、ファイルの内容が公開時と違います。"
                "公開済みの版は変更できません。ファイルを元に戻し、"
                f"変更は第{checklist.version + 1}版の新しいファイルにしてください（{loaded.path}）。")
    newest = session.exec(
        select(ChecklistVersion).where(ChecklistVersion.checklist_id == checklist.id)
        .order_by(ChecklistVersion.version.desc())
    ).first()
    if published is None and newest is not None and newest.version > checklist.version:
        return (f"{checklist.id} は第{newest.version}版まで公開済みです。それより古い第{checklist.version}版は"
                "公開できません（版の番号を上げたファイルにしてください）。")
    return None


def publish_file(session: Session, loaded: LoadedChecklist, *, actor_id: int | None = None,
                 expected_sha256: str | None = None) -> ChecklistVersion:
    """Publish a previewed file. ``expected_sha256`` is the file as previewed: a file changed since is refused."""
    if expected_sha256 is not None and expected_sha256 != loaded.sha256:
        raise Conflict(f"{loaded.path} は確認した後に変更されています。もう一度違いを確認してから公開してください。")
    checked = preview(session, loaded)
    if checked.published is not None and checked.refusal is None:
        raise Conflict(f"{loaded.checklist.id} の第{loaded.checklist.version}版は既に公開済みです。")
    if checked.refusal:
        raise Conflict(checked.refusal)
    return service.publish(session, loaded, actor_id=actor_id)


UPLOAD_MAX_BYTES = 500_000  # the largest file so far is 35 kB
UPLOAD_PREFIX = "アップロード: "


def parse_upload(raw: bytes, filename: str) -> LoadedChecklist:
    """A definition file uploaded through the browser, checked by the same rules as a file in the checklists
    folder (ChecklistDefinitionError naming each problem). It is published from its content: the version keeps
    its source, so nothing needs to be written to the server's folder."""
    name = scrub(filename, multiline=False).strip()[:100] or "checklist.yaml"
    if not raw:
        raise ChecklistDefinitionError(name, ["ファイルが空です"])
    if len(raw) > UPLOAD_MAX_BYTES:
        raise ChecklistDefinitionError(name, [f"ファイルが大きすぎます（{UPLOAD_MAX_BYTES // 1000:,}KBまで）"])
    return parse_checklist(raw, display_path=UPLOAD_PREFIX + name)


def find_file(files: list[LoadedChecklist], path: str) -> LoadedChecklist | None:
    """The loaded file with this path (as listed on the page) — never a path outside the checklists folder."""
    return next((f for f in files if f.path == path), None)


def report_lines(p: Preview) -> list[str]:
    """The preview as plain text (for the command line)."""
    c = p.loaded.checklist
    base = f"公開済みの第{p.previous.version}版" if p.previous else "（公開済みの前の版なし）"
    lines = [f"{p.loaded.path}: {c.id} 第{c.version}版「{c.title}」{len(c.items)}項目 と {base} の違い"]
    d = p.diff

    def item(i) -> str:
        return f"{i.key}  [{i.category} / {i.scene}] {i.text}"

    sections = [
        ("追加", d.added, lambda i: f"  + {item(i)}"),
        ("削除", d.removed, lambda i: f"  - {item(i)}"),
        ("文言・シーンの変更", d.reworded,
         lambda ch: f"  ~ {ch.key}  [{ch.old.scene}] {ch.old.text}  →  [{ch.new.scene}] {ch.new.text}"),
        ("カテゴリの移動", d.moved, lambda ch: f"  > {ch.key}  {ch.old.category} → {ch.new.category}"),
        ("難易度の変更", d.difficulty,
         lambda ch: f"  * {ch.key}  {'☆' * ch.old.difficulty} → {'☆' * ch.new.difficulty}"),
        ("該当なしの可否の変更", d.not_applicable,
         lambda ch: f"  * {ch.key}  {'可' if ch.old.allows_na else '不可'} → {'可' if ch.new.allows_na else '不可'}"),
        ("参考リンク・改善のヒントの変更", d.references, lambda ch: f"  * {ch.key}  {'・'.join(ch.labels)}"),
    ]
    for title, rows, line in sections:
        lines.append(f"{title}: {len(rows)}項目")
        lines.extend(line(r) for r in rows)
    lines.append(f"変更なし: {len(d.unchanged)}項目")
    if p.published is not None and p.refusal is None:
        lines.append("この版は公開済みです。")
    elif p.refusal:
        lines.append(f"公開できません: {p.refusal}")
    return lines
