"""The scoring rules, in one place. Pure: no database, no clock.

* Statuses (達成状況): ◎ 60%以上 · ○ 60～30%程度 · △ 30%以下 · × 未対応, plus 該当なし where the
  checklist allows it, or unanswered (None).
* Points: ◎3 ○2 △1 ×0 by default; a checklist file may override them.
* Maturity (成熟度) = points / (maximum points × answered items) × 100. Unanswered and 該当なし items
  are left out. No answered item → no maturity (None), never 0.
* Completion (回答率) = (answered + 該当なし) / all items.
* A category's maturity is computed the same way over its items.

SQL rollups (``app.scoring.queries``) compute the sums with GROUP BY and finish with these functions,
so every figure in the app comes from the same formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.statuses import DEFAULT_POINTS, SCORED_STATUSES, Status

DIFFICULTY_LABELS: Mapping[int, str] = {1: "やりやすい", 2: "ちょっと難しい", 3: "相手次第"}

def difficulty_stars(difficulty: int) -> str:
    return "☆" * difficulty


def maturity(points: float, answered: int, max_points: int = 3) -> float | None:
    """Maturity 0–100 from summed points over ``answered`` scored items; None when nothing is answered."""
    if answered <= 0:
        return None
    return round(points / (max_points * answered) * 100, 1)


def completion(answered: int, not_applicable: int, total: int) -> float:
    """Share (0–100) of items with an answer, 該当なし counting as answered."""
    if total <= 0:
        return 0.0
    return round((answered + not_applicable) / total * 100, 1)


@dataclass(frozen=True)
class Tally:
    """Counts for one group of items (a sheet, a category, a bureau…)."""

    total: int = 0
    answered: int = 0  # ◎ ○ △ ×
    not_applicable: int = 0
    points: float = 0
    max_points: int = 3

    @property
    def unanswered(self) -> int:
        return self.total - self.answered - self.not_applicable

    @property
    def maturity(self) -> float | None:
        return maturity(self.points, self.answered, self.max_points)

    @property
    def completion(self) -> float:
        return completion(self.answered, self.not_applicable, self.total)

    @property
    def is_complete(self) -> bool:
        return self.total > 0 and self.unanswered == 0


def tally(statuses: Iterable[Status | None], points: Mapping[Status, int] = DEFAULT_POINTS) -> Tally:
    """Tally a list of statuses (one per item) — the reference implementation the SQL matches."""
    total = answered = na = 0
    score = 0
    for status in statuses:
        total += 1
        if status is None:
            continue
        if status is Status.NOT_APPLICABLE:
            na += 1
        else:
            answered += 1
            score += points[status]
    return Tally(total, answered, na, score, max(points.values()))


# Group comparisons (部局 averages shown to 所属) are withheld for groups smaller than this, so that
# no single 所属 can be singled out; comparison is with groups, never a ranking of named 所属.
MIN_GROUP_SIZE = 5


class Progress(StrEnum):
    NOT_STARTED = "not_started"  # 未着手: nothing answered yet
    IN_PROGRESS = "in_progress"  # 入力中
    SUBMITTED = "submitted"  # 提出済


PROGRESS_LABELS: Mapping[Progress, str] = {
    Progress.NOT_STARTED: "未着手",
    Progress.IN_PROGRESS: "入力中",
    Progress.SUBMITTED: "提出済",
}


def progress(submitted: bool, t: Tally) -> Progress:
    return progress_of(submitted, t.answered + t.not_applicable > 0)


def progress_of(submitted: bool, started: bool) -> Progress:
    """提出済 when submitted; else 入力中 once any item is answered (該当なし included); else 未着手."""
    if submitted:
        return Progress.SUBMITTED
    return Progress.IN_PROGRESS if started else Progress.NOT_STARTED


@dataclass(frozen=True)
class ProgressCounts:
    """How many 所属 of a group are 未着手, 入力中, 提出済."""

    not_started: int = 0
    in_progress: int = 0
    submitted: int = 0

    @property
    def total(self) -> int:
        return self.not_started + self.in_progress + self.submitted

    @property
    def submitted_share(self) -> float:
        return share(self.submitted, self.total)

    def get(self, progress: Progress) -> int:
        return getattr(self, progress.value)

    def __add__(self, other: ProgressCounts) -> ProgressCounts:
        return ProgressCounts(self.not_started + other.not_started, self.in_progress + other.in_progress,
                              self.submitted + other.submitted)


# Order of achievement for round-to-round comparisons (× lowest, ◎ highest). 該当なし and unanswered
# are not on the scale: a change to or from them is "not comparable", never improved or regressed.
_RANK = {Status.NOT_DONE: 0, Status.FAIR: 1, Status.GOOD: 2, Status.EXCELLENT: 3}


class Change(StrEnum):
    IMPROVED = "improved"  # 改善
    REGRESSED = "regressed"  # 後退
    UNCHANGED = "unchanged"  # 変化なし
    NOT_COMPARABLE = "not_comparable"  # 未回答・該当なし を含む
    NEW_ITEM = "new_item"  # 前回のチェックシートにない項目
    REMOVED_ITEM = "removed_item"  # 今回のチェックシートにない項目


CHANGE_LABELS: Mapping[Change, str] = {
    Change.IMPROVED: "改善",
    Change.REGRESSED: "後退",
    Change.UNCHANGED: "変化なし",
    Change.NOT_COMPARABLE: "比較できません（未回答・該当なし）",
    Change.NEW_ITEM: "前回はなかった項目",
    Change.REMOVED_ITEM: "今回はない項目",
}


def change(before: Status | None, after: Status | None, *, in_before: bool = True, in_after: bool = True) -> Change:
    """How one item moved between two rounds (items are joined by key across checklist versions)."""
    if not in_before:
        return Change.NEW_ITEM
    if not in_after:
        return Change.REMOVED_ITEM
    if before not in _RANK or after not in _RANK:
        return Change.NOT_COMPARABLE
    delta = _RANK[after] - _RANK[before]
    return Change.IMPROVED if delta > 0 else Change.REGRESSED if delta < 0 else Change.UNCHANGED


# --- Round-over-round marks, group figures beside a 所属, targets (leader pages) ---------------------

# A mark for each change, so that colour is never the only signal (shown with CHANGE_LABELS).
CHANGE_MARKS: Mapping[Change, str] = {
    Change.IMPROVED: "▲",
    Change.REGRESSED: "▼",
    Change.UNCHANGED: "＝",
    Change.NOT_COMPARABLE: "―",
    Change.NEW_ITEM: "新",
    Change.REMOVED_ITEM: "廃",
}


def maturity_change(before: float | None, after: float | None) -> Change:
    """How a maturity (of a 所属 or a category) moved between two rounds: any rise of at least 0.1
    point is 改善, any fall 後退; no figure on either side is not comparable."""
    if before is None or after is None:
        return Change.NOT_COMPARABLE
    delta = round(after - before, 1)
    return Change.IMPROVED if delta > 0 else Change.REGRESSED if delta < 0 else Change.UNCHANGED


# --- While a round is open: provisional comparisons (暫定) and which sheets the desk's figures count ---------

COUNTING_LABEL = "集計中"  # nothing to compare yet: no item answered ◎ ○ △ × in both rounds
PROVISIONAL_LABEL = "暫定"
COUNTING_MARK = "…"
PENDING_ITEM_LABEL = f"{COUNTING_LABEL}（今回まだ未回答）"  # an item not answered yet while the round is open


def is_final(round_open: bool, submitted: bool) -> bool:
    """A sheet's figures are final once it is submitted (every item answered) or its round is closed;
    until then its maturity covers only what has been answered so far."""
    return submitted or not round_open


@dataclass(frozen=True)
class Comparison:
    """A maturity against the previous round's. ``change`` None: 集計中 (nothing comparable yet).
    ``provisional``: the sheet is not final, so the change is over ``items`` items only, those answered
    ◎ ○ △ × in both rounds, with ``before`` and ``after`` the maturities over those items."""

    change: Change | None
    provisional: bool
    before: float | None
    after: float | None
    items: int | None = None  # items compared (provisional only)

    @property
    def counting(self) -> bool:
        return self.change is None

    @property
    def mark(self) -> str:
        return COUNTING_MARK if self.change is None else CHANGE_MARKS[self.change]

    @property
    def label(self) -> str:
        if self.change is None:
            return COUNTING_LABEL
        if not self.provisional:
            return CHANGE_LABELS[self.change]
        return f"{CHANGE_LABELS[self.change]}（{PROVISIONAL_LABEL}）"

    @property
    def note(self) -> str:
        """What a provisional figure is based on, in words (empty for a final one)."""
        if not self.provisional:
            return ""
        if self.change is None:
            return "今回の回答がそろうまで比較しません"
        return f"前回・今回とも回答済みの{self.items}項目で比較"

    @property
    def css(self) -> str:
        """The ``chg--…`` modifier: the change's, or ``counting``."""
        return "counting" if self.change is None else self.change.value


def common_change(before: Mapping[str, Status | None], after: Mapping[str, Status | None],
                  keys: Iterable[str] | None = None, *, points_before: Mapping[Status, int] = DEFAULT_POINTS,
                  points_after: Mapping[Status, int] = DEFAULT_POINTS) -> Comparison:
    """The provisional change: both maturities over the items (of ``keys``, else every key of ``after``)
    answered ◎ ○ △ × in both rounds (items joined by key); 集計中 when there is none."""
    common = [k for k in (after if keys is None else keys) if before.get(k) in _RANK and after.get(k) in _RANK]
    if not common:
        return Comparison(None, True, None, None, 0)
    was = tally([before[k] for k in common], points_before).maturity
    now = tally([after[k] for k in common], points_after).maturity
    return Comparison(maturity_change(was, now), True, was, now, len(common))


def comparison(before: float | None, after: float | None, *, final: bool,
               before_statuses: Mapping[str, Status | None], after_statuses: Mapping[str, Status | None],
               keys: Iterable[str] | None = None, points_before: Mapping[Status, int] = DEFAULT_POINTS,
               points_after: Mapping[Status, int] = DEFAULT_POINTS) -> Comparison:
    """A maturity against the previous round's: a final sheet (``is_final``) compares its maturities
    ``before`` and ``after`` as they are; a sheet still being answered compares only the items answered
    in both rounds (``common_change``), never a quarter of a sheet against a whole one."""
    if final or before is None:
        return Comparison(maturity_change(before, after), False, before, after)
    return common_change(before_statuses, after_statuses, keys, points_before=points_before,
                         points_after=points_after)


class Scope(StrEnum):
    """Which sheets the desk's figures count."""

    SUBMITTED = "submitted"  # 提出済の所属のみ
    ALL = "all"  # すべての所属（入力中・未着手を含む）
    CONFIRMED = "confirmed"  # 確認済の所属のみ: submitted, and every item 確認済 by the desk (issue 14.2)


SCOPE_LABELS: Mapping[Scope, str] = {Scope.SUBMITTED: "提出済の所属のみ", Scope.CONFIRMED: "確認済の所属のみ",
                                     Scope.ALL: "すべての所属"}


def default_scope(round_open: bool) -> Scope:
    """While a round is open the desk counts only submitted sheets (a sheet being answered is not yet a
    result); once it is closed, every sheet as it was left."""
    return Scope.SUBMITTED if round_open else Scope.ALL


# Targets (目標): a DX推進リーダー picks up to TARGET_LIMIT items and the status aimed for in the next round.
TARGET_LIMIT = 5
TARGET_STATUSES: tuple[Status, ...] = (Status.EXCELLENT, Status.GOOD, Status.FAIR)


class TargetResult(StrEnum):
    MET = "met"  # 達成: the result is at or above the target
    NOT_MET = "not_met"  # 未達
    PENDING = "pending"  # 結果待ち: the item is not answered (yet) in the result round
    NOT_COMPARABLE = "not_comparable"  # 該当なし, or the item is not in the result round's checklist


TARGET_RESULT_LABELS: Mapping[TargetResult, str] = {
    TargetResult.MET: "達成",
    TargetResult.NOT_MET: "未達",
    TargetResult.PENDING: "結果待ち（未回答）",
    TargetResult.NOT_COMPARABLE: "判定できません",
}
TARGET_RESULT_MARKS: Mapping[TargetResult, str] = {
    TargetResult.MET: "✓",
    TargetResult.NOT_MET: "✗",
    TargetResult.PENDING: "…",
    TargetResult.NOT_COMPARABLE: "―",
}


def target_result(target: Status, result: Status | None, *, in_result_round: bool = True) -> TargetResult:
    """Target against result: met when the result is at least the target on the ◎ ○ △ × scale."""
    if not in_result_round or result is Status.NOT_APPLICABLE:
        return TargetResult.NOT_COMPARABLE
    if result is None:
        return TargetResult.PENDING
    return TargetResult.MET if _RANK[result] >= _RANK[target] else TargetResult.NOT_MET


def target_below_current(target: Status, current: Status | None) -> bool:
    """A target lower than the current status is no target (keeping ◎ at ◎ is allowed)."""
    return current in _RANK and _RANK[target] < _RANK[current]


# --- Desk figures (業務DX相談窓口): weak items, quick wins, score distribution ------------------------
# Documented in docs/scoring-additions.md. The SQL in app/reports/queries.py counts; these finish.

def share(part: int, whole: int) -> float:
    """Percentage 0–100 rounded to 0.1; 0.0 for an empty whole."""
    return round(part / whole * 100, 1) if whole > 0 else 0.0


@dataclass(frozen=True)
class ItemCounts:
    """How the 所属 in one group answered one item: a count per status, and the unanswered."""

    excellent: int = 0
    good: int = 0
    fair: int = 0
    not_done: int = 0
    not_applicable: int = 0
    unanswered: int = 0

    @classmethod
    def of(cls, by_status: Mapping[str | None, int], sections: int) -> ItemCounts:
        """From ``{status symbol: count}`` over ``sections`` sheets; sheets without an answer are unanswered."""
        counts = {s: by_status.get(s.value, 0) for s in Status}
        given = sum(counts.values())
        return cls(counts[Status.EXCELLENT], counts[Status.GOOD], counts[Status.FAIR], counts[Status.NOT_DONE],
                   counts[Status.NOT_APPLICABLE], max(sections - given, 0))

    @property
    def sections(self) -> int:
        return self.scored + self.not_applicable + self.unanswered

    @property
    def scored(self) -> int:
        return self.excellent + self.good + self.fair + self.not_done

    def count(self, status: Status | None) -> int:
        return getattr(self, _COUNT_FIELDS[status])  # called per item × status on the weak-items page

    def maturity(self, points: Mapping[Status, int] = DEFAULT_POINTS) -> float | None:
        """The item's maturity over the group: the same formula as a sheet's, over the 所属 that
        answered it with ◎ ○ △ × (該当なし and unanswered left out)."""
        total = sum(points[s] * self.count(s) for s in SCORED_STATUSES)
        return maturity(total, self.scored, max(points.values()))


_COUNT_FIELDS: dict[Status | None, str] = {
    Status.EXCELLENT: "excellent", Status.GOOD: "good", Status.FAIR: "fair", Status.NOT_DONE: "not_done",
    Status.NOT_APPLICABLE: "not_applicable", None: "unanswered"}

# The statuses of the weak-items chart, in the order the bars stack them (unanswered last).
SHARE_ORDER: tuple[Status | None, ...] = (*SCORED_STATUSES, Status.NOT_APPLICABLE, None)


def weakest_first_key(counts: ItemCounts, position: int, points: Mapping[Status, int] = DEFAULT_POINTS):
    """Sort key for items, weakest first: the lowest item maturity; among equals the larger share of ×,
    then of unanswered; then sheet order. Items nobody answered with ◎ ○ △ × (no maturity) come last:
    nothing is known about them yet."""
    value = counts.maturity(points)
    return (value is None, value if value is not None else 0.0,
            -share(counts.not_done, counts.scored), -share(counts.unanswered, counts.sections), position)


# Quick wins (すぐできる改善): an easy item (☆) a 所属 rates △ or ×.
QUICK_WIN_DIFFICULTY = 1
QUICK_WIN_STATUSES: tuple[Status, ...] = (Status.NOT_DONE, Status.FAIR)
# 相手次第 problems: a ☆☆☆ item at × depends on a counterpart, not on the 所属.
COUNTERPART_DIFFICULTY = 3
COUNTERPART_STATUS = Status.NOT_DONE


def ease(difficulty: int) -> int:
    """☆ → 3, ☆☆ → 2, ☆☆☆ → 1."""
    return 4 - difficulty


def gap(status: Status, points: Mapping[Status, int] = DEFAULT_POINTS) -> int:
    """How far a status is from ◎, in points: × 3, △ 2, ○ 1, ◎ 0 (with the default points)."""
    return max(points.values()) - points[status]


def priority(difficulty: int, status: Status, points: Mapping[Status, int] = DEFAULT_POINTS) -> int:
    """Visit priority of a 所属 × item: low difficulty × low achievement = ease × gap.
    A ☆ item at × scores 9, a ☆ item at △ 6 (default points). Among equal priorities the desk visits
    first the 所属 with more quick wins (one visit, several items), then the lower maturity."""
    return ease(difficulty) * gap(status, points)


# Score distribution: ten bins of 10 points; 100 falls in the last bin (90–100).
SCORE_BIN_WIDTH = 10
SCORE_BINS: tuple[tuple[int, int], ...] = tuple((lo, lo + SCORE_BIN_WIDTH) for lo in range(0, 100, SCORE_BIN_WIDTH))


def score_bin(value: float) -> int:
    """Index of the bin a maturity falls in: [0, 10) → 0 … [90, 100] → 9."""
    return min(int(value // SCORE_BIN_WIDTH), len(SCORE_BINS) - 1)


def histogram(maturities: Iterable[tuple[float, int]]) -> list[int]:
    """所属 per bin, from (maturity, how many 所属) pairs."""
    counts = [0] * len(SCORE_BINS)
    for value, n in maturities:
        counts[score_bin(value)] += n
    return counts


@dataclass(frozen=True)
class FiveNumbers:
    """Box-plot figures: minimum, lower quartile, median, upper quartile, maximum."""

    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float


def five_numbers(values: Iterable[float]) -> FiveNumbers | None:
    """Quartiles by linear interpolation between the sorted values (Excel's QUARTILE.INC,
    ``statistics.quantiles(method="inclusive")``), rounded to 0.1; None for no values."""
    data = sorted(values)
    return five_numbers_of(len(data), data.__getitem__)


def five_numbers_of(count: int, nth: Callable[[int], float]) -> FiveNumbers | None:
    """The same from ``count`` sorted values known by position (``nth(i)``: the i-th smallest, 0-based),
    so that a group's figures need only the values at QUARTILE_POSITIONS, not all of them."""
    if count <= 0:
        return None

    def at(fraction: float) -> float:
        pos = (count - 1) * fraction
        low = int(pos)
        high = min(low + 1, count - 1)
        return round(nth(low) + (nth(high) - nth(low)) * (pos - low), 1)

    return FiveNumbers(round(nth(0), 1), at(0.25), at(0.5), at(0.75), round(nth(count - 1), 1))


# --- Groups of 所属 (a 部局, the prefecture): every group figure of the app ------------------------------


@dataclass(frozen=True)
class GroupFigure:
    """A group of 所属 in one round: ``sections`` counts every 所属 of the group with a sheet (answered or
    not); the mean and the five numbers are over those with a maturity; ``completion`` (when asked for)
    is pooled over all their items. ``suppressed``: the person asking may not see the figures of a group
    to which so few 所属 contributed (``permissions.why_not_see_group``), so only its size and the number
    of 所属 with a maturity are known.
    """

    sections: int
    scored: int
    mean: float | None
    five: FiveNumbers | None
    completion: float | None
    suppressed: bool

    @property
    def median(self) -> float | None:
        return self.five.median if self.five else None


def group(sections: int, scored: int, tenths: int, five: FiveNumbers | None, *, completion: float | None = None,
          suppressed: bool = False) -> GroupFigure:
    """The figures of a group: ``sections`` 所属 with a sheet, ``scored`` of them with a maturity, the sum
    of those maturities in tenths of a point, and their five numbers (``five_numbers_of``)."""
    if suppressed:
        return GroupFigure(sections, scored, None, None, None, True)
    return GroupFigure(sections, scored, round(tenths / (10 * scored), 1) if scored else None, five, completion,
                       False)


EMPTY_GROUP = GroupFigure(0, 0, None, None, None, False)
