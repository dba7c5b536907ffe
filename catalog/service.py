"""`Catalog`: the one object the chat, the CLI and the HTTP app talk to.

It wraps the store for one fiscal year and keeps an in-memory snapshot of the
sessions (with their seat counts), courses and rules, renewed when the database's
change counter moves, so searches cost microseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from catalog import places
from catalog.eligibility import Profile, Rules, Verdict
from catalog.errors import InvalidInput, NotFound
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
where s.fiscal_year = ?
order by s.first_day, s.course, s.prefecture_code
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


SEATS_SQL = """
select session_id, sum(status = 'registered'), sum(status = 'waitlisted')
from registrations group by session_id
"""


@dataclass(frozen=True)
class _Snapshot:
    """Everything the catalog reads, as of one reading of the change counter."""

    marks: tuple[int, int, int]  # `Store.change_marks()`: all, static tables, sessions
    year: YearSettings
    rules: Rules
    courses: tuple[Course, ...]
    windows: tuple[OnlineWindow, ...]
    sessions: tuple[Session, ...]  # cancelled ones included
    by_id: dict[str, Session]
    active: tuple[Session, ...]  # the sessions not cancelled

    @classmethod
    def of(cls, marks: tuple[int, int, int], year: YearSettings, rules: Rules,
           courses: tuple[Course, ...], windows: tuple[OnlineWindow, ...],
           sessions: tuple[Session, ...]) -> _Snapshot:
        return cls(marks, year, rules, courses, windows, sessions, {s.id: s for s in sessions},
                   tuple(s for s in sessions if not s.cancelled))

    def with_seats(self, marks: tuple[int, int, int],
                   counts: dict[str, tuple[int, int]]) -> _Snapshot:
        """The same snapshot with the seat counts `counts` (session id -> registered,
        waitlisted; a session without registrations is absent)."""
        sessions = []
        for s in self.sessions:
            registered, waitlisted = counts.get(s.id, (0, 0))
            if (s.registered, s.waitlisted) != (registered, waitlisted):
                s = dataclasses.replace(s, registered=registered, waitlisted=waitlisted)
            sessions.append(s)
        return _Snapshot.of(marks, self.year, self.rules, self.courses, self.windows,
                            tuple(sessions))


# Inside `Catalog.checked_once()`: per catalog, the change counter last read and the
# (connection, its change count, the store's write count) it was read at.
_CHECKED: ContextVar[dict[int, tuple[tuple[int, int, int], tuple[int, int, int]]] | None] = (
    ContextVar("catalog_checked", default=None))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().replace("－", "-").replace("ー", "-")


class Catalog:
    """Courses, sessions, rules and search for one fiscal year."""

    def __init__(self, store: Store, fiscal_year: int = 2024, *,
                 writer: Writer | None = None) -> None:
        self.store = store
        self.fiscal_year = fiscal_year
        # where the chat, the HTTP app and the background jobs write (see `write`)
        self.writer = writer or Writer(store)
        self._snap: _Snapshot | None = None

    async def write(self, fn: Callable[..., T], /, *args: Any,
                    on_busy: Callable[[], Awaitable[Any]] | None = None, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` (a function that writes, e.g. `registrations.register`)
        off the event loop, retried while another process holds the write lock; `on_busy`
        is awaited once if it has to wait. `catalog.writer.DatabaseBusy` when the lock is
        held longer than the writer's budget (then nothing was saved). Every write made
        from async code goes through here: a blocking SQLite call on the loop would
        freeze everyone while the database is locked."""
        return await self.writer(fn, *args, on_busy=on_busy, **kwargs)

    # -- the snapshot ---------------------------------------------------------------------------

    def data_key(self) -> int:
        """Changes exactly when sessions, registrations, courses or rules change (the
        store's change counter, kept by triggers, so other processes' writes count too).

        Read from the database on every call, except inside `checked_once()`."""
        return self._marks()[0]

    def _marks(self) -> tuple[int, int, int]:
        """`Store.change_marks()`, read once per `checked_once()` block (and again after
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

    def _snapshot(self) -> _Snapshot:
        """The snapshot for the current change counter. Rebuilt whole when anything but
        registrations changed (a hundred sessions, the rules, the courses: about 1.4 ms);
        after registrations only, the same snapshot with the seats counted again in one
        query (about 0.2 ms: a whole rebuild after every registration put the dispatcher
        benchmark's p99 over its 5 ms target)."""
        marks = self._marks()  # read before the rows it vouches for
        snap = self._snap
        if snap is not None and snap.marks == marks:
            return snap
        if snap is not None and snap.marks[1:] == marks[1:]:
            counts = {sid: (registered or 0, waitlisted or 0) for sid, registered, waitlisted
                      in self.store.db.conn.execute(SEATS_SQL).fetchall()}
            snap = snap.with_seats(marks, counts)
        else:
            snap = self._build(marks)
        self._snap = snap
        return snap

    def _build(self, marks: tuple[int, int, int]) -> _Snapshot:
        row = self.store.one("select * from years where fiscal_year = ?", [self.fiscal_year])
        if row is None:
            raise NotFound(f"FY{self.fiscal_year} is not loaded; run `cyder-bot db init`",
                           f"{self.fiscal_year}年度のデータがありません"
                           "（cyder-bot db init を実行してください）")
        year = YearSettings(
            row["fiscal_year"], row["label_ja"], row["label_en"], row["apply_url"], row["contact"],
            row["seats"], row["deadline_business_days"], row["nearly_full_threshold"],
            row["source"], row["defaults_source"], row["fees_source"],
        )
        fields = Course.__dataclass_fields__
        courses = tuple(
            Course(**{k: r[k] for k in fields})
            for r in self.store.query(
                "select * from courses where fiscal_year = ? order by position", [self.fiscal_year]
            )
        )
        windows = tuple(
            OnlineWindow(r["name"], r["label_ja"], r["label_en"],
                         dt.date.fromisoformat(r["first"]), dt.date.fromisoformat(r["last"]),
                         r.get("revision") or 0, r.get("updated_at") or "")
            for r in self.store.query(
                "select * from online_windows where fiscal_year = ? order by first",
                [self.fiscal_year],
            )
        )
        sessions = tuple(build_session(r, year)
                         for r in self.store.query(SESSIONS_SQL, [self.fiscal_year]))
        return _Snapshot.of(marks, year, Rules.from_store(self.store, self.fiscal_year), courses,
                            windows, sessions)

    @property
    def year(self) -> YearSettings:
        return self._snapshot().year

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
        key = _fold(text).replace(" ", "").replace("コース", "").replace("course", "")
        aliases = {"b1": "b-1", "b2": "b-2", "プレcyder": "pre", "プレ": "pre", "precyder": "pre",
                   "pre-cyder": "pre"}
        key = aliases.get(key, key)
        for c in self.courses():
            if c.code.lower() == key:
                return c
        codes = [c.code for c in self.courses()]
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
    ) -> list[Hit]:
        """Sessions matching every filter given (each filter: any of its values).

        Order: by distance with `near`; with `near_prefecture`, that prefecture's
        own sessions first (by date), then the rest by distance; otherwise by date.
        """
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
            hits.append(Hit(s, places.distance_km(origin, (s.lat, s.lon)) if origin else None))
        if near_prefecture is not None:
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
