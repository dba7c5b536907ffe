"""Staff edits of one session (catalog.schedule_edit): the loader's rules, weekends only when
confirmed, C spans two days, and a change tells registrants exactly as `db load` does."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.telegram.i18n import say
from catalog import calendar
from catalog.clock import JST
from catalog.errors import InvalidInput, NotFound
from catalog.registrations import Applicant, register
from catalog.schedule_edit import (
    NeedsConfirmation,
    add_session,
    cancel_session,
    edit_session,
    off_days,
)
from schedules import loader
from tests.conftest import fill
from tests.util_catalog import NOW, edited_schedule

A = "2024-A-34-1025"  # Hiroshima, Fri 25 Oct 2024
C = "2024-C-13-1128"  # Tokyo, Thu 28 - Fri 29 Nov 2024
LATER = dt.datetime(2024, 6, 2, 9, 0, tzinfo=JST)
TODAY = NOW.date()


def row(catalog, sid):
    return catalog.store.one("select * from sessions where id = ?", [sid])


def chat_registrant(catalog, sid, user_id=1001):
    return register(
        catalog, sid, [Applicant("山田 太郎", "広島市", "local")], today=TODAY, now=NOW, user_id=user_id
    ).registrations[0]


def test_a_date_change_raises_the_revision_and_tells_the_registrant(catalog):
    reg = chat_registrant(catalog, A)
    assert calendar.pending_change_notices(catalog) == []
    result = edit_session(catalog.store, A, {"first": "2024-11-05"}, now=LATER, today=TODAY)
    assert (result.kind, result.fields) == ("updated", ("first_day", "last_day"))
    after = row(catalog, A)
    assert (after["first_day"], after["last_day"], after["revision"]) == ("2024-11-05", "2024-11-05", 1)
    assert after["updated_at"] == LATER.isoformat(timespec="seconds")
    (notice,) = calendar.pending_change_notices(catalog)
    assert (notice.registration_id, notice.revision, notice.session_cancelled) == (reg.id, 1, False)
    assert catalog.session(A).first_day == dt.date(2024, 11, 5)  # the id is kept


def test_the_same_edit_through_db_load_gives_the_same_row(catalog, tmp_path):
    """An edit in the admin page writes what loading a corrected file would write."""
    other = tmp_path / "other.db"
    from tests.util_catalog import make_catalog

    twin = make_catalog(other)
    path = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-11-05, id = "2024-A-34-1025" }',
    )
    loader.load(twin.store, path, LATER)
    edit_session(catalog.store, A, {"first": "2024-11-05"}, now=LATER, today=TODAY)
    assert row(catalog, A) == row(twin, A)


def test_capacity_only_changes_keep_the_revision_and_tell_nobody(catalog):
    chat_registrant(catalog, A)
    result = edit_session(catalog.store, A, {"capacity": "24"}, now=LATER, today=TODAY)
    assert result.kind == "adjusted"
    assert (row(catalog, A)["capacity"], row(catalog, A)["revision"]) == (24, 0)
    assert calendar.pending_change_notices(catalog) == []


def test_venue_and_times_are_calendar_changes(catalog):
    chat_registrant(catalog, A)
    result = edit_session(
        catalog.store,
        A,
        {"venue": "広島テスト会場", "address": "広島市中区テスト町1-1", "start": "10:00", "end": "17:00"},
        now=LATER,
        today=TODAY,
    )
    assert result.kind == "updated" and row(catalog, A)["revision"] == 1
    file = calendar.event_file(catalog, catalog.session(A))
    assert (
        "広島テスト会場" in file.data.decode()
        and "DTSTART;TZID=Asia/Tokyo:20241025T100000" in file.data.decode()
    )


def test_a_saturday_needs_confirming(catalog):
    with pytest.raises(NeedsConfirmation) as err:
        edit_session(catalog.store, A, {"first": "2024-11-02"}, now=LATER, today=TODAY)
    assert err.value.en == "2024-11-02 is a Saturday: confirm to save anyway"
    assert say(err.value, "ja") == "11月2日は土曜日です。このまま保存するには確認してください。"
    assert row(catalog, A)["first_day"] == "2024-10-25"  # nothing saved
    edit_session(catalog.store, A, {"first": "2024-11-02"}, now=LATER, today=TODAY, confirm=True)
    assert row(catalog, A)["first_day"] == "2024-11-02"


def test_a_public_holiday_needs_confirming_and_is_named():
    (day,) = off_days(dt.date(2024, 11, 4), dt.date(2024, 11, 4))
    assert say(day.said, "en") == "2024-11-04 is a public holiday (文化の日 振替休日)"
    assert say(day.said, "ja") == "11月4日は祝日（文化の日 振替休日）です"
    assert off_days(dt.date(2024, 10, 28), dt.date(2024, 11, 1)) == []


def test_c_spans_two_days(catalog):
    # Moving the first day alone moves the whole two-day session.
    edit_session(catalog.store, C, {"first": "2024-12-05"}, now=LATER, today=TODAY)
    assert (row(catalog, C)["first_day"], row(catalog, C)["last_day"]) == ("2024-12-05", "2024-12-06")
    with pytest.raises(InvalidInput) as err:
        edit_session(catalog.store, C, {"first": "2024-12-10", "last": "2024-12-10"}, now=LATER, today=TODAY)
    assert err.value.en == "course C runs 2 day(s): the last day must be 2024-12-11, not 2024-12-10"
    with pytest.raises(InvalidInput, match="course C runs 2 day"):
        add_session(
            catalog.store,
            {"course": "C", "prefecture": "大阪府", "city": "大阪", "first": "2024-12-03"},
            now=LATER,
            default_year=2024,
        )


def test_add_a_session_with_the_loaders_rules(catalog):
    result = add_session(
        catalog.store,
        {"course": "A", "prefecture": "鳥取", "city": "倉吉", "first": "2024-11-13", "capacity": "20"},
        now=LATER,
        default_year=2024,
    )
    assert result.session_id == "2024-A-31-1113"
    s = catalog.session("2024-A-31-1113")
    assert (s.region, s.capacity, s.revision, s.status) == ("中国", 20, 0, "scheduled")
    with pytest.raises(InvalidInput, match="already exists"):
        add_session(
            catalog.store,
            {"course": "A", "prefecture": "鳥取県", "city": "倉吉", "first": "2024-11-13"},
            now=LATER,
            default_year=2024,
        )
    with pytest.raises(InvalidInput, match="unknown city 'どこか' in 鳥取県"):
        add_session(
            catalog.store,
            {"course": "A", "prefecture": "鳥取県", "city": "どこか", "first": "2024-11-14"},
            now=LATER,
            default_year=2024,
        )
    with pytest.raises(InvalidInput, match="FY2026 is not loaded"):
        add_session(
            catalog.store,
            {"course": "A", "prefecture": "鳥取県", "city": "倉吉", "first": "2026-05-14"},
            now=LATER,
            default_year=2024,
        )
    with pytest.raises(InvalidInput, match="date outside FY2024"):
        edit_session(catalog.store, A, {"first": "2025-04-08"}, now=LATER, today=TODAY)


def test_cancel_tells_registrants_with_a_cancel(catalog):
    reg = chat_registrant(catalog, A)
    cancel_session(catalog.store, A, now=LATER)
    assert (row(catalog, A)["status"], row(catalog, A)["revision"]) == ("cancelled", 1)
    (notice,) = calendar.pending_change_notices(catalog)
    assert (notice.registration_id, notice.session_cancelled) == (reg.id, True)
    with pytest.raises(InvalidInput, match="already cancelled"):
        cancel_session(catalog.store, A, now=LATER)
    with pytest.raises(InvalidInput, match="is cancelled"):
        edit_session(catalog.store, A, {"capacity": "40"}, now=LATER, today=TODAY)
    with pytest.raises(NotFound):
        cancel_session(catalog.store, "2024-A-99-0101", now=LATER)


def test_capacity_cannot_drop_below_the_seats_taken_and_growth_promotes_the_waitlist(catalog):
    edit_session(catalog.store, A, {"capacity": "3"}, now=LATER, today=TODAY)
    fill(catalog, A, 3)
    fill(catalog, A, 2, waitlist=True, prefix="w")
    with pytest.raises(InvalidInput, match="3 people hold seats"):
        edit_session(catalog.store, A, {"capacity": "2"}, now=LATER, today=TODAY)
    result = edit_session(catalog.store, A, {"capacity": "4"}, now=LATER, today=TODAY)
    assert len(result.promoted) == 1
    s = catalog.session(A)
    assert (s.capacity, s.registered, s.waitlisted) == (4, 4, 1)


def test_unknown_fields_are_refused(catalog):
    with pytest.raises(InvalidInput, match="cannot edit course"):
        edit_session(catalog.store, A, {"course": "B-1"}, now=LATER, today=TODAY)


def test_a_years_edit_rows_and_one_sessions_form_values(catalog):
    from catalog.schedule_edit import session_edit_values, year_edit_rows

    rows = year_edit_rows(catalog.store, 2024)
    live = [s for s in catalog.sessions_of(2024) if not s.cancelled]
    assert [r["id"] for r in rows] == [
        s.id for s in sorted(live, key=lambda s: (s.first_day, s.course, s.prefecture_code))
    ]
    cancel_session(catalog.store, A, now=LATER)
    assert A not in {r["id"] for r in year_edit_rows(catalog.store, 2024)}
    assert year_edit_rows(catalog.store, 2031) == []
    values = session_edit_values(catalog.store, A)
    assert (values["id"], values["first"], values["venue"]) == (A, "2024-10-25", "")
    with pytest.raises(NotFound):
        session_edit_values(catalog.store, "2024-A-99-0101")
