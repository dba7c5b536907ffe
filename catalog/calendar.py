"""VCALENDAR builders: "add to calendar" files, invites, cancels and subscription feeds.

Everything here is pure over the catalog (no aiogram, no HTTP), so the chat, the
HTTP feeds and the tests share one implementation.

Rules that keep calendar apps (Outlook, Google, Apple, Thunderbird) happy:
- UIDs are derived from ids that never change: the session id for the public
  event, session id + registration id for one person's copy of it. A person's
  copy has that one UID in every artefact (the invite, its updates and cancel,
  the mail, the personal feed, "Add to calendar" once registered), so a client
  never keeps two events for one seat.
- One SEQUENCE per UID, the same in every file: the session's revision (raised
  by every change a calendar shows; not by a capacity change) for the public
  event, plus the registration's own sequence (raised on promotion from the
  waitlist and on cancel) for a person's copy (`registration_sequence`).
- Files sent to a person are iTIP: REQUEST/CANCEL with a real ORGANIZER and the
  person as ATTENDEE (RSVP=FALSE: replies are not processed), or PUBLISH with an
  ORGANIZER when there is nobody to invite (no e-mail). Subscription feeds carry
  no METHOD (Apple dislikes it there; CalDAV servers must not store it).
- DTSTAMP/LAST-MODIFIED come from the data's own update times, so the same
  data renders to the same bytes (stable ETags, cheap caching).
- All-day events use DTSTART;VALUE=DATE and an exclusive DTEND (last day + 1),
  as pretix does; timed events are in Asia/Tokyo with a VTIMEZONE. A calendar
  with no event still holds the Asia/Tokyo VTIMEZONE (RFC 5545 wants one
  component at least).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from icalendar import Alarm, Calendar, Event, Timezone

from catalog import notifications as outbox
from catalog import places
from catalog.clock import JST
from catalog.eligibility import org_list, price
from catalog.errors import InvalidInput
from catalog.i18n import ByLang, Joined, Lazy, Say, english
from catalog.i18n import gettext_lazy as _l
from catalog.i18n import pgettext_lazy as _lp
from catalog.sessions import Session

if TYPE_CHECKING:
    from catalog.eligibility import Profile
    from catalog.registrations import Registration
    from catalog.service import Catalog, Course, OnlineWindow

PRODID = "-//cyder-bot//CYDER calendar//JA"
UID_DOMAIN = "cyder-bot"
MIME = "text/calendar"
REFRESH = dt.timedelta(hours=12)
# A cancelled registration stays in the personal feed (as STATUS:CANCELLED) this long,
# so subscribed clients see the cancellation and remove the event.
CANCELLED_KEPT = dt.timedelta(days=30)
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class CalendarFile:
    """A calendar file ready to send as a document."""

    filename: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Links:
    """Subscription links for one feed: plain https(s), webcal:// and Google Calendar."""

    https: str
    webcal: str
    google: str


def _en(lang: str) -> bool:
    return (lang or "ja").startswith("en")


def _say(catalog: Catalog | CatalogView, said: Any, lang: str) -> str:
    """`said` in `lang` as the catalog's door says it (`Catalog.say`: the .po files);
    a language other than English is Japanese, as the calendar has always read."""
    return catalog.say(said, "en" if _en(lang) else "ja")


def _stamp(text: str | None) -> dt.datetime:
    """An ISO timestamp from the store as an aware UTC datetime (EPOCH when missing)."""
    if not text:
        return EPOCH
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return EPOCH
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return value.astimezone(dt.UTC).replace(microsecond=0)


# -- identifiers ------------------------------------------------------------------------------


def session_uid(session_id: str) -> str:
    """The UID of a session's public event: stable across reloads and processes."""
    return f"session-{session_id}@{UID_DOMAIN}"


def registration_uid(session_id: str, registration_id: int) -> str:
    """The UID of one person's copy of one session: the same in the invite, its updates
    and cancel, the mail, the personal feed and "Add to calendar" once registered."""
    return f"registration-{session_id}-{registration_id}@{UID_DOMAIN}"


def window_uid(fiscal_year: int, name: str) -> str:
    return f"precyder-{fiscal_year}-{name}@{UID_DOMAIN}"


def registration_sequence(session: Session, registration: Registration) -> int:
    """The one SEQUENCE of a person's copy, in every file that carries its UID: the
    session's revision plus the registration's own (raised on promotion and on cancel).
    Both only rise, so each change a client must apply outranks the one before."""
    return session.revision + registration.sequence


# The names the first invites used; one rule now, whatever the file.
invite_sequence = registration_sequence
cancel_sequence = registration_sequence


def copy_cancelled(session: Session, registration: Registration) -> bool:
    """Whether the person's copy is cancelled: they cancelled, or the session was."""
    return registration.status == "cancelled" or session.cancelled


# -- data versions and update times -----------------------------------------------------------


def data_version(catalog: Catalog) -> int:
    """Changes whenever the catalog's data changes (this process's writes or another's)."""
    return catalog.data_key()


def session_updated(session: Session) -> dt.datetime:
    """A session's last update time (UTC), for DTSTAMP and Last-Modified."""
    return _stamp(session.updated_at)


def window_updated(window: OnlineWindow, loaded: dt.datetime) -> dt.datetime:
    """A プレCYDER window's last change (UTC); `loaded` for one stored before windows
    kept their own time."""
    return _stamp(window.updated_at) if window.updated_at else loaded


def _in_years(catalog: Catalog, column: str) -> tuple[str, list[int]]:
    """An SQL condition (and its parameters) for the years the catalog shows."""
    years = list(catalog.fiscal_years)
    return f"{column} in ({','.join('?' * len(years))})", years


def year_loaded(catalog: Catalog) -> dt.datetime:
    """When the shown years' data (names, rules, windows) last changed."""
    where, years = _in_years(catalog, "fiscal_year")
    row = catalog.store.one(f"select max(loaded_at) as loaded_at from years where {where}", years)
    return _stamp(row["loaded_at"] if row else None)


# -- text -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def city_en(prefecture_code: int, city: str) -> str:
    """A venue city's English name (Odawara, Hakodate); the prefecture's when the city
    is the prefecture's namesake (広島 → Hiroshima)."""
    pref = places.prefecture(prefecture_code)
    try:
        place = places.resolve_place(city)
    except (places.UnknownPlace, ValueError):
        return pref.romaji
    if place.kind == "city" and place.prefecture and place.prefecture.code == prefecture_code:
        return place.name_en
    return pref.romaji


def _course(catalog: Catalog, code: str) -> Course | None:
    for c in catalog.courses():
        if c.code == code:
            return c
    return None


def course_name(catalog: Catalog, code: str, lang: str = "ja") -> str:
    """A course's name in `lang` (`Aコース` / `Course A`); its code when it is unknown."""
    course = _course(catalog, code)
    return course.t("name", lang) if course else code


def summary(catalog: Catalog, session: Session, lang: str = "ja") -> str:
    """`CYDER A（初級） 広島` / `CYDER A (Beginner) Hiroshima`."""
    course = _course(catalog, session.course)
    city = ByLang(session.city, city_en(session.prefecture_code, session.city))
    if course is None:
        return _say(catalog, _l("CYDER {course} {city}", course=session.course, city=city), lang)
    return _say(
        catalog,
        _l(
            "CYDER {course} ({level}) {city}",
            course=session.course,
            level=ByLang(course.level_ja, course.level_en),
            city=city,
        ),
        lang,
    )


def location(session: Session, lang: str = "ja") -> str:
    """Venue and address when the data gives them, then city and prefecture."""
    parts = [p for p in (session.venue, session.address) if p]
    if _en(lang):
        pref = places.prefecture(session.prefecture_code)
        city = city_en(session.prefecture_code, session.city)
        place = city if city == pref.romaji else f"{city}, {pref.romaji}"
        return ", ".join([*parts, place, "Japan"])
    return " ".join([*parts, f"{session.prefecture} {session.city}"])


def _fee_rules(catalog: Catalog, course_code: str) -> Lazy | Joined:
    """The fee rules for a course when the audience is unknown (public feeds), naming
    only the organisations that may take that course (B-1: local governments alone)."""
    try:
        groups = catalog.rules.fee_groups(course_code)
    except InvalidInput:
        return _l("not announced")
    amount = groups.fee_yen
    out: list[Lazy] = []
    if groups.free:
        out.append(_l("free for {organisations}", organisations=org_list(groups.free)))
    if groups.paid:
        out.append(
            _l(
                "{price} for {organisations}",
                organisations=org_list(groups.paid),
                price=price(amount) if amount is not None else _lp("fee rules", "price not announced"),
            )
        )
    return Joined(ByLang(" / ", "; "), out) if out else _l("not announced")


def _times_text(session: Session) -> str | Lazy:
    if session.timed:
        return f"{session.start_time}–{session.end_time} (JST)"
    return _l("not announced")


def description(catalog: Catalog, session: Session, lang: str = "ja", profile: Profile | None = None) -> str:
    """Level, audience, fee (for this audience, or the rules), dates, venue, where to apply."""
    course = _course(catalog, session.course)
    year = catalog.year_of(session.fiscal_year)
    fee: Lazy | Joined
    if profile is not None:
        try:
            fee = catalog.verdict(profile, session.course).fee_said
        except Exception:  # an unknown org type in an old profile: fall back to the rules
            fee = _fee_rules(catalog, session.course)
    else:
        fee = _fee_rules(catalog, session.course)
    venue = ", ".join(p for p in (session.venue, session.address) if p)

    def both(name: str) -> ByLang | str:
        return ByLang(getattr(course, f"{name}_ja"), getattr(course, f"{name}_en")) if course else "-"

    said: list[Lazy] = [
        _l("CYDER (practical cyber defense exercise) course {course}", course=session.course),
        _l("Level: {level}", level=both("level")),
        _l("For: {audience}", audience=both("audience")),
        _l("Organisations: {organisations}", organisations=both("organisations")),
        _l("Fee: {fee}", fee=fee),
        _l("Dates: {dates}", dates=session.dates_text(lang)),
        _l("Times: {times}", times=_times_text(session)),
        _l(
            "Venue: {venue} ({place})",
            venue=venue or _l("not announced"),
            place=ByLang(f"{session.prefecture} {session.city}", location(session, "en")),
        ),
        _l("Apply by {deadline} at {url}", deadline=session.deadline.isoformat(), url=year.apply_url),
    ]
    if _en(lang):  # said to those who read the English only
        said.append(_l("Held in Japanese."))
    if session.cancelled:
        said.insert(0, _l("THIS SESSION HAS BEEN CANCELLED."))
    return "\n".join(_say(catalog, line, lang) for line in said)


# -- components -------------------------------------------------------------------------------


def _calendar(method: str | None, name: str, *, lang: str, feed: bool) -> Calendar:
    """A VCALENDAR; `method` None for subscription feeds (no iTIP there)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("name", name)  # RFC 7986
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Tokyo")
    if feed:
        cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", "PT12H")
    return cal


def _finish(cal: Calendar, timed: bool) -> bytes:
    """Serialise, with a VTIMEZONE (before any VEVENT) when some event is `timed`, and
    the Asia/Tokyo VTIMEZONE as the one component of a calendar with no event."""
    if timed:
        cal.add_missing_timezones()
    if not cal.subcomponents:
        cal.add_component(Timezone.from_tzid("Asia/Tokyo"))
    return cal.to_ical()


def _organizer(event: Event, organizer: str, catalog: Catalog | CatalogView, lang: str) -> None:
    event.add("organizer", f"mailto:{organizer}", parameters={"CN": _say(catalog, _l("CYDER office"), lang)})


def _set_times(event: Event, session: Session) -> bool:
    """DTSTART/DTEND: timed in Asia/Tokyo when the data gives times, else all-day with
    an exclusive DTEND. Returns whether the event is timed."""
    if session.timed:
        assert session.start_time and session.end_time
        sh, sm = (int(x) for x in session.start_time.split(":"))
        eh, em = (int(x) for x in session.end_time.split(":"))
        start = dt.datetime.combine(session.first_day, dt.time(sh, sm), JST)
        end = dt.datetime.combine(session.first_day, dt.time(eh, em), JST)
        event.add("dtstart", start)
        event.add("dtend", end)
        days = (session.last_day - session.first_day).days + 1
        if days > 1:  # the same hours on each day (C runs two days)
            event.add("rrule", {"freq": "daily", "count": days})
        return True
    event.add("dtstart", session.first_day)
    event.add("dtend", session.last_day + dt.timedelta(days=1))
    return False


def session_event(
    catalog: Catalog,
    session: Session,
    *,
    lang: str = "ja",
    profile: Profile | None = None,
    stamp: dt.datetime | None = None,
    uid: str | None = None,
    sequence: int | None = None,
) -> Event:
    """One VEVENT for a session (public data only)."""
    stamp = stamp or EPOCH
    event = Event()
    event.add("uid", uid or session_uid(session.id))
    event.add("sequence", session.revision if sequence is None else sequence)
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    _set_times(event, session)
    title = summary(catalog, session, lang)
    if session.cancelled:  # in the title too: some clients ignore STATUS
        title = _say(catalog, _lp("cancelled session", "Cancelled: {title}", title=title), lang)
    event.add("summary", title)
    event.add("location", location(session, lang))
    if session.venue_point is not None:  # only a venue the data places itself, never a city
        event.add("geo", session.venue_point)
    event.add("description", description(catalog, session, lang, profile))
    event.add("url", catalog.year_of(session.fiscal_year).apply_url or "https://cyder.nict.go.jp")
    event.add("categories", ["CYDER", session.course])
    event.add("status", "CANCELLED" if session.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def window_event(
    catalog: Catalog, window: OnlineWindow, *, lang: str = "ja", stamp: dt.datetime | None = None
) -> Event:
    """A プレCYDER online window as an all-day span."""
    stamp = window_updated(window, stamp or EPOCH)
    course = _course(catalog, "PRE")
    event = Event()
    event.add("uid", window_uid(catalog.fiscal_year, window.name))
    event.add("sequence", window.revision)
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("dtstart", window.first)
    event.add("dtend", window.last + dt.timedelta(days=1))

    def say(said: Lazy) -> str:
        return _say(catalog, said, lang)

    label = ByLang(window.label_ja, window.label_en)
    event.add("summary", say(_l("Pre-CYDER (online) {window}", window=label)))
    event.add("location", say(_l("Online (at your workplace)")))
    text = [
        say(
            _l(
                "Pre-CYDER online course, {window}: {first} – {last}",
                window=ByLang(window.label_ja, window.label_en.lower()),
                first=window.first.isoformat(),
                last=window.last.isoformat(),
            )
        )
    ]
    if course:
        text.append(say(_l("For: {audience}", audience=ByLang(course.audience_ja, course.audience_en))))
    text.append(say(_l("Apply: {url}", url=catalog.year.apply_url)))
    event.add("description", "\n".join(text))
    event.add("url", catalog.year.apply_url or "https://cyder.nict.go.jp")
    event.add("categories", ["CYDER", "PRE"])
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    return event


def _alarm(catalog: Catalog | CatalogView, lang: str, timed: bool) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    # All-day events start at midnight: remind at 09:00 the day before instead.
    alarm.add("trigger", dt.timedelta(days=-1) if timed else dt.timedelta(hours=-15))
    alarm.add("description", _say(catalog, _l("CYDER tomorrow"), lang))
    return alarm


# -- files ------------------------------------------------------------------------------------


def event_file(
    catalog: Catalog,
    session: Session,
    *,
    lang: str = "ja",
    profile: Profile | None = None,
    organizer: str | None = None,
) -> CalendarFile:
    """ "Add to calendar" for someone not registered: the session's public event.

    METHOD:PUBLISH with the office as ORGANIZER (RFC 5546 asks for one); without an
    `organizer` no METHOD at all (a plain RFC 5545 object)."""
    stamp = session_updated(session)
    cal = _calendar("PUBLISH" if organizer else None, summary(catalog, session, lang), lang=lang, feed=False)
    event = session_event(catalog, session, lang=lang, profile=profile, stamp=stamp)
    if organizer:
        _organizer(event, organizer, catalog, lang)
    cal.add_component(event)
    return CalendarFile(f"cyder-{session.id}.ics", MIME, _finish(cal, session.timed))


def _registration_stamp(session: Session, registration: Registration) -> dt.datetime:
    """The later of the registration's and the session's last change."""
    reg = _stamp(registration.updated_at or registration.created_at)
    return max(reg, session_updated(session))


def _registration_event(
    catalog: Catalog,
    session: Session,
    registration: Registration,
    *,
    lang: str,
    organizer: str | None,
    stamp: dt.datetime,
    alarm: bool = False,
) -> Event:
    """One person's copy of one session: its own UID and SEQUENCE, its state in STATUS
    and in the title. With `organizer`, the office as ORGANIZER and the person (when they
    gave an e-mail) as ATTENDEE; never DECLINED, since a CANCEL removes the event."""
    cancelled = copy_cancelled(session, registration)
    waiting = registration.status == "waitlisted" and not cancelled
    event = session_event(
        catalog,
        session,
        lang=lang,
        stamp=stamp,
        uid=registration_uid(session.id, registration.id),
        sequence=registration_sequence(session, registration),
    )
    title = str(event["summary"])
    if waiting:
        event["summary"] = _say(catalog, _l("[Waitlist] {title}", title=title), lang)
        event["status"] = "TENTATIVE"
    elif cancelled and not session.cancelled:  # the person cancelled; the session goes on
        event["summary"] = _say(
            catalog, _lp("cancelled registration", "Cancelled: {title}", title=title), lang
        )
        event["status"] = "CANCELLED"
    if organizer:
        _organizer(event, organizer, catalog, lang)
        if registration.email:
            event.add(
                "attendee",
                f"mailto:{registration.email}",
                parameters={
                    "CN": registration.name,
                    "ROLE": "REQ-PARTICIPANT",
                    "CUTYPE": "INDIVIDUAL",
                    "PARTSTAT": "NEEDS-ACTION",
                    "RSVP": "FALSE",
                },
            )
    if alarm and not cancelled:
        event.add_component(_alarm(catalog, lang, session.timed))
    return event


def registration_method(session: Session, registration: Registration) -> str:
    """The iTIP method of a person's copy: REQUEST while it stands (TENTATIVE on the
    waitlist), CANCEL once it or its session is cancelled, PUBLISH when there is no
    e-mail to invite (RFC 5546 wants an ATTENDEE in a REQUEST)."""
    if not registration.email:
        return "PUBLISH"
    return "CANCEL" if copy_cancelled(session, registration) else "REQUEST"


def registration_file(
    catalog: Catalog, registration: Registration, *, lang: str = "ja", organizer: str
) -> CalendarFile:
    """A person's copy as a file, as it stands now: what the chat sends and the mail
    attaches. The method follows the state (`registration_method`), so a late caller
    never re-invites a cancelled person; a VALARM the day before while it stands."""
    session = catalog.session(registration.session_id)
    stamp = _registration_stamp(session, registration)
    method = registration_method(session, registration)
    cal = _calendar(method, summary(catalog, session, lang), lang=lang, feed=False)
    cal.add_component(
        _registration_event(
            catalog, session, registration, lang=lang, organizer=organizer, stamp=stamp, alarm=True
        )
    )
    cancelled = copy_cancelled(session, registration)
    name = f"cyder-{session.id}-cancel.ics" if cancelled else f"cyder-{session.id}.ics"
    return CalendarFile(name, MIME, _finish(cal, session.timed))


def invite_file(
    catalog: Catalog, registration: Registration, *, lang: str = "ja", organizer: str
) -> CalendarFile:
    """A registration's invite (METHOD:REQUEST); see `registration_file`."""
    return registration_file(catalog, registration, lang=lang, organizer=organizer)


def cancel_file(
    catalog: Catalog, registration: Registration, *, lang: str = "ja", organizer: str
) -> CalendarFile:
    """The cancel of an invite (METHOD:CANCEL, same UID and the copy's SEQUENCE), once
    the registration or its session is cancelled; see `registration_file`."""
    session = catalog.session(registration.session_id)
    if not copy_cancelled(session, registration):
        raise ValueError(f"registration {registration.id} is not cancelled")
    return registration_file(catalog, registration, lang=lang, organizer=organizer)


def active_registration(catalog: Catalog, session_id: str, user_id: int | None) -> Registration | None:
    """The chat user's own registered or waitlisted registration for a session."""
    if user_id is None:
        return None
    from catalog.registrations import for_user

    return next((r for r in for_user(catalog, user_id) if r.session_id == session_id), None)


def calendar_file(
    catalog: Catalog,
    session: Session,
    *,
    user_id: int | None,
    lang: str = "ja",
    organizer: str,
    profile: Profile | None = None,
) -> CalendarFile:
    """What the chat sends as "Add to calendar" (session card, /my, after registering):
    the user's own copy when they hold a seat or a waitlist place for the session (the
    UID and SEQUENCE of their invite, mail and personal feed), else the public event."""
    reg = active_registration(catalog, session.id, user_id)
    if reg is not None:
        return registration_file(catalog, reg, lang=lang, organizer=organizer)
    return event_file(catalog, session, lang=lang, profile=profile, organizer=organizer)


# -- feeds ------------------------------------------------------------------------------------


def feed_name(
    catalog: Catalog,
    lang: str = "ja",
    *,
    courses: Sequence[str] = (),
    prefectures: Sequence[int] = (),
    regions: Sequence[str] = (),
) -> str:
    """A calendar name describing the filters: `CYDER 令和6年度 A 広島県`."""
    year = catalog.year
    parts = ["CYDER", year.label_en if _en(lang) else year.label_ja]
    parts += list(courses)
    for code in prefectures:
        p = places.prefecture(code)
        parts.append(p.romaji if _en(lang) else p.name)
    for name in regions:
        r = places.region(name)
        parts.append(r.name_en if _en(lang) else r.name)
    return " ".join(parts)


@dataclass(frozen=True)
class CatalogView:
    """The read-only parts of a Catalog the builders use, captured once, so a feed can be
    rendered in a worker thread without touching the database there."""

    fiscal_year: int
    year: Any
    rules: Any
    course_list: tuple[Any, ...]
    years: tuple[tuple[int, Any], ...] = ()
    say: Say = english

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogView:
        return cls(
            catalog.fiscal_year,
            catalog.year,
            catalog.rules,
            catalog.courses(),
            tuple((fy, catalog.year_of(fy)) for fy in catalog.fiscal_years),
            catalog.say,
        )

    def year_of(self, fiscal_year: int) -> Any:
        return dict(self.years).get(fiscal_year, self.year)

    def courses(self) -> tuple[Any, ...]:
        return self.course_list

    def verdict(self, profile: Profile, course: str) -> Any:
        return self.rules.decide(profile, course)


def sessions_feed(
    catalog: Catalog | CatalogView,
    sessions: Iterable[Session],
    *,
    lang: str = "ja",
    name: str,
    windows: Iterable[OnlineWindow] = (),
    loaded: dt.datetime | None = None,
) -> bytes:
    """The public feed: one VEVENT per session (cancelled ones as STATUS:CANCELLED and
    【中止】 in the title) and the given プレCYDER windows. No personal data, no METHOD.

    With a `CatalogView`, pass `loaded` (`year_loaded`) read beforehand when there are
    windows; the rendering then needs no database.
    """
    cal = _calendar(None, name, lang=lang, feed=True)
    timed = False
    for s in sessions:
        cal.add_component(
            session_event(
                catalog,  # type: ignore[arg-type]
                s,
                lang=lang,
                stamp=session_updated(s),
            )
        )
        timed = timed or s.timed
    windows = tuple(windows)
    if windows:
        if loaded is None:
            assert not isinstance(catalog, CatalogView)
            loaded = year_loaded(catalog)
        for w in windows:
            cal.add_component(
                window_event(
                    catalog,  # type: ignore[arg-type]
                    w,
                    lang=lang,
                    stamp=loaded,
                )
            )
    return _finish(cal, timed)


def feed_last_modified(
    sessions: Iterable[Session], loaded: dt.datetime, windows: Iterable[OnlineWindow] = ()
) -> dt.datetime:
    """Last-Modified of a public feed: the latest change among `sessions`, the year's
    data (`loaded`, from `year_loaded`: names, rules) and the feed's `windows`.

    Pass every session of the year, not only those the filters matched: a session
    moving out of a filtered feed changes that feed too."""
    times = [session_updated(s) for s in sessions]
    times += [window_updated(w, loaded) for w in windows]
    times.append(loaded)
    return max(times)


def _kept_until(row: dict[str, Any]) -> dt.date | None:
    """The last day (JST) a cancelled registration stays in the personal feed; None for
    one without a cancel time (never shown)."""
    when = _stamp(row["cancelled_at"] or row["updated_at"])
    if when == EPOCH:
        return None
    return (when + CANCELLED_KEPT).astimezone(JST).date()


def _dropped_at(day: dt.date) -> dt.datetime:
    """When a cancellation kept through `day` leaves the feed: the next JST midnight."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), JST).astimezone(dt.UTC)


def _personal_query(catalog: Catalog, user_id: int) -> list[dict[str, Any]]:
    where, years = _in_years(catalog, "s.fiscal_year")
    return catalog.store.query(
        "select r.*, s.updated_at as session_updated_at from registrations r "
        "join sessions s on s.id = r.session_id "
        f"where r.user_id = ? and {where} order by s.first_day, r.id",
        [user_id, *years],
    )


def _personal_rows(
    catalog: Catalog, user_id: int, now: dt.datetime, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The user's own registrations to show: active ones, and cancelled ones through the
    day `CANCELLED_KEPT` after the cancel (by JST day, so the body changes only at
    midnight and a feed cached per day stays true)."""
    today = now.astimezone(JST).date()
    out = []
    for r in _personal_query(catalog, user_id) if rows is None else rows:
        if r["status"] == "cancelled":
            until = _kept_until(r)
            if until is None or today > until:
                continue
        out.append(r)
    return out


def personal_feed(catalog: Catalog, user_id: int, *, lang: str = "ja", now: dt.datetime) -> bytes:
    """One user's registrations; a cancelled one stays as STATUS:CANCELLED for
    `CANCELLED_KEPT` after the cancel so subscribed clients remove it.

    Events carry the invite's UID and SEQUENCE but no names or e-mail addresses
    (a feed URL is easily shared).
    """
    from catalog.registrations import Registration

    name = _say(catalog, _l("CYDER: my registrations"), lang)
    cal = _calendar(None, name, lang=lang, feed=True)
    timed = False
    for row in _personal_rows(catalog, user_id, now):
        reg = Registration.from_row(row)
        session = catalog.session(reg.session_id)
        stamp = _registration_stamp(session, reg)
        event = _registration_event(catalog, session, reg, lang=lang, organizer=None, stamp=stamp)
        cal.add_component(event)
        timed = timed or session.timed
    return _finish(cal, timed)


def personal_last_modified(catalog: Catalog, user_id: int, now: dt.datetime) -> dt.datetime:
    """Last-Modified of a personal feed: the latest change among the events shown, the
    year's data, and the moments aged-out cancellations left it (the body changed then
    too, so If-Modified-Since must not get 304 for a copy that still holds them)."""
    rows = _personal_query(catalog, user_id)
    shown = _personal_rows(catalog, user_id, now, rows)
    times = [max(_stamp(r["updated_at"] or r["created_at"]), _stamp(r["session_updated_at"])) for r in shown]
    ids = {r["id"] for r in shown}
    for r in rows:
        until = _kept_until(r) if r["status"] == "cancelled" else None
        if r["id"] not in ids and until is not None:
            times.append(_dropped_at(until))
    times.append(year_loaded(catalog))
    return max(times)


# -- links ------------------------------------------------------------------------------------


def subscription_links(
    base_url: str,
    *,
    courses: Iterable[str] = (),
    prefectures: Iterable[int | str] = (),
    regions: Iterable[str] = (),
    token: str | None = None,
    lang: str | None = None,
) -> Links:
    """https://, webcal:// and Google Calendar links for a feed: the public feed with the
    given filters, or with `token` the user's own registrations."""
    base = base_url.rstrip("/")
    if token:
        path = f"/calendar/me/{quote(token, safe='')}.ics"
        params: list[tuple[str, str]] = []
    else:
        path = "/calendar/sessions.ics"
        params = (
            [("course", str(c)) for c in courses]
            + [("prefecture", str(p)) for p in prefectures]
            + [("region", str(r)) for r in regions]
        )
    if lang and _en(lang):
        params.append(("lang", "en"))
    url = base + path + (("?" + urlencode(params)) if params else "")
    scheme, _, rest = url.partition("://")
    webcal = "webcal://" + rest if scheme in ("http", "https") else url
    google = "https://calendar.google.com/calendar/render?cid=" + quote(webcal, safe="")
    return Links(https=url, webcal=webcal, google=google)


def describe_file(data: bytes) -> list[str]:
    """What a calendar file holds, one line per event: METHOD, title, dates, place, status
    (so a person can see what "Add to calendar" gives them before opening it)."""
    try:
        cal = Calendar.from_ical(data)
    except ValueError:
        return ["(not a calendar file)"]
    method = str(cal.get("METHOD", "")) or "-"
    lines = []
    for event in cal.walk("VEVENT"):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND", None)
        if isinstance(start, dt.datetime):
            when = f"{start:%Y-%m-%d %H:%M}" + (f"–{end:%H:%M}" if end else "")
            count = event.get("RRULE", {}).get("COUNT")
            if count:
                when += f" ×{count[0]}"  # the same hours on each day
        else:
            last = end - dt.timedelta(days=1) if end else start  # DTEND is exclusive
            when = start.isoformat() + (f" – {last.isoformat()}" if last != start else "")
        parts = [f"METHOD:{method}", str(event.get("SUMMARY", "")), when]
        if event.get("LOCATION"):
            parts.append(str(event["LOCATION"]))
        parts.append(f"{event.get('STATUS', '')} SEQUENCE:{event.get('SEQUENCE', 0)}".strip())
        lines.append(" · ".join(parts))
    return lines or [f"METHOD:{method} (no event)"]


def outlook_link(https_url: str, name: str) -> str:
    """Outlook on the web (Microsoft 365, as public bodies use it): subscribe from the web."""
    return "https://outlook.office.com/calendar/0/addfromweb?" + urlencode(
        [("url", https_url), ("name", name)]
    )


def subscribe_page_url(
    base_url: str,
    *,
    courses: Iterable[str] = (),
    prefectures: Iterable[int | str] = (),
    regions: Iterable[str] = (),
    lang: str | None = None,
) -> str:
    """The public page with these filters, where a browser can subscribe (Telegram's buttons
    open only http(s) links, never webcal://)."""
    params = (
        [("course", str(c)) for c in courses]
        + [("prefecture", str(p)) for p in prefectures]
        + [("region", str(r)) for r in regions]
    )
    if lang and _en(lang):
        params.append(("lang", "en"))
    return base_url.rstrip("/") + "/calendar/" + (("?" + urlencode(params)) if params else "")


# -- change notices (schedule_watch) ----------------------------------------------------------


@dataclass(frozen=True)
class ChangeNotice:
    """A registrant to tell that their session changed (revision above the last told)."""

    registration_id: int
    session_id: str
    user_id: int
    revision: int
    session_cancelled: bool


def _dedupe(notice: ChangeNotice) -> str:
    # the session too: a registration moved to another session hears of its revisions
    return f"{outbox.SESSION_CHANGED}:{notice.registration_id}:{notice.session_id}:{notice.revision}"


def pending_change_notices(catalog: Catalog) -> list[ChangeNotice]:
    """Chat registrants whose session's revision is above the last one they were told
    about in that session (a registration made at revision n counts as told about n; one
    moved there, by the move's invite)."""
    where, years = _in_years(catalog, "s.fiscal_year")
    rows = catalog.store.query(
        "select r.id, r.session_id, r.user_id, r.created_at, s.revision, s.status, "
        "s.updated_at as session_updated_at, "
        "(select max(json_extract(n.payload, '$.revision')) from notifications n "
        " where n.registration_id = r.id and n.kind = 'session_changed' "
        " and n.session_id = r.session_id and n.channel = 'telegram') as told "
        "from registrations r join sessions s on s.id = r.session_id "
        "where r.user_id is not null and r.status in ('registered', 'waitlisted') "
        f"and {where} and s.revision > 0 order by r.id",
        years,
    )
    return [
        ChangeNotice(r["id"], r["session_id"], r["user_id"], r["revision"], r["status"] == "cancelled")
        for r in _untold(rows)
    ]


def _untold(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows (a registration, its session's revision, the revision last `told`) whose
    session changed since they were last told. Registered after the last change (never
    told): the invite they got was already current."""
    for r in rows:
        told = r["told"]
        if told is None:
            if _stamp(r["created_at"]) >= _stamp(r["session_updated_at"]):
                continue
            told = -1
        if r["revision"] > told:
            yield r


def enqueue_change_notice(
    db: Any, notice: ChangeNotice, *, now: dt.datetime, claimed_by: str | None = None
) -> int | None:
    """Queue one change notice on `db` (an open write transaction, e.g. the one that
    changed the session); None when this revision was already queued for them."""
    return outbox.enqueue(
        db,
        outbox.SESSION_CHANGED,
        now=now,
        chat_id=notice.user_id,
        registration_id=notice.registration_id,
        session_id=notice.session_id,
        payload={"revision": notice.revision, "cancelled": notice.session_cancelled},
        dedupe=_dedupe(notice),
        claimed_by=claimed_by,
    )


def mark_notified(
    catalog: Catalog,
    notice: ChangeNotice,
    *,
    now: dt.datetime,
    result: str = "sent",
    claimed_by: str | None = None,
) -> bool:
    """Queue (claim) a notice in the notification outbox; False when it was already
    queued, so each registrant is told at most once per revision. `result` "sending"
    (with `claimed_by`) claims it for a sender that sends it now and then calls
    `finish_notice`; any other result records it as already done."""
    if result == "sending" and not claimed_by:
        raise ValueError("a notice claimed for sending needs its sender (claimed_by)")
    with catalog.store.write() as db:
        row = enqueue_change_notice(db, notice, now=now, claimed_by=claimed_by)
        if row is None:
            return False
        if result != "sending":
            db.execute(
                "update notifications set result = ?, sent_at = ? where id = ?",
                [result, outbox.stamp(now), row],
            )
        return True


def _mail_dedupe(registration_id: int, session_id: str, revision: int) -> str:
    return outbox.session_changed_mail_key(registration_id, session_id, revision)


def pending_change_mails(catalog: Catalog) -> list[tuple[int, str, str, int]]:
    """(registration id, session id, address, revision) of registrants to mail that their
    session changed: those whose invite went (or is going) by mail, at a revision above
    the last one mailed to them (a registration made after the last change counts as
    told: its invite, built when sent, was current). A cancelled session is a change too."""
    where, years = _in_years(catalog, "s.fiscal_year")
    rows = catalog.store.query(
        "select r.id, r.session_id, r.email, r.created_at, s.revision, "
        "s.updated_at as session_updated_at, "
        "(select max(json_extract(n.payload, '$.revision')) from notifications n "
        " where n.registration_id = r.id and n.kind = 'session_changed' "
        " and n.session_id = r.session_id and n.channel = 'email') as told "
        "from registrations r join sessions s on s.id = r.session_id "
        "where r.email is not null and r.email != '' "
        "and r.status in ('registered', 'waitlisted') "
        f"and {where} and s.revision > 0 "
        "and exists (select 1 from notifications m where m.registration_id = r.id "
        " and m.channel = 'email' and m.result in ('sent', 'pending')) order by r.id",
        years,
    )
    return [(r["id"], r["session_id"], r["email"], r["revision"]) for r in _untold(rows)]


def queue_change_mails(catalog: Catalog, *, now: dt.datetime) -> int:
    """Queue (unclaimed) the mail of each `pending_change_mails`: one per registrant and
    revision, whatever runs it how often. How many were queued."""
    pending = pending_change_mails(catalog)
    if not pending:
        return 0
    queued = 0
    with catalog.store.write() as db:
        for registration_id, session_id, address, revision in pending:
            row = outbox.enqueue(
                db,
                outbox.SESSION_CHANGED,
                now=now,
                channel=outbox.EMAIL,
                email=address,
                registration_id=registration_id,
                session_id=session_id,
                payload={"revision": revision},
                dedupe=_mail_dedupe(registration_id, session_id, revision),
            )
            queued += row is not None
    return queued


def queue_change_notices(catalog: Catalog, *, now: dt.datetime) -> int:
    """Queue (unclaimed, for the bot's sender) the chat notice of each
    `pending_change_notices`: once per registrant and revision, whoever queues it (the
    admin page right after a change, or the schedule watch). How many were queued."""
    pending = pending_change_notices(catalog)
    if not pending:
        return 0
    with catalog.store.write() as db:
        return sum(enqueue_change_notice(db, notice, now=now) is not None for notice in pending)


def change_notice_id(catalog: Catalog, notice: ChangeNotice) -> int | None:
    """The outbox row of a queued notice."""
    row = catalog.store.one("select id from notifications where dedupe = ?", [_dedupe(notice)])
    return int(row["id"]) if row else None


def finish_notice(catalog: Catalog, notice: ChangeNotice, result: str) -> None:
    """Record how a claimed notice went: sent, blocked or failed."""
    with catalog.store.write() as db:
        db.execute(
            "update notifications set result = ?, claimed_by = null, claimed_until = null where dedupe = ?",
            [result, _dedupe(notice)],
        )


def release_notice(catalog: Catalog, notice: ChangeNotice, *, now: dt.datetime | None = None) -> None:
    """Drop a claim after a passing failure (network, flood control) so it is tried again:
    nothing sent yet, the notice is listed again by `pending_change_notices`; its message
    sent but not the file, the row stays queued for the outbox's sender to finish."""
    with catalog.store.write() as db:
        db.execute(
            "delete from notifications where dedupe = ? and result = 'pending' and progress = 0",
            [_dedupe(notice)],
        )
        db.execute(
            "update notifications set claimed_by = null, claimed_until = null, "
            "next_attempt_at = ?, attempts = attempts + 1 "
            "where dedupe = ? and result = 'pending'",
            [outbox.stamp(now) if now else None, _dedupe(notice)],
        )
