"""Rosters in the staff's language (issue 13 §5): Japanese headers and values by default,
English on request, real Excel dates, cp932 that never loses a character silently."""

import csv
import datetime as dt
import io

import openpyxl
import pytest

from catalog import registrations as regs
from catalog.registrations import Applicant
from catalog.rosters import (
    Cp932Unsupported,
    export_roster,
    headers,
    org_type_label,
    sessions_with_people,
    status_label,
)
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "c.db")
    regs.register(
        c,
        A,
        [Applicant("山田 太郎", "広島市", "local", email="taro@city.example.lg.jp")],
        today=TODAY,
        now=NOW,
        source="cli",
    )
    regs.register(c, A, [Applicant("鈴木 一郎", "中国電力", "infra")], today=TODAY, now=NOW, source="cli")
    return c


def pairs(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    """Each row of a CSV as "header: value" strings."""
    rows = list(csv.reader(io.StringIO(data.decode(encoding), newline="")))
    return [[f"{h}: {v}" for h, v in zip(rows[0], row, strict=True)] for row in rows[1:]]


def test_japanese_headers_and_values_by_default(catalog):
    _, _, data = export_roster(catalog, [A], "csv")
    first, second = pairs(data)
    for example in ("区分: 地方公共団体", "受講料: 無料", "状態: 登録済"):
        assert example in first
    assert "氏名: 山田 太郎" in first and "申込日時: 2024-06-01 10:00" in first
    assert "区分: 重要社会基盤事業者" in second and "受講料: 有料" in second


def test_english_on_request(catalog):
    _, _, data = export_roster(catalog, [A], "csv", lang="en")
    first, _second = pairs(data)
    assert {"org type: Local government", "fee: free", "status: registered", "name: 山田 太郎"} <= set(first)
    assert headers("en")[:3] == ["session", "team", "name"]


def test_labels():
    assert status_label("waitlisted #3") == "キャンセル待ち3番"
    assert status_label("waitlisted #3", "en") == "waitlisted #3"
    assert status_label("registered") == "登録済"


def test_org_type_labels_are_words_and_unknown_codes_stay(catalog):
    assert org_type_label(catalog, "local") == "地方公共団体"
    assert org_type_label(catalog, "local", "en") == "Local government"
    assert org_type_label(catalog, "iaa") == "独立行政法人"
    assert org_type_label(catalog, "gone") == "gone"


def test_xlsx_holds_real_excel_dates_and_words(catalog, tmp_path):
    _, _, data = export_roster(catalog, [A], "xlsx")
    path = tmp_path / "r.xlsx"
    path.write_bytes(data)
    ws = openpyxl.load_workbook(path)[A]
    head = [c.value for c in ws[1]]
    assert head == headers("ja")
    cell = ws.cell(row=2, column=head.index("申込日時") + 1)
    assert isinstance(cell.value, dt.datetime) and cell.is_date
    assert cell.value == NOW.replace(tzinfo=None)  # Asia/Tokyo, as Excel holds it (naive)
    assert "yyyy" in cell.number_format
    assert ws.cell(row=2, column=head.index("区分") + 1).value == "地方公共団体"
    assert ws.cell(row=2, column=head.index("状態") + 1).value == "登録済"
    _, _, data = export_roster(catalog, [A], "xlsx", lang="en")
    path.write_bytes(data)
    assert openpyxl.load_workbook(path)[A].cell(row=1, column=5).value == "org type"


def test_json_keeps_names_and_codes_for_programs(catalog):
    import json

    rows = json.loads(export_roster(catalog, [A], "json")[2])
    assert rows[0]["org type"] == "local" and rows[0]["fee"] == "free"
    assert rows[0]["status"] == "registered"


def test_cp932_refuses_and_names_every_character_it_cannot_hold(catalog):
    regs.register(
        catalog,
        A,
        [Applicant("𠮷田 花子", "髙島市", "local"), Applicant("Anna Müller", "髙島市", "local")],
        today=TODAY,
        now=NOW,
        source="cli",
    )
    with pytest.raises(Cp932Unsupported) as e:
        export_roster(catalog, [A], "csv-cp932")
    assert e.value.characters == "𠮷ü"  # 髙 is in cp932: not listed
    assert "𠮷（U+20BB7・4行目の氏名）" in e.value.ja
    assert "ü (U+00FC, line 5, 氏名)" in e.value.en and "UTF-8" in e.value.ja
    name, _, data = export_roster(catalog, [A], "csv")  # the UTF-8 file keeps them
    assert "𠮷田 花子" in data.decode("utf-8-sig") and name.endswith(".csv")


def test_cp932_without_such_characters_is_written(catalog):
    _, _, data = export_roster(catalog, [A], "csv-cp932")
    assert "区分: 地方公共団体" in pairs(data, "cp932")[0]


def test_sessions_with_people(catalog):
    assert sessions_with_people(catalog) == [A]


def test_a_team_exception_is_in_the_rosters_language(catalog):
    from catalog.teams import form_teams

    for i in range(3):
        regs.register(
            catalog, A, [Applicant(f"追加 {i}", f"組織{i}", "local")], today=TODAY, now=NOW, source="cli"
        )
    form_teams(catalog, A, now=NOW)  # five people: one team of five, flagged
    from bot.telegram.i18n import say

    # the exception is said by the door that exports (the .po files), as the chat, the
    # admin pages and the command line do
    ja = pairs(export_roster(catalog, [A], "csv", say=say)[2])[0]
    en = pairs(export_roster(catalog, [A], "csv", lang="en", say=say)[2])[0]
    [ja_cell] = [p for p in ja if p.startswith("チームの例外: ")]
    [en_cell] = [p for p in en if p.startswith("team exception: ")]
    assert ja_cell == "チームの例外: 5名のチームです（1チーム3〜4名）"
    assert en_cell == "team exception: a team of 5 (teams are of three or four)"
