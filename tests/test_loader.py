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
    out = {
        t: sorted(map(tuple, conn.execute(f"select * from {t}")))
        for (t,) in conn.execute("select name from sqlite_master where type='table'")
    }
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
    part = text[text.index("参考：CYDER開催スケジュール") : text.index("プレCYDER 前半")]
    pairs = re.findall(r"(\d{1,2})/(\d{1,2})(?:~(\d{1,2}))?\s+(\S+?)(?=\s|$)", part)
    seed = sorted((int(m), int(d), city) for m, d, _, city in pairs)
    ours = sorted(
        (dt.date.fromisoformat(s["first_day"]).month, dt.date.fromisoformat(s["first_day"]).day, s["city"])
        for s in loader.parse(SCHEDULE).sessions
    )
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
        'start = "10:00", end = "17:00", venue = "広島テスト会場", capacity = 24 }',
    )
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
    (
        'course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
        'course = "Z", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
        "unknown course 'Z'",
    ),
    (
        'prefecture = "広島県", city = "広島", first = 2024-10-25',
        'prefecture = "広嶋県", city = "広島", first = 2024-10-25',
        "unknown prefecture",
    ),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2025-04-02 }', "outside FY2024"),
    ("first = 2024-11-28, last = 2024-11-29", "first = 2024-11-28, last = 2024-11-27", "before first day"),
    (
        'prefecture = "広島県", city = "広島", first = 2024-10-25',
        'prefecture = "広島県", city = "存在しない町", first = 2024-10-25',
        "unknown city",
    ),
    (
        'region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25',
        'region = "四国", prefecture = "広島県", city = "広島", first = 2024-10-25',
        "does not match",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, start = "25:00", end = "26:00" }',
        "HH:MM",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, seats = 3 }',
        "unknown field",
    ),
    ('city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = -1 }', "capacity"),
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
        db["registrations"].insert(
            {"session_id": "nope", "name": "x", "status": "registered", "created_at": "2024-06-01"}
        )


def test_backup_is_a_consistent_copy(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    catalog.store.backup(tmp_path / "b.db")
    assert json.dumps(dump(tmp_path / "b.db"), default=str) == json.dumps(
        dump(tmp_path / "c.db"), default=str
    )


def test_moved_session_keeps_its_pinned_id_and_registrations(tmp_path):
    from catalog import registrations as regs

    catalog = make_catalog(tmp_path / "c.db")
    reg = regs.register(
        catalog,
        "2024-A-47-1126",
        [regs.Applicant("那覇 太郎", "那覇市", "local", email="t@naha.example.lg.jp")],
        today=NOW.date(),
        now=NOW,
        user_id=5,
    ).registrations[0]
    moved = edited_schedule(
        tmp_path,
        'city = "那覇", first = 2024-11-26 }',
        'city = "那覇", first = 2024-11-29, id = "2024-A-47-1126" }',
    )
    report = loader.load(catalog.store, moved, NOW)
    assert report.updated == ["2024-A-47-1126"] and not report.added and not report.cancelled
    s = catalog.session("2024-A-47-1126")
    assert (s.first_day, s.revision, s.registered) == (dt.date(2024, 11, 29), 1, 1)
    assert regs.get_registration(catalog, reg.id).status == "registered"
    bad = edited_schedule(
        tmp_path,
        'city = "那覇", first = 2024-11-26 }',
        'city = "那覇", first = 2024-11-29, id = "2024-B-1-47-1126" }',
        "bad.toml",
    )
    with pytest.raises(ScheduleError, match="must look like 2024-A-"):
        loader.parse(bad)


def _line_of_edit(path, old, new, marker):
    """The line of `marker` (part of `new`, which replaced the first `old`) in the edited file."""
    start = SCHEDULE.read_text(encoding="utf-8").index(old)
    return path.read_text(encoding="utf-8")[: start + new.index(marker)].count("\n") + 1


MORE_BAD_SESSIONS = [
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, start = "10:00" }',
        "give both start and end, or neither",
        "end",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, end = "10:00" }',
        "give both start and end, or neither",
        "start",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, start = "10:00", end = "09:30" }',
        "end must be after start",
        "end",
    ),
    (
        'prefecture = "広島県", city = "広島", first = 2024-10-25 }',
        'prefecture = "広島県", first = 2024-10-25 }',
        "missing field(s) city",
        "city",
    ),
    ('city = "広島", first = 2024-10-25 }', 'city = "  ", first = 2024-10-25 }', "city is empty", "city"),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = "2024-13-01" }',
        "first is not a date (YYYY-MM-DD): '2024-13-01'",
        "first",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25T10:00:00 }',
        "first must be a date, not a date-time",
        "first",
    ),
    (
        "first = 2025-01-30, last = 2025-01-31",
        "first = 2025-03-31, last = 2025-04-01",
        "date outside FY2024 (2024-04-01 to 2025-03-31): 2025-03-31..2025-04-01",
        "last",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, capacity = true }',
        "capacity must be a whole number from 1, got True",
        "capacity",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, capacity = 0 }',
        "capacity must be a whole number from 1, got 0",
        "capacity",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = 5 }',
        "venue must be text",
        "venue",
    ),
    (
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, id = "2024-A-13-0709" }',
        "duplicate session 2024-A-13-0709 (also at line 31)",
        "id",
    ),
]


@pytest.mark.parametrize(("old", "new", "reason", "field"), MORE_BAD_SESSIONS)
def test_each_session_error_names_line_and_field_and_db_untouched(tmp_path, old, new, reason, field):
    db = tmp_path / "c.db"
    make_catalog(db)
    before = dump(db)
    bad = edited_schedule(tmp_path, old, new, "bad.toml")
    with pytest.raises(ScheduleError) as err:
        loader.load(Store.open(db), bad, NOW)
    line = _line_of_edit(bad, old, new, new)
    assert (err.value.line, err.value.field) == (line, field)
    assert str(err.value) == f"{bad}:{line}: {err.value.reason}"
    assert reason in err.value.reason
    assert dump(db) == before


def test_times_and_dates_written_as_toml_values_or_text_are_read_alike(tmp_path):
    path = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = "2024-10-25", start = 09:30:00, end = "17:00", address = "広島市中区" }',
    )
    s = next(s for s in loader.parse(path).sessions if s["id"] == "2024-A-34-1025")
    assert (s["first_day"], s["start_time"], s["end_time"], s["address"]) == (
        "2024-10-25",
        "09:30",
        "17:00",
        "広島市中区",
    )


BAD_FILES = [
    (
        "fiscal_year = 2024\n",
        "fiscal_year = 1999\n",
        "fiscal_year",
        "fiscal_year must be a year such as 2024, got 1999",
        "fiscal_year",
    ),
    ("seats = 30 ", "seats = -1 ", "seats", "[defaults] seats must be a whole number >= 0", "seats"),
    (
        "deadline_business_days = 5 ",
        'deadline_business_days = "5" ',
        "deadline",
        "[defaults] deadline_business_days must be a whole number >= 0",
        "deadline_business_days",
    ),
    (
        'code = "B-1"\nformat = "onsite"',
        'code = "B-1"\nformat = "offsite"',
        "format",
        "course B-1: format must be 'onsite' or 'online'",
        "format",
    ),
    (
        'code = "B-1"\n',
        'code = "b 1"\n',
        "code",
        "course code must be short letters/digits/hyphens, got 'b 1'",
        "code",
    ),
    ('code = "B-2"\n', 'code = "B-1"\n', "code", "course B-1 is declared twice", "code"),
    ("days = 2\n", 'days = 2\ncolour = "red"\n', "colour", "course C: unknown field 'colour'", "colour"),
    ("C = 121000\n", "C = -5\n", "C", "[fees] C must be a whole number of yen", "C"),
    ("\nC = 5\n", "\nC = 5\nPRE = 1\n", "PRE", "[totals] names 'PRE', which is not an on-site course", "PRE"),
    (
        "\nA = 64\n",
        "\nA = 65\n",
        "A",
        "course A: the file declares 65 sessions in [totals] but lists 64",
        "A",
    ),
    (
        'course = "C"\nallowed = "all"\n',
        'course = "C"\nallowed = "some"\n',
        "allowed",
        "[[course_rules]] C: allowed must be 'all', 'local' or 'nonlocal'",
        "allowed",
    ),
    (
        'local = false\nfee = "free"',
        'local = false\nfee = "gratis"',
        "fee",
        "org type 'national': fee must be 'free' or 'paid'",
        "fee",
    ),
    (
        'effect = "refuse"\n',
        'effect = "refuse"\nseverity = 1\n',
        "severity",
        "modifier 'student': unknown field 'severity'",
        "severity",
    ),
    ('effect = "refuse"', 'effect = "deny"', "effect", "modifier 'student': effect must be", "effect"),
    (
        "first = 2024-10-17\nlast = 2025-01-31",
        "first = 2024-10-17\nlast = 2025-04-30",
        "last",
        "online window second: dates must lie inside FY2024 and last >= first",
        "last",
    ),
    (
        "first = 2024-10-17\nlast = 2025-01-31",
        "first = 2024-10-17\nlast = 2024-10-16",
        "last",
        "online window second: dates must lie inside FY2024 and last >= first",
        "last",
    ),
    (
        "first = 2024-10-17\nlast = 2025-01-31",
        'first = 2024-10-17\nlast = "soon"',
        "last",
        "online window last is not a date (YYYY-MM-DD): 'soon'",
        "last",
    ),
    (
        'label_en = "FY2024"\n',
        'label_en = "FY2024"\nlabel_fr = "AF2024"\n',
        "label_fr",
        "unknown field 'label_fr'",
        "label_fr",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "reason", "field"), BAD_FILES)
def test_bad_file_is_refused_at_the_key_at_fault_and_db_untouched(tmp_path, old, new, marker, reason, field):
    db = tmp_path / "c.db"
    make_catalog(db)
    before = dump(db)
    bad = edited_schedule(tmp_path, old, new, "bad.toml")
    with pytest.raises(ScheduleError) as err:
        loader.load(Store.open(db), bad, NOW)
    assert reason in err.value.reason
    assert (err.value.line, err.value.field) == (_line_of_edit(bad, old, new, marker), field)
    assert dump(db) == before


def _line_containing(path, text, after=1):
    return next(
        i
        for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if i >= after and text in ln
    )


def test_missing_course_field_rule_and_total_name_the_table(tmp_path):
    path = edited_schedule(tmp_path, 'level_en = "Intermediate"\n', "")
    with pytest.raises(ScheduleError, match="course B-1: level_en is missing") as err:
        loader.parse(path)
    assert err.value.line == _line_containing(path, 'code = "B-1"') - 1  # its [[courses]] header
    path = edited_schedule(tmp_path, '[[course_rules]]\ncourse = "C"\nallowed = "all"\n', "")
    with pytest.raises(ScheduleError, match=r"course C: \[\[course_rules\]\] needs allowed") as err:
        loader.parse(path)
    assert err.value.line == _line_containing(path, 'code = "C"')
    path = edited_schedule(tmp_path, "\nC = 5\n", "\n")
    with pytest.raises(ScheduleError, match=r"course C has sessions but no entry in \[totals\]") as err:
        loader.parse(path)
    assert err.value.line == _line_containing(path, "[totals]")


def test_file_without_sessions_or_fiscal_year_is_refused(tmp_path):
    text = SCHEDULE.read_text(encoding="utf-8")
    start, end = text.index("sessions = ["), text.index("\n]\n") + 3
    path = tmp_path / "empty.toml"
    path.write_text(text[:start] + "sessions = []\n" + text[end:], encoding="utf-8")
    with pytest.raises(ScheduleError, match="no sessions: the file needs a top-level") as err:
        loader.parse(path)
    assert err.value.line == _line_containing(path, "sessions = []")
    path.write_text(text.replace("fiscal_year = 2024\n", ""), encoding="utf-8")
    with pytest.raises(ScheduleError, match="fiscal_year must be a year such as 2024, got None"):
        loader.parse(path)
