"""The free-text rule (app/text.py): what is normalised, what is refused and how it is named, and the
writers' scrub that never refuses."""

from __future__ import annotations

import pytest

from app import text


@pytest.mark.parametrize(("typed", "stored"), [
    ("一行目\r\n二行目", "一行目\n二行目"),
    ("一行目\r二行目", "一行目\n二行目"),
    ("一行目\v二行目", "一行目\n二行目"),  # Word's manual line break
    ("一行目\f二行目", "一行目\n二行目"),
    ("一行目\x85二行目\u2028三行目\u2029四行目", "一行目\n二行目\n三行目\n四行目"),
    ("タブ\tはそのまま", "タブ\tはそのまま"),
    ("\u202e右から左\u200f \ufeffBOM 😀", "\u202e右から左\u200f \ufeffBOM 😀"),
])
def test_line_breaks_are_normalised_in_multiline_fields(typed, stored):
    assert text.clean_text(typed, "メモ", multiline=True) == stored


@pytest.mark.parametrize(("typed", "named"), [
    ("前\x00後", "U+0000（NUL）"),
    ("前\x07後", "U+0007（BEL）"),
    ("前\x08後", "U+0008（BS）"),
    ("前\x1b[31m後", "U+001B（ESC）"),
    ("前\x7f後", "U+007F（DEL）"),
    ("前\x9b後", "U+009B（制御文字）"),
    ("前\ud800後", "U+D800（対になっていないサロゲート）"),
    ("前\uffff後", "U+FFFF（非文字）"),
])
@pytest.mark.parametrize("multiline", [True, False])
def test_other_control_characters_are_refused_naming_the_character_the_field_and_where(typed, named, multiline):
    with pytest.raises(text.InvalidText) as refused:
        text.clean_text(typed, "メモ", multiline=multiline)
    assert str(refused.value) == f"メモに使えない文字「{named}」が含まれています（2文字目）。取り除いてから入力してください。"


@pytest.mark.parametrize("typed", ["令和8年度\n第1回", "令和8年度\r\n第1回", "令和8年度\v第1回", "令和8年度\u2028第1回"])
def test_single_line_fields_refuse_line_breaks(typed):
    value, problem = text.check_text(typed, "調査回の名称", multiline=False)
    assert problem == "調査回の名称に改行は使えません（6文字目）。1行で入力してください。"
    assert value == typed


def test_a_tab_in_a_single_line_field_is_a_space():
    assert text.clean_text("富山\t太郎", "表示名", multiline=False) == "富山 太郎"


def test_scrub_never_refuses_and_replaces_visibly():
    assert text.scrub("a\x1bb\x00c\vd\r\ne\ud800") == "a\ufffdb\ufffdc\nd\ne\ufffd"
    assert text.scrub("富山\n太郎\t\x07", multiline=False) == "富山 太郎 \ufffd"
    assert text.scrub("ふつうの文字\tと改行\n") == "ふつうの文字\tと改行\n"
