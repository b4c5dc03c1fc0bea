"""The style block's strings: a translation can never end its CSS string nor the block."""

from __future__ import annotations

from dashboard.chrome import css_string


def test_a_css_string_keeps_letters_and_escapes_everything_else() -> None:
    assert css_string("选择文件 CSV 200") == '"选择文件 CSV 200"'
    assert css_string('a"b\\c') == '"a\\22 b\\5c c"'
    assert css_string("</style><script>") == '"\\3c \\2f style\\3e \\3c script\\3e "'
    assert css_string("\uff0c\n") == '"\\ff0c \\a "'
