"""The arithmetic of the stored tallies, pure: what one answer adds to its sheet's counts, and what one
sheet adds to the counts of its groups. ``app.sheets.writer`` turns these into SQL increments; the
figures (``app.sheets.figures``) read the results.

A sheet's counts (overall, and per category): answered (◎ ○ △ ×), 該当なし, points, and its quick wins
(☆ items at △, at ×). A group's counts (a 部局, and the whole prefecture, per round and sheet state):
how many 所属 have each maturity (in tenths, overall and per category) and each status of each item.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.checklists.service import Definition, ItemDef
from app.scoring import rules
from app.sheets.models import NO_MATURITY, PREFECTURE, UNANSWERED
from app.statuses import Status

OVERALL = ""  # the category name of a sheet's overall maturity in the group tallies


@dataclass(frozen=True)
class Counts:
    """A sheet's (or one of its categories') stored counts, or a change of them."""

    answered: int = 0
    not_applicable: int = 0
    points: int = 0
    quick_fair: int = 0
    quick_not_done: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.answered + other.answered, self.not_applicable + other.not_applicable,
                      self.points + other.points, self.quick_fair + other.quick_fair,
                      self.quick_not_done + other.quick_not_done)

    def __sub__(self, other: Counts) -> Counts:
        return self + Counts(-other.answered, -other.not_applicable, -other.points, -other.quick_fair,
                             -other.quick_not_done)

    def __bool__(self) -> bool:
        return self != ZERO


ZERO = Counts()


def counts_of(item: ItemDef, status: str | None, points: Mapping[Status, int]) -> Counts:
    """What one item's answer counts for in its sheet."""
    if status is None:
        return ZERO
    value = Status(status)
    if value is Status.NOT_APPLICABLE:
        return Counts(not_applicable=1)
    quick = item.difficulty == rules.QUICK_WIN_DIFFICULTY and value in rules.QUICK_WIN_STATUSES
    return Counts(answered=1, points=points[value], quick_fair=int(quick and value is Status.FAIR),
                  quick_not_done=int(quick and value is Status.NOT_DONE))


def maturity_x10(counts: Counts, max_points: int) -> int:
    """The maturity as the group tallies store it: tenths of a point (66.7 → 667), or NO_MATURITY."""
    value = rules.maturity(counts.points, counts.answered, max_points)
    return NO_MATURITY if value is None else round(value * 10)


@dataclass(frozen=True)
class SheetFigures:
    """Everything a sheet adds to its groups: its maturity overall and per category, each item's status."""

    overall: int  # maturity_x10
    categories: Mapping[str, int]
    statuses: Mapping[str, str]  # item key → status, UNANSWERED for none


def figures_of(definition: Definition, statuses: Mapping[str, str | None]) -> tuple[Counts, dict[str, Counts],
                                                                                      SheetFigures]:
    """A whole sheet from its answers (``statuses``: item key → status or None): its counts overall and
    per category, and what it adds to its groups."""
    overall = ZERO
    categories: dict[str, Counts] = {name: ZERO for name in definition.categories}
    for item in definition.items:
        step = counts_of(item, statuses.get(item.key), definition.points)
        overall += step
        categories[item.category] += step
    top = definition.max_points
    return overall, categories, SheetFigures(
        maturity_x10(overall, top), {name: maturity_x10(c, top) for name, c in categories.items()},
        {item.key: statuses.get(item.key) or UNANSWERED for item in definition.items})


class GroupDelta:
    """Changes to the group tallies, gathered over one transaction and written once, in key order (so
    that two transactions never lock the same rows in opposite orders)."""

    def __init__(self) -> None:
        self.maturity: Counter[tuple[int, int, str, str, int]] = Counter()
        self.items: Counter[tuple[int, int, str, str, str]] = Counter()

    def _scopes(self, bureau_id: int) -> tuple[int, ...]:
        return (PREFECTURE, bureau_id)

    def maturity_moved(self, round_id: int, bureau_id: int, state: str, category: str, before: int,
                       after: int) -> None:
        if before == after:
            return
        for scope in self._scopes(bureau_id):
            self.maturity[(round_id, scope, state, category, before)] -= 1
            self.maturity[(round_id, scope, state, category, after)] += 1

    def status_moved(self, round_id: int, bureau_id: int, state: str, item_key: str, before: str,
                     after: str) -> None:
        if before == after:
            return
        for scope in self._scopes(bureau_id):
            self.items[(round_id, scope, state, item_key, before)] -= 1
            self.items[(round_id, scope, state, item_key, after)] += 1

    def sheet(self, round_id: int, bureau_id: int, state: str, figures: SheetFigures, sign: int,
              *, scopes: Iterable[int] | None = None) -> None:
        """Add (sign 1) or take away (sign -1) a whole sheet, in its 部局 and the prefecture (or ``scopes``)."""
        for scope in self._scopes(bureau_id) if scopes is None else scopes:
            self.maturity[(round_id, scope, state, OVERALL, figures.overall)] += sign
            for name, value in figures.categories.items():
                self.maturity[(round_id, scope, state, name, value)] += sign
            for key, status in figures.statuses.items():
                self.items[(round_id, scope, state, key, status)] += sign

    def maturity_rows(self) -> list[dict]:
        return [{"round_id": r, "bureau_id": b, "state": s, "category": c, "maturity_x10": m, "sections": n}
                for (r, b, s, c, m), n in sorted(self.maturity.items()) if n]

    def item_rows(self) -> list[dict]:
        return [{"round_id": r, "bureau_id": b, "state": s, "item_key": k, "status": st, "sections": n}
                for (r, b, s, k, st), n in sorted(self.items.items()) if n]
