import csv
import io
import json

import openpyxl
import pytest

from catalog import registrations as regs
from catalog.errors import InvalidInput, NotFound
from catalog.registrations import Applicant
from catalog.rosters import ROSTER_COLUMNS, export_roster, headers, roster_rows
from catalog.stats import registration_stats
from catalog.teams import form_teams
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"
B1 = "2024-B-1-34-1029"


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "c.db")
    fixed = edited_schedule(
        tmp_path, 'city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = 5 }'
    )
    loader.load(c.store, fixed, NOW)
    people = [
        Applicant("山田 太郎", "広島市", "local", "情報政策課", "taro@city.example.lg.jp", "広島県"),
        Applicant("鈴木 一郎", "中国電力", "infra", email="ichiro@example.co.jp"),
        Applicant("派遣 さん", "呉市", "local", dispatched=True),
        Applicant("請負 さん", "呉市", "local", contractor=True),
        Applicant("佐藤 花子", "府中町", "local"),
        Applicant("待ち 一", "三原市", "local"),
        Applicant("待ち 二", "尾道市", "local"),
    ]
    for p in people:
        regs.register(c, A, [p], today=TODAY, now=NOW, waitlist=True, source="cli")
    regs.register(c, B1, [Applicant("田中", "岡山県", "local")], today=TODAY, now=NOW)
    form_teams(c, A, now=NOW)
    return c


def test_roster_rows_have_every_column_fee_team_and_status(catalog):
    rows = list(roster_rows(catalog, A))
    assert all(tuple(r) == ROSTER_COLUMNS for r in rows)
    assert [r["name"] for r in rows][:2] == ["山田 太郎", "鈴木 一郎"]
    fees = {r["name"]: r["fee"] for r in rows}
    assert fees == {
        "山田 太郎": "free",
        "鈴木 一郎": "paid",
        "派遣 さん": "free",
        "請負 さん": "paid",
        "佐藤 花子": "free",
        "待ち 一": "free",
        "待ち 二": "free",
    }
    assert [r["status"] for r in rows] == ["registered"] * 5 + ["waitlisted #1", "waitlisted #2"]
    assert all(r["team"] == 1 for r in rows[:5])  # five people: one team of five
    assert rows[5]["team"] is None
    assert rows[0]["e-mail"] == "taro@city.example.lg.jp" and rows[0]["department"] == "情報政策課"
    assert rows[0]["registered at"] == NOW.isoformat(timespec="seconds")


def test_csv_has_a_bom_and_parses_back(catalog):
    name, mime, data = export_roster(catalog, [A], "csv")
    assert name == f"roster-{A}.csv" and mime.startswith("text/csv")
    assert data.startswith(b"\xef\xbb\xbf")
    back = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(back[0]) == headers("ja")
    assert len(back) == 7 and back[0]["氏名"] == "山田 太郎" and back[0]["チーム"] == "1"
    assert back[6]["状態"] == "キャンセル待ち2番" and back[6]["チーム"] == ""


def test_cp932_csv(catalog):
    name, mime, data = export_roster(catalog, [A], "csv-cp932")
    assert "shift_jis" in mime and name.endswith(".csv")
    assert not data.startswith(b"\xef\xbb\xbf")
    back = list(csv.DictReader(io.StringIO(data.decode("cp932"))))
    assert back[1]["所属"] == "中国電力"


def test_json(catalog):
    name, mime, data = export_roster(catalog, [A, B1], "json")
    rows = json.loads(data)
    assert mime == "application/json" and name.endswith("-all.json")
    assert [r["session"] for r in rows] == [A] * 7 + [B1]
    assert rows[-1]["team"] is None  # B-1 teams not formed yet


def test_xlsx_one_sheet_per_session_frozen_header_widths(catalog, tmp_path):
    ids = [A, B1, "2024-A-13-0709"]
    name, mime, data = export_roster(catalog, ids, "xlsx")
    assert name.endswith(".xlsx") and "spreadsheetml" in mime
    path = tmp_path / name
    path.write_bytes(data)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ids
    ws = wb[A]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == headers("ja")
    assert ws.max_row == 8
    assert [ws.cell(row=i, column=2).value for i in range(2, 9)] == [1] * 5 + [None, None]
    assert ws.cell(row=2, column=3).value == "山田 太郎"
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths["H"] >= len("taro@city.example.lg.jp") and 4 <= widths["B"] < widths["H"]
    assert wb["2024-A-13-0709"].max_row == 1  # header only


def test_bad_format_or_session(catalog):
    with pytest.raises(InvalidInput):
        export_roster(catalog, [A], "pdf")
    with pytest.raises(NotFound):
        export_roster(catalog, ["nope"], "csv")
    with pytest.raises(InvalidInput):
        export_roster(catalog, [], "csv")


def test_stats_per_course_and_region(catalog):
    stats = registration_stats(catalog)
    chugoku_a = next(r for r in stats if r["course"] == "A" and r["region"] == "中国")
    assert chugoku_a["registered"] == 5 and chugoku_a["waitlisted"] == 2
    assert chugoku_a["capacity"] == 30 * (chugoku_a["sessions"] - 1) + 5
    assert sum(r["sessions"] for r in stats) == 100
    assert sum(r["registered"] for r in stats) == 6
    assert [r["course"] for r in stats][0] == "A"
    assert stats.index(chugoku_a) < stats.index(
        next(r for r in stats if r["course"] == "A" and r["region"] == "九州")
    )


# (a name needs a letter, issue 12.8: the digits-only ones carry one, still led by + and -)
FORMULAS = ['=HYPERLINK("http://x","y")', "+81-3-1234 山田", "-1+2 花子", "@SUM(A1)", "%PATH%"]


@pytest.fixture
def hostile(tmp_path):
    """Registrants whose chosen names would be formulas in staff's Excel."""
    c = make_catalog(tmp_path / "h.db")
    for i, name in enumerate(FORMULAS):
        regs.register(
            c, A, [Applicant(name, f"組織{i}", "local")], today=TODAY, now=NOW, waitlist=True, source="cli"
        )
    return c


@pytest.mark.parametrize("fmt", ["csv", "csv-cp932"])
def test_csv_never_carries_a_formula(hostile, fmt):
    _, _, data = export_roster(hostile, [A], fmt)
    text = data.decode("utf-8-sig" if fmt == "csv" else "cp932")
    names = [r["氏名"] for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert len(names) == len(FORMULAS)
    assert all(n.startswith("'") for n in names), names
    assert [n[1:] for n in names] == FORMULAS  # the name itself is kept, only neutralised


def test_xlsx_writes_names_as_text_cells(hostile, tmp_path):
    _, _, data = export_roster(hostile, [A], "xlsx")
    path = tmp_path / "r.xlsx"
    path.write_bytes(data)
    ws = openpyxl.load_workbook(path).active
    col = list(ROSTER_COLUMNS).index("name") + 1
    cells = [ws.cell(row=r, column=col) for r in range(2, 2 + len(FORMULAS))]
    assert [c.value for c in cells] == FORMULAS
    assert all(c.data_type == "s" for c in cells)


def test_a_leading_tab_or_carriage_return_is_neutralised_too():
    """Registration strips names, but rows may come from elsewhere (an import, an edit)."""
    from catalog.rosters import _csv_text

    row = dict.fromkeys(ROSTER_COLUMNS, "")
    text = _csv_text([{**row, "name": "\tcmd", "organisation": "\r=1+1"}])
    [parsed] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert parsed["name"] == "'\tcmd" and parsed["organisation"] == "'\r=1+1"
