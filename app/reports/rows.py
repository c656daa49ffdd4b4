"""The rows of the desk's long tables (heatmap, weak items, distribution, board, quick wins), built in Python.

A page has hundreds of rows of a dozen cells each; as a Jinja loop or macro each row cost 8–12 µs of lookups,
filters and escapes, most of the page's rendering. Each function here returns a table's rows (or a row's cells)
as markup, byte for byte what the template loop made (tests/test_desk_rows.py keeps those loops and compares).
Every value from the database is escaped; the rest are constants and numbers. The templates say where their rows
come from.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from app.jpdate import wareki
from app.reports import service
from app.scoring import rules
from app.scoring.rules import PROGRESS_LABELS, ProgressCounts
from app.statuses import Status
from app.web.templating import STATUS_CODES, fmt_score

# Heatmap cells: a short class (its colour, in app.css) and the symbol for each status.
HM_SYMBOL = {"◎": "◎", "○": "○", "△": "△", "×": "×", "該当なし": "該", None: "未"}
# One <td> per status, built once: a heatmap page has 4,000 cells.
_CELLS = {s: Markup(f"<td class={STATUS_CODES[s]}>{HM_SYMBOL[s]}</td>") for s in STATUS_CODES}  # noqa: S704 (constants)


def heatmap_row(row: service.HeatmapRow, sheet_href: str, with_bureau: bool) -> Markup:
    """A 所属's row of the heatmap, built in one call (100 rows × 40 cells a page): its name linking to its
    sheet (``sheet_href`` + code), its 部局 when rows are sorted across the prefecture, maturity, cells."""
    t = row.section
    bureau = f'<span class="hm-bureau">{escape(row.bureau.name)}</span>' if with_bureau else ""
    cells = "".join(map(_CELLS.__getitem__, row.statuses))
    return Markup(  # noqa: S704 (names and codes escaped, the rest constants and numbers)
        f'      <tr>\n        <th scope="row" class="hm-name"><a href="{sheet_href}{escape(t.code)}">{escape(t.name)}</a>'
        f'{bureau}</th>\n        <td class="hm-score">{fmt_score(t.maturity)}</td>\n        {cells}\n      </tr>\n')


# The weak-items table's count and share cells, ◎ ○ △ × 該当なし 未回答 (the columns of its header), built in
# one call per row: per cell, two method calls and a format through Jinja cost a third of the page's rendering.
_SHARE_COLUMNS = (*Status, None)


def weak_share_cells(w: service.WeakItem) -> Markup:
    sections = w.counts.sections
    return Markup("".join(  # noqa: S704 (numbers only)
        f'<td class="num share">{n}<span class="share__pct">{rules.share(n, sections):.1f}%</span></td>'
        for n in map(w.counts.count, _SHARE_COLUMNS)))


def rollup_row(r: service.Rollup) -> Markup:
    """A row of the distribution page's table of 部局 (and its total row), built in one call: through a
    Jinja macro, its thirteen cells and their filters were a third of the page's rendering."""
    five = r.five
    numbers = (f"{r.sections:,}", f"{r.scored:,}", fmt_score(r.mean), fmt_score(r.median),
               *((fmt_score(five.minimum), fmt_score(five.q1), fmt_score(five.q3), fmt_score(five.maximum))
                 if five else ("—",) * 4),
               f"{fmt_score(r.completion)}%" if r.sections else "—",
               r.progress.not_started, r.progress.in_progress, r.progress.submitted)
    small = ' <span class="tag">回答5所属未満</span>' if r.bureau and r.scored < 5 else ""
    cells = "".join(f'  <td class="num">{n}</td>\n' for n in numbers)
    total = "" if r.bureau else ' class="total-row"'
    return Markup(f'<tr{total}>\n  <th scope="row">{escape(r.name)}{small}</th>\n{cells}</tr>\n')  # noqa: S704 (name escaped)


# The board's two long tables (128 部局 and 100 所属 at prefecture scale) are joined here, row by row, from
# escaped values: a template loop looked up, escaped and yielded a dozen values per row (8-12 µs a row, most of
# the page's rendering). The markup is the template's, byte for byte; reports/board.html says where it is.
_BAR_EMPTY = '<svg class="progress-bar progress-bar--empty" viewBox="0 0 100 10" aria-hidden="true" focusable="false"></svg>'
_FLAG_RETURNED = ' <span class="flag flag--returned">差戻し</span>'
_FLAG_READY = ' <span class="flag flag--ready">全項目回答済・未提出</span>'
_NO_LEADER = '<span class="subtle">未登録</span>'


def _bar(c: ProgressCounts) -> str:
    """Decorative bar of 提出済 / 入力中 (the background is 未着手); the numbers are in the cells beside it."""
    if not c.total:
        return _BAR_EMPTY
    w1 = f"{c.submitted / c.total * 100:.1f}"
    return (f'<svg class="progress-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
            f'focusable="false"><rect class="s" width="{w1}" height="10"/><rect class="i" x="{w1}" '
            f'width="{c.in_progress / c.total * 100:.1f}" height="10"/></svg>')


def bureau_rows(view: service.BoardPage, here: str) -> Markup:
    """The <tr>s of the board's 部局ごとの状況: name (a link to the 部局's 未提出 list), counts, 提出率, bar."""
    ctx = view.ctx
    scope = f"&amp;scope={escape(ctx.scope.value)}" if ctx.scope_chosen else ""
    link = f"{escape(here)}?round={ctx.round.id}{scope}&amp;bureau="
    rows = []
    for row in view.by_bureau:
        c = row.counts
        share = f"{escape(fmt_score(c.submitted_share))}%" if c.total else "—"
        rows.append(f"""      <tr>
        <th scope="row"><a href="{link}{escape(row.bureau.code)}#pending-title">{escape(row.bureau.name)}</a></th>
        <td class="num">{c.total}</td>
        <td class="num">{c.not_started}</td>
        <td class="num">{c.in_progress}</td>
        <td class="num">{c.submitted}</td>
        <td class="num">{share}</td>
        <td class="bar-cell">{_bar(c)}</td>
      </tr>
""")
    return Markup("".join(rows))  # noqa: S704 (every value escaped or a number)


def pending_rows(view: service.BoardPage) -> Markup:
    """The <tr>s of the board's 未提出の所属 (one page): the reminder checkbox, the 所属 (a link to its sheet), its
    部局, progress and flags, 回答率, 記載日 and DX推進リーダー."""
    round_id, sent_back = view.ctx.round.id, view.sent_back
    rows = []
    for p in view.pending:
        s = p.section
        code, name, progress = escape(s.code), escape(s.name), s.progress
        flag = _FLAG_RETURNED if s.unit_id in sent_back else _FLAG_READY if s.tally.is_complete else ""
        leaders = "".join(f'<span class="person">{escape(leader.name)} <span class="upn">{escape(leader.upn)}</span></span>'
                          for leader in p.leaders) or _NO_LEADER
        rows.append(f"""        <tr>
          <td><input type="checkbox" name="section" value="{code}" id="send-{code}" aria-label="{name}に督促を送る"></td>
          <th scope="row"><a href="/rounds/{round_id}/sections/{code}">{name}</a> <span class="code">{code}</span></th>
          <td class="nowrap">{escape(p.bureau.name)}</td>
          <td><span class="state state--{escape(progress.value)}">{escape(PROGRESS_LABELS[progress])}</span>{flag}</td>
          <td class="num">{escape(fmt_score(s.tally.completion))}%</td>
          <td class="date">{escape(wareki(s.entry_on)) if s.entry_on else "—"}</td>
          <td>{leaders}</td>
        </tr>
""")
    return Markup("".join(rows))  # noqa: S704 (every value escaped or a number)


def quick_win_rows(view: service.QuickWinsPage, badges: dict[str, Markup], can_record_support: bool) -> Markup:
    """The <tr>s of one page of quick wins (50): rank, 所属 (a link to its sheet), 部局, item (and 「支援を記録」),
    status (``badges``: the template's badge of each status, drawn once), priority, the 所属's quick wins and
    maturity."""
    round_id = view.ctx.round.id
    rows = []
    for q in view.rows:
        code, name, item = escape(q.code), escape(q.name), q.item
        text = escape(item.text)
        note = (f'<span class="cell-note"><a href="/support/new?section={code}&amp;items={escape(item.key)}">支援を記録'
                f'<span class="visually-hidden">（{name}：{text}）</span></a></span>') if can_record_support else ""
        rows.append(f"""        <tr>
          <td class="num">{q.rank}</td>
          <th scope="row"><a href="/rounds/{round_id}/sections/{code}">{name}</a></th>
          <td>{escape(q.bureau.name)}</td>
          <td><span class="item-no">{item.position}.</span> {text}{note}</td>
          <td>{badges[q.status]}</td>
          <td class="num">{q.priority}</td>
          <td class="num">{q.section_quick_wins}</td>
          <td class="num">{escape(fmt_score(q.section_maturity))}</td>
        </tr>
""")
    return Markup("".join(rows))  # noqa: S704 (every value escaped, a number or the template's badge)


def counterpart_rows(view: service.QuickWinsPage, item: service.CounterpartItem, here: str) -> Markup:
    """The <tr>s of one ☆☆☆ item's table (its ten 部局 with most 所属 at ×): the 部局 (a link to it), how many,
    and the first COUNTERPART_NAMES_SHOWN 所属 (links to their sheets) and how many others."""
    ctx, shown = view.ctx, service.COUNTERPART_NAMES_SHOWN
    scope = f"&amp;scope={escape(ctx.scope.value)}" if ctx.scope_chosen else ""
    link = f"{escape(here)}?round={ctx.round.id}{scope}&amp;bureau="
    sections = f"/rounds/{ctx.round.id}/sections/"
    rows = []
    for b in item.shown:
        names = "、".join(f'<a href="{sections}{escape(code)}">{escape(name)}</a>' for code, name in b.names[:shown])
        more = f" ほか{b.count - shown}所属" if b.count > shown else ""
        rows.append(f"""          <tr><th scope="row"><a href="{link}{escape(b.bureau.code)}#cp-title">{escape(b.bureau.name)}</a></th><td class="num">{b.count}</td>
            <td>{names}{more}</td></tr>
""")
    return Markup("".join(rows))  # noqa: S704 (every value escaped or a number)
