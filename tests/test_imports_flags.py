"""import-registrations reads the yes/no columns as offices write them (issue 13 §5):
はい/いいえ, 1/0, true/false, ○/×; anything else names its line and column."""

import pytest

from bot.telegram.i18n import say
from catalog import registrations as regs
from catalog.imports import HEADER, ImportRowsError, import_registrations
from catalog.validation import truthy
from tests.util_catalog import NOW, make_catalog

A = "2024-A-34-1025"


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


@pytest.mark.parametrize(
    ("yes", "no"),
    [("はい", "いいえ"), ("1", "0"), ("true", "false"), ("○", "×"), ("ＴＲＵＥ", "ＦＡＬＳＥ"), ("１", "０")],
)
def test_flags_in_every_spelling(catalog, yes, no):
    text = (
        ",".join(HEADER)
        + "\n"
        + "\n".join(
            [
                f"{A},請負 さん,呉市,local,,,,{yes},{no},",
                f"{A},派遣 さん,呉市,local,,,,{no},{yes},",
                f"{A},職員 さん,呉市,local,,,,{no},{no},",
            ]
        )
        + "\n"
    )
    report = import_registrations(catalog, text.encode("utf-8"), today=NOW.date(), now=NOW)
    assert report.added == 3
    got = {r.name: (r.contractor, r.dispatched) for r in regs.for_session(catalog, A)}
    assert got == {"請負 さん": (True, False), "派遣 さん": (False, True), "職員 さん": (False, False)}


def test_an_unknown_flag_names_the_line_and_column(catalog):
    text = ",".join(HEADER) + f"\n{A},甲,呉市,local,,,,たぶん,,\n"
    with pytest.raises(ImportRowsError) as e:
        import_registrations(catalog, text.encode("utf-8"), today=NOW.date(), now=NOW)
    assert "line 2: contractor: 'たぶん' is not a yes/no value" in e.value.en
    assert "2行目: contractor:" in say(e.value, "ja") and "○/×" in say(e.value, "ja")
    assert regs.for_session(catalog, A) == []


def test_truthy_words():
    assert [truthy(v) for v in ("はい", " ○ ", "◯", "YES", 1, True)] == [True] * 6
    assert [truthy(v) for v in ("いいえ", "×", "", None, 0, False)] == [False] * 6
