"""The catalog's in-memory snapshot stays exact: whatever another process (here: another
Store on the same file) changes shows on the next call, and on the next update inside
`Catalog.checked_once()`; this process's own writes show at once."""

from __future__ import annotations

import dataclasses

from catalog import registrations as regs
from catalog import users
from catalog.eligibility import Profile
from catalog.registrations import Applicant
from catalog.service import Catalog
from catalog.store import Store
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()


def applicant(n: int) -> Applicant:
    return Applicant(name=f"Cache Test {n}", organisation="Hiroshima Prefecture",
                     org_type="local", department="", email=f"cache{n}@pref.example.jp",
                     prefecture="広島県", contractor=False, dispatched=False)


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
        db.execute("update sessions set venue = ?, capacity = ? where id = ?",
                   ["Test Hall", 3, sid])
    changed = catalog.session(sid)
    assert (changed.venue, changed.capacity, changed.seats_left) == ("Test Hall", 3, 1)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)


def test_year_settings_and_rules_changed_elsewhere_show_on_the_next_call(tmp_path):
    catalog = make_catalog(tmp_path / "c.db")
    unannounced = next(s for s in catalog.all_sessions() if not s.capacity_announced)
    other = other_process(catalog)
    with other.write() as db:
        db.execute("update years set seats = seats + 5, deadline_business_days = 1 "
                   "where fiscal_year = 2024")
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
    assert (first.lang, first.org_type, first.contractor, first.prefecture_code) == (
        None, None, False, None)
    users.save_user(store, 9, NOW, org_type="local", contractor=True, prefecture_code=34)
    later = NOW.replace(hour=11)
    user = users.save_user(store, 9, later, lang="ja")
    assert (user.lang, user.org_type, user.contractor, user.dispatched, user.prefecture_code) == (
        "ja", "local", True, False, 34)
    row = store.one("select created_at, updated_at from users where user_id = 9")
    assert row == {"created_at": NOW.isoformat(timespec="seconds"),
                   "updated_at": later.isoformat(timespec="seconds")}
    users.save_user(store, 9, later.replace(hour=12))  # nothing given: nothing changes
    assert store.one("select updated_at from users where user_id = 9") == {
        "updated_at": later.isoformat(timespec="seconds")}
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
    regs.register(other, sid, [applicant(1), applicant(2)], today=TODAY, now=NOW, user_id=7,
                  waitlist=True)
    after = {s.id: s for s in catalog.all_sessions(include_cancelled=True)}
    assert after[sid].registered == before[sid].registered + 2
    assert all(after[k] == before[k] for k in before if k != sid)
    assert snapshot(catalog) == as_built_afresh(catalog, catalog.store.path)
    # the last seats taken elsewhere, then one cancelled: the waitlist shows and shrinks
    left = catalog.session(sid).seats_left
    for n in range(left):
        regs.register(other, sid, [applicant(10 + n)], today=TODAY, now=NOW, user_id=100 + n)
    waiting = regs.register(other, sid, [applicant(99)], today=TODAY, now=NOW, user_id=99,
                            waitlist=True)
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
