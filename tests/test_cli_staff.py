import csv
import io
import json

import openpyxl
import pytest

from bot.cli import main
from catalog.imports import HEADER

A = "2024-A-34-1025"
B1 = "2024-B-1-34-1029"


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("CYDER_TODAY", "2024-06-01")


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def reg(capsys, i, *extra, org=None, session=A):
    return run(
        capsys,
        "register",
        session,
        "--name",
        f"人{i}",
        "--org",
        org or f"組織{i}",
        "--org-type",
        "local",
        *extra,
    )


def test_register_one_person(capsys):
    code, out, _ = run(
        capsys,
        "register",
        A,
        "--name",
        "山田 太郎",
        "--org",
        "広島市",
        "--org-type",
        "local",
        "--department",
        "情報政策課",
        "--email",
        "taro@city.example.lg.jp",
        "--prefecture",
        "hiroshima",
    )
    assert code == 0 and out.startswith("registered: #1 山田 太郎 (広島市)") and "fee free" in out
    code, out, _ = run(capsys, "roster", A, "--format", "json")
    rows = json.loads(out)
    assert rows[0]["prefecture"] == "広島県" and rows[0]["department"] == "情報政策課"


def test_register_refusals_exit_2_with_one_line(capsys):
    code, _, err = run(capsys, "register", B1, "--name", "鈴木", "--org", "中国電力", "--org-type", "infra")
    assert code == 2 and err.count("\n") == 1 and "local governments" in err
    code, _, err = run(capsys, "register", A, "--name", "鈴木", "--org", "x", "--org-type", "city")
    assert code == 2 and "unknown organisation type" in err
    code, _, err = run(capsys, "register", "nope", "--name", "鈴木", "--org", "x", "--org-type", "local")
    assert code == 2 and "no session" in err
    assert reg(capsys, 1)[0] == 0
    code, _, err = reg(capsys, 1)
    assert code == 2 and "already registered" in err
    code, _, err = run(
        capsys, "register", A, "--name", "x", "--org", "y", "--org-type", "local", "--email", "bad"
    )
    assert code == 2 and "e-mail" in err
    code, out, _ = run(capsys, "roster", A, "--format", "json")
    assert len(json.loads(out)) == 1


def test_as_team_key(capsys):
    for i in range(4):
        assert reg(capsys, i, "--as-team", "HIRO", org="広島市")[0] == 0
    code, _, err = reg(capsys, 5, "--as-team", "HIRO", org="広島市")
    assert code == 2 and "already has 4" in err
    code, _, err = reg(capsys, 6, "--as-team", "HIRO", org="呉市")
    assert code == 2 and "another organisation" in err
    for i in range(10, 14):
        reg(capsys, i)
    code, out, _ = run(capsys, "teams", A, "--format", "json")
    teams = json.loads(out)
    assert code == 0 and [len(t["members"]) for t in teams] == [4, 4]
    assert any({m["organisation"] for m in t["members"]} == {"広島市"} for t in teams)
    assert set(teams[0]["members"][0]) == {"name", "organisation", "org_type", "prefecture"}


def test_waitlist_flag(capsys, tmp_path):
    from catalog.store import Store

    store = Store.open(tmp_path / "cli.db")
    reg(capsys, 0)
    store.db.execute("update sessions set capacity = 1 where id = ?", [A])
    store.db.conn.commit()
    code, _, err = reg(capsys, 1)
    assert code == 2 and "waitlist" in err
    code, out, _ = reg(capsys, 1, "--waitlist")
    assert code == 0 and out.startswith("waitlisted #1:")


def test_teams_table_show_and_move(capsys):
    for i in range(7):
        reg(capsys, i, org=f"市{i % 2}")
    code, out, err = run(capsys, "teams", A)
    assert code == 0 and "2 team(s): 4+3" in err and "人0" in out
    code, _, err = run(capsys, "teams", A, "--move", "1:2")  # a third 市0 in team 2
    assert code == 2 and err.count("\n") == 1 and "3 people of 市0" in err and "--force" in err
    code, out, _ = run(capsys, "teams", A, "--move", "1:2", "--force", "--format", "json")
    teams = json.loads(out)
    assert "人0" in [m["name"] for m in teams[1]["members"]]
    assert [e["code"] for e in teams[1]["exceptions"]] == ["organisation"]
    code, out, _ = run(capsys, "teams", A, "--format", "json")  # re-form keeps the move
    assert "人0" in [m["name"] for m in json.loads(out)[1]["members"]]
    code, out2, _ = run(capsys, "teams", A, "--show", "--format", "json")
    assert json.loads(out2) == json.loads(out)
    code, _, err = run(capsys, "teams", A, "--move", "1:9")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "teams", A, "--move", "x")
    assert code == 2
    code, _, err = run(capsys, "teams", A, "--force")
    assert code == 2 and "--move" in err


def test_teams_move_into_a_team_of_five_is_refused_unless_forced(capsys):
    """`teams SID --move 8:1` made a team of five without a word."""
    for i in range(8):
        reg(capsys, i)
    code, out, err = run(capsys, "teams", A, "--format", "json")
    assert [len(t["members"]) for t in json.loads(out)] == [4, 4]
    assert "人7" in [m["name"] for m in json.loads(out)[1]["members"]]
    code, out, err = run(capsys, "teams", A, "--move", "8:1")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "team 1 would have 5 people" in err and "--force" in err
    code, out, err = run(capsys, "teams", A, "--show", "--format", "json")
    assert [len(t["members"]) for t in json.loads(out)] == [4, 4]  # nothing moved
    code, out, err = run(capsys, "teams", A, "--move", "8:1", "--force")
    assert code == 0 and "a team of 5" in out and "exception(s) in team 1" in err
    code, out, _ = run(capsys, "teams", A, "--show", "--format", "json")
    shown = json.loads(out)
    assert [len(t["members"]) for t in shown] == [5, 3]
    assert shown[0]["exceptions"][0]["code"] == "size" and shown[1]["exceptions"] == []
    code, out, _ = run(capsys, "roster", A, "--format", "json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert "a team of 5" in rows["人7"]["team exception"] and rows["人0"]["team"] == 1


def test_teams_move_with_a_huge_or_odd_id_is_one_line(capsys):
    """Issue 9 §7: an id past SQLite's integers was an OverflowError traceback."""
    reg(capsys, 1)
    for bad in ("99999999999999999999:1", "1:99999999999999999999", "²:1", "1:"):
        code, out, err = run(capsys, "teams", A, "--move", bad)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (bad, err)


def test_roster_formats(capsys, tmp_path):
    for i in range(5):
        reg(capsys, i)
    run(capsys, "teams", A)
    code, out, _ = run(capsys, "roster", A)  # csv by default, BOM-prefixed UTF-8
    assert code == 0 and out.startswith("\ufeff")
    back = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert len(back) == 5 and back[0]["チーム"] == "1" and back[0]["受講料"] == "無料"
    target = tmp_path / "r.csv"
    assert run(capsys, "roster", A, "--cp932", "-o", str(target))[0] == 0
    assert list(csv.DictReader(io.StringIO(target.read_bytes().decode("cp932"))))[4]["氏名"] == "人4"
    book = tmp_path / "all.xlsx"
    code, _, err = run(capsys, "roster", "--all", "--format", "xlsx", "-o", str(book))
    assert code == 0 and "1 session(s)" in err  # only sessions with anyone registered
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == [A] and wb[A].freeze_panes == "A2" and wb[A].max_row == 6


def test_roster_usage_errors(capsys):
    assert run(capsys, "roster")[0] == 2
    assert run(capsys, "roster", A, "--all")[0] == 2
    assert run(capsys, "roster", A, "--format", "json", "--cp932")[0] == 2
    assert run(capsys, "roster", A, "--format", "pdf")[0] == 2
    assert run(capsys, "roster", "nope")[0] == 2


def test_import_registrations(capsys, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(
        (
            ",".join(HEADER) + "\n" + "\n".join(f"{A},人{i},組織{i},local,,,,,," for i in range(3)) + "\n"
        ).encode("cp932")
    )
    code, out, err = run(capsys, "import-registrations", str(path))
    assert code == 0 and "3 added, 0 already registered" in out
    assert "write lock was held" in err  # staff learn how long the bot's writes waited
    code, out, _ = run(capsys, "import-registrations", str(path))
    assert code == 0 and "0 added, 3 already registered" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(
        ",".join(HEADER) + f"\n{A},新人,x,local,,,,,,\n{B1},会社員,y,private,,,,,,\n", encoding="utf-8-sig"
    )
    code, _, err = run(capsys, "import-registrations", str(bad))
    assert code == 2 and "line 3" in err and err.count("\n") == 1
    code, out, _ = run(capsys, "roster", A, "--format", "json")
    assert len(json.loads(out)) == 3  # nothing of the bad file
    assert run(capsys, "import-registrations", str(tmp_path / "missing.csv"))[0] == 2


def test_stats(capsys):
    reg(capsys, 0)
    code, out, _ = run(capsys, "stats", "--format", "json")
    rows = json.loads(out)
    row = next(r for r in rows if r["course"] == "A" and r["region"] == "中国")
    assert code == 0 and row["registered"] == 1
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "中国" in out
