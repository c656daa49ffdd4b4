"""View-models of the desk's pages (業務DX相談窓口) and of their JSON: submission board, heatmap, weak
items, quick wins, score distribution. Services take a session and plain values, check access
through ``app.auth.permissions`` and never commit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import fmean as mean  # float arithmetic, as in app.scoring.rules
from typing import Literal

from markupsafe import Markup
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.charts import distribution as distribution_charts
from app.charts import stacked
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import Forbidden, InvalidInput, NotFound
from app.reports import queries
from app.reports.queries import BureauRef, Leader, SectionTotal, SheetRow
from app.rounds import service as rounds
from app.rounds.models import Round
from app.scoring import rules
from app.scoring.rules import PROGRESS_LABELS, FiveNumbers, ItemCounts, Progress
from app.statuses import Status

PER_PAGE = {"board": 100, "heatmap": 100, "quick_wins": 50}
MAIL_SEPARATOR = "; "  # Outlook's recipient separator
# The page lists, per ☆☆☆ item, the 部局 with most 所属 at × and a few names each (the JSON: all).
COUNTERPART_BUREAUS_SHOWN = 10
COUNTERPART_NAMES_SHOWN = 5


# --- shared -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.per_page, self.total)

    @classmethod
    def of(cls, page: int, per_page: int, total: int) -> Pager:
        pages = max(1, -(-total // per_page))
        return cls(min(max(page, 1), pages), per_page, total)


@dataclass(frozen=True)
class DeskContext:
    """What every desk page shows on top: the round (and others to switch to), the 部局 filter."""

    round: Round
    rounds: list[Round]
    definition: Definition
    bureaus: list[BureauRef]
    bureau: BureauRef | None

    @property
    def bureau_names(self) -> dict[int, BureauRef]:
        return {b.id: b for b in self.bureaus}


def resolve_round(session: Session, round_id: int | None) -> Round:
    """The round asked for, else the current one (404 when there is none)."""
    if round_id is not None:
        return rounds.get_round(session, round_id)
    current = rounds.current_round(session)
    if current is None:
        raise NotFound("まだ調査回がありません。管理者が調査回を作成すると、ここに集計が表示されます。")
    return current


def desk_context(session: Session, principal: Principal, round_id: int | None, bureau_code: str | None = None,
                 *, everything: bool = True) -> DeskContext:
    """Load the round and the 部局 filter; with ``everything`` only the desk and admins get through."""
    if everything:
        refusal = permissions.why_not_see_all_sections(principal)
        if refusal:
            raise Forbidden(refusal)
    round_ = resolve_round(session, round_id)
    bureaus = queries.round_bureaus(session, round_)
    bureau = queries.bureau_by_code(bureaus, bureau_code)
    if bureau_code and bureau is None:
        raise NotFound(f"部局コード「{bureau_code}」はこの調査回にありません。")
    definition = checklists.get_definition(session, round_.checklist_version_id)
    return DeskContext(round_, rounds.list_rounds(session), definition, bureaus, bureau)


# --- 1. submission board ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressCounts:
    not_started: int = 0
    in_progress: int = 0
    submitted: int = 0

    @classmethod
    def of(cls, sheets: list[SheetRow] | list[SectionTotal]) -> ProgressCounts:
        c = Counter(t.progress for t in sheets)
        return cls(c[Progress.NOT_STARTED], c[Progress.IN_PROGRESS], c[Progress.SUBMITTED])

    @property
    def total(self) -> int:
        return self.not_started + self.in_progress + self.submitted

    @property
    def submitted_share(self) -> float:
        return rules.share(self.submitted, self.total)

    def get(self, progress: Progress) -> int:
        return getattr(self, progress.value)


@dataclass(frozen=True)
class BureauProgress:
    bureau: BureauRef
    counts: ProgressCounts


@dataclass(frozen=True)
class PendingSection:
    section: SectionTotal
    bureau: BureauRef
    leaders: list[Leader]


@dataclass(frozen=True)
class BoardPage:
    ctx: DeskContext
    counts: ProgressCounts
    by_bureau: list[BureauProgress]
    progress: Progress | None  # filter of the list: 未着手 or 入力中 only, or both
    pending: list[PendingSection]  # one page of the list
    pager: Pager
    mail_list: str  # every leader of the whole filtered list, not only this page
    recipients: int
    without_leader: int


def board(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
          progress: Progress | None = None, page: int = 1, per_page: int = PER_PAGE["board"]) -> BoardPage:
    if progress is Progress.SUBMITTED:
        raise InvalidInput("未提出の一覧は 未着手（not_started）か 入力中（in_progress）で絞り込めます。")
    ctx = desk_context(session, principal, round_id, bureau_code)
    sheets = queries.sheet_rows(session, ctx.round.id)
    by_bureau_sheets: dict[int, list[SheetRow]] = defaultdict(list)
    for t in sheets:
        by_bureau_sheets[t.bureau_id].append(t)
    by_bureau = [BureauProgress(b, ProgressCounts.of(by_bureau_sheets.get(b.id, []))) for b in ctx.bureaus]
    scope = by_bureau_sheets.get(ctx.bureau.id, []) if ctx.bureau else sheets
    pending = [t for t in scope if not t.submitted and (progress is None or t.progress is progress)]
    leaders = queries.leaders_of_round(session, ctx.round.id, bureau_id=ctx.bureau.id if ctx.bureau else None)
    upns = list(dict.fromkeys(leader.upn for t in pending for leader in leaders.get(t.unit_id, [])))
    pager = Pager.of(page, per_page, len(pending))
    shown = [t.sheet_id for t in pending[pager.offset:pager.offset + per_page]]
    totals = queries.section_totals(session, ctx.round.id, ctx.definition, sheet_ids=shown) if shown else []
    names = ctx.bureau_names
    return BoardPage(
        ctx=ctx,
        counts=ProgressCounts.of(sheets),
        by_bureau=by_bureau,
        progress=progress,
        pending=[PendingSection(t, names[t.bureau_id], leaders.get(t.unit_id, [])) for t in totals],
        pager=pager,
        mail_list=MAIL_SEPARATOR.join(upns),
        recipients=len(upns),
        without_leader=sum(1 for t in pending if not leaders.get(t.unit_id)),
    )


# --- 2. heatmap -------------------------------------------------------------------------------------

HeatmapSort = Literal["org", "asc", "desc", "all_asc", "all_desc"]
HEATMAP_SORTS: dict[str, str] = {
    "org": "組織順",
    "asc": "部局ごとに成熟度の低い順",
    "desc": "部局ごとに成熟度の高い順",
    "all_asc": "全庁で成熟度の低い順",
    "all_desc": "全庁で成熟度の高い順",
}


@dataclass(frozen=True)
class HeatmapRow:
    section: SectionTotal
    bureau: BureauRef
    statuses: list[str | None]  # in item order


@dataclass(frozen=True)
class HeatmapGroup:
    bureau: BureauRef | None  # None when rows are sorted across the prefecture
    rows: list[HeatmapRow]


@dataclass(frozen=True)
class HeatmapPage:
    ctx: DeskContext
    sort: str
    items: tuple[ItemDef, ...]
    categories: list[tuple[str, int]]  # (name, number of items) for the header row
    groups: list[HeatmapGroup]
    pager: Pager

    @property
    def rows(self) -> list[HeatmapRow]:
        return [row for group in self.groups for row in group.rows]


def _maturity_order(t: SectionTotal, descending: bool):
    value = t.maturity
    return (value is None, -(value or 0) if descending else (value or 0))


def sorted_sections(totals: list[SectionTotal], bureaus: list[BureauRef], sort: str) -> list[SectionTotal]:
    """By maturity (所属 without a maturity last) within each 部局 (``asc``, ``desc``) or across the
    prefecture (``all_asc``, ``all_desc``); ``totals`` come in organisation order, which breaks ties."""
    if sort in ("all_asc", "all_desc"):
        return sorted(totals, key=lambda t: _maturity_order(t, sort == "all_desc"))
    rank = {b.id: i for i, b in enumerate(bureaus)}
    descending = sort == "desc"
    return sorted(totals, key=lambda t: (rank.get(t.bureau_id, len(rank)), *_maturity_order(t, descending)))


def heatmap(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
            sort: str = "org", page: int = 1, per_page: int = PER_PAGE["heatmap"]) -> HeatmapPage:
    if sort not in HEATMAP_SORTS:
        raise InvalidInput(f"並べ方「{sort}」は使えません。", fields={"sort": "org, asc, desc, all_asc, all_desc"})
    ctx = desk_context(session, principal, round_id, bureau_code)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    if sort == "org":  # only the shown page needs its scores
        sheets = queries.sheet_rows(session, ctx.round.id, bureau_id=bureau_id)
        pager = Pager.of(page, per_page, len(sheets))
        ids = [t.sheet_id for t in sheets[pager.offset:pager.offset + per_page]]
        shown = queries.section_totals(session, ctx.round.id, ctx.definition, sheet_ids=ids) if ids else []
    else:
        totals = queries.section_totals(session, ctx.round.id, ctx.definition, bureau_id=bureau_id)
        ordered = sorted_sections(totals, ctx.bureaus, sort)
        pager = Pager.of(page, per_page, len(ordered))
        shown = ordered[pager.offset:pager.offset + per_page]
    answers = queries.cells(session, [t.sheet_id for t in shown])
    names = ctx.bureau_names
    keys = [item.key for item in ctx.definition.items]
    groups: list[HeatmapGroup] = []
    for t in shown:
        row = HeatmapRow(t, names[t.bureau_id], [answers[t.sheet_id].get(k) for k in keys])
        group_key = None if sort.startswith("all_") else names[t.bureau_id]
        if not groups or groups[-1].bureau != group_key:
            groups.append(HeatmapGroup(group_key, []))
        groups[-1].rows.append(row)
    categories = [(name, len(items)) for name, items in ctx.definition.grouped]
    return HeatmapPage(ctx, sort, ctx.definition.items, categories, groups, pager)


# --- 3. weak items ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeakItem:
    rank: int
    item: ItemDef
    counts: ItemCounts
    maturity: float | None
    prefecture_maturity: float | None  # beside a 部局's figure; None for the prefecture itself

    def share(self, status: Status | None) -> float:
        return rules.share(self.counts.count(status), self.counts.sections)

    @property
    def difference(self) -> float | None:
        if self.maturity is None or self.prefecture_maturity is None:
            return None
        return round(self.maturity - self.prefecture_maturity, 1)


@dataclass(frozen=True)
class WeakItemsPage:
    ctx: DeskContext
    sections: int  # 所属 in the scope
    items: list[WeakItem]  # weakest first
    chart: Markup

    @property
    def scope_name(self) -> str:
        return self.ctx.bureau.name if self.ctx.bureau else "全庁"


def weak_items(session: Session, principal: Principal, round_id: int | None, *,
               bureau_code: str | None = None, desk_page: bool = False, charts: bool = True) -> WeakItemsPage:
    """Per item, the share of each status in the prefecture or one 部局, weakest first.

    The desk sees every scope; others (through the API; the page is the desk's) only groups of at
    least ``MIN_GROUP_SIZE`` 所属."""
    ctx = desk_context(session, principal, round_id, bureau_code, everything=desk_page)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    sections = queries.sheet_count(session, ctx.round.id, bureau_id=bureau_id)
    refusal = permissions.why_not_see_group(principal, sections, rules.MIN_GROUP_SIZE)
    if refusal:
        raise Forbidden(refusal)
    points = ctx.definition.points
    counts = queries.item_status_counts(session, ctx.round.id, bureau_id=bureau_id)
    prefecture: dict[str, float | None] = {}
    if bureau_id is not None:
        total = queries.sheet_count(session, ctx.round.id)
        everywhere = queries.item_status_counts(session, ctx.round.id)
        prefecture = {i.key: ItemCounts.of(everywhere.get(i.key, {}), total).maturity(points)
                      for i in ctx.definition.items}
    per_item = [(item, ItemCounts.of(counts.get(item.key, {}), sections)) for item in ctx.definition.items]
    per_item.sort(key=lambda pair: rules.weakest_first_key(pair[1], pair[0].position, points))
    items = [WeakItem(rank, item, c, c.maturity(points), prefecture.get(item.key))
             for rank, (item, c) in enumerate(per_item, start=1)]
    scope = ctx.bureau.name if ctx.bureau else "全庁"
    chart = stacked.status_shares(
        [(f"{w.item.position}. {w.item.text}", w.counts) for w in items],
        title=f"{ctx.round.title} {scope}: 項目ごとの達成状況の割合（弱い順）",
        desc=_weak_desc(items, sections, scope),
    ) if charts else Markup("")
    return WeakItemsPage(ctx, sections, items, chart)


def _weak_desc(items: list[WeakItem], sections: int, scope: str) -> str:
    if sections == 0 or not items:
        return f"{scope}にはこの調査回の所属がありません。"
    known = [w for w in items if w.maturity is not None]
    if not known:
        return f"{scope}の{sections}所属は、まだどの項目にも ◎ ○ △ × で回答していません。"
    weakest = "、".join(f"「{w.item.text}」（{w.maturity:.1f}点、×{w.share(Status.NOT_STARTED):.1f}%）"
                       for w in known[:3])
    return f"{scope}の{sections}所属の回答。最も弱い項目は {weakest}。詳しい数値は下の表にあります。"


# --- 4. quick wins ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickWinSheet:
    """A 所属 with at least one quick win: how many per status, and its overall tally."""

    section: SectionTotal
    by_status: dict[str, int]  # quick-win status symbol → number of ☆ items at it

    @property
    def count(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class QuickWin:
    """One 所属 × ☆ item at △ or ×, with its place in the ranking."""

    rank: int
    sheet: QuickWinSheet
    item: ItemDef
    status: str
    priority: int
    bureau: BureauRef
    section_maturity: float | None

    @property
    def code(self) -> str:
        return self.sheet.section.code

    @property
    def name(self) -> str:
        return self.sheet.section.name

    @property
    def section_quick_wins(self) -> int:
        return self.sheet.count


Run = tuple[int, "QuickWinSheet", frozenset[str], int]  # priority, 所属, its statuses of it, rows


def rank_quick_wins(sheets: list[QuickWinSheet], points) -> list[Run]:
    """The ranking as runs of rows: (priority, sheet, its statuses of that priority, how many rows),
    in order. Highest ``rules.priority`` first; among equals the 所属 with more quick wins, then the
    lower maturity, then organisation order (``sheets`` come in it); within a 所属, sheet order."""
    by_priority: dict[int, set[str]] = defaultdict(set)
    for status in rules.QUICK_WIN_STATUSES:
        by_priority[rules.priority(rules.QUICK_WIN_DIFFICULTY, status, points)].add(status.value)
    runs = []
    for value in sorted(by_priority, reverse=True):
        statuses = frozenset(by_priority[value])
        group = [(sheet, sum(n for st, n in sheet.by_status.items() if st in statuses)) for sheet in sheets]
        group = [(sheet, n) for sheet, n in group if n]
        group.sort(key=lambda pair: (-pair[0].count, pair[0].section.maturity or 0))
        runs.extend((value, sheet, statuses, n) for sheet, n in group)
    return runs


@dataclass(frozen=True)
class CounterpartBureau:
    bureau: BureauRef
    names: list[tuple[str, str]]  # (code, name) of the 所属 at ×

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class CounterpartItem:
    item: ItemDef
    counts: ItemCounts
    bureaus: list[CounterpartBureau] = field(default_factory=list)  # most 所属 at × first

    @property
    def shown(self) -> list[CounterpartBureau]:
        return self.bureaus[:COUNTERPART_BUREAUS_SHOWN]

    @property
    def hidden_bureaus(self) -> int:
        return max(len(self.bureaus) - COUNTERPART_BUREAUS_SHOWN, 0)

    @property
    def hidden_sections(self) -> int:
        return sum(b.count for b in self.bureaus[COUNTERPART_BUREAUS_SHOWN:])

    @property
    def not_started(self) -> int:
        return self.counts.not_started

    @property
    def share(self) -> float:
        """Share of × among the 所属 that answered ◎ ○ △ ×."""
        return rules.share(self.counts.not_started, self.counts.scored)


@dataclass(frozen=True)
class QuickWinsPage:
    ctx: DeskContext
    rows: list[QuickWin]
    pager: Pager
    counterpart: list[CounterpartItem]
    own_only: bool  # a member or leader: only their own 所属's rows


def quick_wins(session: Session, principal: Principal, round_id: int | None, *,
               bureau_code: str | None = None, page: int = 1, per_page: int = PER_PAGE["quick_wins"],
               desk_page: bool = False) -> QuickWinsPage:
    """Quick wins (☆ at △ or ×) ranked by ``rules.priority``, and the ☆☆☆ items at × by item.

    The desk sees every 所属; members and leaders (through the API; the page is the desk's) only
    their own, and no 部局 filter."""
    own_only = not principal.sees_everything
    if own_only and bureau_code:
        raise Forbidden(permissions.why_not_see_all_sections(principal) or "")
    ctx = desk_context(session, principal, round_id, bureau_code, everything=desk_page)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    unit_ids = list(principal.sections) if own_only else None
    definition = ctx.definition
    scope = {"bureau_id": bureau_id, "unit_ids": unit_ids}
    counts = queries.quick_win_counts(session, ctx.round.id, definition, **scope)
    totals = queries.section_totals(session, ctx.round.id, definition, sheet_ids=list(counts)) if counts else []
    runs = rank_quick_wins([QuickWinSheet(t, counts[t.sheet_id]) for t in totals if t.sheet_id in counts],
                           definition.points)
    pager = Pager.of(page, per_page, sum(n for *_, n in runs))
    # The runs that overlap this page, and which of their rows: (run, first row, last row).
    window, start = [], 0
    for run in runs:
        end = start + run[3]
        if end > pager.offset and start < pager.offset + per_page:
            window.append((run, max(pager.offset - start, 0), min(pager.offset + per_page - start, run[3])))
        start = end
    shown = list({run[1].section.sheet_id for run, *_ in window})
    answers = queries.quick_win_answers(session, definition, shown)
    names = ctx.bureau_names
    wins: list[QuickWin] = []
    for (value, sheet, statuses, _), first, last in window:
        rows = [(key, st) for key, st in answers[sheet.section.sheet_id] if st in statuses][first:last]
        wins.extend(QuickWin(pager.offset + len(wins) + 1, sheet, definition.by_key[key], st, value,
                             names[sheet.section.bureau_id], sheet.section.maturity) for key, st in rows)
    return QuickWinsPage(ctx, wins, pager, _counterpart(session, ctx, bureau_id, unit_ids), own_only)


def _counterpart(session: Session, ctx: DeskContext, bureau_id: int | None,
                 unit_ids: list[int] | None) -> list[CounterpartItem]:
    items = [i for i in ctx.definition.items if i.difficulty == rules.COUNTERPART_DIFFICULTY]
    if not items:
        return []
    keys = [i.key for i in items]
    sections = queries.sheet_count(session, ctx.round.id, bureau_id=bureau_id, unit_ids=unit_ids)
    counts = queries.item_status_counts(session, ctx.round.id, bureau_id=bureau_id, keys=keys,
                                        unit_ids=unit_ids)
    at_x: dict[str, dict[int, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for r in queries.counterpart_sections(session, ctx.round.id, ctx.definition, bureau_id=bureau_id,
                                          unit_ids=unit_ids):
        at_x[r.item_key][r.bureau_id].append((r.code, r.name))
    result = []
    for item in items:
        found = at_x[item.key]
        bureaus = [CounterpartBureau(b, found[b.id]) for b in ctx.bureaus if found.get(b.id)]
        bureaus.sort(key=lambda cb: -cb.count)  # stable: organisation order among equals
        result.append(CounterpartItem(item, ItemCounts.of(counts.get(item.key, {}), sections), bureaus))
    result.sort(key=lambda c: (-c.not_started, c.item.position))
    return result


# --- 6. score distribution --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    """A group of 所属 (a 部局 or the prefecture): counts, mean, median, quartiles, completion."""

    bureau: BureauRef | None  # None: the prefecture
    sections: int
    scored: int  # 所属 with a maturity (any ◎ ○ △ × answer)
    mean: float | None
    five: FiveNumbers | None
    completion: float  # pooled: answered + 該当なし over all items of all its 所属
    progress: ProgressCounts

    @property
    def name(self) -> str:
        return self.bureau.name if self.bureau else "全庁"

    @property
    def median(self) -> float | None:
        return self.five.median if self.five else None


def rollup(bureau: BureauRef | None, totals: list[SectionTotal]) -> Rollup:
    """The group figures, as ``app.scoring.queries.group_score`` defines them (mean and median of the
    所属's maturity; completion pooled over their items)."""
    values = [t.maturity for t in totals if t.maturity is not None]
    items = sum(t.tally.total for t in totals)
    done = sum(t.tally.answered + t.tally.not_applicable for t in totals)
    return Rollup(bureau, len(totals), len(values), round(mean(values), 1) if values else None,
                  rules.five_numbers(values), rules.share(done, items), ProgressCounts.of(totals))


@dataclass(frozen=True)
class Bin:
    lower: int
    upper: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.lower}〜{self.upper}点" if self.upper == 100 else f"{self.lower}〜{self.upper}点未満"


@dataclass(frozen=True)
class DistributionPage:
    ctx: DeskContext
    prefecture: Rollup
    bins: list[Bin]
    bureaus: list[Rollup]
    histogram_chart: Markup
    box_chart: Markup


def distribution(session: Session, principal: Principal, round_id: int | None, *,
                 charts: bool = True) -> DistributionPage:
    ctx = desk_context(session, principal, round_id)
    totals = queries.section_totals(session, ctx.round.id, ctx.definition)
    values = [t.maturity for t in totals if t.maturity is not None]
    bins = [Bin(lo, hi, n) for (lo, hi), n in zip(rules.SCORE_BINS, rules.histogram(values), strict=True)]
    grouped: dict[int, list[SectionTotal]] = defaultdict(list)
    for t in totals:
        grouped[t.bureau_id].append(t)
    bureaus = [rollup(b, grouped.get(b.id, [])) for b in ctx.bureaus]
    prefecture = rollup(None, totals)
    if not charts:
        return DistributionPage(ctx, prefecture, bins, bureaus, Markup(""), Markup(""))
    title = ctx.round.title
    histogram_chart = distribution_charts.histogram(
        [(b.label, b.count) for b in bins],
        title=f"{title} 所属の成熟度の分布（{len(totals)}所属中、回答のある{len(values)}所属）",
        desc=_histogram_desc(prefecture, bins),
    )
    box_chart = distribution_charts.boxplot(
        [(r.name, r.five, r.mean, r.scored) for r in bureaus],
        title=f"{title} 部局ごとの成熟度（箱ひげ図）",
        desc="部局ごとの所属の成熟度の最小値・第1四分位・中央値・第3四分位・最大値と平均。数値は下の表にあります。",
    )
    return DistributionPage(ctx, prefecture, bins, bureaus, histogram_chart, box_chart)


def _histogram_desc(prefecture: Rollup, bins: list[Bin]) -> str:
    if not prefecture.scored:
        return "まだ回答のある所属がありません。"
    peak = max(bins, key=lambda b: b.count)
    return (f"回答のある{prefecture.scored}所属の成熟度は平均{prefecture.mean:.1f}点、中央値{prefecture.median:.1f}点。"
            f"最も多いのは{peak.label}（{peak.count}所属）。各区間の所属数は下の表にあります。")


PROGRESS_CHOICES: dict[str, str] = {p.value: PROGRESS_LABELS[p]
                                    for p in (Progress.NOT_STARTED, Progress.IN_PROGRESS)}
