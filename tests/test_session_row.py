"""One session row validated on its own, as the admin page and a spreadsheet import use it."""

import csv
import datetime as dt
import io
import json

import pytest

from catalog.session_row import SPREADSHEET_COLUMNS, SessionRowError, validate_session

COURSES = ("A", "B-1", "B-2", "C")
HIROSHIMA = {
    "course": "A",
    "region": "中国",
    "prefecture": "広島県",
    "city": "広島",
    "first": dt.date(2024, 10, 25),
}


def check(fields, *, cells=False):
    return validate_session(fields, 2024, courses=COURSES, cells=cells)


def refused(fields, *, cells=False):
    with pytest.raises(SessionRowError) as err:
        check(fields, cells=cells)
    return err.value


def test_a_row_becomes_the_stored_session():
    row = check(HIROSHIMA)
    assert row.id == "2024-A-34-1025" and row.last == row.first and row.fiscal_year == 2024
    assert row.record() == {
        "id": "2024-A-34-1025",
        "fiscal_year": 2024,
        "course": "A",
        "region": "中国",
        "prefecture_code": 34,
        "prefecture": "広島県",
        "city": "広島",
        "lat": 34.4,
        "lon": 132.45,
        "first_day": "2024-10-25",
        "last_day": "2024-10-25",
        "start_time": None,
        "end_time": None,
        "venue": None,
        "address": None,
        "capacity": None,
        "status": "scheduled",
        "venue_lat": None,
        "venue_lon": None,
    }


def test_region_is_filled_in_from_the_prefecture_and_spellings_are_folded():
    row = check({"course": "B-1", "prefecture": "hiroshima", "city": "広島", "first": "2025-01-15"})
    assert (row.region, row.prefecture, row.id) == ("中国", "広島県", "2024-B-1-34-0115")


ERRORS = [
    ({"course": "Z"}, "course", "unknown course 'Z'; known: A, B-1, B-2, C"),
    ({"prefecture": "広嶋県"}, "prefecture", "unknown prefecture '広嶋県'"),
    ({"region": "四国"}, "region", "region '四国' does not match 広島県, which is in 中国"),
    ({"city": "存在しない町"}, "city", "unknown city '存在しない町' in 広島県"),
    ({"city": " "}, "city", "city is empty"),
    ({"first": dt.date(2025, 4, 2)}, "first", "date outside FY2024 (2024-04-01 to 2025-03-31)"),
    ({"first": "10/25"}, "first", "first is not a date (YYYY-MM-DD): '10/25'"),
    ({"last": dt.date(2024, 10, 24)}, "last", "last day 2024-10-24 is before first day 2024-10-25"),
    ({"last": dt.date(2025, 4, 1)}, "last", "date outside FY2024"),
    ({"start": "9:00", "end": "17:00"}, "start", "start must be a time HH:MM, got '9:00'"),
    ({"start": "10:00"}, "end", "give both start and end, or neither"),
    ({"start": "10:00", "end": "10:00"}, "end", "end must be after start"),
    ({"capacity": 0}, "capacity", "capacity must be a whole number from 1, got 0"),
    ({"capacity": 2.5}, "capacity", "capacity must be a whole number from 1, got 2.5"),
    ({"id": "2024-C-34-1025"}, "id", "id '2024-C-34-1025' must look like 2024-A-<JIS code>-<MMDD>"),
    ({"seats": 30}, "seats", "unknown field(s) seats; allowed: address, capacity, city"),
]


@pytest.mark.parametrize(("change", "field", "reason"), ERRORS)
def test_each_error_names_its_field_and_reason(change, field, reason):
    err = refused({**HIROSHIMA, **change})
    assert err.field == field and reason in err.reason
    assert err.problems[0] == (err.field, err.reason)


def test_missing_fields_and_every_problem_of_the_row_are_listed():
    err = refused({"course": "Z", "city": "", "first": "someday", "capacity": -3})
    assert (err.field, err.reason) == ("prefecture", "missing field(s) prefecture")
    assert [f for f, _ in err.problems] == ["prefecture", "course", "city", "first", "capacity"]
    assert refused([HIROSHIMA]).reason == "each session must be a table { course = ..., ... }"


def test_a_two_day_session_may_end_earlier_in_the_day_than_it_starts():
    row = check({**HIROSHIMA, "course": "C", "last": dt.date(2024, 10, 26), "start": "13:00", "end": "12:00"})
    assert (row.id, row.start, row.end) == ("2024-C-34-1025", "13:00", "12:00")


def test_a_spreadsheet_row_validates_through_the_same_model():
    header = ",".join(SPREADSHEET_COLUMNS)
    text = f"{header}\nA,中国,広島県, 広島 ,2024-10-25,,広島テスト会場,,10:00,17:00,24,\n"
    (cells,) = csv.DictReader(io.StringIO(text))
    row = check(cells, cells=True)
    assert (row.id, row.city, row.venue, row.address, row.capacity) == (
        "2024-A-34-1025",
        "広島",
        "広島テスト会場",
        None,
        24,
    )
    assert row == check(
        {**HIROSHIMA, "venue": "広島テスト会場", "start": "10:00", "end": "17:00", "capacity": 24}
    )


def test_excel_cells_and_header_spellings_are_read():
    # openpyxl reads an Excel date cell as a naive date-time at midnight.
    excel_day = dt.datetime(2024, 10, 25)  # noqa: DTZ001
    cells = {
        "Course": "A",
        "Prefecture": "広島県",
        "City": "広島",
        "First day": excel_day,
        "Last day": None,
        "Start": dt.time(10, 0),
        "End": dt.time(17, 0),
        "Capacity": 24.0,
        "ID": "",
    }
    row = check(cells, cells=True)
    assert (row.first, row.last, row.start, row.end, row.capacity) == (
        dt.date(2024, 10, 25),
        dt.date(2024, 10, 25),
        "10:00",
        "17:00",
        24,
    )
    err = refused({**cells, "First day": excel_day.replace(hour=9, minute=30)}, cells=True)
    assert (err.field, err.reason) == ("first", "first must be a date, not a date-time: 2024-10-25 09:30:00")
    assert refused({**cells, "Capacity": "twenty"}, cells=True).field == "capacity"


def test_values_are_taken_as_written_outside_cells():
    assert refused({**HIROSHIMA, "capacity": "24"}).field == "capacity"
    assert check({**HIROSHIMA, "venue": ""}).venue == ""
    assert check({**HIROSHIMA, "venue": ""}, cells=True).venue is None


def test_as_fields_round_trips_for_an_edit_form():
    row = check({**HIROSHIMA, "first": dt.date(2024, 11, 1), "id": "2024-A-34-1025", "capacity": 20})
    fields = row.as_fields()
    assert list(fields) == list(SPREADSHEET_COLUMNS)
    assert json.loads(row.model_dump_json())["first"] == "2024-11-01"
    assert check(fields) == row
    moved = check({**fields, "first": dt.date(2024, 11, 8), "last": None})
    assert (moved.id, moved.first, moved.last) == (
        "2024-A-34-1025",
        dt.date(2024, 11, 8),
        dt.date(2024, 11, 8),
    )
