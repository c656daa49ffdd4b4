"""The shape of a figure definition file (``kpis/<id>/v<N>.yaml``), validated with pydantic.

A file defines a set of figures (実績値). Most are counts a 所属 enters or the desk imports (kind
``count``); a ratio (``formula``) is computed from counts of the same file and never entered. One count
may be the headcount (職員数) that per-employee figures are divided by.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.text import clean_text

_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
Line = Annotated[str, AfterValidator(lambda value: clean_text(value, "文字列", multiline=False))]
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", max_length=100)]

PERIOD_LABELS = {"monthly": "月ごと", "yearly": "年度ごと"}
DIRECTION_LABELS = {"lower": "少ないほどよい", "higher": "多いほどよい"}


class Formula(BaseModel):
    """A ratio in percent: numerator / (denominator − the sum of ``subtract``) × 100."""

    model_config = _FROZEN
    numerator: Key
    denominator: Key
    subtract: tuple[Key, ...] = ()
    exclusions: Line | None = Field(default=None, max_length=200)  # 「法令等で紙が必要な文書を除く」

    @model_validator(mode="after")
    def _exclusions_named(self) -> Formula:
        if self.subtract and not self.exclusions:
            raise ValueError("subtract（分母から除く件数）を使うときは、exclusions に何を除くかを書いてください")
        return self


class Target(BaseModel):
    """A target for every 所属 (per employee when the figure is per employee)."""

    model_config = _FROZEN
    value: float = Field(ge=0)
    note: Line = Field(min_length=1, max_length=200)  # where the target comes from


class Figure(BaseModel):
    model_config = _FROZEN
    key: Key
    name: Line = Field(min_length=1, max_length=100)
    unit: Line = Field(min_length=1, max_length=20)
    period: Literal["monthly", "yearly"]
    direction: Literal["lower", "higher"] | None = None  # None: neither (職員数, 決裁件数)
    per_employee: bool = False
    formula: Formula | None = None
    source: Line = Field(min_length=1, max_length=300)
    description: Line | None = Field(default=None, max_length=500)
    items: tuple[Key, ...] = ()  # checklist item keys this figure speaks to
    target: Target | None = None

    @property
    def entered(self) -> bool:
        """Entered or imported (a count), not computed (a ratio)."""
        return self.formula is None

    @property
    def period_label(self) -> str:
        return PERIOD_LABELS[self.period]

    def months_counted(self, fy: int, today: date) -> tuple[date, date]:
        """The first and last month counted of fiscal year ``fy``: April to March, or to this month in the
        current fiscal year; a yearly figure's one value is on April."""
        if self.period == "yearly":
            return date(fy, 4, 1), date(fy, 4, 1)
        return date(fy, 4, 1), min(date(fy + 1, 3, 1), date(today.year, today.month, 1))

    @property
    def direction_label(self) -> str:
        return DIRECTION_LABELS[self.direction] if self.direction else "—"


class KpiSet(BaseModel):
    model_config = _FROZEN
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$", max_length=64)
    version: int = Field(ge=1)
    title: Line = Field(min_length=1, max_length=200)
    checklist: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$", max_length=64)  # whose item keys ``items`` name
    headcount: Key | None = None  # the figure per-employee figures are divided by (職員数)
    figures: tuple[Figure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> KpiSet:
        by_key: dict[str, Figure] = {}
        for figure in self.figures:
            if figure.key in by_key:
                raise ValueError(f"key「{figure.key}」が重複しています（keyは実績値ごとに一意にしてください）")
            by_key[figure.key] = figure
        if self.headcount is not None:
            head = by_key.get(self.headcount)
            if head is None or not head.entered or head.per_employee:
                raise ValueError(f"headcount「{self.headcount}」は、このファイルの件数の実績値（formula なし、"
                                 "per_employee なし）にしてください")
        for figure in self.figures:
            if figure.per_employee and self.headcount is None:
                raise ValueError(f"「{figure.key}」は per_employee ですが、headcount（職員数）が指定されていません")
            if figure.formula is None:
                continue
            if figure.per_employee:
                raise ValueError(f"「{figure.key}」: 割合（formula）は職員1人当たりにできません")
            f = figure.formula
            for part in (f.numerator, f.denominator, *f.subtract):
                used = by_key.get(part)
                if used is None:
                    raise ValueError(f"「{figure.key}」の formula が使う「{part}」がこのファイルにありません")
                if not used.entered:
                    raise ValueError(f"「{figure.key}」の formula が使う「{part}」は件数にしてください（割合は使えません）")
                if used.period != figure.period:
                    raise ValueError(f"「{figure.key}」の formula が使う「{part}」は period が違います")
        return self

    @property
    def by_key(self) -> dict[str, Figure]:
        return {f.key: f for f in self.figures}

    @property
    def entered(self) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if f.entered)

    @property
    def item_keys(self) -> set[str]:
        return {key for f in self.figures for key in f.items}
