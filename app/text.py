"""The one rule for free text: memos, reasons, support records, names, titles, the cells of CSV and XLSX
files. Pure: no database, no HTTP.

* What a person meant is normalised: CR LF, a lone CR, vertical tab, form feed, NEL (U+0085) and the
  Unicode line and paragraph separators (Word pastes some of these as line breaks) become ``\\n``. In a
  single-line field (a name, a title) a tab becomes a space and a line break is refused.
* Everything else that is not text is refused, with a message naming the character and the field:
  the C0 control characters but tab and line feed (NUL, BEL, BS, ESC…), DEL, the C1 control characters,
  lone surrogates (``"\\ud800"`` in JSON) and U+FFFE/U+FFFF. Neither XML (so XLSX) nor PostgreSQL can
  hold all of them, and none of them is anything a person can see.
* ``scrub`` is for text that must never be refused: names synced from Entra ID at sign-in, and what
  the CSV and XLSX writers put in a file (rows stored before the rule existed). It applies the same
  rule but replaces what would be refused with U+FFFD (�), visibly.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_LINE_BREAK = re.compile("\r\n|[\r\v\f\x85\u2028\u2029]")
# Not text: C0 controls but tab and line feed, DEL, C1 controls, surrogates, and U+FFFE / U+FFFF.
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI "
             "DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US").split()


class InvalidText(ValueError):
    """A value broke the rule; ``str()`` is the Japanese message (it names the field and the character)."""


def describe(char: str) -> str:
    """The code point and what it is, e.g. U+001B（ESC）."""
    code = ord(char)
    if code < 0x20:
        what = _C0_NAMES[code]
    elif code == 0x7F:
        what = "DEL"
    elif code <= 0x9F:
        what = "制御文字"
    elif 0xD800 <= code <= 0xDFFF:
        what = "対になっていないサロゲート"
    else:
        what = "非文字"
    return f"U+{code:04X}（{what}）"


def check_text(value: str, label: str, *, multiline: bool) -> tuple[str, str | None]:
    """(the value normalised, None) or (the value, why it is refused): a message for the person, naming
    the field ``label`` (e.g. 「メモ」), the character and where it is."""
    text = _LINE_BREAK.sub("\n", value)
    if not multiline:
        text = text.replace("\t", " ")
    bad = (_NOT_TEXT if multiline else _NOT_ONE_LINE).search(text)
    if bad is None:
        return text, None
    where = f"{bad.start() + 1:,}文字目"
    if bad.group() == "\n":
        return value, f"{label}に改行は使えません（{where}）。1行で入力してください。"
    return value, (f"{label}に使えない文字「{describe(bad.group())}」が含まれています（{where}）。"
                   "取り除いてから入力してください。")


def clean_text(value: str, label: str, *, multiline: bool) -> str:
    """The value normalised, or InvalidText with the message of ``check_text``."""
    text, problem = check_text(value, label, multiline=multiline)
    if problem:
        raise InvalidText(problem)
    return text


def scrub(value: str, *, multiline: bool = True) -> str:
    """The same rule, never refusing: line breaks normalised (a space in a single line), every character
    the rule refuses replaced by U+FFFD."""
    text = _LINE_BREAK.sub("\n", value)
    if not multiline:
        text = text.replace("\t", " ").replace("\n", " ")
    return _NOT_TEXT.sub(REPLACEMENT, text)
