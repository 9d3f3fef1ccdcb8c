"""Normalization and snippets: variants of a word found and highlighted as written."""

from __future__ import annotations

import pytest

from mks.search.text import normalize, snippet


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("コンピューター", "こんぴゅーた"),  # katakana to hiragana, the final long-vowel mark dropped
        ("ｺﾝｸﾘｰﾄ打設", "こんくりーと打設"),  # half-width katakana
        ("ＲＣ造　３階", "rc造 3階"),  # full-width letters, digits and space; case
        ("かぶり厚さ", "かぶり厚さ"),
    ],
)
def test_normalize_folds_width_case_kana_and_the_final_long_vowel(written: str, normalized: str) -> None:
    assert normalize(written) == normalized


@pytest.mark.parametrize(
    ("fields", "terms", "expected"),
    [
        (["", "型枠のカブリ厚さを確認する。", ""], ["かぶり厚さ"], "型枠の<mark>カブリ厚さ</mark>を確認する。"),
        (["ＲＣ造　３階の打設", ""], ["rc造"], "<mark>ＲＣ造</mark> ３階の打設"),
        (["ｺﾝｸﾘｰﾄの受入", ""], ["こんくりーと"], "<mark>ｺﾝｸﾘｰﾄ</mark>の受入"),
        # The dropped mark is highlighted with the word it ends.
        (
            ["サーバーとコンピューター。コンピュータ室", ""],
            ["こんぴゅーた"],
            "サーバーと<mark>コンピューター</mark>。<mark>コンピュータ</mark>室",
        ),
        # The first field holding a match is shown; < and > escaped.
        (
            ["要約", "<b>養生</b>シートと養生"],
            ["養生"],
            "&lt;b&gt;<mark>養生</mark>&lt;/b&gt;シートと<mark>養生</mark>",
        ),
        (["要約のみ", "本文"], ["鉄筋"], "要約のみ"),
    ],
)
def test_snippets_highlight_the_text_as_written(fields: list[str], terms: list[str], expected: str) -> None:
    assert snippet(fields, terms) == expected


def test_a_snippet_is_cut_around_the_first_match() -> None:
    # SNIPPET_RADIUS (40) characters each side, as written.
    text = "前置き" * 30 + "ＫＹ活動" + "後書き" * 30
    assert snippet([text], ["ky活動"]) == "…き" + "前置き" * 13 + "<mark>ＫＹ活動</mark>" + "後書き" * 13 + "後…"
