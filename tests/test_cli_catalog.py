import json
import subprocess
import sys

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYDER_DB", str(tmp_path / "cli.db"))
    monkeypatch.delenv("CYDER_TODAY", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sessions_json_lists_all_100(capsys):
    code, out, _ = run(capsys, "sessions", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 100
    for key in (
        "id",
        "fiscal_year",
        "course",
        "region",
        "prefecture",
        "city",
        "start",
        "end",
        "seats",
        "seats_left",
        "deadline",
    ):
        assert key in rows[0]
    assert {r["course"] for r in rows} == {"A", "B-1", "B-2", "C"}
    assert sum(r["course"] == "A" for r in rows) == 64


def test_sessions_near_place_and_point(capsys):
    code, out, _ = run(
        capsys, "sessions", "--near", "hiroshima", "--course", "a", "--limit", "3", "--format", "json"
    )
    rows = json.loads(out)
    assert code == 0 and [r["city"] for r in rows][0] == "広島" and len(rows) == 3
    assert all("distance_km" in r for r in rows)
    code, out, _ = run(capsys, "sessions", "--near", "35.36,133.82", "--limit", "1", "--format", "json")
    assert json.loads(out)[0]["city"] == "倉吉"


def test_sessions_filters_and_csv(capsys):
    code, out, _ = run(capsys, "sessions", "--region", "kinki", "--course", "B-2", "--format", "csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("id,") and len(lines) == 3
    code, out, _ = run(
        capsys, "sessions", "--eligible-for", "local", "--from", "2025-01-01", "--format", "json"
    )
    assert {r["course"] for r in json.loads(out)} == {"A", "C"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sessions", "--course", "Z"], "unknown course 'Z'"),
        (["sessions", "--prefecture", "広嶋"], "広島県"),
        (["sessions", "--region", "narnia"], "narnia"),
        (["sessions", "--eligible-for", "company"], "national, local"),
        (["sessions", "--from", "2024-13-01"], "not a date"),
        (["eligibility", "--org-type", "startup"], "unknown organisation type"),
        (["sessions", "--near", "95.5,200.1"], "--near"),
        (["sessions", "--limit", "-1"], "'-1' must be 1 or more"),
        (["sessions", "--limit", "0"], "'0' must be 1 or more"),
        (["sessions", "--limit", "many"], "not a whole number"),
        (["cancel-registration", "99999999999999999999", "--reason", "x"], "is too large"),
        (["promote-registration", "99999999999999999999"], "is too large"),
        (["db", "backup", "/nonexistent-dir/x.db"], "no such folder /nonexistent-dir"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(argv))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_eligibility_json(capsys):
    code, out, _ = run(capsys, "eligibility", "--org-type", "local", "--contractor", "--format", "json")
    rows = {r["course"]: r for r in json.loads(out)}
    assert rows["B-1"]["eligible"] is False and rows["A"]["fee"] == "paid" and rows["A"]["fee_yen"] == 77000
    assert set(rows["A"]) == {"course", "eligible", "fee", "fee_yen", "reason_ja", "reason_en"}


def test_courses_json(capsys):
    code, out, _ = run(capsys, "courses", "--format", "json")
    codes = [c["code"] for c in json.loads(out)]
    assert codes == ["A", "B-1", "B-2", "C", "PRE"]


def test_db_init_load_backup(capsys, tmp_path):
    assert run(capsys, "db", "init")[0] == 0
    code, out, _ = run(capsys, "db", "load", "schedules/fy2024.toml")
    assert code == 0 and "0 added, 0 updated, 0 cancelled, 100 unchanged" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("fiscal_year = 1\n", encoding="utf-8")
    code, _, err = run(capsys, "db", "load", str(bad))
    assert code == 2 and f"{bad}:1:" in err
    assert run(capsys, "db", "init")[0] == 0
    code, _, _ = run(capsys, "db", "backup", str(tmp_path / "copy.db"))
    assert code == 0 and (tmp_path / "copy.db").stat().st_size > 0


@pytest.mark.e2e
def test_console_script_runs_as_a_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "sessions", "--prefecture", "鳥取", "--format", "json"],
        capture_output=True,
        text=True,
        env={"CYDER_DB": str(tmp_path / "p.db"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["city"] for r in json.loads(proc.stdout)] == ["倉吉"]


def test_eligibility_private_dispatched_reason_and_fee_agree(capsys):
    """Issue 12.4: `eligibility --org-type private --dispatched` printed "…attends as that
    body's staff. Paid", and ineligible rows said `False free 0`."""
    code, out, _ = run(capsys, "eligibility", "--org-type", "private", "--dispatched")
    assert code == 0
    assert "that body's staff" not in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["A"][:4] == ["A", "True", "paid", "77000"]
    assert rows["B-1"][:4] == ["B-1", "False", "-", "-"]
    assert "free" not in " ".join(rows["B-1"])
    code, out, _ = run(capsys, "eligibility", "--org-type", "private", "--dispatched", "--format", "json")
    b1 = {r["course"]: r for r in json.loads(out)}["B-1"]
    assert (b1["eligible"], b1["fee"], b1["fee_yen"]) == (False, None, None)


def test_backup_writes_a_readable_copy(capsys, tmp_path):
    import sqlite3

    assert run(capsys, "db", "init")[0] == 0
    code, _, _ = run(capsys, "db", "backup", str(tmp_path / "copy.db"))
    assert code == 0
    n = sqlite3.connect(tmp_path / "copy.db").execute("select count(*) from sessions").fetchone()[0]
    assert n == 100
