"""Terminal widths (through wcwidth) and the CLI's plain-text tables."""

import pytest

from catalog.textwidth import table, width


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("Hiroshima", 9),
        ("広島市", 6),
        ("Ａ１", 4),
        ("ｱｲｳ", 3),
        ("2024-A-34-1025", 14),
        ("Cafe\u0301", 4),  # a combining accent takes no column of its own
        ("a\u200bb", 2),  # nor does a zero-width space
        ("👍", 2),
        ("", 0),
        ("a\x07b", 2),
    ],
)
def test_width_counts_terminal_columns(text, columns):
    assert width(text) == columns


def test_table_lines_up_japanese_and_latin_cells():
    out = table(["id", "name", "seats"], [["2024-A-34-1025", "広島 太郎", 3], ["x", "Cafe\u0301", None]])
    assert out.splitlines() == [
        "id              name       seats",
        "--------------  ---------  -----",
        "2024-A-34-1025  広島 太郎  3",
        "x               Cafe\u0301",
    ]
