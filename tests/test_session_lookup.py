"""A session named as staff say it (issue 13 §5): by id, or by place and date."""

import datetime as dt

import pytest

from bot.telegram.i18n import say
from catalog.errors import InvalidInput, NotFound
from catalog.session_lookup import lookup, parse_day
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return make_catalog(tmp_path_factory.mktemp("lookup") / "c.db")


@pytest.mark.parametrize(
    ("text", "ids", "rest"),
    [
        ("広島 10/25", ["2024-A-34-1025"], ""),
        ("10/25 広島", ["2024-A-34-1025"], ""),
        ("10月25日 広島市", ["2024-A-34-1025"], ""),
        ("hiroshima 2024-10-25 xlsx", ["2024-A-34-1025"], "xlsx"),
        ("広島県 ２０２４/１０/２５", ["2024-A-34-1025"], ""),
        ("広島 A", ["2024-A-34-1025"], ""),
        ("B-1 広島", ["2024-B-1-34-1029"], ""),
        ("中国 10/29", ["2024-B-1-34-1029"], ""),
        ("広島", ["2024-A-34-1025", "2024-B-1-34-1029"], ""),
        ("10/25", ["2024-A-34-1025", "2024-B-1-27-1025"], ""),
        ("2024-A-34-1025 csv", ["2024-A-34-1025"], "csv"),
        ("広島 10/25 a reminder for you", ["2024-A-34-1025"], "a reminder for you"),
        ("広島 10/25 A 持ち物はPC", ["2024-A-34-1025"], "持ち物はPC"),
    ],
)
def test_lookup(catalog, text, ids, rest):
    found = lookup(catalog, text, today=TODAY)
    assert [s.id for s in found.sessions] == ids and found.rest == rest
    assert (found.session is not None) == (len(ids) == 1)


def test_a_c_session_is_found_by_its_second_day(catalog):
    c = [s for s in catalog.all_sessions() if s.course == "C"][0]
    day = c.last_day
    found = lookup(catalog, f"{c.prefecture} {day.month}/{day.day}", today=TODAY)
    assert c.id in [s.id for s in found.sessions]


def test_upcoming_sessions_come_first(catalog):
    found = lookup(catalog, "広島", today=dt.date(2024, 10, 27))
    assert [s.id for s in found.sessions] == ["2024-B-1-34-1029", "2024-A-34-1025"]


def test_nothing_matches(catalog):
    with pytest.raises(NotFound) as e:
        lookup(catalog, "札幌 9/9", today=TODAY)
    assert say(e.value, "ja") == "「札幌 9/9」に当たる開催回はありません。"
    with pytest.raises(NotFound, match="place and date"):
        lookup(catalog, "nope", today=TODAY)
    with pytest.raises(NotFound):
        lookup(catalog, "34 10/25", today=TODAY)  # a number is no place
    with pytest.raises(InvalidInput):
        lookup(catalog, "広島 2/30", today=TODAY)
    with pytest.raises(InvalidInput):
        lookup(catalog, "   ", today=TODAY)


def test_days_fall_in_the_fiscal_year():
    assert parse_day("10/25", 2024) == dt.date(2024, 10, 25)
    assert parse_day("1/21", 2024) == dt.date(2025, 1, 21)
    assert parse_day("1月21日", 2024) == dt.date(2025, 1, 21)
    assert parse_day("2025年1月21日", 2024) == dt.date(2025, 1, 21)
    assert parse_day("広島", 2024) is None
