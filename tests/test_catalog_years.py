"""Several fiscal years in one database: the bot shows the year the date falls in and, once
loaded, the next one; past years stay reachable; a session with a venue's address and
coordinates is sent as a venue in chat and carries LOCATION and GEO in calendars."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar

from bot.telegram.callbacks import SessionCB
from catalog import calendar, rosters
from catalog.clock import JST
from catalog.schedule_import import apply_import, plan_import
from catalog.schedule_sheet import SheetRow
from catalog.service import Catalog, current_year
from schedules import loader
from tests.util_catalog import NOW, edited_schedule

A = "2024-A-34-1025"
NEXT = "2025-A-34-0709"


def load_fy2025(catalog: Catalog) -> None:
    rows = [
        SheetRow(2, {"course": "A", "prefecture": "広島県", "city": "広島", "first": "2025-07-09"}),
        SheetRow(
            3,
            {
                "course": "C",
                "prefecture": "東京都",
                "city": "東京",
                "first": "2025-11-27",
                "last": "2025-11-28",
            },
        ),
    ]
    plan = plan_import(catalog.store, rows, name="fy2025.csv")
    assert plan.ok and plan.new_year_from == 2024
    apply_import(catalog.store, plan, now=NOW)


def test_which_year_is_current():
    assert current_year([2024, 2025], 2024) == 2024
    assert current_year([2024, 2025], 2026) == 2025  # the latest loaded before
    assert current_year([2024], 2023) == 2024  # nothing before: the earliest loaded
    assert current_year([], 2024) is None


def test_the_next_year_shows_once_loaded_and_fy2024_is_unchanged_before(catalog):
    assert catalog.fiscal_years == (2024,) and len(catalog.all_sessions()) == 100
    load_fy2025(catalog)
    assert (catalog.fiscal_year, catalog.fiscal_years) == (2024, (2024, 2025))
    assert catalog.year.label_ja == "令和6年度" and catalog.year_of(2025).label_ja == "令和7年度"
    ids = [s.id for s in catalog.all_sessions()]
    assert len(ids) == 102 and ids.index(NEXT) > ids.index(A)
    hits = catalog.upcoming(dt.date(2024, 6, 1), prefectures=[34], courses=["A"])
    assert NEXT in [h.session.id for h in hits]
    s = catalog.session(NEXT)
    assert s.deadline == dt.date(2025, 7, 2) and s.capacity == 30  # FY2025's copied settings


def test_a_running_catalog_moves_on_to_the_new_year(catalog):
    load_fy2025(catalog)
    day = [dt.date(2025, 3, 31)]
    running = Catalog(catalog.store, 2024, today=lambda: day[0])
    assert running.fiscal_years == (2024, 2025)
    day[0] = dt.date(2025, 4, 1)
    assert (running.fiscal_year, running.fiscal_years) == (2025, (2025,))
    assert [s.id for s in running.all_sessions()] == [NEXT, "2025-C-13-1127"]
    # the past year stays in the database and in exports
    assert running.session(A).fiscal_year == 2024 and len(running.sessions_of(2024)) == 100
    name, _, data = rosters.export_roster(running, [A], "csv")
    assert name == f"roster-{A}.csv" and data.startswith(b"\xef\xbb\xbf")


async def test_the_card_names_the_sessions_own_year(user, catalog):
    load_fy2025(catalog)
    await user.press(SessionCB(id=NEXT).pack())
    assert "令和7年度" in user.text() and "2025年7月9日" in user.text()
    await user.press(SessionCB(id=A).pack())
    assert "令和6年度" in user.text()


def _venue_schedule(tmp_path):
    return edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "広島テスト会場", '
        'address = "広島県広島市中区テスト町1-1", venue_lat = 34.3915, venue_lon = 132.4596 }',
    )


async def test_a_venue_with_address_and_coordinates_is_sent_as_a_venue(user, catalog, tmp_path):
    await user.press(SessionCB(id=A).pack())
    assert user.sent("SendVenue") == []  # FY2024 gives no address: no map
    loader.load(catalog.store, _venue_schedule(tmp_path), dt.datetime(2024, 6, 2, tzinfo=JST))
    await user.press(SessionCB(id=A).pack())
    (venue,) = user.sent("SendVenue")
    assert (venue.chat_id, venue.latitude, venue.longitude, venue.title, venue.address) == (
        user.user.id,
        34.3915,
        132.4596,
        "広島テスト会場",
        "広島県広島市中区テスト町1-1",
    )
    assert "広島テスト会場" in user.text()


def test_the_calendar_event_gets_location_and_geo(catalog, tmp_path):
    plain = Calendar.from_ical(calendar.event_file(catalog, catalog.session(A)).data)
    (event,) = plain.walk("VEVENT")
    assert "GEO" not in event  # the city's point is not the venue's
    loader.load(catalog.store, _venue_schedule(tmp_path), dt.datetime(2024, 6, 2, tzinfo=JST))
    session = catalog.session(A)
    assert session.revision == 1  # a venue is a change calendars show
    (event,) = Calendar.from_ical(calendar.event_file(catalog, session).data).walk("VEVENT")
    assert str(event["LOCATION"]) == "広島テスト会場 広島県広島市中区テスト町1-1 広島県 広島"
    geo = event["GEO"]
    assert (geo.latitude, geo.longitude) == (34.3915, 132.4596)
    text = calendar.event_file(catalog, session).data.decode()
    assert "GEO:34.3915;132.4596" in text
