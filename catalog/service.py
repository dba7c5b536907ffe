"""`Catalog`: the one object the chat, the CLI and the HTTP app talk to.

It wraps the store and keeps an in-memory snapshot of the sessions (with their seat
counts) that is rebuilt only when the database changes, so searches cost microseconds.

The store may hold several fiscal years. The catalog shows the current one (the year
today falls in, when loaded) and, once loaded, the next one: searches, feeds and
`all_sessions()` cover those two. Every year's sessions stay reachable by id
(`session()`) and by year (`sessions_of()`), for rosters and exports of past years.
Courses, rules and windows are the current year's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from catalog import places, questions
from catalog.eligibility import Profile, Rules, Verdict
from catalog.errors import InvalidInput, NotFound
from catalog.session_row import fiscal_year_of
from catalog.sessions import Hit, Session, YearSettings, build_session
from catalog.store import Store
from catalog.writer import Writer

T = TypeVar("T")

SESSIONS_SQL = """
select s.*, coalesce(c.registered, 0) as registered, coalesce(c.waitlisted, 0) as waitlisted
from sessions s
left join (
  select session_id,
         sum(status = 'registered') as registered,
         sum(status = 'waitlisted') as waitlisted
  from registrations group by session_id
) c on c.session_id = s.id
order by s.first_day, s.course, s.prefecture_code
"""

SEATS_SQL = """
select session_id, sum(status = 'registered'), sum(status = 'waitlisted')
from registrations group by session_id
"""


@dataclass(frozen=True)
class Course:
    code: str
    name_ja: str
    name_en: str
    format: str
    days: int
    level_ja: str
    level_en: str
    audience_ja: str
    audience_en: str
    learn_ja: str
    learn_en: str
    organisations_ja: str
    organisations_en: str
    where_ja: str
    where_en: str
    period_ja: str
    period_en: str
    note_ja: str
    note_en: str
    allowed: str
    fee_yen: int | None
    declared_total: int | None

    def t(self, field: str, lang: str) -> str:
        """A field in the user's language: `course.t("level", "en")`."""
        return str(getattr(self, f"{field}_{'en' if lang.startswith('en') else 'ja'}"))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OnlineWindow:
    name: str
    label_ja: str
    label_en: str
    first: dt.date
    last: dt.date
    revision: int = 0  # raised by `db load` when its dates or labels change: SEQUENCE
    updated_at: str = ""  # when it last changed (ISO, as stored): DTSTAMP, Last-Modified


@dataclass
class _Snapshot:
    key: int
    sessions: tuple[Session, ...]  # the shown years' sessions
    by_id: dict[str, Session]  # every year's
    active: tuple[Session, ...] = ()  # the shown sessions not cancelled
    sessions_key: int = -1  # the sessions part of the change counter they were read at
    every: tuple[Session, ...] = ()  # every year's sessions
    target: int | None = None  # the fiscal year today falls in, when the catalog has a clock
    # search origin -> session id -> distance in km (searches near the same prefecture
    # or place repeat); bounded, and kept while the sessions themselves are unchanged
    distances: dict[tuple[float, float], dict[str, float]] = dataclasses.field(
        default_factory=dict)

    def distances_from(self, origin: Sequence[float]) -> dict[str, float]:
        origin = (float(origin[0]), float(origin[1]))
        known = self.distances.get(origin)
        if known is None:
            if len(self.distances) >= 512:
                self.distances.clear()
            known = self.distances[origin] = {
                s.id: places.distance_km(origin, (s.lat, s.lon)) for s in self.sessions}
        return known


# Inside `Catalog.checked_once()`: per catalog, the change counter's parts last read and
# the (connection, its change count, the store's write count) they were read at.
_CHECKED: ContextVar[dict[int, tuple[tuple[int, int, int], tuple[int, int, int]]] | None] = ContextVar(
    "catalog_checked", default=None)


def current_year(loaded: Iterable[int], target: int) -> int | None:
    """The fiscal year to show for `target` (the year today falls in): that one when it
    is loaded, else the latest loaded before it, else the earliest loaded after it."""
    years = sorted(set(loaded))
    if not years:
        return None
    if target in years:
        return target
    before = [y for y in years if y < target]
    return before[-1] if before else years[0]


class Catalog:
    """Courses, sessions, rules and search: the current fiscal year and the next one.

    `fiscal_year` is the year to show when no `today` is given (tests, tools); with
    `today` (a callable, such as `Clock.today`), the year today falls in, re-read on
    every snapshot so a running bot moves on to the new year on 1 April."""

    def __init__(self, store: Store, fiscal_year: int = 2024, *,
                 today: Callable[[], dt.date] | None = None,
                 writer: Writer | None = None) -> None:
        self.store = store
        self.configured_year = fiscal_year
        self._today = today
        self._current = fiscal_year
        self._shown: tuple[int, ...] = (fiscal_year,)
        self._target: int | None = None
        # where the chat, the HTTP app and the background jobs write (see `write`)
        self.writer = writer or Writer(store)
        self._snap: _Snapshot | None = None
        self._static_key: int | None = None
        self._rules: Rules | None = None
        self._courses: tuple[Course, ...] = ()
        self._year: YearSettings | None = None
        self._years: dict[int, YearSettings] = {}
        self._windows: tuple[OnlineWindow, ...] = ()
        # session id -> (its row without the seat counts, the Session built from it)
        self._built: dict[str, tuple[tuple[Any, ...], Session]] = {}

    async def write(self, fn: Callable[..., T], /, *args: Any,
                    on_busy: Callable[[], Awaitable[Any]] | None = None, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` (a function that writes, e.g. `registrations.register`)
        off the event loop, retried while another process holds the write lock; `on_busy`
        is awaited once if it has to wait. `catalog.writer.DatabaseBusy` when the lock is
        held longer than the writer's budget (then nothing was saved). Every write made
        from async code goes through here: a blocking SQLite call on the loop would
        freeze everyone while the database is locked."""
        return await self.writer(fn, *args, on_busy=on_busy, **kwargs)

    # -- cached reads -------------------------------------------------------------------------

    def data_key(self) -> int:
        """Changes exactly when sessions, registrations, courses or rules change.

        Read from the database on every call, except inside `checked_once()`."""
        return self._marks()[0]

    def _marks(self) -> tuple[int, int, int]:
        """`Store.change_marks()`: read once per `checked_once()` block (and again after
        this process writes), on every call outside one."""
        checked = _CHECKED.get()
        if checked is None:
            return self.store.change_marks()
        conn = self.store.db.conn
        mark = (id(conn), conn.total_changes, self.store.version)
        seen = checked.get(id(self))
        if seen is not None and seen[0] == mark:
            return seen[1]
        marks = self.store.change_marks()
        checked[id(self)] = (mark, marks)
        return marks

    @contextlib.contextmanager
    def checked_once(self) -> Iterator[None]:
        """A block (one chat update) that reads the change counter once: again only after
        this process writes (any write transaction, or any row this thread's connection
        changes), so a handler may ask for sessions, courses and rules many times at the
        price of one check. A change by another process shows from the next block on.
        Nested blocks and threads started inside (asyncio.to_thread) share the check."""
        if _CHECKED.get() is not None:
            yield
            return
        token = _CHECKED.set({})
        try:
            yield
        finally:
            _CHECKED.reset(token)

    def _target_year(self) -> int:
        return fiscal_year_of(self._today()) if self._today is not None else self.configured_year

    def _refresh_static(self, key: int, target: int) -> bool:
        """Re-read year settings, rules, courses and windows when their part of the change
        counter (`key`) moved or the year to show (`target`) did; whether they changed."""
        if self._static_key == key and self._target == target and self._year is not None:
            return False
        years = {}
        for row in self.store.query("select * from years order by fiscal_year"):
            years[row["fiscal_year"]] = YearSettings(
                row["fiscal_year"], row["label_ja"], row["label_en"], row["apply_url"],
                row["contact"], row["seats"], row["deadline_business_days"],
                row["nearly_full_threshold"], row["source"], row["defaults_source"],
                row["fees_source"],
            )
        current = current_year(years, target)
        if current is None:
            raise NotFound(f"FY{target} is not loaded; run `cyder-bot db init`",
                           f"{target}年度のデータがありません"
                           "（cyder-bot db init を実行してください）")
        year = years[current]
        if years != self._years:
            self._built = {}  # seats, deadlines and thresholds come from the year
        self._years = years
        self._current = current
        self._shown = (current, current + 1) if current + 1 in years else (current,)
        self._target = target
        self._year = year
        self._rules = Rules.from_store(self.store, current)
        fields = Course.__dataclass_fields__
        self._courses = tuple(
            Course(**{k: r[k] for k in fields})
            for r in self.store.query(
                "select * from courses where fiscal_year = ? order by position", [current]
            )
        )
        self._windows = tuple(
            OnlineWindow(r["name"], r["label_ja"], r["label_en"],
                         dt.date.fromisoformat(r["first"]), dt.date.fromisoformat(r["last"]),
                         r.get("revision") or 0, r.get("updated_at") or "")
            for r in self.store.query(
                "select * from online_windows where fiscal_year = ? order by first",
                [current],
            )
        )
        self._static_key = key
        return True

    def _snapshot(self) -> _Snapshot:
        key, static_key, sessions_key = self._marks()  # read before the rows it vouches for
        target = self._target_year()
        snap = self._snap
        if snap is not None and snap.key == key and snap.target == target:
            return snap
        static_changed = self._refresh_static(static_key, target)
        if snap is not None and not static_changed and snap.sessions_key == sessions_key:
            # only registrations changed: new seat counts on the same sessions, and
            # distances from earlier searches still hold
            every, distances = self._recount_seats(snap.every), snap.distances
        else:
            every, distances = self._build_sessions(), {}
        shown = tuple(s for s in every if s.fiscal_year in self._shown)
        self._snap = _Snapshot(key, shown, {s.id: s for s in every},
                               tuple(s for s in shown if not s.cancelled),
                               sessions_key, every, target, distances)
        return self._snap

    def _recount_seats(self, sessions: tuple[Session, ...]) -> tuple[Session, ...]:
        """`sessions` with their seat counts read afresh (one grouped query)."""
        counts = {sid: (registered or 0, waitlisted or 0) for sid, registered, waitlisted
                  in self.store.db.conn.execute(SEATS_SQL).fetchall()}
        out = []
        for session in sessions:
            registered, waitlisted = counts.get(session.id, (0, 0))
            if session.registered != registered or session.waitlisted != waitlisted:
                session = dataclasses.replace(session, registered=registered,
                                              waitlisted=waitlisted)
                before = self._built.get(session.id)
                if before is not None:
                    self._built[session.id] = (before[0], session)
            out.append(session)
        return tuple(out)

    def _build_sessions(self) -> tuple[Session, ...]:
        """Every session of every year, read afresh (after a schedule load or an edit). A
        session whose row is as it was keeps its object, with new seat counts if they
        changed."""
        years = self._years
        cursor = self.store.db.conn.execute(SESSIONS_SQL)
        columns = [d[0] for d in cursor.description]
        assert columns[-2:] == ["registered", "waitlisted"]
        built = self._built
        fresh: dict[str, tuple[tuple[Any, ...], Session]] = {}
        out = []
        for values in cursor.fetchall():
            row, registered, waitlisted = values[:-2], values[-2] or 0, values[-1] or 0
            before = built.get(row[0])
            if before is not None and before[0] == row:
                session = before[1]
                if session.registered != registered or session.waitlisted != waitlisted:
                    session = dataclasses.replace(session, registered=registered,
                                                  waitlisted=waitlisted)
            else:
                record = dict(zip(columns, values, strict=True))
                year = years.get(record["fiscal_year"]) or self._year
                assert year is not None
                session = build_session(record, year)
            fresh[session.id] = (row, session)
            out.append(session)
        self._built = fresh
        return tuple(out)

    @property
    def fiscal_year(self) -> int:
        """The current fiscal year: the one today falls in (or the configured one), when
        loaded; else the nearest loaded one (`current_year`)."""
        self._snapshot()
        return self._current

    @property
    def fiscal_years(self) -> tuple[int, ...]:
        """The years shown: the current one and, once loaded, the next."""
        self._snapshot()
        return self._shown

    def loaded_years(self) -> tuple[int, ...]:
        """Every fiscal year in the store, oldest first."""
        self._snapshot()
        return tuple(sorted(self._years))

    @property
    def year(self) -> YearSettings:
        self._snapshot()
        assert self._year is not None
        return self._year

    def year_of(self, fiscal_year: int) -> YearSettings:
        """A loaded year's settings (labels, seats, deadlines); the current year's for one
        not loaded."""
        self._snapshot()
        assert self._year is not None
        return self._years.get(fiscal_year, self._year)

    def sessions_of(self, fiscal_year: int, include_cancelled: bool = True) -> tuple[Session, ...]:
        """One fiscal year's sessions, shown or not (a past year's rosters and exports)."""
        snap = self._snapshot()
        return tuple(s for s in snap.every if s.fiscal_year == fiscal_year
                     and (include_cancelled or not s.cancelled))

    @property
    def rules(self) -> Rules:
        self._snapshot()
        assert self._rules is not None
        return self._rules

    def courses(self) -> tuple[Course, ...]:
        self._snapshot()
        return self._courses

    def online_windows(self) -> tuple[OnlineWindow, ...]:
        self._snapshot()
        return self._windows

    def all_sessions(self, include_cancelled: bool = False) -> tuple[Session, ...]:
        snap = self._snapshot()
        return snap.sessions if include_cancelled else snap.active

    # -- lookups ------------------------------------------------------------------------------

    def course(self, text: str) -> Course:
        """A course by code as people type it: A, a, B1, b-1, Ｂ－１, C, プレ, pre."""
        codes = [c.code for c in self.courses()]
        found = questions.match_course(text, codes)
        for c in self.courses():
            if c.code == found:
                return c
        near = difflib.get_close_matches(text.upper(), codes, n=3, cutoff=0.3)
        hint = ", ".join(near or codes)
        raise InvalidInput(f"unknown course {text!r}; choose one of: {', '.join(codes)}"
                           + (f" (did you mean {hint}?)" if near else ""),
                           f"コース {text!r} はありません。{', '.join(codes)} から選んでください。")

    def session(self, session_id: str) -> Session:
        """One session by id, cancelled ones included; NotFound otherwise."""
        s = self._snapshot().by_id.get((session_id or "").strip())
        if s is None:
            raise NotFound(f"no session {session_id!r}", f"開催回 {session_id!r} は見つかりません。")
        return s

    def verdict(self, profile: Profile, course: str) -> Verdict:
        return self.rules.decide(profile, course)

    def verdicts(self, profile: Profile) -> list[Verdict]:
        return self.rules.decide_all(profile)

    def alternatives(self, profile: Profile, course: str) -> list[Course]:
        """Courses of the same level as `course` that `profile` may take instead: B-2 for
        a national agency asking for B-1, B-1 for a local government asking for B-2."""
        wanted = self.course(course)
        return [c for c in self.courses()
                if c.code != wanted.code and c.level_en == wanted.level_en
                and self.verdict(profile, c.code).eligible]

    # -- search -------------------------------------------------------------------------------

    def find(
        self,
        *,
        courses: Iterable[str] = (),
        prefectures: Iterable[int] = (),
        regions: Iterable[str] = (),
        near: tuple[float, float] | None = None,
        near_prefecture: int | None = None,
        eligible_for: Profile | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        include_cancelled: bool = False,
        limit: int | None = None,
        order: str = "auto",
    ) -> list[Hit]:
        """Sessions matching every filter given (each filter: any of its values).

        Order "auto": by distance with `near`; with `near_prefecture`, that prefecture's
        own sessions first (by date), then the rest by distance; otherwise by date.
        Order "date": by date whatever the origin; "distance": nearest first (from
        `near`, or the capital of `near_prefecture`), then by date.
        """
        if order not in ("auto", "date", "distance"):
            raise InvalidInput(f"unknown order {order!r}; choose auto, date or distance",
                               f"並び順 {order!r} は不明です（auto, date, distance）")
        course_set = {c for c in courses}
        pref_set = set(prefectures)
        region_set = set(regions)
        allowed: set[str] | None = None
        if eligible_for is not None:
            allowed = {v.course for v in self.rules.decide_all(eligible_for) if v.eligible}
        origin = near
        if near_prefecture is not None and origin is None:
            p = places.prefecture(near_prefecture)
            origin = (p.lat, p.lon)
        hits: list[Hit] = []
        snap = self._snapshot()
        distances = snap.distances_from(origin) if origin else None
        for s in snap.sessions if include_cancelled else snap.active:
            if course_set and s.course not in course_set:
                continue
            if pref_set and s.prefecture_code not in pref_set:
                continue
            if region_set and s.region not in region_set:
                continue
            if allowed is not None and s.course not in allowed:
                continue
            if date_from and s.last_day < date_from:
                continue
            if date_to and s.first_day > date_to:
                continue
            hits.append(Hit(s, distances[s.id] if distances is not None else None))
        if order == "date":
            hits.sort(key=lambda h: h.session.first_day)
        elif order == "distance" and origin is not None:
            hits.sort(key=lambda h: (round(h.distance_km or 0.0, 3), h.session.first_day))
        elif near_prefecture is not None:
            hits.sort(key=lambda h: (h.session.prefecture_code != near_prefecture,
                                     0.0 if h.session.prefecture_code == near_prefecture
                                     else (h.distance_km or 0.0), h.session.first_day))
        elif origin is not None:
            hits.sort(key=lambda h: (round(h.distance_km or 0.0, 3), h.session.first_day))
        if limit is not None:
            hits = hits[: max(0, limit)]
        return hits

    def upcoming(self, today: dt.date, **filters: Any) -> list[Hit]:
        """`find` limited to sessions that have not ended by `today`."""
        return self.find(date_from=today, **filters)


class UnknownFilter(InvalidInput):
    """A search filter value that names no course, prefecture or region."""

    def __init__(self, field: str, value: str, en: str, ja: str) -> None:
        super().__init__(en, ja, code="unknown_filter")
        self.field = field
        self.value = value


@dataclass(frozen=True)
class SearchFilters:
    """Course codes, JIS prefecture codes and region names, each sorted and unique."""

    courses: tuple[str, ...] = ()
    prefectures: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()


def _split(values: Iterable[object]) -> list[str]:
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


def parse_filters(catalog: Catalog, *, courses: Iterable[object] = (),
                  prefectures: Iterable[object] = (),
                  regions: Iterable[object] = ()) -> SearchFilters:
    """Search filters as people type them (repeated or comma-separated: "any of"), for the
    CLI and the HTTP feeds alike; `UnknownFilter` names the first value that matches nothing."""
    found_courses: set[str] = set()
    for value in _split(courses):
        try:
            found_courses.add(catalog.course(value).code)
        except InvalidInput as e:
            raise UnknownFilter("course", value, e.en, e.ja) from None
    found_prefs: set[int] = set()
    for value in _split(prefectures):
        try:
            found_prefs.add(places.prefecture(value).code)
        except places.UnknownPlace as e:
            raise UnknownFilter("prefecture", value, str(e), str(e)) from None
    found_regions: set[str] = set()
    for value in _split(regions):
        try:
            found_regions.add(places.region(value).name)
        except places.UnknownPlace as e:
            raise UnknownFilter("region", value, str(e), str(e)) from None
    return SearchFilters(tuple(sorted(found_courses)), tuple(sorted(found_prefs)),
                         tuple(sorted(found_regions)))
