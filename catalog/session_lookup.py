"""A session named the way staff say it: by id (2024-A-34-1025), or by place and date
(広島 10/25, 10月25日 広島市, hiroshima 2024-10-25), optionally with a course (A, B-1).

`lookup` reads the leading words that name a session and returns every session they
fit, with the rest of the text (a roster's format, a broadcast's message). One match is
the session; several are suggestions for staff to choose from; none is NotFound with
what was looked for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from catalog import places
from catalog.errors import InvalidInput, NotFound
from catalog.i18n import ByLang
from catalog.i18n import gettext_lazy as _l
from catalog.service import Catalog
from catalog.sessions import Session

SUGGESTIONS = 8
_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$"),
    re.compile(r"^(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})日?$"),
    re.compile(r"^(?P<m>\d{1,2})[/-](?P<d>\d{1,2})$"),
)
_CITY_SUFFIXES = ("市", "区", "町", "村")


@dataclass(frozen=True)
class Lookup:
    """What staff's words matched: the sessions (soonest upcoming first) and the text
    after the words that named them."""

    sessions: tuple[Session, ...]
    rest: str
    words: str  # the words that named the session, as typed

    @property
    def session(self) -> Session | None:
        """The session, when exactly one matched."""
        return self.sessions[0] if len(self.sessions) == 1 else None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def parse_day(text: str, fiscal_year: int) -> dt.date | None:
    """A day as staff type it (10/25, 10月25日, 2024-10-25) within `fiscal_year`: April to
    December in that year, January to March in the next. None if `text` is no date."""
    word = _fold(text)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(word)
        if m is None:
            continue
        month, day = int(m["m"]), int(m["d"])
        given = m.groupdict().get("y")
        year = int(given) if given else (fiscal_year if month >= 4 else fiscal_year + 1)
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise InvalidInput(_l("{text!r} is not a date", text=text)) from None
    return None


def _place_keys(session: Session) -> set[str]:
    keys = {
        places.normalize(session.prefecture),
        places.normalize(session.city),
        places.normalize(session.region),
    }
    return {k for k in keys if k}


def _place_matcher(word: str) -> set[str] | None:
    """The keys a place word may match (prefecture, city or region), or None if the word
    names no place."""
    if word.isdigit():
        return None  # "34" is a prefecture's code, never how staff name a place here
    keys = {places.normalize(word)}
    folded = _fold(word)
    if len(folded) >= 2 and folded.endswith(_CITY_SUFFIXES):
        keys.add(places.normalize(folded[:-1]))
    with contextlib.suppress(places.UnknownPlace):
        keys.add(places.normalize(places.prefecture(word).name))
    with contextlib.suppress(places.UnknownPlace):
        keys.add(places.normalize(places.region(word).name))
    return {k for k in keys if k}


def _course_code(catalog: Catalog, word: str, *, exact: bool) -> str | None:
    """The course `word` names (A, b1, Ｂ－１…), or with `exact` only its code as written."""
    codes = {c.code for c in catalog.courses()}
    if exact:
        return word if word in codes else None
    try:
        return catalog.course(word).code
    except InvalidInput:
        return None


def lookup(catalog: Catalog, text: str, *, today: dt.date) -> Lookup:
    """The sessions the leading words of `text` name (see the module's docstring).

    NotFound names what was looked for when nothing matches; InvalidInput when there is
    nothing to look for or a date that does not exist (2/30)."""
    words = (text or "").split()
    if not words:
        raise InvalidInput(_l("no session given"))
    every = catalog.all_sessions(include_cancelled=True)
    by_id = {s.id: s for s in every}
    if words[0] in by_id:
        return Lookup((by_id[words[0]],), " ".join(words[1:]), words[0])
    day: dt.date | None = None
    course: str | None = None
    place_words: list[tuple[str, set[str]]] = []
    used = 0
    for word in words[:4]:
        found = parse_day(word, catalog.fiscal_year) if day is None else None
        if found is not None:
            day = found
            used += 1
            continue
        # once place and day are known, only an exact course code still names the session
        # ("広島 10/25 A"); any other word starts the rest ("… a reminder")
        complete = day is not None and bool(place_words)
        if course is None:
            code = _course_code(catalog, word, exact=complete)
            if code is not None:
                course = code
                used += 1
                continue
        keys = None if complete else _place_matcher(word)
        if keys and any(_place_keys(s) & keys for s in every):
            place_words.append((word, keys))
            used += 1
            continue
        break
    if used == 0:
        raise NotFound(
            _l(
                "no session {session!r} (give its id, or a place and date such as 広島 10/25)",
                session=words[0],
            )
        )
    named = " ".join(words[:used])
    found_sessions = [
        s
        for s in every
        if (day is None or s.first_day <= day <= s.last_day)
        and (course is None or s.course == course)
        and all(_place_keys(s) & keys for _w, keys in place_words)
    ]
    if not found_sessions:
        # Japanese quotes the words in 「」, English shows them as Python does ('広島 9/9')
        raise NotFound(_l("no session matches {named}", named=ByLang(named, repr(named))))
    found_sessions.sort(key=lambda s: (s.last_day < today, s.first_day, s.course, s.id))
    return Lookup(tuple(found_sessions), " ".join(words[used:]), named)
