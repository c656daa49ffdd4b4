"""The submission board's two long tables are joined in Python (``reports/rows.py``: ``bureau_rows``,
``pending_rows``) instead of a template loop. Their markup must stay the template's, byte for byte, in every
branch the prefecture dataset does not reach (a 部局 with no 所属, 差戻し, no leader, names that need escaping,
a scope chosen): the loops they replaced are kept here as the reference."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from app.reports import rows as desk_rows
from app.reports.queries import BureauRef, Leader
from app.scoring.rules import ProgressCounts, Scope, Tally
from app.sheets.figures import SheetTotal
from app.web.templating import make_templates

# The template loops as they were in templates/reports/board.html (with its whitespace control).
BUREAU_LOOP = """\
    {% for row in view.by_bureau %}
      <tr>
        <th scope="row"><a href="{{ here }}?round={{ view.ctx.round.id }}{% if view.ctx.scope_chosen %}&amp;scope={{ view.ctx.scope.value }}{% endif %}&amp;bureau={{ row.bureau.code }}#pending-title">{{ row.bureau.name }}</a></th>
        <td class="num">{{ row.counts.total }}</td>
        <td class="num">{{ row.counts.not_started }}</td>
        <td class="num">{{ row.counts.in_progress }}</td>
        <td class="num">{{ row.counts.submitted }}</td>
        <td class="num">{% if row.counts.total %}{{ row.counts.submitted_share|score }}%{% else %}—{% endif %}</td>
        <td class="bar-cell">{{ progress_bar(row.counts) }}</td>
      </tr>
    {% endfor %}
"""
PROGRESS_BAR = """\
{% macro progress_bar(c) -%}
{%- if c.total -%}
{%- set w1 = c.submitted / c.total * 100 -%}
<svg class="progress-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false"><rect class="s" width="{{ '%.1f'|format(w1) }}" height="10"/><rect class="i" x="{{ '%.1f'|format(w1) }}" width="{{ '%.1f'|format(c.in_progress / c.total * 100) }}" height="10"/></svg>
{%- else -%}
<svg class="progress-bar progress-bar--empty" viewBox="0 0 100 10" aria-hidden="true" focusable="false"></svg>
{%- endif -%}
{%- endmacro %}
"""
PENDING_LOOP = """\
{% macro progress_badge(progress) -%}
<span class="state state--{{ progress.value }}">{{ PROGRESS_LABELS[progress] }}</span>
{%- endmacro %}
      {% for p in view.pending %}
        <tr>
          <td><input type="checkbox" name="section" value="{{ p.section.code }}" id="send-{{ p.section.code }}" aria-label="{{ p.section.name }}に督促を送る"></td>
          <th scope="row"><a href="/rounds/{{ view.ctx.round.id }}/sections/{{ p.section.code }}">{{ p.section.name }}</a> <span class="code">{{ p.section.code }}</span></th>
          <td class="nowrap">{{ p.bureau.name }}</td>
          <td>{{ progress_badge(p.section.progress) }}{% if p.section.unit_id in view.sent_back %} <span class="flag flag--returned">差戻し</span>{% elif p.section.tally.is_complete %} <span class="flag flag--ready">全項目回答済・未提出</span>{% endif %}</td>
          <td class="num">{{ p.section.tally.completion|score }}%</td>
          <td class="date">{{ p.section.entry_on|wareki if p.section.entry_on else "—" }}</td>
          <td>{% for l in p.leaders %}<span class="person">{{ l.name }} <span class="upn">{{ l.upn }}</span></span>{% else %}<span class="subtle">未登録</span>{% endfor %}</td>
        </tr>
      {% endfor %}
"""

ODD = "<b>&\"'総務部"  # every character HTML escapes


def _board(*, scope_chosen: bool) -> SimpleNamespace:
    bureaus = [BureauRef(1, "B1", "第1部局", 1), BureauRef(2, "B<2>", ODD, 2), BureauRef(3, "B3", "空の部局", 3)]
    counts = [ProgressCounts(3, 25, 2), ProgressCounts(1, 0, 2), ProgressCounts()]  # the third: no 所属
    sections = [
        # (unit id, code, name, state, answered of 10, entry_on, leaders)
        (11, "B1-001", "第1課", "draft", 0, None, [Leader("後藤 陽子", "leader.b1-001@example.jp")]),
        (12, "B<2>-1", ODD, "draft", 4, date(2026, 5, 1), []),  # no leader
        (13, "B1-003", "第3課", "draft", 10, date(2019, 5, 1), [Leader("甲", "a@example.jp"), Leader(ODD, "b&c@example.jp")]),
        (14, "B1-004", "第4課", "draft", 10, date(2026, 4, 1), [Leader("乙", "c@example.jp")]),  # sent back
        (15, "B1-005", "第5課", "submitted", 7, date(2026, 4, 2), [Leader("丙", "d@example.jp")]),
    ]
    pending = [SimpleNamespace(
        section=SheetTotal(sheet_id=unit_id, unit_id=unit_id, code=code, name=name, bureau_id=2 if "<" in code else 1,
                           state=state, entry_on=entry_on, tally=Tally(total=10, answered=answered, points=answered * 2)),
        bureau=bureaus[1] if "<" in code else bureaus[0], leaders=leaders)
        for unit_id, code, name, state, answered, entry_on, leaders in sections]
    ctx = SimpleNamespace(round=SimpleNamespace(id=7), scope=Scope.SUBMITTED, scope_chosen=scope_chosen)
    return SimpleNamespace(ctx=ctx, by_bureau=[SimpleNamespace(bureau=b, counts=c) for b, c in zip(bureaus, counts,
                                                                                                       strict=True)],
                           pending=pending, sent_back={14})


@pytest.mark.parametrize("scope_chosen", [False, True])
def test_board_rows_are_the_template_loops_markup_byte_for_byte(scope_chosen):
    env = make_templates(strict=True, reload=False).env
    view = _board(scope_chosen=scope_chosen)
    expected_bureaus = env.from_string(PROGRESS_BAR + BUREAU_LOOP).render(view=view, here="/desk/board")
    expected_pending = env.from_string(PENDING_LOOP).render(view=view)
    assert str(desk_rows.bureau_rows(view, "/desk/board")) == expected_bureaus
    assert str(desk_rows.pending_rows(view)) == expected_pending


def test_board_rows_escape_names_and_codes():
    view = _board(scope_chosen=True)
    html = str(desk_rows.bureau_rows(view, "/desk/board")) + str(desk_rows.pending_rows(view))
    assert ODD not in html and "B<2>" not in html
    assert "&lt;b&gt;&amp;&#34;&#39;総務部" in html and "bureau=B&lt;2&gt;#pending-title" in html
    assert 'value="B&lt;2&gt;-1"' in html and "b&amp;c@example.jp" in html


OPTIONS_LOOP = """\
{% for b in ctx.bureaus %}<option value="{{ b.code }}"{% if ctx.bureau and ctx.bureau.id == b.id %} selected{% endif %}>{{ b.name }}</option>{% endfor %}"""


@pytest.mark.parametrize("chosen", [None, 1, 2])
def test_bureau_filter_options_are_the_template_loops_markup(chosen):
    """Every desk page's 部局 filter: its <option>s (DeskContext.bureau_options), escaped, the chosen one selected."""
    from app.reports.service import DeskContext

    bureaus = [BureauRef(1, "B1", "第1部局", 1), BureauRef(2, "B<2>", ODD, 2), BureauRef(3, "B3", "第3部局", 3)]
    ctx = DeskContext(round=None, rounds=[], definition=None, bureaus=bureaus,  # type: ignore[arg-type]
                      bureau=next((b for b in bureaus if b.id == chosen), None))
    expected = make_templates(strict=True, reload=False).env.from_string(OPTIONS_LOOP).render(ctx=ctx)
    assert str(ctx.bureau_options) == expected
    assert expected.count(" selected") == (chosen is not None) and ODD not in expected


BADGES = """\
{% import "_macros/sheet.html" as m with context %}
      {% set badges = {} %}{% for q in view.rows %}{% if q.status not in badges %}{% set _ = badges.update({q.status: m.status_badge(q.status)}) %}{% endif %}{% endfor %}"""
QUICK_WIN_LOOP = BADGES + """{% for q in view.rows %}
        {%- set code, name, item = q.code, q.name, q.item %}
        <tr>
          <td class="num">{{ q.rank }}</td>
          <th scope="row"><a href="/rounds/{{ round_id }}/sections/{{ code }}">{{ name }}</a></th>
          <td>{{ q.bureau.name }}</td>
          <td><span class="item-no">{{ item.position }}.</span> {{ item.text }}
            {%- if can_record_support %}<span class="cell-note"><a href="/support/new?section={{ code }}&amp;items={{ item.key }}">支援を記録<span class="visually-hidden">（{{ name }}：{{ item.text }}）</span></a></span>{% endif %}</td>
          <td>{{ badges[q.status] }}</td>
          <td class="num">{{ q.priority }}</td>
          <td class="num">{{ q.section_quick_wins }}</td>
          <td class="num">{{ q.section_maturity|score }}</td>
        </tr>
      {% endfor %}
"""
QUICK_WIN_ROWS = BADGES + """
{{ rows(view, badges, can_record_support) }}{# as in reports/quick_wins.html #}
"""
COUNTERPART_LOOP = """\
        {% for b in c.shown %}
          <tr><th scope="row"><a href="{{ here }}?round={{ view.ctx.round.id }}{% if view.ctx.scope_chosen %}&amp;scope={{ view.ctx.scope.value }}{% endif %}&amp;bureau={{ b.bureau.code }}#cp-title">{{ b.bureau.name }}</a></th><td class="num">{{ b.count }}</td>
            <td>{% for code, name in b.names[:COUNTERPART_NAMES_SHOWN] %}<a href="/rounds/{{ round_id }}/sections/{{ code }}">{{ name }}</a>{% if not loop.last %}、{% endif %}{% endfor %}{% if b.count > COUNTERPART_NAMES_SHOWN %} ほか{{ b.count - COUNTERPART_NAMES_SHOWN }}所属{% endif %}</td></tr>
        {% endfor %}
"""


@pytest.mark.parametrize(("can_record_support", "scope_chosen"), [(True, False), (False, True)])
def test_quick_win_and_counterpart_rows_are_the_template_loops_markup(can_record_support, scope_chosen):
    """The quick-wins page's rows (reports/rows.py: quick_win_rows, counterpart_rows) against the loops they
    replaced: with and without 「支援を記録」, a scope chosen, names to escape, a maturity of None, 部局 with more
    and with fewer 所属 at × than the names shown."""
    from app.reports import service

    env = make_templates(strict=True, reload=False).env
    bureaus = [BureauRef(1, "B1", "第1部局", 1), BureauRef(2, "B<2>", ODD, 2)]
    items = [SimpleNamespace(key="a.b-1", position=1, text="紙の資料を<配らない>"),
             SimpleNamespace(key="c", position=12, text=ODD)]
    rows = [SimpleNamespace(rank=rank, code=code, name=name, item=item, bureau=bureau, status=status, priority=priority,
                            section_quick_wins=n, section_maturity=maturity)
            for rank, (code, name, item, bureau, status, priority, n, maturity) in enumerate([
                ("B1-001", "第1課", items[0], bureaus[0], "×", 9, 3, 12.6),
                ("B<2>-1", ODD, items[1], bureaus[1], "×", 9, 1, None),
                ("B1-001", "第1課", items[1], bureaus[0], "△", 6, 3, 0.0)], start=51)]
    ctx = SimpleNamespace(round=SimpleNamespace(id=7), scope=Scope.SUBMITTED, scope_chosen=scope_chosen)
    view = SimpleNamespace(ctx=ctx, rows=rows)
    values = {"view": view, "round_id": 7, "can_record_support": can_record_support, "rows": desk_rows.quick_win_rows}
    expected = env.from_string(QUICK_WIN_LOOP).render(values)
    assert env.from_string(QUICK_WIN_ROWS).render(values) == expected
    assert ("cell-note" in expected) is can_record_support and ODD not in expected and "<配らない>" not in expected

    counterpart = service.CounterpartItem(items[1], None, [  # type: ignore[arg-type]
        service.CounterpartBureau(bureaus[1], 7, [(f"B<2>-{n}", f"{ODD}{n}") for n in range(5)]),
        service.CounterpartBureau(bureaus[0], 5, [(f"B1-{n}", f"課{n}") for n in range(5)]),
        service.CounterpartBureau(bureaus[0], 1, [("B1-9", "課9")])])
    expected = env.from_string(COUNTERPART_LOOP).render(view=view, c=counterpart, here="/desk/quick-wins", round_id=7,
                                                        COUNTERPART_NAMES_SHOWN=service.COUNTERPART_NAMES_SHOWN)
    assert str(desk_rows.counterpart_rows(view, counterpart, "/desk/quick-wins")) == expected
    assert " ほか2所属" in expected and expected.count("ほか") == 1 and ODD not in expected
