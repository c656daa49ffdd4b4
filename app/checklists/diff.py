"""What changed between two checklist versions, item by item (joined by key). Pure: no database.

An item kept under the same key may be reworded (text or scene changed), moved to another category,
rated at another difficulty, allow 該当なし or not any more, or get other reference links or hints.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.checklists.schema import Checklist
from app.checklists.service import Definition, ItemDef

# What can change in an item that keeps its key, in the order the preview lists them.
CHANGE_LABELS = {
    "text": "文言",
    "scene": "シーン",
    "category": "カテゴリ",
    "difficulty": "難易度",
    "na": "該当なし",
    "links": "参考リンク",
    "hints": "改善のヒント",
}


@dataclass(frozen=True)
class ItemChange:
    old: ItemDef
    new: ItemDef
    kinds: tuple[str, ...]  # keys of CHANGE_LABELS

    @property
    def key(self) -> str:
        return self.new.key

    @property
    def labels(self) -> list[str]:
        return [CHANGE_LABELS[k] for k in self.kinds]


@dataclass(frozen=True)
class VersionDiff:
    added: tuple[ItemDef, ...]
    removed: tuple[ItemDef, ...]
    changed: tuple[ItemChange, ...]
    unchanged: tuple[ItemDef, ...]

    def having(self, *kinds: str) -> list[ItemChange]:
        return [c for c in self.changed if any(k in c.kinds for k in kinds)]

    @property
    def reworded(self) -> list[ItemChange]:
        return self.having("text", "scene")

    @property
    def moved(self) -> list[ItemChange]:
        return self.having("category")

    @property
    def difficulty(self) -> list[ItemChange]:
        return self.having("difficulty")

    @property
    def not_applicable(self) -> list[ItemChange]:
        return self.having("na")

    @property
    def references(self) -> list[ItemChange]:
        return self.having("links", "hints")

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def items_of(checklist: Checklist) -> tuple[ItemDef, ...]:
    """A definition file's items in the shape of a published version's (for comparing before publishing)."""
    return tuple(
        ItemDef(key=item.key, position=position, category=category.name, scene=item.scene, text=item.text,
                difficulty=item.difficulty, allows_na=item.allow_na,
                links=tuple(link.model_dump(mode="json") for link in item.links), hints=tuple(item.hints))
        for position, (category, item) in enumerate(checklist.items, start=1)
    )


def diff_items(old: tuple[ItemDef, ...], new: tuple[ItemDef, ...]) -> VersionDiff:
    """``new`` against ``old``: added and changed in the new order, removed in the old order."""
    before = {i.key: i for i in old}
    after = {i.key: i for i in new}
    changed, unchanged = [], []
    for item in new:
        previous = before.get(item.key)
        if previous is None:
            continue
        kinds = _kinds(previous, item)
        if kinds:
            changed.append(ItemChange(previous, item, kinds))
        else:
            unchanged.append(item)
    return VersionDiff(
        added=tuple(i for i in new if i.key not in before),
        removed=tuple(i for i in old if i.key not in after),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
    )


def diff(old: Definition | None, new: Definition | Checklist) -> VersionDiff:
    new_items = items_of(new) if isinstance(new, Checklist) else new.items
    return diff_items(old.items if old is not None else (), new_items)


def _kinds(a: ItemDef, b: ItemDef) -> tuple[str, ...]:
    found = []
    if a.text != b.text:
        found.append("text")
    if a.scene != b.scene:
        found.append("scene")
    if a.category != b.category:
        found.append("category")
    if a.difficulty != b.difficulty:
        found.append("difficulty")
    if a.allows_na != b.allows_na:
        found.append("na")
    if _links(a) != _links(b):
        found.append("links")
    if tuple(a.hints) != tuple(b.hints):
        found.append("hints")
    return tuple(found)


def _links(item: ItemDef) -> tuple[tuple[str, str | None], ...]:
    return tuple((link.get("label", ""), link.get("url")) for link in item.links)
