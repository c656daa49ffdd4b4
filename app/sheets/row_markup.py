"""The status options of a sheet row (◎ ○ △ × [該当なし] 未回答: a label around each radio) as one piece of
markup, built once per process for each (options, row, answer, read-only) and then reused.

The sheet page repeats them for each of its 40 rows; written as a template loop they were a third of the page's
template time (six options × seven escaped values, about 150 Python calls a row). The markup is the loop's, to the
byte: templates/_macros/sheet.html ``item_row`` calls this where the loop was; ``options`` is the template global
``STATUS_OPTIONS[allows_na]`` ((value, class, spoken label) of each option), passed in so that this module needs
nothing of app.web."""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup

Options = tuple[tuple[str, str, str], ...]

_OPTION = Markup("<label><input type=radio name=s{position} value={value}{checked}{off}><span class={code}>{value}"
                 "<i> {label}</i></span></label>")
_UNANSWERED = Markup("<label><input type=radio name=s{position} value=\"\"{checked}{off}><span class=u>未回答</span></label>")


@lru_cache(maxsize=4096)
def status_options(options: Options, position: int, chosen: str | None, read_only: bool) -> Markup:
    """The radios of row ``position`` named s<position>, ``chosen`` checked (未回答 when it is empty), every one
    disabled when ``read_only``. Every value is escaped (Markup.format)."""
    off = " disabled" if read_only else ""
    parts = [_OPTION.format(position=position, value=value, checked=" checked" if chosen == value else "", off=off,
                            code=code, label=label)
             for value, code, label in options]
    parts.append(_UNANSWERED.format(position=position, checked="" if chosen else " checked", off=off))
    return Markup("").join(parts)
