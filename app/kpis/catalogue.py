"""The figure definitions in force: the newest file of each set, figures looked up by key. Immutable, built
once at start-up from the loaded files (``app.state.kpis``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from app.errors import NotFound
from app.jpdate import fiscal_year_of
from app.kpis.loader import KpiDefinitionError, LoadedKpis, newest
from app.kpis.schema import Figure, KpiSet


@dataclass(frozen=True)
class Catalogue:
    files: tuple[LoadedKpis, ...]  # the newest file of each set
    by_key: dict[str, Figure] = field(default_factory=dict)
    file_of: dict[str, LoadedKpis] = field(default_factory=dict)  # figure key → its file

    @classmethod
    def of(cls, loaded: list[LoadedKpis]) -> Catalogue:
        files = tuple(newest(loaded).values())
        by_key: dict[str, Figure] = {}
        file_of: dict[str, LoadedKpis] = {}
        for entry in files:
            for figure in entry.kpis.figures:
                if figure.key in by_key:
                    raise KpiDefinitionError(entry.path, [f"key「{figure.key}」は {file_of[figure.key].path} にもあります"])
                by_key[figure.key] = figure
                file_of[figure.key] = entry
        return cls(files, by_key, file_of)

    @property
    def figures(self) -> tuple[Figure, ...]:
        return tuple(f for entry in self.files for f in entry.kpis.figures)

    @property
    def entered(self) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if f.entered)

    def figure(self, key: str) -> Figure:
        try:
            return self.by_key[key]
        except KeyError:
            raise NotFound(f"実績値「{key}」は定義されていません。") from None

    def set_of(self, key: str) -> KpiSet:
        return self.file_of[key].kpis

    def headcount_of(self, key: str) -> Figure | None:
        """The 職員数 figure a per-employee figure is divided by."""
        kpis = self.set_of(key)
        return self.by_key[kpis.headcount] if kpis.headcount else None

    def figures_for_item(self, item_key: str) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if item_key in f.items)


def slot(figure: Figure, month: date) -> date:
    """Where a figure of ``month`` is stored: the month itself, or a yearly figure's April (年度)."""
    if figure.period == "yearly":
        return date(fiscal_year_of(month), 4, 1)
    return date(month.year, month.month, 1)


def ratio_problems(catalogue: Catalogue, values: dict[str, int | None]) -> dict[str, str]:
    """Counts of one month that no ratio can come from: a numerator above its denominator (less what it
    excludes), e.g. more 電子決裁 than 決裁. Keyed by the numerator's figure, for the form's field."""
    problems: dict[str, str] = {}
    for figure in catalogue.figures:
        f = figure.formula
        if f is None:
            continue
        numerator, denominator = values.get(f.numerator), values.get(f.denominator)
        subtract = [values.get(k) for k in f.subtract]
        if numerator is None or denominator is None or any(v is None for v in subtract):
            continue
        base = denominator - sum(v for v in subtract if v is not None)
        if numerator > base:
            num, den = catalogue.by_key[f.numerator], catalogue.by_key[f.denominator]
            less = "".join(f"から{catalogue.by_key[k].name}を引いた数" for k in f.subtract)
            problems.setdefault(f.numerator, f"{num.name}（{numerator:,}）が、{den.name}{less}（{base:,}）を超えています。"
                                             f"「{figure.name}」が計算できないため、数を確認してください。")
    return problems
