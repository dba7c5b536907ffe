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
    return {u.removeprefix("session-").split("@")[0] for u in uids(body)
            if u.startswith("session-")}


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
    edited = edited_schedule(tmp_path, 'city = "広島", first = 2024-10-25 }',
                             'city = "広島", first = 2024-10-25, venue = "新会場" }')
    loader.load(catalog.store, edited, NOW + dt.timedelta(days=1))
    r2 = await client.get("/calendar/sessions.ics", headers={"If-None-Match": etag})
    assert r2.status == 200 and r2.headers["ETag"] != etag
    body = await r2.read()
    event = next(e for e in Calendar.from_ical(body).events
                 if str(e["UID"]) == cal.session_uid(HIROSHIMA_A))
    assert int(event["SEQUENCE"]) == 1 and "新会場" in str(event["LOCATION"])
    lm = parsedate_to_datetime(r2.headers["Last-Modified"])
    assert lm == (NOW + dt.timedelta(days=1)).astimezone(dt.UTC)


async def test_filters_combine_and_repeat(client, catalog):
    r = await client.get("/calendar/sessions.ics", params=[("course", "a"), ("prefecture", "広島")])
    got = session_ids(await r.read())
    assert got == {"2024-A-34-1025"}
    r = await client.get("/calendar/sessions.ics",
                         params=[("region", "中国"), ("region", "shikoku"), ("course", "B1")])
    got = session_ids(await r.read())
    expected = {s.id for s in catalog.all_sessions()
                if s.course == "B-1" and s.region in ("中国", "四国")}
    assert got == expected and len(expected) == 2
    r = await client.get("/calendar/sessions.ics", params=[("prefecture", "Hiroshima"),
                                                          ("prefecture", "34"),
                                                          ("prefecture", "東京都")])
    got = session_ids(await r.read())
    assert got == {s.id for s in catalog.all_sessions() if s.prefecture_code in (13, 34)}
    # Place filters leave out the online プレCYDER windows; course=PRE is only them.
    r = await client.get("/calendar/sessions.ics?course=PRE")
    assert {u.split("@")[0] for u in uids(await r.read())} == {"precyder-2024-first",
                                                               "precyder-2024-second"}


async def test_bad_filters_get_400_naming_the_value(client):
    for query, value in [("course=Z9", "Z9"), ("prefecture=Narnia", "Narnia"),
                         ("region=atlantis", "atlantis"), ("course=A&prefecture=広島&region=月", "月")]:
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
    reg = regs.register(catalog, HIROSHIMA_A, [Applicant("山田", "広島市", "local",
                                                         email="y@example.lg.jp")],
                        today=TODAY, now=NOW, user_id=7).registrations[0]
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
    regs.register(catalog, HIROSHIMA_A, [Applicant("山田太郎", "広島市役所", "local",
                                                   email="taro@example.lg.jp")],
                  today=TODAY, now=NOW, user_id=7)
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
    responses = await asyncio.gather(*(client.get("/calendar/sessions.ics?course=A")
                                       for _ in range(20)))
    assert {r.status for r in responses} == {200}
    assert len({r.headers["ETag"] for r in responses}) == 1
    assert len(calls) == 1
    await client.get("/calendar/sessions.ics?course=a")  # same filters, other spelling
    assert len(calls) == 1


async def test_head_and_feed_are_never_compressed(client):
    r = await client.head("/calendar/sessions.ics", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and "Content-Encoding" not in r.headers
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
