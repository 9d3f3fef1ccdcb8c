"""The Markdown an entry page shows: rendered once per text of usual length."""

from __future__ import annotations

from mks.pages.markdown import entry_html, to_html


def test_an_entrys_html_is_remembered_for_texts_of_usual_length_only() -> None:
    usual = "## 手順\n\n足場の**手すり**を点検する。"
    assert entry_html(usual) == to_html(usual) == "<h2>手順</h2>\n<p>足場の<strong>手すり</strong>を点検する。</p>\n"
    assert entry_html(usual) is entry_html(usual)  # the second is the first's string, not rendered again
    changed = usual.replace("点検", "交換")
    assert entry_html(changed) == "<h2>手順</h2>\n<p>足場の<strong>手すり</strong>を交換する。</p>\n"
    very_long = "足場の点検。" * 3_334  # 20,004 characters
    assert entry_html(very_long) == to_html(very_long)
    assert entry_html(very_long) is not entry_html(very_long)
