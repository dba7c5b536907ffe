"""Catalog side of issue 12: place names in their standard form, addresses, suggestions
as places; verdicts whose reason and fee agree; per-course fee texts; skip words and
names; closed sessions' marks; search order; the course to take instead."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from icalendar import Calendar

from bot.telegram.i18n import say
from catalog import calendar as cal
from catalog import places
from catalog.eligibility import Profile
from catalog.errors import InvalidInput
from catalog.registrations import Applicant
from catalog.service import Catalog
from catalog.validation import clean_name, is_skip
from tests.util_catalog import make_catalog

HIROSHIMA_A = "2024-A-34-1025"
TOKYO_B1 = "2024-B-1-13-1009"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return make_catalog(tmp_path_factory.mktemp("nu") / "c.db")


# -- 1, 10, 11: places ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["呉市", "呉", "Kure", "広島県呉市", "吳市"])
def test_kure_is_shown_in_the_standard_form(query: str) -> None:
    place = places.resolve_place(query)
    assert (place.name, place.name_en, place.prefecture.name if place.prefecture else "") == (
        "呉市",
        "Kure",
        "広島県",
    )
    assert "\u5433" not in place.name


def test_suggestions_never_use_a_variant_table() -> None:
    with pytest.raises(places.UnknownPlace) as info:
        places.resolve_place("呉線")
    assert "呉市" in info.value.candidates
    assert not any("\u5433" in c for c in info.value.candidates)
    assert [p.name for p in info.value.places] == info.value.candidates


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (["吳市", "呉", "呉市"], "呉市"),
        (["北広島", "北広島市", "北廣島市"], "北広島市"),
        (["北廣島市", "北広島", "北広島市"], "北広島市"),
        (["东京", "東京"], "東京"),
    ],
)
def test_the_standard_japanese_spelling_is_shown(names: list[str], shown: str) -> None:
    assert places._display_name(names, "x") == shown


@pytest.mark.parametrize(
    ("address", "kind", "name", "pref"),
    [
        ("広島市中区", "city", "広島", "広島県"),
        ("広島県広島市中区基町", "city", "広島", "広島県"),
        ("広島県呉市中央4丁目", "city", "呉市", "広島県"),
        ("北海道札幌市中央区", "city", "札幌", "北海道"),
        ("京都府京都市中京区", "city", "京都", "京都府"),
        ("広島県安芸郡府中町", "city", "府中町", "広島県"),  # not Tokyo's bigger 府中
        ("広島県どこか", "prefecture", "広島県", "広島県"),
    ],
)
def test_addresses_by_their_longest_prefix(address: str, kind: str, name: str, pref: str) -> None:
    place = places.resolve_place(address)
    assert (place.kind, place.name) == (kind, name)
    assert place.prefecture is not None and place.prefecture.name == pref


def test_an_address_needs_japanese_text() -> None:
    with pytest.raises(places.UnknownPlace):
        places.resolve_place("Naka-ku Hiroshimaa Motomachi")


def test_unknown_place_carries_places_in_both_languages() -> None:
    with pytest.raises(places.UnknownPlace) as info:
        places.resolve_place("Hiroshma")
    err = info.value
    assert [(p.kind, p.name, p.name_en) for p in err.places[:3]] == [
        ("prefecture", "広島県", "Hiroshima"),
        ("city", "広島", "Hiroshima"),
        ("city", "北広島市", "Kitahiroshima"),
    ]
    assert err.candidates[:3] == ["広島県", "広島", "北広島市"]
    copy = pickle.loads(pickle.dumps(err))
    assert copy.places == err.places


def test_city_in_a_prefecture() -> None:
    hokkaido = places.city_in(1, "北広島市")
    assert hokkaido is not None and hokkaido.name_en == "Kitahiroshima"
    assert hokkaido.prefecture is not None and hokkaido.prefecture.code == 1
    assert places.city_in(34, "広島") is not None
    assert places.city_in(13, "倉吉") is None


def test_prefectures_know_their_capital() -> None:
    assert places.prefecture(1).capital == "札幌" and places.prefecture(32).capital == "松江"
    assert [p.capital_en for p in places.PREFECTURES if p.code in (1, 7, 31, 32, 47)] == [
        "Sapporo",
        "Fukushima",
        "Tottori",
        "Matsue",
        "Naha",
    ]
    assert all(p.capital_en.isascii() and p.capital_en for p in places.PREFECTURES)


# -- 4, 6: verdicts ------------------------------------------------------------------------------


def test_dispatched_at_a_private_company_is_the_companys_row(catalog: Catalog) -> None:
    for v in catalog.verdicts(Profile("private", dispatched=True)):
        assert "attends as that body's staff" not in v.reason_en
        assert "派遣" not in say(v.reason, "ja")
    a = catalog.verdict(Profile("private", dispatched=True), "A")
    assert (a.eligible, a.fee, a.fee_yen) == (True, "paid", 77000)


@pytest.mark.parametrize(
    "profile",
    [
        Profile("private"),
        Profile("national"),
        Profile("local", contractor=True),
        Profile("school", student=True),
    ],
)
def test_an_ineligible_verdict_has_no_fee(catalog: Catalog, profile: Profile) -> None:
    for v in catalog.verdicts(profile):
        if not v.eligible:
            assert (v.fee, v.fee_yen, v.fee_cell()) == (None, None, "-")
            assert say(v.fee_said, "ja") == "対象外" and say(v.fee_said, "en") == "Not eligible"
            assert "無料" not in say(v.reason, "ja") and "円" not in say(v.reason, "ja")
            assert "free" not in v.reason_en and "¥" not in v.reason_en


def test_the_fee_is_said_once(catalog: Catalog) -> None:
    v = catalog.verdict(Profile("local", contractor=True), "A")
    assert (
        say(v.reason, "ja") == "外部委託先（請負）は民間事業者扱いとなります。受講料は77,000円（税込）です。"
    )
    assert v.reason_en == (
        "An outside contractor (service contract) counts as a private "
        "business. The fee is ¥77,000 (tax incl.)."
    )
    for profile in (
        Profile("local", contractor=True),
        Profile("private"),
        Profile("local", dispatched=True),
        Profile("national"),
    ):
        for v in catalog.verdicts(profile):
            assert say(v.reason, "ja").count("有料") <= 1 and say(v.reason, "ja").count("無料") <= 1
            assert " " not in say(v.reason, "ja").replace("B-", "")  # no stray half-width space
    dispatched = catalog.verdict(Profile("local", dispatched=True), "B-1")
    assert say(dispatched.reason, "ja") == (
        "派遣労働者（派遣先の指揮命令下で勤務）は、派遣先の職員として"
        "受講します。地方公共団体（都道府県・市区町村）の職員は無料で"
        "受講できます。"
    )


def test_fee_overview_lists_prices_by_course(catalog: Catalog) -> None:
    ja = [say(x, "ja") for x in catalog.rules.fee_overview()]
    assert ja[0] == "無料: 国の機関、地方公共団体（都道府県・市区町村）、独立行政法人、指定法人"
    assert "Aコース・B-2コース 77,000円（税込）" in ja[1] and "Cコース 121,000円（税込）" in ja[1]
    assert "B-1" not in ja[1] and "プレCYDER 金額未発表" in ja[1]
    en = [say(x, "en") for x in catalog.rules.fee_overview()]
    assert en[0].startswith("Free: national agency") and "Course C: ¥121,000" in en[1]


# -- 5: a course's fee text names only its organisations ---------------------------------------


def _description(catalog: Catalog, session_id: str, lang: str) -> str:
    data = cal.event_file(catalog, catalog.session(session_id), lang=lang).data
    return str(Calendar.from_ical(data).walk("VEVENT")[0]["DESCRIPTION"])


def test_fee_groups_follow_the_course_rule(catalog: Catalog) -> None:
    b1 = catalog.rules.fee_groups("B-1")
    assert [o.code for o in b1.free] == ["local"] and b1.paid == ()
    b2 = catalog.rules.fee_groups("B-2")
    assert "local" not in {o.code for o in b2.free + b2.paid}
    assert [o.code for o in b2.paid] == ["infra", "private", "school"]


def test_b1_calendar_description_lists_no_paying_organisation(catalog: Catalog) -> None:
    ja = _description(catalog, TOKYO_B1, "ja")
    assert "受講料: 無料: 地方公共団体（都道府県・市区町村）" in ja
    assert "民間企業" not in ja and "77,000" not in ja and "国の機関" not in ja
    en = _description(catalog, TOKYO_B1, "en")
    assert "free for local government" in en and "private company" not in en
    a = _description(catalog, HIROSHIMA_A, "ja")
    assert "77,000円（税込）: 重要社会基盤事業者、民間企業、学校法人" in a


# -- 2, 8: skip words, names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        "省略",
        "なし",
        "無し",
        "skip",
        "Skip",
        "SKIP",
        "none",
        "None",
        "-",
        "ー",
        "－",
        " 省略 ",
        "「省略」",
        "n/a",
    ],
)
def test_skip_words(word: str) -> None:
    assert is_skip(word)


@pytest.mark.parametrize("word", ["総務課", "情報政策課", "IT", "Skipper", "", "なしの木"])
def test_not_skip_words(word: str) -> None:
    assert not is_skip(word)


def test_applicant_department_skip_word_is_empty() -> None:
    a = Applicant("山田 太郎", "広島市", "local", department="省略").cleaned()
    assert a.department == ""


@pytest.mark.parametrize("name", ["😀😀", "123", "!!!", "😀 😀", "---"])
def test_a_name_needs_a_letter(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        clean_name(name)
    assert "文字" in say(info.value, "ja") and "letter" in info.value.en
    with pytest.raises(InvalidInput):
        Applicant(name, "広島市", "local").cleaned()


@pytest.mark.parametrize("name", ["山田 太郎", "やまだ", "ヤマダ", "Taro Yamada", "李", "O'Brien 😀"])
def test_real_names_pass(name: str) -> None:
    assert clean_name(name) == name


# -- 3: closed sessions --------------------------------------------------------------------------


def test_a_closed_session_is_never_marked_free_seats(catalog: Catalog) -> None:
    s = catalog.session(HIROSHIMA_A)
    assert s.deadline == dt.date(2024, 10, 18)
    assert s.mark(dt.date(2024, 10, 18)) == "○" and not s.is_closed(dt.date(2024, 10, 18))
    assert s.mark(dt.date(2024, 10, 21)) == "×" and s.is_closed(dt.date(2024, 10, 21))
    assert not s.is_closed(dt.date(2024, 10, 26))  # over: ended, not "closed"


# -- 13, 15: alternatives, order -----------------------------------------------------------------


def test_alternatives_of_the_same_level(catalog: Catalog) -> None:
    assert [c.code for c in catalog.alternatives(Profile("national"), "B-1")] == ["B-2"]
    assert [c.code for c in catalog.alternatives(Profile("local"), "B-2")] == ["B-1"]
    assert catalog.alternatives(Profile("local"), "A") == []


def test_find_order(catalog: Catalog) -> None:
    auto = catalog.find(near_prefecture=1)
    assert [h.session.city for h in auto[:3]] == ["札幌", "函館", "札幌"]  # Hokkaido by date
    nearest = catalog.find(near_prefecture=1, order="distance")
    kms = [h.distance_km for h in nearest]
    assert kms == sorted(kms) and [h.session.city for h in nearest[:2]] == ["札幌", "札幌"]
    by_date = catalog.find(near_prefecture=1, order="date")
    days = [h.session.first_day for h in by_date]
    assert days == sorted(days)
    with pytest.raises(InvalidInput):
        catalog.find(order="random")
