"""bot.web.feeds over a real aiohttp server on 127.0.0.1: feeds, filters, validators, API."""

import asyncio
import datetime as dt
from email.utils import parsedate_to_datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar

from bot.config import Settings
from bot.web.app import create_web_app
from catalog import calendar as cal
from catalog import registrations as regs
from catalog.clock import Clock
from catalog.registrations import Applicant
from catalog.users import issue_calendar_token, revoke_calendar_token
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
HIROSHIMA_A = "2024-A-34-1025"


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


@pytest.fixture
async def client(catalog, tmp_path):
    settings = Settings(db_path=tmp_path / "c.db", today=TODAY)
    app = create_web_app(settings, catalog, Clock(TODAY))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in Calendar.from_ical(body).events}


def session_ids(body: bytes) -> set[str]:
    return {u.removeprefix("session-").split("@")[0] for u in uids(body) if u.startswith("session-")}


async def test_full_feed_headers_and_content(client):
    r = await client.get("/calendar/sessions.ics", headers={"Accept-Encoding": "gzip, br"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "Content-Encoding" not in r.headers
    assert r.headers["ETag"].startswith('"') and "Last-Modified" in r.headers
    body = await r.read()
    c = Calendar.from_ical(body)
    assert len(c.events) == 102 and len(session_ids(body)) == 100
    assert str(c["X-WR-CALNAME"]) == "CYDER 令和6年度"


async def test_304_for_both_validators(client):
    r = await client.get("/calendar/sessions.ics")
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    r2 = await client.get("/calendar/sessions.ics", headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.headers["ETag"] == etag and await r2.read() == b""
    r3 = await client.get("/calendar/sessions.ics", headers={"If-Modified-Since": lm})
    assert r3.status == 304
    r4 = await client.get("/calendar/sessions.ics", headers={"If-None-Match": '"other"'})
    assert r4.status == 200
    old = "Mon, 01 Jan 2024 00:00:00 GMT"
    r5 = await client.get("/calendar/sessions.ics", headers={"If-Modified-Since": old})
    assert r5.status == 200
    # A filtered feed has its own validator.
    r6 = await client.get("/calendar/sessions.ics?course=C", headers={"If-None-Match": etag})
    assert r6.status == 200 and r6.headers["ETag"] != etag


async def test_a_schedule_change_changes_the_validators(client, catalog, tmp_path):
    r = await client.get("/calendar/sessions.ics")
    etag = r.headers["ETag"]
    edited = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        'city = "広島", first = 2024-10-25, venue = "新会場" }',
    )
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    r2 = await client.get("/calendar/sessions.ics", headers={"If-None-Match": etag})
    assert r2.status == 200 and r2.headers["ETag"] != etag
    body = await r2.read()
    event = next(e for e in Calendar.from_ical(body).events if str(e["UID"]) == cal.session_uid(HIROSHIMA_A))
    assert int(event["SEQUENCE"]) == 1 and "新会場" in str(event["LOCATION"])
    lm = parsedate_to_datetime(r2.headers["Last-Modified"])
    assert lm == (NOW + dt.timedelta(days=1)).astimezone(dt.UTC)


async def test_filters_combine_and_repeat(client, catalog):
    r = await client.get("/calendar/sessions.ics", params=[("course", "a"), ("prefecture", "広島")])
    got = session_ids(await r.read())
    assert got == {"2024-A-34-1025"}
    r = await client.get(
        "/calendar/sessions.ics", params=[("region", "中国"), ("region", "shikoku"), ("course", "B1")]
    )
    got = session_ids(await r.read())
    expected = {s.id for s in catalog.all_sessions() if s.course == "B-1" and s.region in ("中国", "四国")}
    assert got == expected and len(expected) == 2
    r = await client.get(
        "/calendar/sessions.ics",
        params=[("prefecture", "Hiroshima"), ("prefecture", "34"), ("prefecture", "東京都")],
    )
    got = session_ids(await r.read())
    assert got == {s.id for s in catalog.all_sessions() if s.prefecture_code in (13, 34)}
    # Place filters leave out the online プレCYDER windows; course=PRE is only them.
    r = await client.get("/calendar/sessions.ics?course=PRE")
    assert {u.split("@")[0] for u in uids(await r.read())} == {"precyder-2024-first", "precyder-2024-second"}


async def test_bad_filters_get_400_naming_the_value(client):
    for query, value in [
        ("course=Z9", "Z9"),
        ("prefecture=Narnia", "Narnia"),
        ("region=atlantis", "atlantis"),
        ("course=A&prefecture=広島&region=月", "月"),
    ]:
        r = await client.get("/calendar/sessions.ics?" + query)
        assert r.status == 400, query
        assert r.headers["Content-Type"].startswith("text/plain")
        assert value in await r.text()
        r = await client.get("/api/sessions?" + query)
        assert r.status == 400 and value in await r.text()


async def test_english_feed(client):
    r = await client.get("/calendar/sessions.ics?course=A&prefecture=34&lang=en")
    [event] = Calendar.from_ical(await r.read()).events
    assert str(event["SUMMARY"]) == "CYDER A (Beginner) Hiroshima"


async def test_personal_feed_by_token(client, catalog):
    reg = regs.register(
        catalog,
        HIROSHIMA_A,
        [Applicant("山田", "広島市", "local", email="y@example.lg.jp")],
        today=TODAY,
        now=NOW,
        user_id=7,
    ).registrations[0]
    token = issue_calendar_token(catalog.store, 7, NOW)
    r = await client.get(f"/calendar/me/{token}.ics")
    assert r.status == 200 and r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = await r.read()
    assert uids(body) == {cal.registration_uid(HIROSHIMA_A, reg.id)}
    r2 = await client.get(f"/calendar/me/{token}.ics", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status == 304
    regs.cancel(catalog, reg.id, today=TODAY, now=NOW + dt.timedelta(hours=1), user_id=7)
    r3 = await client.get(f"/calendar/me/{token}.ics", headers={"If-None-Match": r.headers["ETag"]})
    assert r3.status == 200
    [event] = Calendar.from_ical(await r3.read()).events
    assert str(event["STATUS"]) == "CANCELLED"
    assert (await client.get("/calendar/me/not-a-token.ics")).status == 404
    revoke_calendar_token(catalog.store, 7)
    assert (await client.get(f"/calendar/me/{token}.ics")).status == 404


async def test_public_feed_carries_no_personal_data(client, catalog):
    regs.register(
        catalog,
        HIROSHIMA_A,
        [Applicant("山田太郎", "広島市役所", "local", email="taro@example.lg.jp")],
        today=TODAY,
        now=NOW,
        user_id=7,
    )
    body = await (await client.get("/calendar/sessions.ics")).read()
    for secret in ("山田太郎", "広島市役所", "taro@example.lg.jp"):
        assert secret.encode() not in body
    api = await (await client.get("/api/sessions")).text()
    assert "山田太郎" not in api and "taro@" not in api


async def test_api_sessions_matches_cli_fields(client, catalog):
    r = await client.get("/api/sessions?course=C")
    rows = await r.json()
    assert r.status == 200 and len(rows) == 5
    assert rows == [s.as_dict() for s in catalog.all_sessions() if s.course == "C"]
    assert rows[0]["start"] == "2024-11-28" and rows[0]["end"] == "2024-11-29"
    everything = await (await client.get("/api/sessions")).json()
    assert len(everything) == 100


async def test_concurrent_first_requests_render_once(client, monkeypatch):
    calls = []
    real = cal.sessions_feed

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cal, "sessions_feed", counting)
    responses = await asyncio.gather(*(client.get("/calendar/sessions.ics?course=A") for _ in range(20)))
    assert {r.status for r in responses} == {200}
    assert len({r.headers["ETag"] for r in responses}) == 1
    assert len(calls) == 1
    await client.get("/calendar/sessions.ics?course=a")  # same filters, other spelling
    assert len(calls) == 1


async def test_head_and_feed_are_never_compressed(client):
    r = await client.head("/calendar/sessions.ics", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and "Content-Encoding" not in r.headers
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"


async def test_unknown_lang_gets_400_and_known_spellings_pass(client, catalog):
    for value in ("fr", "xx", "english-please"):
        r = await client.get(f"/calendar/sessions.ics?lang={value}")
        assert r.status == 400 and value in await r.text()
    for value in ("en", "EN", "en-US", "ja_JP", "ja"):
        assert (await client.get(f"/calendar/sessions.ics?lang={value}")).status == 200
    regs.register(
        catalog,
        HIROSHIMA_A,
        [Applicant("山田", "広島市", "local", email="y@example.lg.jp")],
        today=TODAY,
        now=NOW,
        user_id=7,
    )
    token = issue_calendar_token(catalog.store, 7, NOW)
    assert (await client.get(f"/calendar/me/{token}.ics?lang=de")).status == 400
    assert (await client.get(f"/calendar/me/{token}.ics?lang=en")).status == 200


async def test_a_feed_matching_nothing_is_still_a_calendar(client, catalog):
    from catalog.service import parse_filters as search

    # B-2 runs only in Tokyo, Osaka and Nagoya: none in Hiroshima.
    assert not catalog.find(**search(catalog, courses=["B-2"], prefectures=["34"]).__dict__)
    r = await client.get("/calendar/sessions.ics?course=B-2&prefecture=34")
    assert r.status == 200
    c = Calendar.from_ical(await r.read())
    assert c.events == [] and [tz.tz_name for tz in c.timezones] == ["Asia/Tokyo"]
    assert "METHOD" not in c and str(c["NAME"]) == str(c["X-WR-CALNAME"])


async def test_last_modified_moves_when_an_aged_out_cancellation_leaves(catalog, tmp_path):
    """A personal feed that drops a cancellation changes its body: Last-Modified must move
    too, or If-Modified-Since clients keep the cancelled event."""
    reg = regs.register(
        catalog,
        HIROSHIMA_A,
        [Applicant("山田", "広島市", "local", email="y@example.lg.jp")],
        today=TODAY,
        now=NOW,
        user_id=7,
    ).registrations[0]
    regs.cancel(catalog, reg.id, today=TODAY, now=NOW, user_id=7)
    token = issue_calendar_token(catalog.store, 7, NOW)
    settings = Settings(db_path=tmp_path / "c.db", today=TODAY)

    async def get(day, **headers):
        app = create_web_app(settings, catalog, Clock(day))
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            r = await c.get(f"/calendar/me/{token}.ics", headers=headers)
            return r.status, r.headers.get("Last-Modified"), await r.read()

    status, lm, body = await get(TODAY + dt.timedelta(days=3))
    assert status == 200 and len(Calendar.from_ical(body).events) == 1
    status, lm2, body2 = await get(TODAY + dt.timedelta(days=40), **{"If-Modified-Since": lm})
    assert status == 200, "the copy holding the cancelled event must be replaced"
    assert Calendar.from_ical(body2).events == []
    assert parsedate_to_datetime(lm2) > parsedate_to_datetime(lm)


async def test_last_modified_moves_when_a_session_leaves_a_filtered_feed(client, catalog, tmp_path):
    r = await client.get("/calendar/sessions.ics?prefecture=34")
    lm = r.headers["Last-Modified"]
    assert HIROSHIMA_A in session_ids(await r.read())
    # The Hiroshima session moves to Okayama: it leaves the Hiroshima feed.
    edited = edited_schedule(
        tmp_path,
        'prefecture = "広島県", city = "広島", first = 2024-10-25 }',
        f'prefecture = "岡山県", city = "岡山", first = 2024-10-25, id = "{HIROSHIMA_A}" }}',
    )
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    r2 = await client.get("/calendar/sessions.ics?prefecture=34", headers={"If-Modified-Since": lm})
    assert r2.status == 200 and HIROSHIMA_A not in session_ids(await r2.read())
    assert parsedate_to_datetime(r2.headers["Last-Modified"]) > parsedate_to_datetime(lm)


async def test_capacity_only_change_keeps_the_feed_and_its_sequence(client, catalog, tmp_path):
    r = await client.get("/calendar/sessions.ics")
    etag = r.headers["ETag"]
    edited = edited_schedule(
        tmp_path, 'city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = 24 }'
    )
    report = loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    assert report.updated == [] and report.adjusted == [HIROSHIMA_A]
    assert catalog.session(HIROSHIMA_A).capacity == 24
    assert catalog.session(HIROSHIMA_A).revision == 0
    r2 = await client.get("/calendar/sessions.ics", headers={"If-None-Match": etag})
    assert r2.status == 304  # nothing a calendar shows has changed


async def test_a_precyder_window_change_raises_its_sequence(client, catalog, tmp_path):
    r = await client.get("/calendar/sessions.ics?course=PRE")
    lm = r.headers["Last-Modified"]
    edited = edited_schedule(
        tmp_path, "first = 2024-10-17\nlast = 2025-01-31", "first = 2024-10-17\nlast = 2025-02-14"
    )
    report = loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    assert report.updated == ["2024-PRE-second"]
    assert "1 updated" in report.summary()
    r2 = await client.get("/calendar/sessions.ics?course=PRE", headers={"If-Modified-Since": lm})
    assert r2.status == 200
    events = {str(e["UID"]): e for e in Calendar.from_ical(await r2.read()).events}
    second, first = events[cal.window_uid(2024, "second")], events[cal.window_uid(2024, "first")]
    assert second.decoded("DTEND") == dt.date(2025, 2, 15) and int(second["SEQUENCE"]) == 1
    assert int(first["SEQUENCE"]) == 0
    assert second.decoded("DTSTAMP") > first.decoded("DTSTAMP")
