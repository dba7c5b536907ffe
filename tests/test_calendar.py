"""catalog.calendar: files and feeds parse back, stable UIDs, SEQUENCE, invites and cancels."""

import datetime as dt
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from icalendar import Calendar

from catalog import calendar as cal
from catalog import registrations as regs
from catalog.eligibility import Profile
from catalog.registrations import Applicant
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
HIROSHIMA_A = "2024-A-34-1025"
TOKYO_C = "2024-C-13-1128"
ORGANIZER = "office@example.org"


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


def person(i=0, **kw):
    kw.setdefault("email", f"user{i}@city.example.lg.jp")
    return Applicant(name=f"利用者{i}", organisation="広島市", org_type="local", **kw)


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def full_feed(catalog, lang="ja"):
    sessions = catalog.all_sessions(include_cancelled=True)
    return cal.sessions_feed(catalog, sessions, lang=lang, name="CYDER", windows=catalog.online_windows())


def by_uid(calendar):
    return {str(e["UID"]): e for e in calendar.events}


def test_calendar_properties_come_before_the_first_event(catalog):
    data = full_feed(catalog)
    c = parse(data)
    for prop in ("PRODID", "VERSION", "CALSCALE", "NAME", "X-WR-CALNAME"):
        assert prop in c, prop
    assert str(c["VERSION"]) == "2.0" and str(c["CALSCALE"]) == "GREGORIAN"
    assert "METHOD" not in c  # a subscription feed is not an iTIP message
    assert str(c["NAME"]) == str(c["X-WR-CALNAME"]) == "CYDER"  # RFC 7986 beside the X- name
    head = data.split(b"BEGIN:VEVENT", 1)[0]
    for prop in (
        b"PRODID:",
        b"CALSCALE:",
        b"\r\nNAME:",
        b"X-WR-CALNAME:",
        b"REFRESH-INTERVAL;VALUE=DURATION:PT12H",
        b"X-PUBLISHED-TTL:PT12H",
    ):
        assert prop in head, prop


def test_full_feed_holds_every_session_with_exclusive_all_day_dates(catalog):
    c = parse(full_feed(catalog))
    events = by_uid(c)
    sessions = catalog.all_sessions(include_cancelled=True)
    assert len(sessions) == 100
    assert len(events) == 100 + 2  # 100 sessions + the two プレCYDER windows
    for s in sessions:
        e = events[cal.session_uid(s.id)]
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert type(start) is dt.date and type(end) is dt.date
        assert start == s.first_day and end == s.last_day + dt.timedelta(days=1)
        assert e["DTSTART"].params.get("VALUE") == "DATE"
        assert int(e["SEQUENCE"]) == s.revision
        assert "DTSTAMP" in e and str(e["CATEGORIES"].cats[1]) == s.course
    c_event = events[cal.session_uid(TOKYO_C)]
    assert c_event.decoded("DTSTART") == dt.date(2024, 11, 28)
    assert c_event.decoded("DTEND") == dt.date(2024, 11, 30)  # two days shown as two days
    windows = [e for e in c.events if str(e["UID"]).startswith("precyder-")]
    spans = sorted((e.decoded("DTSTART"), e.decoded("DTEND")) for e in windows)
    assert spans == [
        (dt.date(2024, 5, 21), dt.date(2024, 7, 20)),
        (dt.date(2024, 10, 17), dt.date(2025, 2, 1)),
    ]
    assert not c.timezones  # no times in the seed: nothing needs a VTIMEZONE


def test_summary_location_description_in_both_languages(catalog):
    s = catalog.session(HIROSHIMA_A)
    ja = parse(cal.event_file(catalog, s).data).events[0]
    assert str(ja["SUMMARY"]) == "CYDER A（初級） 広島"
    assert "広島県" in str(ja["LOCATION"]) and "広島" in str(ja["LOCATION"])
    desc = str(ja["DESCRIPTION"])
    assert "初級" in desc and "無料" in desc and "77,000円" in desc
    assert "https://cyder.nict.go.jp" in desc and "未発表" in desc
    assert str(ja["URL"]) == "https://cyder.nict.go.jp"
    en = parse(cal.event_file(catalog, s, lang="en").data).events[0]
    assert str(en["SUMMARY"]) == "CYDER A (Beginner) Hiroshima"
    assert "Hiroshima" in str(en["LOCATION"])
    odawara = next(x for x in catalog.all_sessions() if x.city == "小田原")
    en2 = parse(cal.event_file(catalog, odawara, lang="en").data).events[0]
    assert str(en2["SUMMARY"]) == "CYDER A (Beginner) Odawara"
    assert str(en2["LOCATION"]) == "Odawara, Kanagawa, Japan"


def test_event_file_fee_for_this_audience(catalog):
    s = catalog.session(HIROSHIMA_A)
    private = str(parse(cal.event_file(catalog, s, profile=Profile("private")).data).events[0]["DESCRIPTION"])
    assert "受講料: 77,000円（税込）" in private
    local = str(parse(cal.event_file(catalog, s, profile=Profile("local")).data).events[0]["DESCRIPTION"])
    assert "受講料: 無料" in local and "77,000" not in local


def test_uids_unique_and_stable_across_a_reload(catalog, tmp_path):
    before = by_uid(parse(full_feed(catalog)))
    assert len(before) == 102
    edited = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "広島県情報プラザ" }',
    )
    report = loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    assert report.updated == [HIROSHIMA_A]
    after = by_uid(parse(full_feed(catalog)))
    assert set(after) == set(before)
    changed = after[cal.session_uid(HIROSHIMA_A)]
    assert int(changed["SEQUENCE"]) == int(before[cal.session_uid(HIROSHIMA_A)]["SEQUENCE"]) + 1
    assert "広島県情報プラザ" in str(changed["LOCATION"])
    assert changed.decoded("DTSTAMP") > before[cal.session_uid(HIROSHIMA_A)].decoded("DTSTAMP")
    other = cal.session_uid(TOKYO_C)
    assert int(after[other]["SEQUENCE"]) == int(before[other]["SEQUENCE"]) == 0


def test_same_data_renders_the_same_bytes(catalog, tmp_path):
    first = full_feed(catalog)
    again = make_catalog(tmp_path / "c.db")  # a fresh process on the same database
    assert full_feed(again) == first


def test_timed_sessions_get_vtimezone_and_local_times(catalog, tmp_path):
    edited = edited_schedule(
        tmp_path,
        "first = 2024-11-28, last = 2024-11-29 }",
        'first = 2024-11-28, last = 2024-11-29, start = "09:30", end = "17:00", '
        'venue = "NICT 東京", address = "東京都千代田区1-1" }',
    )
    loader.load(catalog.store, edited, NOW)
    s = catalog.session(TOKYO_C)
    f = cal.event_file(catalog, s)
    c = parse(f.data)
    assert [tz.tz_name for tz in c.timezones] == ["Asia/Tokyo"]
    assert f.data.index(b"BEGIN:VTIMEZONE") < f.data.index(b"BEGIN:VEVENT")
    e = c.events[0]
    assert e["DTSTART"].params["TZID"] == "Asia/Tokyo"
    start, end = e.decoded("DTSTART"), e.decoded("DTEND")
    assert (start.hour, start.minute, end.hour, end.minute) == (9, 30, 17, 0)
    assert start.utcoffset() == dt.timedelta(hours=9)
    assert e["RRULE"]["COUNT"] == [2]  # the same hours on both days
    assert "NICT 東京" in str(e["LOCATION"]) and "東京都千代田区1-1" in str(e["LOCATION"])
    assert "09:30–17:00" in str(e["DESCRIPTION"])
    feed = parse(full_feed(catalog))
    assert len(feed.timezones) == 1


def test_describe_file_says_method_title_dates_and_place(catalog, tmp_path):
    all_day = cal.describe_file(
        cal.event_file(catalog, catalog.session(TOKYO_C), organizer="office@example.jp").data
    )
    assert len(all_day) == 1
    assert all_day[0].startswith("METHOD:PUBLISH · CYDER C")
    assert " · 2024-11-28 – 2024-11-29 · " in all_day[0]  # DTEND is exclusive: not 11-30
    edited = edited_schedule(
        tmp_path,
        "first = 2024-11-28, last = 2024-11-29 }",
        'first = 2024-11-28, last = 2024-11-29, start = "09:30", end = "17:00" }',
    )
    loader.load(catalog.store, edited, NOW)
    timed = cal.describe_file(cal.event_file(catalog, catalog.session(TOKYO_C), lang="en").data)
    assert " · 2024-11-28 09:30–17:00 ×2 · " in timed[0] and "SEQUENCE:1" in timed[0]
    assert cal.describe_file(b"not ics") == ["(not a calendar file)"]


def register(catalog, session_id=HIROSHIMA_A, user_id=7, i=0, now=NOW, **kw):
    return regs.register(
        catalog, session_id, [person(i, **kw)], today=now.date(), now=now, user_id=user_id
    ).registrations[0]


def test_invite_and_cancel_pair(catalog):
    reg = register(catalog)
    invite = parse(cal.invite_file(catalog, reg, organizer=ORGANIZER).data)
    assert str(invite["METHOD"]) == "REQUEST"
    ev = invite.events[0]
    assert str(ev["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    attendee = ev["ATTENDEE"]
    assert str(attendee) == "mailto:user0@city.example.lg.jp"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION" and attendee.params["RSVP"] == "FALSE"
    alarms = ev.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == -dt.timedelta(hours=15)
    cancelled = regs.cancel(
        catalog, reg.id, today=TODAY, now=NOW + dt.timedelta(hours=1), user_id=7
    ).cancelled
    cancel = parse(cal.cancel_file(catalog, cancelled, organizer=ORGANIZER).data)
    assert str(cancel["METHOD"]) == "CANCEL"
    cev = cancel.events[0]
    assert str(cev["UID"]) == str(ev["UID"]) == cal.registration_uid(HIROSHIMA_A, reg.id)
    assert str(cev["STATUS"]) == "CANCELLED"
    assert int(cev["SEQUENCE"]) > int(ev["SEQUENCE"])
    assert cev["ATTENDEE"].params["PARTSTAT"] != "DECLINED"  # a CANCEL removes; it does not decline
    assert str(cev["SUMMARY"]).startswith("【キャンセル済み】")
    assert not cev.walk("VALARM")
    # No cancel of a registration that stands: its SEQUENCE would outrank the feed's.
    with pytest.raises(ValueError):
        cal.cancel_file(
            catalog, regs.get_registration(catalog, register(catalog, i=5, user_id=8).id), organizer=ORGANIZER
        )


def test_invite_uid_stable_and_sequence_follows_session_changes(catalog, tmp_path):
    reg = register(catalog)
    first = parse(cal.invite_file(catalog, reg, organizer=ORGANIZER).data).events[0]
    edited = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, start = "10:00", end = "17:00" }',
    )
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    reg = regs.get_registration(catalog, reg.id)
    second = parse(cal.invite_file(catalog, reg, organizer=ORGANIZER).data)
    ev = second.events[0]
    assert str(ev["UID"]) == str(first["UID"])
    assert int(ev["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
    assert second.timezones and ev.walk("VALARM")[0].decoded("TRIGGER") == -dt.timedelta(days=1)


def test_a_person_without_email_gets_no_attendee_and_a_publish(catalog):
    reg = register(catalog, email="")
    c = parse(cal.invite_file(catalog, reg, organizer=ORGANIZER).data)
    ev = c.events[0]
    assert "ATTENDEE" not in ev  # not an urn: stand-in address
    assert str(c["METHOD"]) == "PUBLISH" and str(ev["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    assert str(ev["UID"]) == cal.registration_uid(HIROSHIMA_A, reg.id)


def test_personal_feed_keeps_cancelled_for_a_while(catalog):
    kept = register(catalog)
    gone = register(catalog, session_id=TOKYO_C, i=1)
    regs.cancel(catalog, gone.id, today=TODAY, now=NOW, user_id=7)
    register(catalog, session_id="2024-A-13-0709", user_id=8, i=2)  # someone else's
    soon = parse(cal.personal_feed(catalog, 7, now=NOW + dt.timedelta(days=3)))
    events = by_uid(soon)
    assert set(events) == {cal.registration_uid(HIROSHIMA_A, kept.id), cal.registration_uid(TOKYO_C, gone.id)}
    assert str(events[cal.registration_uid(TOKYO_C, gone.id)]["STATUS"]) == "CANCELLED"
    assert str(events[cal.registration_uid(HIROSHIMA_A, kept.id)]["STATUS"]) == "CONFIRMED"
    data = cal.personal_feed(catalog, 7, now=NOW + dt.timedelta(days=3))
    assert b"user0@" not in data and "利用者0".encode() not in data
    later = parse(cal.personal_feed(catalog, 7, now=NOW + dt.timedelta(days=31)))
    assert set(by_uid(later)) == {cal.registration_uid(HIROSHIMA_A, kept.id)}


def test_public_feed_has_no_personal_data(catalog):
    register(catalog)
    data = full_feed(catalog)
    assert b"user0@" not in data and "利用者0".encode() not in data and b"ATTENDEE" not in data


def test_subscription_links():
    links = cal.subscription_links(
        "https://cyder.example/", courses=["A", "B-1"], prefectures=[34], regions=["中国"]
    )
    parts = urlsplit(links.https)
    assert parts.scheme == "https" and parts.path == "/calendar/sessions.ics"
    assert parse_qs(parts.query) == {"course": ["A", "B-1"], "prefecture": ["34"], "region": ["中国"]}
    assert links.webcal == "webcal://" + links.https.removeprefix("https://")
    assert links.google.startswith("https://calendar.google.com/calendar/")
    assert unquote(links.google.split("cid=", 1)[1]) == links.webcal
    me = cal.subscription_links("http://127.0.0.1:8080", token="abc_DEF-1")
    assert me.https == "http://127.0.0.1:8080/calendar/me/abc_DEF-1.ics"
    assert me.webcal == "webcal://127.0.0.1:8080/calendar/me/abc_DEF-1.ics"


def test_change_notices_once_per_revision(catalog, tmp_path):
    reg = register(catalog)
    register(catalog, session_id=TOKYO_C, i=1)  # its session does not change
    assert cal.pending_change_notices(catalog) == []
    edited = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "会場A" }',
    )
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    notices = cal.pending_change_notices(catalog)
    assert [(n.registration_id, n.user_id, n.revision) for n in notices] == [(reg.id, 7, 1)]
    assert cal.mark_notified(catalog, notices[0], now=NOW) is True
    assert cal.mark_notified(catalog, notices[0], now=NOW) is False
    assert cal.pending_change_notices(catalog) == []
    # Someone registering after the change already got the current invite.
    register(catalog, user_id=9, i=3, now=NOW + dt.timedelta(days=1, hours=1))
    assert cal.pending_change_notices(catalog) == []
    edited2 = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "会場B" }',
        "b.toml",
    )
    loader.load(catalog.store, edited2, NOW + dt.timedelta(days=2))
    assert sorted((n.user_id, n.revision) for n in cal.pending_change_notices(catalog)) == [(7, 2), (9, 2)]


def test_cancelled_session_is_flagged_in_notices_and_feeds(catalog, tmp_path):
    reg = register(catalog)
    edited = edited_schedule(
        tmp_path,
        '  { course = "A", region = "中国", prefecture = "広島県", city = "広島", first = 2024-10-25 },\n',
        "",
    )
    edited.write_text(edited.read_text(encoding="utf-8").replace("A = 64", "A = 63"), encoding="utf-8")
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    [notice] = cal.pending_change_notices(catalog)
    assert notice.session_cancelled and notice.registration_id == reg.id
    feed = by_uid(parse(full_feed(catalog)))
    assert str(feed[cal.session_uid(HIROSHIMA_A)]["STATUS"]) == "CANCELLED"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_lines_are_crlf_and_folded_within_75_octets(catalog, lang):
    data = full_feed(catalog, lang)
    assert data.count(b"\n") == data.count(b"\r\n")
    for line in data.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # folding never splits a multi-byte character
