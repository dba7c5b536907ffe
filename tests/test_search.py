import datetime as dt
import json

import pytest

from catalog import places
from catalog.eligibility import Profile
from catalog.errors import InvalidInput, NotFound
from tests.util_catalog import make_catalog


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return make_catalog(tmp_path_factory.mktemp("s") / "c.db")


def test_near_a_point_orders_by_distance(catalog):
    hiroshima = places.venue_point(34, "広島")
    hits = catalog.find(near=hiroshima)
    assert len(hits) == 100
    dists = [h.distance_km for h in hits]
    assert dists == sorted(dists)
    assert {h.session.city for h in hits[:2]} == {"広島"} and dists[0] == 0
    assert hits[-1].session.city == "札幌" or hits[-1].session.city == "函館"


def test_near_a_prefecture_puts_its_own_sessions_first(catalog):
    hits = catalog.find(near_prefecture=31)  # 鳥取: one A session in 倉吉
    assert hits[0].session.prefecture == "鳥取県"
    assert all(h.session.prefecture_code != 31 for h in hits[1:])
    rest = [h.distance_km for h in hits[1:]]
    assert rest == sorted(rest)
    # 東京: eight A, four B-1, ten B-2, four C sessions come first, by date
    tokyo = catalog.find(near_prefecture=13)
    own = [h.session for h in tokyo if h.session.prefecture_code == 13]
    assert len(own) == 26 and tokyo[: len(own)] == tokyo[: len(own)]
    assert [s.first_day for s in own] == sorted(s.first_day for s in own)
    assert all(h.session.prefecture_code == 13 for h in tokyo[:26])


def test_filters_combine(catalog):
    hits = catalog.find(courses=["B-2"], regions=["近畿"])
    assert [h.session.id for h in hits] == ["2024-B-2-27-0128", "2024-B-2-27-0129"]
    chugoku = catalog.find(regions=["中国"])
    assert {h.session.prefecture for h in chugoku} == {"鳥取県", "島根県", "岡山県", "広島県", "山口県"}
    assert len(catalog.find(prefectures=[13], courses=["C"])) == 4
    local = catalog.find(eligible_for=Profile("local"))
    assert {h.session.course for h in local} == {"A", "B-1", "C"}
    private = catalog.find(eligible_for=Profile("private"))
    assert {h.session.course for h in private} == {"A", "B-2", "C"}


def test_date_range_and_upcoming(catalog):
    jan = catalog.find(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 1, 31))
    assert len(jan) == 1 + 13 + 2  # A Tokyo 1/10, all B-2, C 1/22 and 1/30
    # a two-day C session that started yesterday is still upcoming today
    assert any(h.session.id == "2024-C-13-1128" for h in catalog.upcoming(dt.date(2024, 11, 29)))
    assert catalog.upcoming(dt.date(2025, 2, 1)) == []


def test_sessions_json_matches_the_seed_fields(catalog):
    rows = [h.session.as_dict() for h in catalog.find()]
    assert len(rows) == 100
    json.dumps(rows, ensure_ascii=False)
    by_id = {r["id"]: r for r in rows}
    c = by_id["2024-C-27-0130"]
    assert (c["course"], c["region"], c["prefecture"], c["city"], c["start"], c["end"]) == (
        "C",
        "近畿",
        "大阪府",
        "大阪",
        "2025-01-30",
        "2025-01-31",
    )
    assert by_id["2024-A-01-0830"]["prefecture"] == "北海道"
    assert by_id["2024-A-13-0709"]["prefecture"] == "東京都"
    assert all(r["seats"] == 30 and r["seats_left"] == 30 and r["seat_status"] == "○" for r in rows)


def test_deadline_is_five_business_days_before_with_holidays(catalog):
    # 2024-10-25 (Fri) -> 10/24, 23, 22, 21, 18: closes 10/18
    assert catalog.session("2024-A-34-1025").deadline == dt.date(2024, 10, 18)
    # 2024-09-18 (Wed): 9/17, 9/13, 9/12, 9/11, 9/10 (9/16 敬老の日 is a holiday)
    assert catalog.session("2024-A-15-0918").deadline == dt.date(2024, 9, 10)
    # 2024-11-08 (Fri): 11/7, 6, 5, 1, 10/31 (11/4 振替休日)
    assert catalog.session("2024-B-1-01-1108").deadline == dt.date(2024, 10, 31)


def test_course_parsing_and_unknown_session(catalog):
    assert [catalog.course(t).code for t in ("a", "Ｂ－１", "b2", "c", "プレCYDER")] == [
        "A",
        "B-1",
        "B-2",
        "C",
        "PRE",
    ]
    with pytest.raises(InvalidInput):
        catalog.course("D")
    with pytest.raises(NotFound):
        catalog.session("2024-A-99-0101")


def test_parse_filters_reads_typed_values_and_names_the_bad_one(catalog):
    from catalog.service import UnknownFilter, parse_filters

    f = parse_filters(
        catalog, courses=["b1,a", "A"], prefectures=["hiroshima", "34", "東京"], regions=["kinki"]
    )
    assert (f.courses, f.prefectures, f.regions) == (("A", "B-1"), (13, 34), ("近畿",))
    with pytest.raises(UnknownFilter) as e:
        parse_filters(catalog, courses=["A"], regions=["narnia"])
    assert (e.value.field, e.value.value) == ("region", "narnia")


def test_catalog_errors_are_gettext_messages_in_either_language(catalog):
    from bot.telegram.i18n import say
    from catalog.service import UnknownFilter, parse_filters

    with pytest.raises(NotFound) as nf:
        catalog.session("2024-A-99-0101")
    assert nf.value.message is not None
    assert say(nf.value, "en") == nf.value.en == "no session '2024-A-99-0101'"
    assert say(nf.value, "ja") == "開催回 '2024-A-99-0101' は見つかりません。"
    with pytest.raises(InvalidInput) as near:
        catalog.course("B3")
    assert say(near.value, "en") == (
        "unknown course 'B3'; choose one of: A, B-1, B-2, C, PRE (did you mean B-2, B-1?)"
    )
    assert say(near.value, "ja") == (
        "コース 'B3' はありません（B-2, B-1 のことですか？）。A, B-1, B-2, C, PRE から選んでください。"
    )
    with pytest.raises(InvalidInput) as order:
        catalog.find(order="bogus")
    assert say(order.value, "ja") == "並び順 'bogus' は不明です（auto, date, distance）"
    assert str(order.value) == "unknown order 'bogus'; choose auto, date or distance"
    with pytest.raises(UnknownFilter) as bad:
        parse_filters(catalog, courses=["Q"])
    assert bad.value.code == "unknown_filter" and bad.value.field == "course"
    assert say(bad.value, "ja").startswith("コース 'Q' はありません")
    assert say(bad.value, "en").startswith("unknown course 'Q'; choose one of: ")
    with pytest.raises(UnknownFilter) as region:
        parse_filters(catalog, regions=["narnia"])
    assert say(region.value, "en") == say(region.value, "ja") == region.value.en != ""
