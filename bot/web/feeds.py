"""Calendar feeds and the sessions API on the aiohttp app of `cyder-bot serve`.

- GET /calendar/sessions.ics  the public feed; filters course, prefecture, region
                              (repeatable, codes or names as people type them)
- GET /calendar/me/{token}.ics one user's registrations (random token from chat)
- GET /api/sessions           the same filters as JSON (`cyder-bot sessions --format json`)

Feeds are `text/calendar; charset=utf-8`, never compressed (Outlook's subscriptions
fail on compressed feeds), with a strong ETag (hash of the body) and Last-Modified,
answering 304 to If-None-Match / If-Modified-Since. A rendered public feed is kept
per (filters, language, data version), so a poll costs a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import format_datetime

from aiohttp import web

from bot.telegram.i18n import say
from bot.web.keys import CATALOG, CLOCK
from catalog import calendar
from catalog.service import Catalog, UnknownFilter
from catalog.service import parse_filters as search_filters
from catalog.users import user_by_token

log = logging.getLogger(__name__)

ICS_TYPE = "text/calendar; charset=utf-8"
CACHE_ENTRIES = 256
PUBLIC_CACHE_CONTROL = "public, max-age=900"
PRIVATE_CACHE_CONTROL = "private, max-age=900"


@dataclass(frozen=True)
class Rendered:
    """A rendered feed with its validators."""

    body: bytes
    etag: str
    last_modified: dt.datetime
    last_modified_header: str

    @classmethod
    def of(cls, body: bytes, last_modified: dt.datetime) -> Rendered:
        lm = last_modified.astimezone(dt.UTC).replace(microsecond=0)
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        return cls(body, etag, lm, format_datetime(lm, usegmt=True))


@dataclass(frozen=True)
class Filters:
    courses: tuple[str, ...] = ()
    prefectures: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def with_windows(self) -> bool:
        """プレCYDER windows are online: shown unless a place or another course is asked."""
        if self.prefectures or self.regions:
            return False
        return not self.courses or "PRE" in self.courses


class BadFilter(Exception):
    """A filter value we cannot read; the message names it (English and Japanese)."""


@dataclass
class FeedCache:
    """Rendered feeds by key, dropped as soon as the data version changes."""

    version: object = None
    entries: OrderedDict[object, Rendered] = field(default_factory=OrderedDict)
    pending: dict[object, asyncio.Future[Rendered]] = field(default_factory=dict)

    def get(self, version: object, key: object) -> Rendered | None:
        if version != self.version:
            self.version = version
            self.entries.clear()
            return None
        return self.entries.get(key)

    def put(self, version: object, key: object, value: Rendered) -> None:
        if version != self.version:
            return
        self.entries[key] = value
        while len(self.entries) > CACHE_ENTRIES:
            self.entries.popitem(last=False)

    async def get_or_render(
        self, version: object, key: object, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        """The cached value, or one render shared by every request that asks meanwhile."""
        hit = self.get(version, key)
        if hit is not None:
            return hit
        fut = self.pending.get((version, key))
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self.pending[(version, key)] = fut
        try:
            value = await render()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self.pending.pop((version, key), None)
        fut.set_result(value)
        self.put(version, key, value)
        return value


FEED_CACHE = web.AppKey("feed_cache", FeedCache)


def _lang(request: web.Request, default: str = "ja") -> str:
    """`lang` from the query: ja or en (also as ja-JP, en_US); BadFilter for any other."""
    raw = request.query.get("lang", "").strip()
    if not raw:
        return default
    base = raw.lower().replace("_", "-").split("-", 1)[0]
    if base not in ("ja", "en"):
        raise BadFilter(f"unknown lang: {raw!r} (ja or en)\n言語 {raw!r} はありません（ja または en）")
    return base


def _values(request: web.Request, name: str) -> list[str]:
    """A repeatable query parameter; empty values (a form's "any" choice) are no filter."""
    return [v for v in request.query.getall(name, []) if v.strip()]


def parse_filters(catalog: Catalog, request: web.Request) -> Filters:
    """Filters from the query string; BadFilter naming the first value we cannot read."""
    try:
        f = search_filters(
            catalog,
            courses=_values(request, "course"),
            prefectures=_values(request, "prefecture"),
            regions=_values(request, "region"),
        )
    except UnknownFilter as e:
        en, ja = say(e, "en"), say(e, "ja")
        detail = en if en == ja else f"{en}\n{ja}"
        raise BadFilter(f"unknown {e.field}: {e.value!r}\n{detail}") from None
    return Filters(f.courses, f.prefectures, f.regions)


def _bad_request(message: str) -> web.Response:
    return web.Response(status=400, text=message + "\n", content_type="text/plain", charset="utf-8")


def _not_modified(request: web.Request, rendered: Rendered) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since only when it is absent."""
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        if inm.strip() == "*":
            return True
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return rendered.etag in tags
    ims = request.if_modified_since
    return ims is not None and rendered.last_modified <= ims


def respond(request: web.Request, rendered: Rendered, *, cache_control: str, filename: str) -> web.Response:
    """200 with the feed, or 304 when the client's copy is current."""
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": rendered.last_modified_header,
        "Cache-Control": cache_control,
    }
    if _not_modified(request, rendered):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = ICS_TYPE
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return web.Response(body=rendered.body, headers=headers)


async def render_public(catalog: Catalog, filters: Filters, lang: str) -> Rendered:
    """Render the public feed off the event loop (about 30 ms for the full year)."""
    sessions = [
        h.session
        for h in catalog.find(
            courses=filters.courses,
            prefectures=filters.prefectures,
            regions=filters.regions,
            include_cancelled=True,
        )
    ]
    windows = catalog.online_windows() if filters.with_windows else ()
    loaded = calendar.year_loaded(catalog)
    # Every session of the year: one moving out of the filters changes this body too.
    every = catalog.all_sessions(include_cancelled=True)
    view = calendar.CatalogView.of(catalog)
    name = calendar.feed_name(
        catalog, lang, courses=filters.courses, prefectures=filters.prefectures, regions=filters.regions
    )
    body = await asyncio.to_thread(
        calendar.sessions_feed, view, sessions, lang=lang, name=name, windows=windows, loaded=loaded
    )
    return Rendered.of(body, calendar.feed_last_modified(every, loaded, windows))


async def sessions_ics(request: web.Request) -> web.Response:
    app = request.app
    catalog = app[CATALOG]
    cache = app[FEED_CACHE]
    try:
        lang = _lang(request)
    except BadFilter as e:
        return _bad_request(str(e))
    version = calendar.data_version(catalog)
    raw_key = ("raw", request.query_string, lang)
    rendered = cache.get(version, raw_key)
    if rendered is None:
        try:
            filters = parse_filters(catalog, request)
        except BadFilter as e:
            return _bad_request(str(e))
        rendered = await cache.get_or_render(
            version, ("feed", filters, lang), lambda: render_public(catalog, filters, lang)
        )
        cache.put(version, raw_key, rendered)
    return respond(request, rendered, cache_control=PUBLIC_CACHE_CONTROL, filename="cyder-sessions.ics")


async def my_ics(request: web.Request) -> web.Response:
    app = request.app
    catalog = app[CATALOG]
    token = request.match_info["token"]
    user = user_by_token(catalog.store, token)
    if user is None:
        return web.Response(
            status=404,
            text="unknown calendar link / このカレンダーのリンクは無効です\n",
            content_type="text/plain",
            charset="utf-8",
        )
    try:
        lang = _lang(request, "en" if (user.lang or "").startswith("en") else "ja")
    except BadFilter as e:
        return _bad_request(str(e))
    now = app[CLOCK].now()
    version = calendar.data_version(catalog)
    key = ("me", user.user_id, lang, now.date())
    rendered = app[FEED_CACHE].get(version, key)
    if rendered is None:
        body = calendar.personal_feed(catalog, user.user_id, lang=lang, now=now)
        rendered = Rendered.of(body, calendar.personal_last_modified(catalog, user.user_id, now))
        app[FEED_CACHE].put(version, key, rendered)
    return respond(
        request, rendered, cache_control=PRIVATE_CACHE_CONTROL, filename="cyder-my-registrations.ics"
    )


async def api_sessions(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    try:
        filters = parse_filters(catalog, request)
    except BadFilter as e:
        return _bad_request(str(e))
    hits = catalog.find(courses=filters.courses, prefectures=filters.prefectures, regions=filters.regions)
    rows = [h.session.as_dict() for h in hits]
    return web.json_response(rows, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def setup(app: web.Application) -> None:
    """Add the feed routes (called by `bot.web.app.create_web_app`)."""
    app[FEED_CACHE] = FeedCache()
    app.router.add_get("/calendar/sessions.ics", sessions_ics)
    app.router.add_get("/calendar/me/{token}.ics", my_ics)
    app.router.add_get("/api/sessions", api_sessions)
