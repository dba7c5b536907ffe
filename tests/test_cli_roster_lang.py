"""`cyder-bot roster` and `import-registrations` for the office (issue 13 §5)."""

import csv
import io

import openpyxl
import pytest

from catalog.imports import HEADER
from tests.test_cli_staff import B1, A, reg, run


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("CYDER_TODAY", "2024-06-01")


def first_row(out: str) -> dict[str, str]:
    return next(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))


def test_roster_in_japanese_by_default_and_english_with_lang_en(capsys):
    reg(capsys, 0)
    code, out, _ = run(capsys, "roster", A)
    row = first_row(out)
    assert code == 0
    assert (f"区分: {row['区分']}", f"受講料: {row['受講料']}", f"状態: {row['状態']}") == (
        "区分: 地方公共団体",
        "受講料: 無料",
        "状態: 登録済",
    )
    code, out, _ = run(capsys, "roster", A, "--lang", "en")
    row = first_row(out)
    assert code == 0 and (row["org type"], row["fee"], row["status"]) == (
        "Local government",
        "free",
        "registered",
    )
    assert run(capsys, "roster", A, "--lang", "fr")[0] == 2


def test_roster_xlsx_dates_and_all_leaves_out_empty_sessions(capsys, tmp_path):
    reg(capsys, 0)
    reg(capsys, 1, session=B1)
    book = tmp_path / "all.xlsx"
    code, _, err = run(capsys, "roster", "--all", "--format", "xlsx", "-o", str(book))
    assert code == 0 and "2 session(s)" in err
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == [A, B1]
    ws = wb[A]
    assert ws.cell(row=2, column=10).is_date and ws.cell(row=1, column=10).value == "申込日時"


def test_roster_all_with_nobody_registered_says_so(capsys):
    code, _, err = run(capsys, "roster", "--all")
    assert code == 2 and "nobody is registered" in err


def test_cp932_export_is_refused_with_the_characters(capsys, tmp_path):
    run(capsys, "register", A, "--name", "𠮷田 花子", "--org", "広島市", "--org-type", "local")
    target = tmp_path / "r.csv"
    code, _, err = run(capsys, "roster", A, "--cp932", "-o", str(target))
    assert code == 2 and "𠮷 (U+20BB7, line 2, 氏名)" in err and "UTF-8" in err
    assert not target.exists()  # nothing half-written
    assert run(capsys, "roster", A, "-o", str(target))[0] == 0
    assert "𠮷田 花子" in target.read_bytes().decode("utf-8-sig")


def test_import_accepts_hai_iie_and_circles(capsys, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(
        (
            ",".join(HEADER) + "\n"
            f"{A},請負 さん,呉市,local,,,,はい,いいえ,\n"
            f"{A},派遣 さん,呉市,local,,,,×,○,\n"
        ).encode("cp932")
    )
    code, out, _ = run(capsys, "import-registrations", str(path))
    assert code == 0 and "2 added" in out
    code, out, _ = run(capsys, "roster", A)
    fees = [r["受講料"] for r in csv.DictReader(io.StringIO(out.lstrip("\ufeff")))]
    assert fees == ["有料", "無料"]  # a contractor pays, a dispatched worker does not
