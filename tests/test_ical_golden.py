"""Golden checks per calendar file type: each parses with icalendar and with `ical` (a second,
independent parser), and each iTIP file meets RFC 5546's restriction table for its METHOD
(the check libical runs); subscription feeds carry no METHOD; every calendar has a component."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from catalog import calendar as cal
from catalog import registrations as regs
from catalog.registrations import Applicant
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

HIROSHIMA_A = "2024-A-34-1025"
TOKYO_C = "2024-C-13-1128"
ORGANIZER = "office@cyder.example.org"
TODAY = NOW.date()

# RFC 5546 section 3.2: presence of VEVENT properties per METHOD ("1" exactly one, "1+" one or
# more, "0" none, "0/1" at most one, "0+" any).
RESTRICTIONS: dict[str, dict[str, str]] = {
    "PUBLISH": {
        "DTSTAMP": "1",
        "DTSTART": "1",
        "ORGANIZER": "1",
        "SUMMARY": "1",
        "UID": "1",
        "SEQUENCE": "0/1",
        "ATTENDEE": "0+",
        "STATUS": "0/1",
        "DTEND": "0/1",
    },
    "REQUEST": {
        "ATTENDEE": "1+",
        "DTSTAMP": "1",
        "DTSTART": "1",
        "ORGANIZER": "1",
        "SEQUENCE": "0/1",
        "SUMMARY": "1",
        "UID": "1",
        "STATUS": "0/1",
        "DTEND": "0/1",
    },
    "CANCEL": {
        "ATTENDEE": "0+",
        "DTSTAMP": "1",
        "ORGANIZER": "1",
        "SEQUENCE": "1",
        "UID": "1",
        "STATUS": "0/1",
    },
}
STATUS_ALLOWED = {
    "PUBLISH": {"TENTATIVE", "CONFIRMED", "CANCELLED"},
    "REQUEST": {"TENTATIVE", "CONFIRMED"},
    "CANCEL": {"CANCELLED"},
}


def itip_problems(data: bytes) -> list[str]:
    """What breaks RFC 5546's restrictions for the file's METHOD (none for a plain file)."""
    c = Calendar.from_ical(data)
    if "METHOD" not in c:
        return []
    method = str(c["METHOD"])
    table = RESTRICTIONS[method]
    problems = []
    events = c.events
    if not events:
        problems.append("no VEVENT")
    for e in events:
        for prop, rule in table.items():
            value = e.get(prop)
            n = 0 if value is None else len(value) if isinstance(value, list) else 1
            ok = {"1": n == 1, "1+": n >= 1, "0": n == 0, "0/1": n <= 1, "0+": True}[rule]
            if not ok:
                problems.append(f"{method}: {prop} x{n}, wants {rule}")
        if "STATUS" in e and str(e["STATUS"]) not in STATUS_ALLOWED[method]:
            problems.append(f"{method}: STATUS {e['STATUS']}")
        if "DTEND" in e and "DURATION" in e:
            problems.append("DTEND with DURATION")
        for att in (
            e.get("ATTENDEE", [])
            if isinstance(e.get("ATTENDEE"), list)
            else ([e["ATTENDEE"]] if "ATTENDEE" in e else [])
        ):
            if not str(att).lower().startswith("mailto:"):
                problems.append(f"ATTENDEE {att} is not a mailto:")
    return problems


def golden(data: bytes) -> Calendar:
    """Parse with both parsers and check what every file must have."""
    c = Calendar.from_ical(data)
    second = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    assert len(second.events) == len(c.events)
    assert {e.uid for e in second.events} == {str(e["UID"]) for e in c.events}
    assert c.subcomponents, "RFC 5545: at least one component"
    assert str(c["NAME"]) == str(c["X-WR-CALNAME"])
    assert data.count(b"\n") == data.count(b"\r\n")
    assert itip_problems(data) == []
    return c


@pytest.fixture(params=["all-day", "timed"])
def catalog(request, tmp_path):
    c = make_catalog(tmp_path / "c.db")
    if request.param == "timed":
        edited = edited_schedule(
            tmp_path,
            'city = "広島", first = 2024-10-25 }',
            'city = "広島", first = 2024-10-25, start = "09:30", end = "17:00" }',
        )
        loader.load(c.store, edited, NOW)
    return c


def person(i=0, email=None):
    return Applicant(
        name=f"利用者{i}",
        organisation="広島市",
        org_type="local",
        email=f"user{i}@city.example.lg.jp" if email is None else email,
    )


def register(catalog, i=0, user_id=7, email=None, waitlist=False):
    return regs.register(
        catalog, HIROSHIMA_A, [person(i, email)], today=TODAY, now=NOW, user_id=user_id, waitlist=waitlist
    ).registrations[0]


def _registered(c, lang="ja"):
    return cal.invite_file(c, register(c), organizer=ORGANIZER, lang=lang).data


def _waitlisted(c, lang):
    from tests.conftest import fill

    fill(c, HIROSHIMA_A, c.session(HIROSHIMA_A).capacity)
    return cal.invite_file(c, register(c, waitlist=True), organizer=ORGANIZER, lang=lang).data


def _cancelled(c, lang):
    reg = register(c)
    done = regs.cancel(c, reg.id, today=TODAY, now=NOW + dt.timedelta(hours=1)).cancelled
    return cal.cancel_file(c, done, organizer=ORGANIZER, lang=lang).data


def _no_email(c, lang):
    return cal.invite_file(c, register(c, email=""), organizer=ORGANIZER, lang=lang).data


def _personal(c, lang):
    register(c)
    return cal.personal_feed(c, 7, now=NOW, lang=lang)


FILES: dict[str, tuple[Callable[..., bytes], str | None]] = {
    "add to calendar": (
        lambda c, lang: cal.event_file(c, c.session(HIROSHIMA_A), lang=lang, organizer=ORGANIZER).data,
        "PUBLISH",
    ),
    "plain event": (lambda c, lang: cal.event_file(c, c.session(HIROSHIMA_A), lang=lang).data, None),
    "invite": (_registered, "REQUEST"),
    "waitlist invite": (_waitlisted, "REQUEST"),
    "cancel": (_cancelled, "CANCEL"),
    "no e-mail": (_no_email, "PUBLISH"),
    "public feed": (
        lambda c, lang: cal.sessions_feed(
            c, c.all_sessions(include_cancelled=True), name="CYDER", lang=lang, windows=c.online_windows()
        ),
        None,
    ),
    "empty feed": (lambda c, lang: cal.sessions_feed(c, [], name="CYDER 何もない", lang=lang), None),
    "personal feed": (_personal, None),
    "empty personal feed": (lambda c, lang: cal.personal_feed(c, 99, now=NOW, lang=lang), None),
}


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("kind", list(FILES))
def test_every_file_type_is_golden(catalog, kind, lang):
    build, method = FILES[kind]
    c = golden(build(catalog, lang))
    assert (str(c["METHOD"]) if "METHOD" in c else None) == method
    if not c.events:
        assert [tz.tz_name for tz in c.timezones] == ["Asia/Tokyo"]


def test_the_checker_catches_what_the_old_files_did(catalog):
    """The restriction check itself: a PUBLISH without ORGANIZER and a urn: attendee fail."""
    bad = cal.event_file(catalog, catalog.session(HIROSHIMA_A)).data.replace(
        b"BEGIN:VCALENDAR\r\n", b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\n"
    )
    assert itip_problems(bad) == ["PUBLISH: ORGANIZER x0, wants 1"]
    urn = _registered(catalog).replace(b"mailto:user0@city.example.lg.jp", b"urn:x-cyder:registration:1")
    assert any("urn:" in p for p in itip_problems(urn))


def test_feeds_carry_no_method_and_files_carry_an_organizer(catalog):
    feed = Calendar.from_ical(cal.sessions_feed(catalog, catalog.all_sessions(), name="CYDER"))
    assert "METHOD" not in feed
    me = Calendar.from_ical(cal.personal_feed(catalog, (register(catalog), 7)[1], now=NOW))
    assert "METHOD" not in me and "ORGANIZER" not in me.events[0]
    publish = Calendar.from_ical(cal.event_file(catalog, catalog.session(TOKYO_C), organizer=ORGANIZER).data)
    assert str(publish.events[0]["ORGANIZER"]) == f"mailto:{ORGANIZER}"


def test_cancelled_sessions_say_so_in_the_title(catalog, tmp_path):
    edited = edited_schedule(
        tmp_path,
        '  { course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 },\n',
        "",
        "dropped.toml",
    )
    edited.write_text(edited.read_text(encoding="utf-8").replace("A = 64", "A = 63"), encoding="utf-8")
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    s = catalog.session(HIROSHIMA_A)
    for lang, title in (
        ("ja", "【中止】CYDER A（初級） 広島"),
        ("en", "Cancelled: CYDER A (Beginner) Hiroshima"),
    ):
        [e] = Calendar.from_ical(cal.event_file(catalog, s, lang=lang, organizer=ORGANIZER).data).events
        assert (str(e["SUMMARY"]), str(e["STATUS"])) == (title, "CANCELLED")
        feed = Calendar.from_ical(cal.sessions_feed(catalog, [s], name="x", lang=lang))
        assert str(feed.events[0]["SUMMARY"]) == title
