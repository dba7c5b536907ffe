"""`Catalog`: the one object the chat, the CLI and the HTTP app talk to.

It wraps the store and keeps one immutable in-memory snapshot (years, rules, courses,
windows, every year's sessions with their seat counts), built whole when the store's
change counter moves (after registrations only, the seats are counted again in one
query onto the same snapshot), so searches cost microseconds.

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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from catalog import places, questions
from catalog.eligibility import Profile, Rules, Verdict
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.i18n import Said, Say, english
from catalog.i18n import gettext_lazy as _l
from catalog.places import distance_km
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


@dataclass(frozen=True)
class _Snapshot:
    """Everything the catalog reads, as of one reading of the change counter and one
    target year: built whole (`Catalog._build`) or, after registrations only, the same
    snapshot with the seats counted again (`with_seats`)."""

    marks: tuple[int, int, int]  # `Store.change_marks()`: all, static tables, sessions
    target: int  # the fiscal year today falls in (or the configured one)
    years: dict[int, YearSettings]  # every loaded year's settings
    current: int  # the year shown first (`current_year`)
    shown: tuple[int, ...]  # the current year and, once loaded, the next
    rules: Rules  # the current year's, as are the courses and windows
    courses: tuple[Course, ...]
    windows: tuple[OnlineWindow, ...]
    every: tuple[Session, ...]  # every year's sessions, cancelled ones included
    sessions: tuple[Session, ...] = ()  # the shown years' (filled in by `of`)
    active: tuple[Session, ...] = ()  # the shown years' not cancelled
    by_id: dict[str, Session] = dataclasses.field(default_factory=dict)  # every year's

    @property
    def year(self) -> YearSettings:
        return self.years[self.current]

    def of(self, marks: tuple[int, int, int], every: tuple[Session, ...]) -> _Snapshot:
        """This snapshot with the sessions `every`, as of `marks`."""
        shown = tuple(s for s in every if s.fiscal_year in self.shown)
        return dataclasses.replace(
            self,
            marks=marks,
            every=every,
            sessions=shown,
            active=tuple(s for s in shown if not s.cancelled),
            by_id={s.id: s for s in every},
        )

    def with_seats(self, marks: tuple[int, int, int], counts: dict[str, tuple[int, int]]) -> _Snapshot:
        """The same snapshot with the seat counts `counts` (session id -> registered,
        waitlisted; a session without registrations is absent)."""
        every = []
        for s in self.every:
            seats = counts.get(s.id, (0, 0))
            if (s.registered, s.waitlisted) != seats:
                s = dataclasses.replace(s, registered=seats[0], waitlisted=seats[1])
            every.append(s)
        return self.of(marks, tuple(every))


# Inside `Catalog.checked_once()`: per catalog, the change counter's parts last read and
# the (connection, its change count, the store's write count) they were read at.
_CHECKED: ContextVar[dict[int, tuple[tuple[int, int, int], tuple[int, int, int]]] | None] = ContextVar(
    "catalog_checked", default=None
)


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

    def __init__(
        self,
        store: Store,
        fiscal_year: int = 2024,
        *,
        today: Callable[[], dt.date] | None = None,
        writer: Writer | None = None,
        say: Say = english,
    ) -> None:
        self.store = store
        # how what the catalog builds into text (calendar files and feeds) is said in a
        # language: the door's `bot.telegram.i18n.say` (the .po files), else the English
        self.say = say
        self.configured_year = fiscal_year
        self._today = today
        # where the chat, the HTTP app and the background jobs write (see `write`)
        self.writer = writer or Writer(store)
        self._snap: _Snapshot | None = None

    async def write(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        on_busy: Callable[[], Awaitable[Any]] | None = None,
        quick: bool = False,
        **kwargs: Any,
    ) -> T:
        """`fn(*args, **kwargs)` (a function that writes, e.g. `registrations.register`)
        off the event loop, retried while another process holds the write lock; `on_busy`
        is awaited once if it has to wait. `catalog.writer.DatabaseBusy` when the lock is
        held longer than the writer's budget (then nothing was saved). Every write made
        from async code goes through here: a blocking SQLite call on the loop would
        freeze everyone while the database is locked. A `quick` write (a short one: a
        person's own rows, a notification's mark) is done on the loop when the lock is
        free, never waiting for it (`catalog.writer.Writer`)."""
        return await self.writer(fn, *args, on_busy=on_busy, quick=quick, **kwargs)

    # -- the snapshot ---------------------------------------------------------------------------

    def data_key(self) -> int:
        """Changes exactly when sessions, registrations, courses or rules change (the
        store's change counter, kept by triggers, so other processes' writes count too).

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

    def _snapshot(self) -> _Snapshot:
        """The snapshot for the change counter and the year today falls in. Rebuilt whole
        when anything but registrations changed (every year's sessions, the years, rules,
        courses and windows: about 1 ms); after registrations only, the same snapshot with
        the seats counted again in one query (a whole rebuild after every registration put
        the dispatcher benchmark's confirm p99 over its 5 ms target)."""
        marks = self._marks()  # read before the rows it vouches for
        target = self._target_year()
        snap = self._snap
        if snap is not None and snap.target == target:
            if snap.marks == marks:
                return snap
            if snap.marks[1:] == marks[1:]:  # only registrations changed
                counts = {
                    sid: (registered or 0, waitlisted or 0)
                    for sid, registered, waitlisted in self.store.db.conn.execute(SEATS_SQL).fetchall()
                }
                self._snap = snap.with_seats(marks, counts)
                return self._snap
        self._snap = self._build(marks, target)
        return self._snap

    def _build(self, marks: tuple[int, int, int], target: int) -> _Snapshot:
        """Everything read afresh."""
        years = {}
        for row in self.store.query("select * from years order by fiscal_year"):
            years[row["fiscal_year"]] = YearSettings(
                row["fiscal_year"],
                row["label_ja"],
                row["label_en"],
                row["apply_url"],
                row["contact"],
                row["seats"],
                row["deadline_business_days"],
                row["nearly_full_threshold"],
                row["source"],
                row["defaults_source"],
                row["fees_source"],
            )
        current = current_year(years, target)
        if current is None:
            raise NotFound(_l("FY{year} is not loaded; run `cyder-bot db init`", year=target))
        fields = Course.__dataclass_fields__
        courses = tuple(
            Course(**{k: r[k] for k in fields})
            for r in self.store.query(
                "select * from courses where fiscal_year = ? order by position", [current]
            )
        )
        windows = tuple(
            OnlineWindow(
                r["name"],
                r["label_ja"],
                r["label_en"],
                dt.date.fromisoformat(r["first"]),
                dt.date.fromisoformat(r["last"]),
                r.get("revision") or 0,
                r.get("updated_at") or "",
            )
            for r in self.store.query(
                "select * from online_windows where fiscal_year = ? order by first",
                [current],
            )
        )
        # a session of a year not loaded (none should be) takes the current year's settings
        every = tuple(
            build_session(r, years.get(r["fiscal_year"]) or years[current])
            for r in self.store.query(SESSIONS_SQL)
        )
        snap = _Snapshot(
            marks,
            target,
            years,
            current,
            (current, current + 1) if current + 1 in years else (current,),
            Rules.from_store(self.store, current),
            courses,
            windows,
            every,
        )
        return snap.of(marks, every)

    @property
    def fiscal_year(self) -> int:
        """The current fiscal year: the one today falls in (or the configured one), when
        loaded; else the nearest loaded one (`current_year`)."""
        return self._snapshot().current

    @property
    def fiscal_years(self) -> tuple[int, ...]:
        """The years shown: the current one and, once loaded, the next."""
        return self._snapshot().shown

    def loaded_years(self) -> tuple[int, ...]:
        """Every fiscal year in the store, oldest first."""
        return tuple(sorted(self._snapshot().years))

    @property
    def year(self) -> YearSettings:
        return self._snapshot().year

    def year_of(self, fiscal_year: int) -> YearSettings:
        """A loaded year's settings (labels, seats, deadlines); the current year's for one
        not loaded."""
        snap = self._snapshot()
        return snap.years.get(fiscal_year, snap.year)

    def sessions_of(self, fiscal_year: int, include_cancelled: bool = True) -> tuple[Session, ...]:
        """One fiscal year's sessions, shown or not (a past year's rosters and exports)."""
        return tuple(
            s
            for s in self._snapshot().every
            if s.fiscal_year == fiscal_year and (include_cancelled or not s.cancelled)
        )

    @property
    def rules(self) -> Rules:
        return self._snapshot().rules

    def courses(self) -> tuple[Course, ...]:
        return self._snapshot().courses

    def online_windows(self) -> tuple[OnlineWindow, ...]:
        return self._snapshot().windows

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
        if near:
            raise InvalidInput(
                _l(
                    "unknown course {text!r}; choose one of: {codes} (did you mean {hint}?)",
                    text=text,
                    codes=", ".join(codes),
                    hint=", ".join(near),
                )
            )
        raise InvalidInput(
            _l("unknown course {text!r}; choose one of: {codes}", text=text, codes=", ".join(codes))
        )

    def session(self, session_id: str) -> Session:
        """One session by id, cancelled ones included; NotFound otherwise."""
        s = self._snapshot().by_id.get((session_id or "").strip())
        if s is None:
            raise NotFound(_l("no session {session_id!r}", session_id=session_id))
        return s

    def verdict(self, profile: Profile, course: str) -> Verdict:
        return self.rules.decide(profile, course)

    def verdicts(self, profile: Profile) -> list[Verdict]:
        return self.rules.decide_all(profile)

    def alternatives(self, profile: Profile, course: str) -> list[Course]:
        """Courses of the same level as `course` that `profile` may take instead: B-2 for
        a national agency asking for B-1, B-1 for a local government asking for B-2."""
        wanted = self.course(course)
        return [
            c
            for c in self.courses()
            if c.code != wanted.code
            and c.level_en == wanted.level_en
            and self.verdict(profile, c.code).eligible
        ]

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
            raise InvalidInput(_l("unknown order {order!r}; choose auto, date or distance", order=order))
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
            hits.append(Hit(s, distance_km(origin, (s.lat, s.lon)) if origin else None))
        if order == "date":
            hits.sort(key=lambda h: h.session.first_day)
        elif order == "distance" and origin is not None:
            hits.sort(key=lambda h: (round(h.distance_km or 0.0, 3), h.session.first_day))
        elif near_prefecture is not None:
            hits.sort(
                key=lambda h: (
                    h.session.prefecture_code != near_prefecture,
                    0.0 if h.session.prefecture_code == near_prefecture else (h.distance_km or 0.0),
                    h.session.first_day,
                )
            )
        elif origin is not None:
            hits.sort(key=lambda h: (round(h.distance_km or 0.0, 3), h.session.first_day))
        if limit is not None:
            hits = hits[: max(0, limit)]
        return hits

    def upcoming(self, today: dt.date, **filters: Any) -> list[Hit]:
        """`find` limited to sessions that have not ended by `today`."""
        return self.find(date_from=today, **filters)


class UnknownFilter(InvalidInput):
    """A search filter value that names no course, prefecture or region; `reason` is the
    error that said so (its gettext message, or its English/Japanese pair), or a message
    (then `ja` may give the Japanese of an English one)."""

    def __init__(
        self, field: str, value: str, reason: str | Said | BaseException, ja: str | None = None
    ) -> None:
        said: str | Said
        if isinstance(reason, CatalogError):
            said, ja = (reason.message, None) if reason.message else (reason.en, reason.ja)
        elif isinstance(reason, BaseException):
            said = str(reason)
        else:
            said = reason
        super().__init__(said, ja, code="unknown_filter")
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


def parse_filters(
    catalog: Catalog,
    *,
    courses: Iterable[object] = (),
    prefectures: Iterable[object] = (),
    regions: Iterable[object] = (),
) -> SearchFilters:
    """Search filters as people type them (repeated or comma-separated: "any of"), for the
    CLI and the HTTP feeds alike; `UnknownFilter` names the first value that matches nothing."""
    found_courses: set[str] = set()
    for value in _split(courses):
        try:
            found_courses.add(catalog.course(value).code)
        except InvalidInput as e:
            raise UnknownFilter("course", value, e) from None
    found_prefs: set[int] = set()
    for value in _split(prefectures):
        try:
            found_prefs.add(places.prefecture(value).code)
        except places.UnknownPlace as e:
            raise UnknownFilter("prefecture", value, e) from None
    found_regions: set[str] = set()
    for value in _split(regions):
        try:
            found_regions.add(places.region(value).name)
        except places.UnknownPlace as e:
            raise UnknownFilter("region", value, e) from None
    return SearchFilters(
        tuple(sorted(found_courses)), tuple(sorted(found_prefs)), tuple(sorted(found_regions))
    )
