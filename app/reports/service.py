"""View-models of the desk's pages (業務DX相談窓口) and of their JSON: submission board, heatmap, weak
items, quick wins, score distribution. Services take a session and plain values, check access
through ``app.auth.permissions`` and never commit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlmodel import Session

from app.auth import permissions
from app.auth.permissions import Principal
from app.charts import distribution as distribution_charts
from app.charts import stacked
from app.checklists import service as checklists
from app.checklists.service import Definition, ItemDef
from app.errors import Forbidden, InvalidInput, NotFound
from app.paging import Pager
from app.reports import queries
from app.reports.queries import BureauRef, Leader
from app.rounds import service as rounds
from app.rounds.models import Round, RoundState
from app.scoring import rules
from app.scoring.rules import (
    PROGRESS_LABELS,
    SCOPE_LABELS,
    FiveNumbers,
    GroupFigure,
    ItemCounts,
    Progress,
    ProgressCounts,
    Scope,
)
from app.sheets import figures, practice, review
from app.sheets.figures import SheetTotal
from app.sheets.models import PREFECTURE
from app.statuses import Status

PER_PAGE = {"board": 100, "heatmap": 100, "quick_wins": 50, "scores": 50}
PENDING = (Progress.NOT_STARTED, Progress.IN_PROGRESS)  # the board lists the 所属 not yet submitted
MAIL_SEPARATOR = "; "  # Outlook's recipient separator
# The page and the JSON list, per ☆☆☆ item, the 部局 with most 所属 at × and a few names each, and count the
# others (at prefecture scale, over 100 部局 per item: listing them all made the JSON 160 KB).
COUNTERPART_BUREAUS_SHOWN = 10
COUNTERPART_NAMES_SHOWN = 5


# --- shared -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskContext:
    """What every desk page shows on top: the round (and others to switch to), the 部局 filter."""

    round: Round
    rounds: list[Round]
    definition: Definition
    bureaus: list[BureauRef]
    bureau: BureauRef | None
    scope: Scope = Scope.ALL  # which sheets the figures count (the switch 「提出済の所属のみ／すべて」)
    scope_chosen: bool = False  # asked for (?scope=), rather than the round's default

    @property
    def bureau_names(self) -> dict[int, BureauRef]:
        return {b.id: b for b in self.bureaus}

    @property
    def bureau_options(self) -> Markup:
        """The <option>s of the 部局 filter (over 100 at prefecture scale), the chosen one selected: joined here
        once per page instead of a template loop that looks up and escapes five values per option."""
        chosen = self.bureau.id if self.bureau else None
        return Markup("".join(  # noqa: S704 (every value escaped)
            f'<option value="{escape(b.code)}"{" selected" if b.id == chosen else ""}>{escape(b.name)}</option>'
            for b in self.bureaus))

    @property
    def states(self) -> tuple[str, ...] | None:
        """The sheet states the figures count (None: every sheet)."""
        return figures.states_of(self.scope)

    @property
    def scope_param(self) -> str:
        """?scope= as the desk's links carry it on: the scope asked for, or empty for the round's default."""
        return self.scope.value if self.scope_chosen else ""

    @property
    def scope_label(self) -> str:
        return SCOPE_LABELS[self.scope]

    @property
    def round_open(self) -> bool:
        return self.round.state != RoundState.CLOSED

    @property
    def default_scope(self) -> Scope:
        return rules.default_scope(self.round_open)


def resolve_round(session: Session, round_id: int | None) -> Round:
    """The round asked for, else the current one (404 when there is none)."""
    if round_id is not None:
        return rounds.get_round(session, round_id)
    current = rounds.current_round(session)
    if current is None:
        raise NotFound("まだ調査回がありません。管理者が調査回を作成すると、ここに集計が表示されます。")
    return current


def desk_context(session: Session, principal: Principal, round_id: int | None, bureau_code: str | None = None,
                 *, everything: bool = True, scope: Scope | None = None) -> DeskContext:
    """Load the round and the 部局 filter; with ``everything`` only the desk and admins get through. The
    figures count the sheets of ``scope``; None: the round's default (``rules.default_scope``: while a
    round is open, submitted sheets only)."""
    if everything:
        refusal = permissions.why_not_see_all_sections(principal)
        if refusal:
            raise Forbidden(refusal)
    # The rounds first: the one asked for is then in the session's identity map, and resolve_round (session.get)
    # finds it there instead of reading it again (one statement fewer on every desk page and JSON).
    all_rounds = rounds.list_rounds(session)
    round_ = resolve_round(session, round_id)
    bureaus = queries.round_bureaus(session, round_)
    bureau = queries.bureau_by_code(bureaus, bureau_code)
    if bureau_code and bureau is None:
        raise NotFound(f"部局コード「{bureau_code}」はこの調査回にありません。")
    definition = checklists.get_definition(session, round_.checklist_version_id)
    chosen = scope or rules.default_scope(round_.state != RoundState.CLOSED)
    return DeskContext(round_, all_rounds, definition, bureaus, bureau, chosen, scope is not None)


# --- 1. submission board ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BureauProgress:
    bureau: BureauRef
    counts: ProgressCounts


@dataclass(frozen=True)
class PendingSection:
    section: SheetTotal
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
    review: dict[str, int] = field(default_factory=dict)  # the desk's review: 未確認 / 確認中 / 確認済 / 差戻し → 所属
    sent_back: set[int] = field(default_factory=set)  # 所属 (unit ids) of the page whose sheet is sent back (差戻し)


@dataclass(frozen=True)
class MailList:
    """The DX推進リーダー of every 所属 of the (filtered) list of those not yet submitted, as one mail list."""

    ctx: DeskContext
    mail_list: str  # their UPNs, separated by MAIL_SEPARATOR (Outlook's)
    recipients: int
    without_leader: int  # 所属 of the list with no leader to write to
    pending: int  # 所属 of the list


def _pending(progress: Progress | None) -> list[Progress]:
    if progress is Progress.SUBMITTED:
        raise InvalidInput("未提出の一覧は 未着手（not_started）か 入力中（in_progress）で絞り込めます。")
    return [progress] if progress else list(PENDING)


def _recipients(leaders: list[tuple[int, str]], pending: int) -> tuple[str, int, int]:
    """(mail list, recipients, 所属 without a leader) from the (unit id, UPN) of the leaders of ``pending`` 所属."""
    upns = list(dict.fromkeys(upn for _, upn in leaders))
    return MAIL_SEPARATOR.join(upns), len(upns), pending - len({unit_id for unit_id, _ in leaders})


def board(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
          progress: Progress | None = None, page: int = 1, per_page: int = PER_PAGE["board"],
          scope: Scope | None = None, order: figures.Order = "org") -> BoardPage:
    """The board: the counts, and one page of the 所属 not yet submitted with their leaders (names). The
    mail list of every 所属 of the list (thousands at prefecture scale) is ``mail_list``, asked for apart.
    Progress is about every 所属 whatever the ``scope`` (kept only for the desk's other pages).
    ``order``: organisation order (the JSON) or ``completion`` (回答率, the least answered first: the page)."""
    wanted = _pending(progress)
    ctx = desk_context(session, principal, round_id, bureau_code, scope=scope)
    counts = figures.progress_counts(session, ctx.round.id)
    by_bureau = [BureauProgress(b, counts.get(b.id, ProgressCounts())) for b in ctx.bureaus]
    bureau_id = ctx.bureau.id if ctx.bureau else None
    pager = Pager.of(page, per_page, figures.count_sheets(session, ctx.round.id, bureau_id=bureau_id, progress=wanted))
    shown = figures.sheet_totals(session, ctx.round.id, bureau_id=bureau_id, progress=wanted, order=order,
                                 limit=per_page, offset=pager.offset)
    leaders = queries.leaders_of_round(session, ctx.round.id, unit_ids=[t.unit_id for t in shown])
    names = ctx.bureau_names
    return BoardPage(
        ctx=ctx,
        counts=sum(counts.values(), ProgressCounts()),
        by_bureau=by_bureau,
        progress=progress,
        pending=[PendingSection(t, names[t.bureau_id], leaders.get(t.unit_id, [])) for t in shown],
        pager=pager,
        review={review.REVIEW_STATE_LABELS[state]: n for state, n in review.review_counts(session, ctx.round.id).items()},
        sent_back=review.sent_back(session, ctx.round.id, [t.unit_id for t in shown]),
    )


def mail_list(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
              progress: Progress | None = None) -> MailList:
    """The board's mail list (same filters, same rules): the leaders of every 所属 of the filtered list, not
    only of one page. It is long at prefecture scale (2,000 and more UPNs), so the board's page and JSON
    leave it out: the page loads it when asked (``/desk/board/mail-list``), the JSON has its own URL."""
    wanted = _pending(progress)
    ctx = desk_context(session, principal, round_id, bureau_code)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    pending = figures.count_sheets(session, ctx.round.id, bureau_id=bureau_id, progress=wanted)
    upns = queries.leader_upns(session, ctx.round.id, bureau_id=bureau_id, progress=wanted)
    return MailList(ctx, *_recipients(upns, pending), pending=pending)


# --- 2. heatmap -------------------------------------------------------------------------------------

HEATMAP_SORTS: dict[str, str] = {
    "org": "組織順",
    "asc": "部局ごとに成熟度の低い順",
    "desc": "部局ごとに成熟度の高い順",
    "all_asc": "全庁で成熟度の低い順",
    "all_desc": "全庁で成熟度の高い順",
}


@dataclass(frozen=True)
class HeatmapRow:
    section: SheetTotal
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


def heatmap(session: Session, principal: Principal, round_id: int | None, *, bureau_code: str | None = None,
            sort: str = "org", page: int = 1, per_page: int = PER_PAGE["heatmap"],
            scope: Scope | None = None) -> HeatmapPage:
    if sort not in HEATMAP_SORTS:
        raise InvalidInput(f"並べ方「{sort}」は使えません。", fields={"sort": "org, asc, desc, all_asc, all_desc"})
    ctx = desk_context(session, principal, round_id, bureau_code, scope=scope)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    pager = Pager.of(page, per_page, figures.count_sheets(session, ctx.round.id, bureau_id=bureau_id,
                                                          states=ctx.states))
    shown = figures.sheet_totals(session, ctx.round.id, bureau_id=bureau_id, order=sort, limit=per_page,
                                 offset=pager.offset, states=ctx.states)
    keys = [item.key for item in ctx.definition.items]
    answers = queries.cells(session, [t.sheet_id for t in shown], keys)
    names = ctx.bureau_names
    unanswered = [None] * len(keys)
    groups: list[HeatmapGroup] = []
    for t in shown:
        row = HeatmapRow(t, names[t.bureau_id], answers.get(t.sheet_id) or unanswered.copy())
        group_key = None if sort.startswith("all_") else names[t.bureau_id]
        if not groups or groups[-1].bureau != group_key:
            groups.append(HeatmapGroup(group_key, []))
        groups[-1].rows.append(row)
    categories = [(name, len(items)) for name, items in ctx.definition.grouped]
    return HeatmapPage(ctx, sort, ctx.definition.items, categories, groups, pager)


# --- 3. weak items ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeakItem:
    """One item over a group. ``counts`` and ``maturity`` are None when the person asking may not see
    them: fewer than ``MIN_GROUP_SIZE`` 所属 answered the item (``permissions.why_not_see_group``)."""

    rank: int
    item: ItemDef
    counts: ItemCounts | None
    maturity: float | None
    prefecture_maturity: float | None  # beside a 部局's figure; None for the prefecture itself

    @property
    def suppressed(self) -> bool:
        return self.counts is None

    def share(self, status: Status | None) -> float | None:
        return None if self.counts is None else rules.share(self.counts.count(status), self.counts.sections)

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
    practices: dict[str, int] = field(default_factory=dict)  # item key → shared practices (取組事例), desk page

    @property
    def scope_name(self) -> str:
        return self.ctx.bureau.name if self.ctx.bureau else "全庁"


def weak_items(session: Session, principal: Principal, round_id: int | None, *,
               bureau_code: str | None = None, desk_page: bool = False, charts: bool = True,
               scope: Scope | None = None) -> WeakItemsPage:
    """Per item, the share of each status in the prefecture or one 部局, weakest first.

    The desk sees everything. Others (through the API; the page is the desk's) see an item's figures
    only when at least ``MIN_GROUP_SIZE`` 所属 answered it (``visible``); the others come last, without
    figures, and a scope where no item is visible is refused."""
    ctx = desk_context(session, principal, round_id, bureau_code, everything=desk_page, scope=scope)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    sections = figures.sections_in(session, ctx.round.id, bureau_id=bureau_id, states=ctx.states)
    points = ctx.definition.points

    def visible(counts: ItemCounts) -> ItemCounts | None:
        answered = counts.scored + counts.not_applicable
        return None if permissions.why_not_see_group(principal, answered, rules.MIN_GROUP_SIZE) else counts

    counts = figures.item_counts(session, ctx.round.id, bureau_id=bureau_id, states=ctx.states)
    per_item = [(item, visible(counts.get(item.key, ItemCounts(unanswered=sections))))
                for item in ctx.definition.items]
    if all(c is None for _, c in per_item):
        raise Forbidden(permissions.why_not_see_group(principal, 0, rules.MIN_GROUP_SIZE))
    prefecture: dict[str, float | None] = {}
    if bureau_id is not None:
        everywhere = figures.item_counts(session, ctx.round.id, states=ctx.states)
        prefecture = {i.key: c.maturity(points) for i in ctx.definition.items
                      if (c := visible(everywhere.get(i.key, ItemCounts()))) is not None}
    per_item.sort(key=lambda pair: (pair[1] is None, pair[0].position) if pair[1] is None
                  else (False, *rules.weakest_first_key(pair[1], pair[0].position, points)))
    items = [WeakItem(rank, item, c, c.maturity(points) if c else None, prefecture.get(item.key))
             for rank, (item, c) in enumerate(per_item, start=1)]
    scope = ctx.bureau.name if ctx.bureau else "全庁"
    chart = stacked.status_shares(
        [(f"{w.item.position}. {w.item.text}", w.counts) for w in items if w.counts is not None],
        title=f"{ctx.round.title} {scope}: 項目ごとの達成状況の割合（弱い順）",
        desc=_weak_desc(items, sections, scope),
    ) if charts else Markup("")
    shared = practice.counts(session, [i.key for i in ctx.definition.items]) if desk_page else {}
    return WeakItemsPage(ctx, sections, items, chart, shared)


# --- shared practices (取組事例) of one item: the desk features or hides them ----------------------------


@dataclass(frozen=True)
class PracticesPage:
    ctx: DeskContext
    item: ItemDef
    practices: list[practice.Practice]


def practices_page(session: Session, principal: Principal, round_id: int | None, item_key: str) -> PracticesPage:
    ctx = desk_context(session, principal, round_id)
    item = ctx.definition.by_key.get(item_key)
    if item is None:
        raise NotFound(f"項目「{item_key}」はこの調査回のチェックシートにありません。")
    return PracticesPage(ctx, item, practice.of_item(session, principal, item_key))


def _weak_desc(items: list[WeakItem], sections: int, scope: str) -> str:
    if sections == 0 or not items:
        return f"{scope}にはこの調査回の所属がありません。"
    known = [w for w in items if w.maturity is not None]
    if not known:
        return f"{scope}の{sections}所属は、まだどの項目にも ◎ ○ △ × で回答していません。"
    weakest = "、".join(f"「{w.item.text}」（{w.maturity:.1f}点、×{w.share(Status.NOT_DONE):.1f}%）"
                       for w in known[:3])
    return f"{scope}の{sections}所属の回答。最も弱い項目は {weakest}。詳しい数値は下の表にあります。"


# --- 4. quick wins ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickWinSheet:
    """A 所属 with at least one quick win: how many per status, and its overall tally."""

    section: SheetTotal
    by_status: dict[str, int]  # quick-win status symbol → number of ☆ items at it

    @property
    def count(self) -> int:
        return sum(self.by_status.values())

    @property
    def sheet_id(self) -> int:
        return self.section.sheet_id

    @property
    def maturity(self) -> float | None:
        return self.section.maturity


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


Run = tuple[int, QuickWinSheet, frozenset[str], int]  # priority, 所属, its statuses of it, rows
QuickWinTally = tuple[int, "float | None", int, int]  # sheet id, maturity, ☆ items at △, ☆ items at × (quick_win_tallies)
Slice = tuple[int, int, frozenset[str], int, int]  # priority, index of the sheet's tally, statuses, first, last row


def _priority_runs(points) -> list[tuple[int, frozenset[str]]]:
    """(priority, the quick-win statuses that have it), highest first."""
    by_priority: dict[int, set[str]] = defaultdict(set)
    for status in rules.QUICK_WIN_STATUSES:
        by_priority[rules.priority(rules.QUICK_WIN_DIFFICULTY, status, points)].add(status.value)
    return [(value, frozenset(by_priority[value])) for value in sorted(by_priority, reverse=True)]


def quick_win_rows(tallies: Sequence[QuickWinTally]) -> int:
    """How many rows the ranking of ``tallies`` has: one per ☆ item at △ or ×."""
    return sum(fair + not_done for _, _, fair, not_done in tallies)


def rank_window(tallies: Sequence[QuickWinTally], points, offset: int, limit: int) -> list[Slice]:
    """The runs of rows ``offset`` to ``offset + limit`` of the ranking (one page): (priority, index of the
    sheet in ``tallies``, its statuses of that priority, first and last row of the run on the page).

    Highest ``rules.priority`` first; among equals the 所属 with more quick wins, then the lower maturity, then
    organisation order (``tallies`` come in it); within a 所属, sheet order. Thousands of sheets at prefecture
    scale: plain tuples of numbers (no object per sheet, nothing for the garbage collector to follow), and a
    priority wholly before the page is counted, not sorted."""
    window: list[Slice] = []
    start, stop = 0, offset + limit
    for value, statuses in _priority_runs(points):
        if start >= stop:
            break
        with_fair, with_not_done = Status.FAIR.value in statuses, Status.NOT_DONE.value in statuses
        # (more quick wins first, lower maturity first, organisation order, rows of this priority)
        group = [(-(fair + not_done), maturity or 0, index, n)
                 for index, (_, maturity, fair, not_done) in enumerate(tallies)
                 if (n := fair * with_fair + not_done * with_not_done)]
        rows = sum(g[3] for g in group)
        if start + rows <= offset:
            start += rows
            continue
        group.sort()
        for _, _, index, n in group:
            end = start + n
            if end > offset:
                window.append((value, index, statuses, max(offset - start, 0), min(stop - start, n)))
            start = end
            if start >= stop:
                break
    return window


def rank_quick_wins(sheets: Sequence[QuickWinSheet], points) -> list[Run]:
    """The whole ranking of ``sheets`` (in organisation order) as runs of rows: (priority, sheet, its statuses
    of that priority, how many rows), in order (``rank_window``'s rules)."""
    fair, not_done = Status.FAIR.value, Status.NOT_DONE.value
    tallies = [(s.sheet_id, s.maturity, s.by_status.get(fair, 0), s.by_status.get(not_done, 0)) for s in sheets]
    return [(value, sheets[index], statuses, last - first)
            for value, index, statuses, first, last in rank_window(tallies, points, 0, quick_win_rows(tallies))]


@dataclass(frozen=True)
class CounterpartBureau:
    bureau: BureauRef
    count: int  # 所属 at ×
    names: list[tuple[str, str]]  # (code, name) of the first COUNTERPART_NAMES_SHOWN of them


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
    def not_done(self) -> int:
        return self.counts.not_done

    @property
    def share(self) -> float:
        """Share of × among the 所属 that answered ◎ ○ △ ×."""
        return rules.share(self.counts.not_done, self.counts.scored)


@dataclass(frozen=True)
class QuickWinsPage:
    ctx: DeskContext
    rows: list[QuickWin]
    pager: Pager
    counterpart: list[CounterpartItem]
    own_only: bool  # a member or leader: only their own 所属's rows


def quick_wins(session: Session, principal: Principal, round_id: int | None, *,
               bureau_code: str | None = None, page: int = 1, per_page: int = PER_PAGE["quick_wins"],
               desk_page: bool = False, scope: Scope | None = None) -> QuickWinsPage:
    """Quick wins (☆ at △ or ×) ranked by ``rules.priority``, and the ☆☆☆ items at × by item.

    The desk sees every 所属 (of ``scope``); members and leaders (through the API; the page is the desk's)
    only their own, whatever their state, and no 部局 filter."""
    own_only = not principal.sees_everything
    if own_only and bureau_code:
        raise Forbidden(permissions.why_not_see_all_sections(principal) or "")
    ctx = desk_context(session, principal, round_id, bureau_code, everything=desk_page,
                       scope=Scope.ALL if own_only else scope)
    bureau_id = ctx.bureau.id if ctx.bureau else None
    unit_ids = list(principal.sections) if own_only else None
    definition = ctx.definition
    tallies = figures.quick_win_tallies(session, ctx.round.id, bureau_id=bureau_id, unit_ids=unit_ids,
                                        states=ctx.states)
    pager = Pager.of(page, per_page, quick_win_rows(tallies))
    window = rank_window(tallies, definition.points, pager.offset, per_page)
    shown = list({tallies[index][0] for _, index, *_ in window})
    answers = queries.quick_win_answers(session, definition, shown)
    sheets = {t.sheet_id: QuickWinSheet(t, _quick_counts(t))
              for t in figures.sheet_totals(session, ctx.round.id, sheet_ids=shown)}
    names = ctx.bureau_names
    wins: list[QuickWin] = []
    for value, index, statuses, first, last in window:
        sheet = sheets[tallies[index][0]]
        rows = [(key, st) for key, st in answers[sheet.section.sheet_id] if st in statuses][first:last]
        wins.extend(QuickWin(pager.offset + len(wins) + 1, sheet, definition.by_key[key], st, value,
                             names[sheet.section.bureau_id], sheet.section.maturity) for key, st in rows)
    return QuickWinsPage(ctx, wins, pager, _counterpart(session, ctx, bureau_id, unit_ids), own_only)


def _quick_counts(t: figures.SheetTotal) -> dict[str, int]:
    return _by_status(t.quick_fair, t.quick_not_done)


def _by_status(fair: int, not_done: int) -> dict[str, int]:
    counts = {Status.NOT_DONE.value: not_done, Status.FAIR.value: fair}
    return {status: n for status, n in counts.items() if n}


def _counterpart(session: Session, ctx: DeskContext, bureau_id: int | None,
                 unit_ids: list[int] | None) -> list[CounterpartItem]:
    """The ☆☆☆ items (相手次第) by how many 所属 answered ×, with the 部局 that have most of them and a few
    names each. For the desk: the prefecture or one 部局 (group tallies); for a 所属's staff: their own."""
    items = [i for i in ctx.definition.items if i.difficulty == rules.COUNTERPART_DIFFICULTY]
    if not items:
        return []
    keys = [i.key for i in items]
    if unit_ids is None:
        counts = figures.item_counts(session, ctx.round.id, bureau_id=bureau_id, keys=keys, states=ctx.states)
        per_bureau = figures.bureau_counts(session, ctx.round.id, keys, rules.COUNTERPART_STATUS.value,
                                           bureau_id=bureau_id, states=ctx.states)
    else:  # one's own 所属: their sheets' answers
        own = queries.section_statuses(session, ctx.round.id, unit_ids, keys)
        counts = {key: ItemCounts.of(Counter(s.statuses.get(key) for s in own), len(own)) for key in keys}
        per_bureau = defaultdict(Counter)
        for s in own:
            for key in keys:
                if s.statuses.get(key) == rules.COUNTERPART_STATUS.value:
                    per_bureau[key][s.bureau_id] += 1
    order = {b.id: n for n, b in enumerate(ctx.bureaus)}
    shown: dict[str, list[int]] = {  # most 所属 at × first, organisation order among equals
        key: sorted((b for b, n in per_bureau.get(key, {}).items() if n), key=lambda b, k=key: (
            -per_bureau[k][b], order.get(b, len(order))))
        for key in keys}
    names = queries.counterpart_names(session, ctx.round.id, {key: ids[:COUNTERPART_BUREAUS_SHOWN]
                                                              for key, ids in shown.items()},
                                      unit_ids=unit_ids, per_bureau=COUNTERPART_NAMES_SHOWN, states=ctx.states)
    refs = ctx.bureau_names
    result = [CounterpartItem(item, counts.get(item.key, ItemCounts()), [
        CounterpartBureau(refs[b], per_bureau[item.key][b], names.get((item.key, b), [])) for b in shown[item.key]])
        for item in items]
    result.sort(key=lambda c: (-c.not_done, c.item.position))
    return result


# --- 6. score distribution --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    """A group of 所属 (a 部局 or the prefecture) on the distribution page: its figures and progress."""

    bureau: BureauRef | None  # None: the prefecture
    figure: GroupFigure
    progress: ProgressCounts

    @property
    def name(self) -> str:
        return self.bureau.name if self.bureau else "全庁"

    @property
    def sections(self) -> int:
        return self.figure.sections

    @property
    def scored(self) -> int:
        return self.figure.scored

    @property
    def mean(self) -> float | None:
        return self.figure.mean

    @property
    def five(self) -> FiveNumbers | None:
        return self.figure.five

    @property
    def median(self) -> float | None:
        return self.figure.median

    @property
    def completion(self) -> float:
        return self.figure.completion or 0.0


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
                 charts: bool = True, scope: Scope | None = None) -> DistributionPage:
    """Maturities of the 所属 (of ``scope``) in bins, and every 部局's figures; progress counts every 所属."""
    ctx = desk_context(session, principal, round_id, scope=scope)
    found = figures.groups(session, principal, [ctx.round.id], completion=True, states=ctx.states)
    progress = figures.progress_counts(session, ctx.round.id)

    def rollup(bureau: BureauRef | None) -> Rollup:
        scope = bureau.id if bureau else PREFECTURE
        counts = progress.get(scope, ProgressCounts()) if bureau else sum(progress.values(), ProgressCounts())
        return Rollup(bureau, found.get(figures.GroupKey(ctx.round.id, scope), rules.EMPTY_GROUP), counts)

    bureaus = [rollup(b) for b in ctx.bureaus]
    prefecture = rollup(None)
    scored = [(v, n) for v, n in figures.maturities(session, ctx.round.id, states=ctx.states) if v is not None]
    bins = [Bin(lo, hi, n) for (lo, hi), n in zip(rules.SCORE_BINS, rules.histogram(scored), strict=True)]
    if not charts:
        return DistributionPage(ctx, prefecture, bins, bureaus, Markup(""), Markup(""))
    title = ctx.round.title
    histogram_chart = distribution_charts.histogram(
        [(b.label, b.count) for b in bins],
        title=f"{title} 所属の成熟度の分布（{ctx.scope_label}：{prefecture.sections}所属中、回答のある{prefecture.scored}所属）",
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


# --- the round at a glance (全所属の状況) --------------------------------------------------------------


@dataclass(frozen=True)
class BureauOverview:
    bureau: BureauRef
    figure: GroupFigure
    progress: ProgressCounts


@dataclass(frozen=True)
class RoundOverview:
    ctx: DeskContext
    progress: ProgressCounts
    bureaus: list[BureauOverview]
    sections: list[SheetTotal]  # the 所属 of the chosen 部局 (none chosen: none listed)


def round_overview(session: Session, principal: Principal, round_id: int, *,
                   bureau_code: str | None = None, scope: Scope | None = None) -> RoundOverview:
    """Every 部局 of a round with its figures (over the sheets of ``scope``) and progress (every 所属), every
    所属 of one of them (each with its own progress and figures, whatever ``scope``), and the downloads."""
    ctx = desk_context(session, principal, round_id, bureau_code, scope=scope)
    found = figures.groups(session, principal, [ctx.round.id], bureau_ids=[b.id for b in ctx.bureaus],
                           prefecture=False, completion=True, states=ctx.states)
    progress = figures.progress_counts(session, ctx.round.id)
    bureaus = [BureauOverview(b, found[figures.GroupKey(ctx.round.id, b.id)], progress.get(b.id, ProgressCounts()))
               for b in ctx.bureaus]
    sections = figures.sheet_totals(session, ctx.round.id, bureau_id=ctx.bureau.id) if ctx.bureau else []
    return RoundOverview(ctx, sum(progress.values(), ProgressCounts()), bureaus, sections)


# --- scores per 所属 and per 部局 (JSON) ----------------------------------------------------------------


@dataclass(frozen=True)
class BureauScores:
    bureau: BureauRef
    figure: GroupFigure
    categories: dict[str, GroupFigure]


@dataclass(frozen=True)
class SectionScores:
    section: SheetTotal
    bureau: BureauRef
    score: figures.SheetScore


@dataclass(frozen=True)
class RoundScores:
    round: Round
    bureaus: list[BureauScores]  # by=bureau: one page of the 部局 with a sheet in the round
    sections: list[SectionScores]  # by=section: one page (the desk: every 所属; others: their own)
    pager: Pager


def scores(session: Session, principal: Principal, round_id: int, *, by: str = "section", page: int = 1,
           per_page: int = PER_PAGE["scores"]) -> RoundScores:
    """One page of a round's figures per 所属 (``by="section"``: the desk and admins every 所属, members
    and leaders their own) or per 部局 (``by="bureau"``: figures withheld for groups a person may not see)."""
    round_ = rounds.get_round(session, round_id)
    bureaus = queries.round_bureaus(session, round_)
    if by == "bureau":
        definition = checklists.get_definition(session, round_.checklist_version_id)
        found = figures.groups(session, principal, [round_id], bureau_ids=[b.id for b in bureaus],
                               prefecture=False, categories=True, completion=True)
        result = [BureauScores(b, found[figures.GroupKey(round_id, b.id)], {
            name: found[key] for name in definition.categories
            if (key := figures.GroupKey(round_id, b.id, name)) in found and not found[key].suppressed})
            for b in bureaus if found[figures.GroupKey(round_id, b.id)].sections]
        pager = Pager.of(page, per_page, len(result))
        return RoundScores(round_, result[pager.offset:pager.offset + per_page], [], pager)
    unit_ids = None if principal.sees_everything else list(principal.sections)
    pager = Pager.of(page, per_page, figures.count_sheets(session, round_id, unit_ids=unit_ids))
    listed = figures.sheet_totals(session, round_id, unit_ids=unit_ids, limit=per_page, offset=pager.offset)
    by_id = figures.sheet_scores(session, [t.sheet_id for t in listed])
    names = {b.id: b for b in bureaus}
    return RoundScores(round_, [], [SectionScores(t, names[t.bureau_id], by_id[t.sheet_id]) for t in listed], pager)
