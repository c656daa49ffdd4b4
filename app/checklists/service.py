"""Publishing checklist versions into the database, and reading a published version back."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlmodel import Session, select

from app.checklists.loader import LoadedChecklist
from app.checklists.models import ChecklistItem, ChecklistPoints, ChecklistVersion
from app.errors import Conflict, NotFound
from app.statuses import Status


@dataclass(frozen=True)
class ItemDef:
    key: str
    position: int
    category: str
    scene: str
    text: str
    difficulty: int
    allows_na: bool
    links: tuple[dict, ...]
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Definition:
    """A published checklist version, as the sheet and the rollups use it. Immutable."""

    version_id: int
    checklist_id: str
    version: int
    title: str
    legend: dict
    points: dict[Status, int]
    items: tuple[ItemDef, ...]

    @cached_property
    def by_key(self) -> dict[str, ItemDef]:
        return {item.key: item for item in self.items}

    @cached_property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.category for item in self.items))

    @cached_property
    def grouped(self) -> tuple[tuple[str, tuple[ItemDef, ...]], ...]:
        """Items by category, in sheet order."""
        return tuple((name, tuple(i for i in self.items if i.category == name)) for name in self.categories)

    @cached_property
    def has_references(self) -> bool:
        """Whether any item has a reference link or a hint (the sheet's 参考リンク column is left out otherwise)."""
        return any(item.links or item.hints for item in self.items)

    def previous(self, item: ItemDef) -> ItemDef | None:
        return self.items[item.position - 2] if item.position > 1 else None

    @property
    def max_points(self) -> int:
        return max(self.points.values())

    def item(self, key: str) -> ItemDef:
        try:
            return self.by_key[key]
        except KeyError:
            raise NotFound(f"チェック項目「{key}」はこのチェックシートにありません。") from None


# Published versions never change, so every process may keep them (no cache can disagree).
_definitions: dict[int, Definition] = {}


def get_definition(session: Session, version_id: int) -> Definition:
    cached = _definitions.get(version_id)
    if cached is not None:
        return cached
    version = session.get(ChecklistVersion, version_id)
    if version is None:
        raise NotFound("チェックシートの版が見つかりません。")
    items = session.exec(
        select(ChecklistItem).where(ChecklistItem.version_id == version_id).order_by(ChecklistItem.position)
    ).all()
    points = session.exec(select(ChecklistPoints).where(ChecklistPoints.version_id == version_id)).all()
    definition = Definition(
        version_id=version_id,
        checklist_id=version.checklist_id,
        version=version.version,
        title=version.title,
        legend=version.legend,
        points={Status(p.status): p.points for p in points},
        items=tuple(
            ItemDef(
                key=i.key,
                position=i.position,
                category=i.category,
                scene=i.scene,
                text=i.text,
                difficulty=i.difficulty,
                allows_na=i.allows_na,
                links=tuple(i.links),
                hints=tuple(i.hints),
            )
            for i in items
        ),
    )
    _definitions[version_id] = definition
    return definition


def find_version(session: Session, checklist_id: str, version: int) -> ChecklistVersion | None:
    return session.exec(
        select(ChecklistVersion).where(
            ChecklistVersion.checklist_id == checklist_id, ChecklistVersion.version == version
        )
    ).first()


def publish(session: Session, loaded: LoadedChecklist, *, actor_id: int | None = None) -> ChecklistVersion:
    """Store a checklist file as a published version. Publishing the same file again is a no-op;
    publishing a changed file under an existing version number is refused."""
    checklist = loaded.checklist
    existing = find_version(session, checklist.id, checklist.version)
    if existing is not None:
        if existing.sha256 != loaded.sha256:
            raise Conflict(
                f"{checklist.id} の version {checklist.version} は公開済みで、変更できません。"
                f"変更するには version を上げた新しいファイルを作ってください（{loaded.path}）。"
            )
        return existing
    version = ChecklistVersion(
        checklist_id=checklist.id,
        version=checklist.version,
        title=checklist.title,
        legend=checklist.legend.model_dump(mode="json"),
        sha256=loaded.sha256,
        source=loaded.source,
        published_by_id=actor_id,
    )
    session.add(version)
    session.flush()
    for position, (category, item) in enumerate(checklist.items, start=1):
        session.add(
            ChecklistItem(
                version_id=version.id,
                key=item.key,
                position=position,
                category=category.name,
                scene=item.scene,
                text=item.text,
                difficulty=item.difficulty,
                allows_na=item.allow_na,
                links=[link.model_dump(mode="json") for link in item.links],
                hints=list(item.hints),
            )
        )
    for status, points in checklist.points.items():
        session.add(ChecklistPoints(version_id=version.id, status=status.value, points=points))
    session.flush()
    return version


def list_versions(session: Session) -> list[ChecklistVersion]:
    """Every published version, newest first within each checklist."""
    return list(session.exec(
        select(ChecklistVersion).order_by(ChecklistVersion.checklist_id, ChecklistVersion.version.desc())
    ).all())


def previous_version(session: Session, checklist_id: str, version: int) -> ChecklistVersion | None:
    """The newest published version of ``checklist_id`` older than ``version``."""
    return session.exec(
        select(ChecklistVersion)
        .where(ChecklistVersion.checklist_id == checklist_id, ChecklistVersion.version < version)
        .order_by(ChecklistVersion.version.desc())
    ).first()
