"""A fiscal year from a spreadsheet: the Excel template, `cyder-bot schedule import` (every
row checked first, nothing saved when one is bad, --dry-run previews), and several years in
one database."""

from __future__ import annotations

import codecs
import io
import json

import openpyxl
import pytest

from bot.cli import main
from catalog.service import Catalog
from catalog.session_row import SPREADSHEET_COLUMNS
from catalog.store import Store

A = "2024-A-34-1025"


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("CYDER_TODAY", "2024-06-01")


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def store(tmp_path) -> Store:
    return Store.open(tmp_path / "cli.db")


HEADER = "course,region,prefecture,city,first,last,venue,address,start,end,capacity,id"


def test_template_has_the_columns_and_instructions_in_japanese_and_english(capsys, tmp_path):
    out = tmp_path / "t.xlsx"
    code, _, err = run(capsys, "schedule", "template", "-o", str(out))
    assert code == 0 and "wrote" in err
    book = openpyxl.load_workbook(out)
    sheet = book["sessions"]
    header = [c.value for c in sheet[1]]
    assert header[:12] == [
        "コース / course",
        "地域 / region",
        "都道府県 / prefecture",
        "市区町村 / city",
        "初日 / first",
        "最終日 / last",
        "会場 / venue",
        "住所 / address",
        "開始 / start",
        "終了 / end",
        "定員 / capacity",
        "ID / id",
    ]
    assert len(header) == len(SPREADSHEET_COLUMNS) and sheet.max_row == 1
    help_text = " ".join(
        str(c.value) for row in book["説明 instructions"].iter_rows() for c in row if c.value
    )
    assert "1行1開催回" in help_text and "one row per session" in help_text
    assert "Every row is checked first" in help_text and "何も保存しません" in help_text


def test_a_filled_template_of_the_year_imports_as_unchanged(capsys, tmp_path):
    out = tmp_path / "fy2024.xlsx"
    assert run(capsys, "schedule", "template", "-o", str(out), "--fiscal-year", "2024")[0] == 0
    assert openpyxl.load_workbook(out)["sessions"].max_row == 101
    code, out_text, _ = run(capsys, "schedule", "import", str(out), "--dry-run")
    assert code == 0
    assert out_text.strip() == (
        f"{out}: dry run, nothing saved: FY2024: 0 added, 0 updated, 0 cancelled, 100 unchanged"
    )


def test_bad_rows_are_each_named_and_nothing_is_saved(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        "\n".join(
            [
                HEADER,
                "A,中国,広島県,広島,2024-10-25,,,,,,,",
                "A,,広島県,どこか,2024-10-30,,,,,,,",
                "A,,広島県,広島,2025-04-08,,,,,,,",
                "A,,広島県,広島,2024-10-25,,,,,,,",
                "A,,鳥取県,倉吉,2024-11-13,,,,10:00,,,",
            ]
        ).encode("cp932")
    )
    run(capsys, "db", "init")
    code, out, err = run(capsys, "schedule", "import", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines == [
        f"{path}:3: unknown city 'どこか' in 広島県: add it to catalog/places.py",
        f"{path}:4: date outside FY2024 (2024-04-01 to 2025-03-31): 2025-04-08..2025-04-08",
        f"{path}:5: duplicate session 2024-A-34-1025 (also at line 2)",
        f"{path}:6: give both start and end, or neither",
        f"{path}: nothing saved (4 problem(s))",
    ]
    assert store(tmp_path).one("select count(*) as n from sessions where status = 'scheduled'")["n"] == 100


def _sheet_of_2024(tmp_path) -> tuple[openpyxl.Workbook, object]:
    from catalog import schedule_edit, schedule_sheet

    s = store(tmp_path)
    rows = [
        schedule_edit.edit_fields(r)
        for r in s.query(
            "select * from sessions where fiscal_year = 2024 order by first_day, course, prefecture_code"
        )
    ]
    book = openpyxl.load_workbook(io.BytesIO(schedule_sheet.template(rows)))
    return book, book["sessions"]


def test_dry_run_previews_added_changed_and_cancelled_then_the_import_saves_them(capsys, tmp_path):
    run(capsys, "db", "init")
    book, sheet = _sheet_of_2024(tmp_path)
    ids = {sheet.cell(row=r, column=12).value: r for r in range(2, sheet.max_row + 1)}
    sheet.cell(row=ids[A], column=5).value = "2024/11/5"  # as Japanese Excel writes dates
    sheet.cell(row=ids[A], column=6).value = None  # blank: the same as the first day
    sheet.delete_rows(ids["2024-B-1-34-1029"])
    sheet.append(["A", None, "鳥取県", "倉吉", "2024-11-13", None, None, None, "10:00", "17:00", 20])
    path = tmp_path / "fy2024-edited.xlsx"
    book.save(path)
    code, out, err = run(capsys, "schedule", "import", str(path), "--dry-run")
    assert code == 0, err
    assert (
        "change   2024-A-34-1025  A 2024-11-05 広島県 広島 (first day: 2024-10-25 → 2024-11-05; "
        "last day: 2024-10-25 → 2024-11-05)" in out
    )
    assert "cancel   2024-B-1-34-1029" in out and "add      2024-A-31-1113" in out
    assert out.strip().endswith("FY2024: 1 added, 1 updated, 1 cancelled, 98 unchanged")
    s = store(tmp_path)
    assert s.one("select first_day from sessions where id = ?", [A])["first_day"] == "2024-10-25"
    code, out, _ = run(capsys, "schedule", "import", str(path))
    assert code == 0 and out.strip().endswith("FY2024: 1 added, 1 updated, 1 cancelled, 98 unchanged")
    assert s.one("select first_day, revision from sessions where id = ?", [A]) == {
        "first_day": "2024-11-05",
        "revision": 1,
    }
    assert s.one("select status from sessions where id = '2024-B-1-34-1029'")["status"] == "cancelled"
    # importing the same sheet again changes nothing
    code, out, _ = run(capsys, "schedule", "import", str(path))
    assert out.strip().endswith("FY2024: 0 added, 0 updated, 0 cancelled, 100 unchanged")


def test_weekend_rows_need_confirming(capsys, tmp_path):
    path = tmp_path / "weekend.csv"
    path.write_text(
        f"{HEADER}\nA,,広島県,広島,2025/5/24,,,,,,,\nA,,広島県,呉,2025/5/27,,,,9:30,16:00,30,\n",
        encoding="utf-8-sig",
    )
    run(capsys, "db", "init")
    code, _, err = run(capsys, "schedule", "import", str(path))
    assert code == 2
    assert f"{path}:2: 2025-05-24 is a Saturday (confirm weekends to import it)" in err
    code, out, _ = run(capsys, "schedule", "import", str(path), "--confirm-weekends")
    assert code == 0
    assert "FY2025: 2 added, 0 updated, 0 cancelled, 0 unchanged" in out
    assert "new year: copied from FY2024" in out
    row = store(tmp_path).one("select * from sessions where id = '2025-A-34-0527'")
    assert (row["city"], row["start_time"], row["end_time"], row["capacity"]) == ("呉", "09:30", "16:00", 30)


def test_a_new_fiscal_year_sits_beside_the_old_one(capsys, tmp_path):
    path = tmp_path / "fy2025.csv"
    path.write_bytes(
        codecs.BOM_UTF8
        + "\n".join(
            [
                "コース,都道府県,市区町村,初日,最終日,定員",
                "A,広島県,広島,2025-07-09,,30",
                "C,東京都,東京,2025-11-27,2025-11-28,",
                "B-2,愛知県,名古屋,2026-01-20,,",
            ]
        ).encode("utf-8")
    )
    run(capsys, "db", "init")
    assert run(capsys, "schedule", "import", str(path))[0] == 0
    s = store(tmp_path)
    year = s.one("select * from years where fiscal_year = 2025")
    assert (year["label_ja"], year["label_en"], year["seats"]) == ("令和7年度", "FY2025", 30)
    course = s.one("select * from courses where fiscal_year = 2025 and code = 'A'")
    assert (course["period_ja"], course["period_en"], course["fee_yen"]) == ("7月", "July", 77000)
    assert s.one("select count(*) as n from online_windows where fiscal_year = 2025")["n"] == 0
    # June 2024: FY2024 is the year the date falls in, FY2025 is the next, loaded: both shown.
    code, out, _ = run(capsys, "sessions", "--format", "json")
    years = [r["fiscal_year"] for r in json.loads(out)]
    assert (years.count(2024), years.count(2025)) == (100, 3)
    # Past years stay in the database and in exports.
    cat = Catalog(s, 2025)
    assert cat.fiscal_years == (2025,) and len(cat.all_sessions()) == 3
    assert len(cat.sessions_of(2024)) == 100 and cat.session(A).fiscal_year == 2024
    code, out, _ = run(capsys, "roster", A, "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_malformed_files_get_a_clear_answer(capsys, tmp_path):
    run(capsys, "db", "init")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    code, _, err = run(capsys, "schedule", "import", str(broken))
    assert code == 2 and err.strip() == (
        f"cyder-bot: error: {broken}: not a readable Excel workbook (.xlsx): BadZipFile"
    )
    binary = tmp_path / "picture.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    code, _, err = run(capsys, "schedule", "import", str(binary))
    assert code == 2 and "not a spreadsheet" in err
    header = tmp_path / "columns.csv"
    header.write_text("course,prefecture,town,first\nA,広島県,広島,2024-10-25\n", encoding="utf-8")
    code, _, err = run(capsys, "schedule", "import", str(header))
    assert code == 2 and "line 1: unknown column 'town'; missing column 'city'" in err
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER + "\n", encoding="utf-8")
    code, _, err = run(capsys, "schedule", "import", str(empty), "--fiscal-year", "2024")
    assert code == 2 and "no sessions in the file" in err
    code, _, err = run(capsys, "schedule", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in err


def test_cli_add_edit_and_cancel_one_session(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "schedule",
        "add",
        "--course",
        "A",
        "--prefecture",
        "鳥取",
        "--city",
        "倉吉",
        "--first",
        "2024-11-13",
    )
    assert code == 0 and out.strip() == "2024-A-31-1113: added"
    code, _, err = run(capsys, "schedule", "edit", "2024-A-31-1113", "--first", "2024-11-16")
    assert code == 2 and err.strip() == (
        "cyder-bot: error: 2024-11-16 is a Saturday: add --confirm-weekend to save it anyway"
    )
    code, out, _ = run(
        capsys, "schedule", "edit", "2024-A-31-1113", "--first", "2024-11-16", "--confirm-weekend"
    )
    assert code == 0 and out.strip() == "2024-A-31-1113: changed (registrants will be told)"
    code, out, _ = run(capsys, "schedule", "edit", "2024-A-31-1113", "--capacity", "12")
    assert out.strip() == "2024-A-31-1113: capacity changed"
    code, out, _ = run(capsys, "schedule", "cancel", "2024-A-31-1113")
    assert code == 0 and out.strip() == "2024-A-31-1113: cancelled (registrants will be told)"
    code, _, err = run(capsys, "schedule", "edit", "2024-A-31-1113")
    assert code == 2 and "nothing to change" in err


def test_a_past_years_rosters_stay_exportable(capsys, tmp_path):
    run(capsys, "db", "init")
    path = tmp_path / "fy2025.csv"
    path.write_text(f"{HEADER}\nA,,広島県,広島,2025-07-09,,,,,,,\n", encoding="utf-8")
    assert run(capsys, "schedule", "import", str(path))[0] == 0
    assert run(capsys, "register", A, "--name", "山田 太郎", "--org", "広島市", "--org-type", "local")[0] == 0
    code, out, _ = run(capsys, "roster", "--all", "--fiscal-year", "2024", "--format", "json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["山田 太郎"]
    # --all leaves out sessions nobody registered for: FY2025 has sessions but no roster
    code, _, err = run(capsys, "roster", "--all", "--fiscal-year", "2025", "--format", "json")
    assert code == 2 and "nobody is registered for any session of FY2025" in err
    code, _, err = run(capsys, "roster", "--all", "--fiscal-year", "2019")
    assert code == 2 and "FY2019 has no sessions" in err
