import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import pytest

from catalog.errors import ScheduleError
from catalog.store import Store
from schedules import loader
from tests.util_catalog import NOW, SCHEDULE, edited_schedule, make_catalog

SEED = str(Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_7c7315661ae89c77.txt")


def dump(path):
    conn = sqlite3.connect(path)
    out = {t: sorted(map(tuple, conn.execute(f"select * from {t}")))
           for (t,) in conn.execute("select name from sqlite_master where type='table'")}
    conn.close()
    return out


def test_shipped_file_has_declared_totals():
    sched = loader.parse(SCHEDULE)
    counts = {}
    for s in sched.sessions:
        counts[s["course"]] = counts.get(s["course"], 0) + 1
    assert counts == {"A": 64, "B-1": 18, "B-2": 13, "C": 5}
    assert len(sched.windows) == 2
    assert {w["first"] for w in sched.windows} == {"2024-05-21", "2024-10-17"}


def test_every_date_is_a_weekday_inside_fy2024():
    for s in loader.parse(SCHEDULE).sessions:
        first, last = dt.date.fromisoformat(s["first_day"]), dt.date.fromisoformat(s["last_day"])
        assert dt.date(2024, 4, 1) <= first <= last <= dt.date(2025, 3, 31)
        assert first.weekday() < 5 and last.weekday() < 5
        assert (last - first).days == (1 if s["course"] == "C" else 0)


def test_ids_are_stable_readable_and_url_safe():
    sched = loader.parse(SCHEDULE)
    ids = [s["id"] for s in sched.sessions]
    assert len(set(ids)) == 100
    assert "2024-A-34-1025" in ids  # 広島, 10/25
    assert "2024-C-27-0130" in ids  # 大阪 C, 1/30~31 (2025)
    assert all(re.fullmatch(r"[0-9A-Za-z-]+", i) for i in ids)
    assert ids == [s["id"] for s in loader.parse(SCHEDULE).sessions]


@pytest.mark.skipif(not __import__("os").path.exists(SEED), reason="seed text not beside the repo")
def test_every_seed_date_and_city_is_in_the_file():
    """Cross-check against the original text: each 'M/D city' pair of the A/B/C schedule."""
    text = Path(SEED).read_text(encoding="utf-8")
    part = text[text.index("参考：CYDER開催スケジュール"):text.index("プレCYDER 前半")]
    pairs = re.findall(r"(\d{1,2})/(\d{1,2})(?:~(\d{1,2}))?\s+(\S+?)(?=\s|$)", part)
    seed = sorted((int(m), int(d), city) for m, d, _, city in pairs)
    ours = sorted((dt.date.fromisoformat(s["first_day"]).month,
                   dt.date.fromisoformat(s["first_day"]).day, s["city"])
                  for s in loader.parse(SCHEDULE).sessions)
    assert ours == seed


def test_load_twice_changes_nothing(tmp_path):
    db = tmp_path / "c.db"
    make_catalog(db)
    before = dump(db)
    report = loader.load(Store.open(db), SCHEDULE, NOW + dt.timedelta(days=1))
    assert not report.changed and report.unchanged == 100
    assert dump(db) == before


def test_corrected_file_updates_in_place_and_raises_revision(tmp_path):
    db = tmp_path / "c.db"
    catalog = make_catalog(db)
    fixed = edited_schedule(
        tmp_path,
        '{ course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 }',
        '{ course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25, '
        'start = "10:00", end = "17:00", venue = "広島テスト会場", capacity = 24 }')
    report = loader.load(catalog.store, fixed, NOW)
    assert report.updated == ["2024-A-34-1025"] and not report.added
    s = catalog.session("2024-A-34-1025")
    assert (s.revision, s.start_time, s.venue, s.capacity) == (1, "10:00", "広島テスト会場", 24)
    assert catalog.session("2024-A-13-0709").revision == 0
    assert not loader.load(catalog.store, fixed, NOW).changed  # same corrected file again


def test_session_dropped_from_file_is_cancelled_not_deleted(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    text = SCHEDULE.read_text(encoding="utf-8")
    line = '  { course = "A", region = "沖縄", prefecture = "沖縄県", city = "那覇", first = 2024-11-26 },\n'
    moved = line.replace("2024-11-26", "2024-11-27")
    path = tmp_path / "moved.toml"
    path.write_text(text.replace(line, moved), encoding="utf-8")
    report = loader.load(catalog.store, path, NOW)
    assert report.added == ["2024-A-47-1127"] and report.cancelled == ["2024-A-47-1126"]
    old = catalog.session("2024-A-47-1126")
    assert old.status == "cancelled" and old.revision == 1
    assert "2024-A-47-1126" not in {s.id for s in catalog.all_sessions()}


BAD_CASES = [
    ('course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
     'course = "Z", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
     "unknown course 'Z'"),
    ('prefecture = "広島県", city = "広島", first = 2024-10-25',
     'prefecture = "広嶋県", city = "広島", first = 2024-10-25', "unknown prefecture"),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2025-04-02 }', "outside FY2024"),
    ('first = 2024-11-28, last = 2024-11-29', 'first = 2024-11-28, last = 2024-11-27',
     "before first day"),
    ('prefecture = "広島県", city = "広島", first = 2024-10-25',
     'prefecture = "広島県", city = "存在しない町", first = 2024-10-25', "unknown city"),
    ('region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
     'region = "四国", prefecture = "広島県", city = "広島", first = 2024-10-25', "does not match"),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, start = "25:00", end = "26:00" }',
     "HH:MM"),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, seats = 3 }',
     "unknown field"),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = -1 }',
     "capacity"),
]


@pytest.mark.parametrize(("old", "new", "reason"), BAD_CASES)
def test_bad_session_is_refused_with_line_and_db_untouched(tmp_path, old, new, reason):
    db = tmp_path / "c.db"
    make_catalog(db)
    before = dump(db)
    bad = edited_schedule(tmp_path, old, new, "bad.toml")
    expected_line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1) if new in ln)
    with pytest.raises(ScheduleError) as err:
        loader.load(Store.open(db), bad, NOW)
    assert err.value.line == expected_line
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{bad}:{expected_line}: ")
    assert dump(db) == before


def test_duplicate_session_names_both_lines(tmp_path):
    line = '  { course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 },\n'
    text = SCHEDULE.read_text(encoding="utf-8").replace(line, line + line)
    path = tmp_path / "dup.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScheduleError, match=r"duplicate session 2024-A-34-1025 \(also at line \d+\)"):
        loader.parse(path)


def test_count_mismatch_refused(tmp_path):
    path = edited_schedule(tmp_path, "\nA = 64\n", "\nA = 65\n")
    with pytest.raises(ScheduleError, match="declares 65 sessions in \\[totals\\] but lists 64") as err:
        loader.parse(path)
    assert err.value.line is not None


def test_broken_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('fiscal_year = 2024\nsessions = [ { course = "A" \n', encoding="utf-8")
    with pytest.raises(ScheduleError, match="not valid TOML"):
        loader.parse(path)
    with pytest.raises(ScheduleError, match="cannot read"):
        loader.parse(tmp_path / "nope.toml")
    (tmp_path / "latin.toml").write_bytes(b"fiscal_year = 2024\n\xff\xfe")
    with pytest.raises(ScheduleError, match="not UTF-8"):
        loader.parse(tmp_path / "latin.toml")


def test_wal_and_foreign_keys(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    assert catalog.store.one("pragma journal_mode")["journal_mode"] == "wal"
    assert catalog.store.one("pragma foreign_keys")["foreign_keys"] == 1
    with pytest.raises(sqlite3.IntegrityError), catalog.store.write() as db:
        db["registrations"].insert({"session_id": "nope", "name": "x", "status": "registered",
                                    "created_at": "2024-06-01"})


def test_backup_is_a_consistent_copy(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    catalog.store.backup(tmp_path / "b.db")
    assert json.dumps(dump(tmp_path / "b.db"), default=str) == json.dumps(dump(tmp_path / "c.db"), default=str)


def test_moved_session_keeps_its_pinned_id_and_registrations(tmp_path):
    from catalog import registrations as regs
    catalog = make_catalog(tmp_path / "c.db")
    reg = regs.register(catalog, "2024-A-47-1126",
                        [regs.Applicant("那覇 太郎", "那覇市", "local", email="t@naha.example.lg.jp")],
                        today=NOW.date(), now=NOW, user_id=5).registrations[0]
    moved = edited_schedule(
        tmp_path, 'city = "那覇", first = 2024-11-26 }',
        'city = "那覇", first = 2024-11-29, id = "2024-A-47-1126" }')
    report = loader.load(catalog.store, moved, NOW)
    assert report.updated == ["2024-A-47-1126"] and not report.added and not report.cancelled
    s = catalog.session("2024-A-47-1126")
    assert (s.first_day, s.revision, s.registered) == (dt.date(2024, 11, 29), 1, 1)
    assert regs.get_registration(catalog, reg.id).status == "registered"
    bad = edited_schedule(tmp_path, 'city = "那覇", first = 2024-11-26 }',
                          'city = "那覇", first = 2024-11-29, id = "2024-B-1-47-1126" }', "bad.toml")
    with pytest.raises(ScheduleError, match="must look like 2024-A-"):
        loader.parse(bad)
