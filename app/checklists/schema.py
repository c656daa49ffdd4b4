"""The shape of a checklist definition file (``checklists/<id>/v<N>.yaml``), validated with pydantic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.statuses import DEFAULT_POINTS, SCORED_STATUSES, Status
from app.text import clean_text

_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
Text = Field(min_length=1, max_length=500)
# Every text of a definition is one line under the free-text rule (app/text.py); the loader names the field.
Line = Annotated[str, AfterValidator(lambda value: clean_text(value, "文字列", multiline=False))]


class Link(BaseModel):
    """A reference link: an intranet navigation path as the office writes it, and optionally its URL."""

    model_config = _FROZEN
    label: Line = Text
    url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)


class Item(BaseModel):
    model_config = _FROZEN
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", max_length=100)
    scene: Line = Field(min_length=1, max_length=100)
    text: Line = Text
    difficulty: Literal[1, 2, 3]
    allow_na: bool = False
    links: tuple[Link, ...] = ()
    hints: tuple[Line, ...] = ()


class Category(BaseModel):
    model_config = _FROZEN
    name: Line = Field(min_length=1, max_length=100)
    items: tuple[Item, ...] = Field(min_length=1)


class Legend(BaseModel):
    """だいたいの目安, as printed on the sheet."""

    model_config = _FROZEN
    heading: Line = "だいたいの目安"
    difficulty: dict[Literal[1, 2, 3], Line]
    status: dict[Status, Line]

    @field_validator("difficulty")
    @classmethod
    def _all_difficulties(cls, value: dict) -> dict:
        missing = {1, 2, 3} - set(value)
        if missing:
            raise ValueError(f"難易度 {sorted(missing)} の説明がありません")
        return value

    @field_validator("status")
    @classmethod
    def _all_statuses(cls, value: dict) -> dict:
        missing = [s.value for s in SCORED_STATUSES if s not in value]
        if missing:
            raise ValueError(f"達成状況 {' '.join(missing)} の説明がありません")
        return value


class Checklist(BaseModel):
    model_config = _FROZEN
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$", max_length=64)
    version: int = Field(ge=1)
    title: Line = Field(min_length=1, max_length=200)
    legend: Legend
    points: dict[Status, int] = Field(default_factory=lambda: dict(DEFAULT_POINTS))
    categories: tuple[Category, ...] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _points_cover_scored_statuses(cls, value: dict[Status, int]) -> dict[Status, int]:
        if Status.NOT_APPLICABLE in value:
            raise ValueError("該当なし には点数を付けられません（採点から除外されます）")
        missing = [s.value for s in SCORED_STATUSES if s not in value]
        if missing:
            raise ValueError(f"{' '.join(missing)} の点数がありません")
        if any(p < 0 for p in value.values()):
            raise ValueError("点数は0以上にしてください")
        if value[Status.EXCELLENT] <= 0 or value[Status.EXCELLENT] != max(value.values()):
            raise ValueError("◎ の点数を最も高くしてください")
        return value

    @model_validator(mode="after")
    def _unique_keys_and_categories(self) -> Checklist:
        seen: set[str] = set()
        for category in self.categories:
            for item in category.items:
                if item.key in seen:
                    raise ValueError(f"key「{item.key}」が重複しています（keyは項目ごとに一意にしてください）")
                seen.add(item.key)
        names = [c.name for c in self.categories]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"カテゴリ「{'」「'.join(sorted(duplicated))}」が重複しています")
        return self

    @property
    def items(self) -> list[tuple[Category, Item]]:
        return [(c, i) for c in self.categories for i in c.items]

    @property
    def max_points(self) -> int:
        return max(self.points.values())
