"""The catalog's in-memory snapshot stays exact: whatever another process (here: another
Store on the same file) changes shows on the next call, and on the next update inside
`Catalog.checked_once()`; this process's own writes show at once."""

from __future__ import annotations

import dataclasses
import datetime as dt

from catalog import registrations as regs
from catalog import users
from catalog.eligibility import Profile
from catalog.registrations import Applicant
from catalog.service import Catalog
from catalog.store import Store
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()


def applicant(n: int) -> Applicant:
    return Applicant(
        name=f"Cache Test {n}",
        organisation="Hiroshima Prefecture",
        org_type="local",
        department="",
        email=f"cache{n}@pref.example.jp",
        prefecture="広島県",
        contractor=False,
        dispatched=False,
    )


def open_session(catalog: Catalog) -> str:
    hits = catalog.upcoming(TODAY, eligible_for=Profile("local"))
    return next(h.session.id for h in hits if h.session.is_open(TODAY))


def other_process(catalog: Catalog) -> Store:
    return Store.open(catalog.store.path)


def as_built_afresh(catalog: Catalog, path: str) -> dict[str, dict[str, object]]:
    fresh = Catalog(Store.open(path), catalog.fiscal_year)
    return {s.id: dataclasses.asdict(s) for s in fresh.all_sessions(include_cancelled=True)}


def snapshot(catalog: Catalog) -> dict[str, dict[str, object]]:
    return {s.id: dataclasses.asdict(s) for s in catalog.all_sessions(include_cancelled=True)}


def test_seat_counts_and_rows_changed_elsewhere_show_on_the_next_call(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    sid = open_session(catalog)
    before = catalog.session(sid)
    other = Catalog(other_process(catalog), 2024)
    regs.register(other, sid, [applicant(1), applicant(2)], today=TODAY, now=NOW, user_id=7)
    assert catalog.session(sid).registered == before.registered + 2
    with other.store.write() as db:
        db.execute("update sessions set venue = ?, capacity = ? where id = ?", ["Test Hall", 3, sid])
    changed = catalog.session(sid)
    assert (changed.venue, changed.capacity, changed.seats_left) == ("Test Hall", 3, 1)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_year_settings_and_rules_changed_elsewhere_show_on_the_next_call(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    unannounced = next(s for s in catalog.all_sessions() if not s.capacity_announced)
    other = other_process(catalog)
    with other.write() as db:
        db.execute("update years set seats = seats + 5, deadline_business_days = 1 where fiscal_year = 2024")
    again = catalog.session(unannounced.id)
    assert again.capacity == unannounced.capacity + 5
    assert again.deadline > unannounced.deadline
    assert catalog.year.deadline_business_days == 1
    name = catalog.rules.org_types["local"].name_en
    with other.write() as db:
        db.execute("update org_types set name_en = ? where code = 'local'", [name + " (x)"])
    assert catalog.rules.org_types["local"].name_en == name + " (x)"
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_checked_once_sees_own_writes_at_once_and_others_from_the_next_block(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    sid = open_session(catalog)
    start = catalog.session(sid).registered
    other = Catalog(other_process(catalog), 2024)
    with catalog.checked_once():
        assert catalog.session(sid).registered == start
        regs.register(catalog, sid, [applicant(1)], today=TODAY, now=NOW, user_id=1)
        assert catalog.session(sid).registered == start + 1  # our own write: at once
        regs.register(other, sid, [applicant(2)], today=TODAY, now=NOW, user_id=2)
    with catalog.checked_once():  # the next update sees the other process's write
        assert catalog.session(sid).registered == start + 2
    regs.register(other, sid, [applicant(3)], today=TODAY, now=NOW, user_id=3)
    assert catalog.session(sid).registered == start + 3  # outside a block: every call


def test_user_and_blocked_in_one_read(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    store = catalog.store
    assert users.get_user_and_blocked(store, 5) == (None, False)
    with store.write() as db:
        db.execute("insert into blocked_chats (user_id, blocked_at) values (5, 'x')")
    assert users.get_user_and_blocked(store, 5) == (None, True)
    saved = users.save_user(store, 5, NOW, lang="en", org_type="local")
    assert users.get_user_and_blocked(store, 5) == (saved, True)
    assert users.get_user_and_blocked(store, 6) == (None, False)


def test_save_user_creates_then_changes_only_the_given_fields(tmp_path):
    store = make_catalog(tmp_path / "c.db").store
    first = users.save_user(store, 9, NOW)
    assert (first.lang, first.org_type, first.contractor, first.prefecture_code) == (None, None, False, None)
    users.save_user(store, 9, NOW, org_type="local", contractor=True, prefecture_code=34)
    later = NOW.replace(hour=11)
    user = users.save_user(store, 9, later, lang="ja")
    assert (user.lang, user.org_type, user.contractor, user.dispatched, user.prefecture_code) == (
        "ja",
        "local",
        True,
        False,
        34,
    )
    row = store.one("select created_at, updated_at from users where user_id = 9")
    assert row == {
        "created_at": NOW.isoformat(timespec="seconds"),
        "updated_at": later.isoformat(timespec="seconds"),
    }
    users.save_user(store, 9, later.replace(hour=12))  # nothing given: nothing changes
    assert store.one("select updated_at from users where user_id = 9") == {
        "updated_at": later.isoformat(timespec="seconds")
    }
    users.save_user(store, 9, later, prefecture_code=None)
    assert users.get_user(store, 9).prefecture_code is None  # type: ignore[union-attr]


def test_change_counter_parts_say_what_changed(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    store = catalog.store
    sid = open_session(catalog)
    n, static, sessions = store.change_marks()
    regs.register(catalog, sid, [applicant(1)], today=TODAY, now=NOW, user_id=1)
    assert store.change_marks() == (n + 1, static, sessions)  # a registration: the rest
    with store.write() as db:
        db.execute("update sessions set venue = 'Hall' where id = ?", [sid])
    assert store.change_marks() == (n + 2, static, sessions + 1)
    with store.write() as db:
        db.execute("update org_types set name_en = name_en || '.' where code = 'local'")
    assert store.change_marks() == (n + 3, static + 1, sessions + 1)
    users.save_user(store, 5, NOW, lang="en")  # profiles are not counted at all
    assert store.change_marks() == (n + 3, static + 1, sessions + 1)


def test_seat_changes_elsewhere_match_a_fresh_build(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    sid = open_session(catalog)
    before = {s.id: s for s in catalog.all_sessions(include_cancelled=True)}
    other = Catalog(other_process(catalog), 2024)
    regs.register(other, sid, [applicant(1), applicant(2)], today=TODAY, now=NOW, user_id=7, waitlist=True)
    after = {s.id: s for s in catalog.all_sessions(include_cancelled=True)}
    assert after[sid].registered == before[sid].registered + 2
    assert all(after[k] == before[k] for k in before if k != sid)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)
    # the last seats taken elsewhere, then one cancelled: the waitlist shows and shrinks
    left = catalog.session(sid).seats_left
    for n in range(left):
        regs.register(other, sid, [applicant(10 + n)], today=TODAY, now=NOW, user_id=100 + n)
    waiting = regs.register(other, sid, [applicant(99)], today=TODAY, now=NOW, user_id=99, waitlist=True)
    assert waiting.waitlisted and catalog.session(sid).waitlisted == 1
    assert catalog.session(sid).seat_mark == "×"
    regs.cancel(other, regs.for_session(other, sid)[0].id, today=TODAY, now=NOW)
    assert (catalog.session(sid).waitlisted, catalog.session(sid).seats_left) == (0, 0)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_a_database_made_before_the_counter_parts_is_upgraded(tmp_path):
    from sqlite_utils import Database

    from catalog.store import migrations

    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m004_change_counter_parts")
    assert [r[1] for r in db.execute("pragma table_info(catalog_changes)")] == ["id", "n"]
    db.close()
    catalog = make_catalog(path)
    sid = open_session(catalog)
    n, static, sessions = catalog.store.change_marks()
    assert n > 0 and static > 0 and sessions > 0  # the schedule loaded after the upgrade
    regs.register(catalog, sid, [applicant(1)], today=TODAY, now=NOW, user_id=1)
    with catalog.store.write() as w:
        w.execute("update sessions set venue = 'Hall' where id = ?", [sid])
    assert catalog.store.change_marks() == (n + 2, static, sessions + 1)
    assert catalog.session(sid).venue == "Hall"


def test_a_registration_elsewhere_shows_its_seats_on_the_next_update(tmp_path):
    """Another process (another Store and Catalog on the same file) registers: the bot's
    update in progress keeps its reading, the next one shows the new seat counts, counted
    again onto the same snapshot (the other sessions are the very same objects)."""
    catalog = make_catalog(tmp_path / "c.db")
    sid = open_session(catalog)
    other = Catalog(other_process(catalog), 2024)
    with catalog.checked_once():
        before = {s.id: s for s in catalog.all_sessions(include_cancelled=True)}
        regs.register(other, sid, [applicant(1), applicant(2)], today=TODAY, now=NOW, user_id=7)
        assert catalog.session(sid).registered == before[sid].registered  # same update
    with catalog.checked_once():
        assert catalog.session(sid).registered == before[sid].registered + 2
        assert catalog.session(sid).seats_left == before[sid].seats_left - 2
        hit = next(h for h in catalog.find(courses=[before[sid].course]) if h.session.id == sid)
        assert hit.session.registered == before[sid].registered + 2
        after = {s.id: s for s in catalog.all_sessions(include_cancelled=True)}
    assert all(after[k] is before[k] for k in before if k != sid)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_a_schedule_change_elsewhere_shows_its_sessions_on_the_next_update(tmp_path):
    """Another process loads the next year's schedule and edits a session: the next update
    shows the new sessions, the next year among the years shown, and the edit."""
    from catalog.schedule_import import apply_import, plan_import
    from catalog.schedule_sheet import SheetRow
    from schedules import loader
    from tests.util_catalog import edited_schedule

    catalog = make_catalog(tmp_path / "c.db")
    store = other_process(catalog)
    rows = [SheetRow(2, {"course": "A", "prefecture": "広島県", "city": "広島", "first": "2025-07-09"})]
    with catalog.checked_once():
        assert catalog.fiscal_years == (2024,) and len(catalog.all_sessions()) == 100
        plan = plan_import(store, rows, name="fy2025.csv")
        assert plan.ok
        apply_import(store, plan, now=NOW)
        assert len(catalog.all_sessions()) == 100  # the same update: as it was read
    with catalog.checked_once():
        assert catalog.fiscal_years == (2024, 2025) and catalog.loaded_years() == (2024, 2025)
        assert len(catalog.all_sessions()) == 101
        new = catalog.session("2025-A-34-0709")
        assert new.fiscal_year == 2025 and catalog.sessions_of(2025) == (new,)
        assert catalog.year_of(2025).label_ja == "令和7年度"
    edited = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "広島テスト会場" }',
    )
    loader.load(store, edited, NOW)
    with catalog.checked_once():
        assert catalog.session("2024-A-34-1025").venue == "広島テスト会場"
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_the_snapshot_follows_the_year_today_falls_in(tmp_path):
    """The one snapshot is also keyed on the target year: a running catalog moves on when
    the date does, with nothing changed in the database."""
    from catalog.schedule_import import apply_import, plan_import
    from catalog.schedule_sheet import SheetRow

    catalog = make_catalog(tmp_path / "c.db")
    rows = [SheetRow(2, {"course": "A", "prefecture": "広島県", "city": "広島", "first": "2025-07-09"})]
    apply_import(catalog.store, plan_import(catalog.store, rows, name="fy2025.csv"), now=NOW)
    day = [dt.date(2025, 3, 31)]
    running = Catalog(catalog.store, 2024, today=lambda: day[0])
    assert (running.fiscal_year, running.fiscal_years) == (2024, (2024, 2025))
    assert len(running.all_sessions()) == 101
    key = running.data_key()
    day[0] = dt.date(2025, 4, 1)
    assert (running.fiscal_year, running.fiscal_years) == (2025, (2025,))
    assert [s.id for s in running.all_sessions()] == ["2025-A-34-0709"]
    assert running.year.fiscal_year == 2025 and running.data_key() == key
    assert len(running.sessions_of(2024)) == 100  # the past year stays reachable
    day[0] = dt.date(2027, 4, 1)  # FY2027, not loaded: the latest loaded before
    assert running.fiscal_year == 2025


def test_an_empty_store_says_so_in_either_language(tmp_path):
    from bot.telegram.i18n import say
    from catalog.errors import NotFound

    catalog = Catalog(Store.open(tmp_path / "empty.db"), 2024)
    try:
        catalog.courses()
    except NotFound as e:
        assert say(e, "en") == e.en == "FY2024 is not loaded; run `cyder-bot db init`"
        assert say(e, "ja") == "2024年度のデータがありません（cyder-bot db init を実行してください）"
    else:
        raise AssertionError("no NotFound")
