"""The sheet row's status radios built in Python (app/sheets/row_markup.py): every value escaped, the chosen one
checked (未回答 when none is), all disabled on a read-only sheet."""

from __future__ import annotations

from app.sheets.row_markup import status_options
from app.web.templating import STATUS_OPTIONS


def test_the_chosen_option_is_checked_and_unanswered_when_none_is():
    html = status_options(STATUS_OPTIONS[False], 7, "△", False)
    assert html.count("type=radio name=s7 ") == 5 and html.count(" checked") == 1
    assert "value=△ checked><span class=f>△<i> 30%以下</i></span></label>" in html
    assert 'value="" checked><span class=u>未回答</span>' in status_options(STATUS_OPTIONS[False], 7, None, False)
    assert "該当なし" in status_options(STATUS_OPTIONS[True], 7, None, False)
    assert "該当なし" not in html


def test_a_read_only_sheet_disables_every_option():
    html = status_options(STATUS_OPTIONS[True], 1, "◎", True)
    assert html.count(" disabled>") == 6 and "value=◎ checked disabled>" in html


def test_every_value_is_escaped():
    html = status_options((('"><script>', "e<", "a&b"),), 1, '"><script>', False)
    assert "<script>" not in html and "&#34;&gt;&lt;script&gt; checked" in html
    assert "class=e&lt;" in html and "a&amp;b" in html
