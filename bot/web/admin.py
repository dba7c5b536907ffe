"""The staff admin page on the aiohttp app: sessions, rosters, teams, downloads.

Sign-in: staff type `ADMIN_TOKEN` into a form (POST; compared in constant time); the
browser then holds a signed session cookie (itsdangerous; HttpOnly, SameSite=Strict,
Path=/admin). The token never appears in a URL. The signing key is derived from the
token, so changing ADMIN_TOKEN signs everybody out. Without ADMIN_TOKEN the admin is
disabled and every admin URL says so.

Every POST carries a CSRF token: the session id signed with its own salt, checked in
constant time against the cookie's session. Without a valid signed-in session, pages
redirect to the sign-in form and everything else (POSTs, downloads) answers 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.telegram.i18n import say
from bot.web.keys import CATALOG, CLOCK, NOTIFIER, SETTINGS
from catalog import admin_sessions, audit, calendar, console, rosters, teams
from catalog.audit import Actor
from catalog.clock import JST
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.i18n import gettext_lazy as _l
from catalog.service import Catalog
from catalog.stats import home_charts
from catalog.writer import DatabaseBusy

TEMPLATES = Path(__file__).parent / "templates"
JINJA = web.AppKey("admin_jinja", jinja2.Environment)
COOKIE = "cyder_admin"
COOKIE_PATH = "/admin"
MAX_AGE = 12 * 3600  # a signed-in session lasts a working day
FAILED_SIGN_IN_DELAY = 0.5  # seconds; slows down guessing without blocking the loop
SIGN_IN_ATTEMPTS = 5  # wrong tokens from one address ...
SIGN_IN_WINDOW = 600.0  # ... within this many seconds, and that address is refused for a while


class SignInGuard:
    """Counts wrong admin tokens per address; after `attempts` within `window` seconds the
    address is refused until the oldest of them is `window` seconds old."""

    def __init__(
        self,
        attempts: int = SIGN_IN_ATTEMPTS,
        window: float = SIGN_IN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        times = self.failures.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[address]
            return deque()
        return times

    def refused_for(self, address: str) -> float:
        """Seconds this address must still wait (0: it may try)."""
        times = self._recent(address)
        if len(times) < self.attempts:
            return 0.0
        return times[-self.attempts] + self.window - self.clock()

    def failed(self, address: str) -> None:
        self.failures.setdefault(address, deque()).append(self.clock())

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


SIGN_IN_GUARD = web.AppKey("admin_sign_in_guard", SignInGuard)

routes = web.RouteTableDef()


# -- sessions and CSRF -------------------------------------------------------------------------


def _serializer(request: web.Request) -> URLSafeTimedSerializer | None:
    token = request.app[SETTINGS].admin_token
    if not token:
        return None
    key = hashlib.sha256(b"cyder-admin-cookie\0" + token.encode("utf-8")).hexdigest()
    return URLSafeTimedSerializer(key, salt="cyder-admin-session")


def _csrf_serializer(request: web.Request) -> URLSafeTimedSerializer:
    token = request.app[SETTINGS].admin_token or ""
    key = hashlib.sha256(b"cyder-admin-csrf\0" + token.encode("utf-8")).hexdigest()
    return URLSafeTimedSerializer(key, salt="cyder-admin-csrf")


def _session(request: web.Request) -> dict[str, Any] | None:
    """The browser's session ({"sid", "auth"}) from its signed cookie, or None."""
    s = _serializer(request)
    raw = request.cookies.get(COOKIE)
    if s is None or not raw:
        return None
    try:
        data = s.loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
        return None
    return data


def _now() -> dt.datetime:
    """Real time for sign-in sessions (a pinned demo date must not stretch them)."""
    return dt.datetime.now(JST)


def _signed_in(request: web.Request) -> dict[str, Any] | None:
    """The signed-in session: a valid cookie whose id the server still holds (signing out
    ends it on the server, so an old copy of the cookie opens nothing)."""
    data = _session(request)
    if not data or data.get("auth") is not True:
        return None
    if not admin_sessions.is_active(request.app[CATALOG].store, data["sid"], _now()):
        return None
    return data


def _set_cookie(request: web.Request, response: web.StreamResponse, sid: str, *, auth: bool) -> None:
    s = _serializer(request)
    assert s is not None
    response.set_cookie(
        COOKIE,
        s.dumps({"sid": sid, "auth": auth}),
        max_age=MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def _set_session(request: web.Request, response: web.StreamResponse) -> str:
    """A fresh pre-sign-in id (for the sign-in form's CSRF token) on `response`."""
    sid = secrets.token_urlsafe(24)
    _set_cookie(request, response, sid, auth=False)
    return sid


def csrf_token(request: web.Request, sid: str) -> str:
    return _csrf_serializer(request).dumps(sid)


def _csrf_ok(request: web.Request, sid: str, token: str) -> bool:
    try:
        value = _csrf_serializer(request).loads(token or "", max_age=MAX_AGE)
    except BadSignature:
        return False
    return isinstance(value, str) and hmac.compare_digest(value.encode(), sid.encode())


def _same_origin(request: web.Request) -> bool:
    """A POST from another site is refused even before the CSRF token is looked at."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":  # privacy settings may hide it; the token still counts
        return True
    return origin.rstrip("/") == f"{request.scheme}://{request.host}"


# -- rendering -------------------------------------------------------------------------------


def render(request: web.Request, name: str, context: dict[str, Any], status: int = 200) -> web.Response:
    context.setdefault("show_signout", _signed_in(request) is not None)
    return aiohttp_jinja2.render_template(name, request, context, status=status, app_key=JINJA)


def _disabled(request: web.Request) -> web.Response:
    return render(request, "admin_disabled.html", {}, status=401)


def page_or_redirect(request: web.Request) -> web.Response | dict[str, Any]:
    """The signed-in session, or the answer to give instead (disabled / sign in first)."""
    if _serializer(request) is None:
        return _disabled(request)
    session = _signed_in(request)
    if session is None:
        raise web.HTTPSeeOther("/admin/login")
    return session


def api_or_401(request: web.Request) -> web.Response | dict[str, Any]:
    if _serializer(request) is None:
        return _disabled(request)
    session = _signed_in(request)
    if session is None:
        return web.Response(
            status=401, text="401: sign in at /admin/login first\n", content_type="text/plain"
        )
    return session


async def checked_post(request: web.Request) -> web.Response | dict[str, Any]:
    """The signed-in session of a POST whose CSRF token is valid, or the refusal."""
    session = api_or_401(request)
    if isinstance(session, web.Response):
        return session
    form = await request.post()
    if not _same_origin(request) or not _csrf_ok(request, session["sid"], str(form.get("csrf", ""))):
        return web.Response(
            status=403,
            content_type="text/plain",
            text="403: missing or invalid CSRF token; reload the page\n",
        )
    return session


def session_or_404(catalog: Catalog, session_id: str) -> Any:
    try:
        return catalog.session(session_id)
    except NotFound as e:
        raise web.HTTPNotFound(text=say(e, "en"), content_type="text/plain") from e


def wake_sender(request: web.Request) -> None:
    """After a staff change: have the outbox's sender of this process (when it runs the
    bot) send what the change queued — its mail, unclaimed — now, not at its next poll."""
    sender = request.app.get(NOTIFIER)
    if sender is not None:
        sender.wake()


async def tell_schedule_changes(request: web.Request) -> None:
    """After a change to sessions (an edit, a cancellation, an import), when this process
    runs the bot: queue "your session changed" (or its CANCEL) in chat and, with mail on,
    by mail now rather than at the schedule watch's next pass (each once per registrant
    and revision, whoever queues it), and wake the sender."""
    if request.app.get(NOTIFIER) is None:
        return  # no sender here: the bot's schedule watch queues them
    catalog, clock = request.app[CATALOG], request.app[CLOCK]
    # the change is saved even when this finds the database busy: the watch queues them
    with contextlib.suppress(DatabaseBusy):
        await catalog.write(calendar.queue_change_notices, catalog, now=clock.now())
        if request.app[SETTINGS].mail_enabled:
            await catalog.write(calendar.queue_change_mails, catalog, now=clock.now())
    wake_sender(request)


SignIn = dict[str, Any]  # the signed-in browser's admin session ("sid", ...)
StaffHandler = Callable[[web.Request, SignIn], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _staff_only(
    check: Callable[[web.Request], Awaitable[web.StreamResponse | SignIn]],
) -> Callable[[StaffHandler], Handler]:
    def decorate(handler: StaffHandler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = await check(request)
            if isinstance(session, web.StreamResponse):
                return session
            return await handler(request, session)

        return guarded

    return decorate


async def _page_check(request: web.Request) -> web.StreamResponse | SignIn:
    return page_or_redirect(request)


async def _api_check(request: web.Request) -> web.StreamResponse | SignIn:
    return api_or_401(request)


# The three doors of the admin pages; the handler gets the signed-in session:
staff_page = _staff_only(_page_check)  # a page: not signed in -> the sign-in page
staff_api = _staff_only(_api_check)  # a download: not signed in -> 401
staff_post = _staff_only(checked_post)  # a form's POST: 401, or 403 without a valid CSRF token


# -- sign in and out -------------------------------------------------------------------------


@routes.get("/admin/login")
async def login_form(request: web.Request) -> web.Response:
    if _serializer(request) is None:
        return _disabled(request)
    if _signed_in(request):
        raise web.HTTPSeeOther("/admin")
    response = web.Response(content_type="text/html", charset="utf-8")
    pre = _session(request)  # keep a pending sign-in's id, so a second tab does not void it
    sid = pre["sid"] if pre else _set_session(request, response)
    response.text = aiohttp_jinja2.render_string(
        "admin_login.html", request, {"error": None, "csrf": csrf_token(request, sid)}, app_key=JINJA
    )
    return response


@routes.post("/admin/login")
async def login(request: web.Request) -> web.Response:
    if _serializer(request) is None:
        return _disabled(request)
    form = await request.post()
    pre = _session(request)
    if (
        pre is None
        or not _same_origin(request)
        or not _csrf_ok(request, pre["sid"], str(form.get("csrf", "")))
    ):
        return web.Response(
            status=403, content_type="text/plain", text="403: the sign-in form expired; reload /admin/login\n"
        )
    guard = request.app[SIGN_IN_GUARD]
    address = request.remote or "?"
    # No await between this check and recording a failure: parallel guesses from one
    # address are counted one by one, so they cannot slip past the limit together.
    wait = guard.refused_for(address)
    if wait:
        return render(
            request,
            "admin_login.html",
            {
                "error": False,
                "locked_minutes": max(1, round(wait / 60)),
                "csrf": csrf_token(request, pre["sid"]),
            },
            status=429,
        )
    expected = (request.app[SETTINGS].admin_token or "").encode("utf-8")
    given = str(form.get("token", "")).strip().encode("utf-8")
    if not hmac.compare_digest(given, expected):
        guard.failed(address)
        await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        return render(
            request, "admin_login.html", {"error": True, "csrf": csrf_token(request, pre["sid"])}, status=401
        )
    guard.succeeded(address)
    sid = await request.app[CATALOG].write(
        admin_sessions.start, request.app[CATALOG].store, _now(), dt.timedelta(seconds=MAX_AGE)
    )
    response = web.HTTPSeeOther("/admin")
    _set_cookie(request, response, sid, auth=True)
    raise response


@routes.post("/admin/logout")
@staff_post
async def logout(request: web.Request, session: SignIn) -> web.Response:
    await request.app[CATALOG].write(
        admin_sessions.revoke, request.app[CATALOG].store, session["sid"], _now()
    )
    response = web.HTTPSeeOther("/admin/login")
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    raise response


@routes.get("/admin/signins")
@staff_page
async def signins_page(request: web.Request, session: SignIn) -> web.Response:
    """Who is signed in (by session, not by person), with a button to end each."""
    rows = await asyncio.to_thread(admin_sessions.active, request.app[CATALOG].store, _now())
    return render(
        request,
        "admin_signins.html",
        {
            "signins": rows,
            "mine": admin_sessions.key_of(session["sid"]),
            "csrf": csrf_token(request, session["sid"]),
        },
    )


@routes.post("/admin/signins/revoke")
@staff_post
async def revoke_signin(request: web.Request, session: SignIn) -> web.Response:
    form = await request.post()
    await request.app[CATALOG].write(
        admin_sessions.revoke_key, request.app[CATALOG].store, str(form.get("key", "")), _now()
    )
    raise web.HTTPSeeOther("/admin/signins")


# -- pages -----------------------------------------------------------------------------------


@routes.get("/admin")
@staff_page
async def sessions_page(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    today = request.app[CLOCK].today()
    rows = await asyncio.to_thread(catalog.all_sessions, True)
    return render(
        request,
        "admin_sessions.html",
        {
            "sessions": rows,
            "today": today,
            "year": catalog.year,
            "charts": await asyncio.to_thread(home_charts, catalog, rows),
            "csrf": csrf_token(request, session["sid"]),
            "totals": {
                "registered": sum(s.registered for s in rows if not s.cancelled),
                "capacity": sum(s.capacity for s in rows if not s.cancelled),
                "waitlisted": sum(s.waitlisted for s in rows if not s.cancelled),
            },
        },
    )


def _session_view(catalog: Catalog, session_id: str, lang: str = "ja") -> dict[str, Any]:
    """The roster and teams as staff read them: headers and values in Japanese (区分:
    地方公共団体, 受講料: 無料, 状態: 登録済), organisation types in words."""
    columns = rosters.headers(lang)
    rows = [
        dict(
            zip(
                columns,
                [v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else v for v in values],
                strict=True,
            )
        )
        for values in rosters.localized_rows(catalog, session_id, lang, say)
    ]
    formed = teams.current_teams(catalog, session_id)
    labels = {
        m.org_type: rosters.org_type_label(catalog, m.org_type, lang)
        for t in formed
        for m in t.members
        if m.org_type
    }
    reasons = {
        t.number: [f"{say(e.message, 'ja')} / {say(e.message, 'en')}" for e in t.exceptions] for t in formed
    }
    return {
        "columns": columns,
        "rows": rows,
        "teams": formed,
        "org_labels": labels,
        "exception_reasons": reasons,
        "next_team": max((t.number for t in formed), default=0) + 1,
        "confirm": None,
        "history": audit.for_session(catalog.store, session_id, limit=100),
    }


@routes.get("/admin/sessions/{session_id}")
@staff_page
async def session_page(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = session_or_404(catalog, request.match_info["session_id"])
    view = await asyncio.to_thread(_session_view, catalog, s.id)
    return render(
        request,
        "admin_session.html",
        {
            "s": s,
            **view,
            "formed": request.query.get("formed") == "1",
            "moved": request.query.get("moved") == "1",
            "error": None,
            "csrf": csrf_token(request, session["sid"]),
        },
    )


async def _error_page(
    request: web.Request, s: Any, session: Any, e: CatalogError, confirm: dict[str, Any] | None = None
) -> web.Response:
    """The session page again, with the refusal shown in Japanese and English (400); for
    a move that breaks the team rules, with a step to confirm it anyway (409)."""
    view = await asyncio.to_thread(_session_view, request.app[CATALOG], s.id)
    return render(
        request,
        "admin_session.html",
        {
            "s": s,
            **view,
            "formed": False,
            "error": say(e, "ja") + " / " + say(e, "en"),
            "confirm": confirm,
            "csrf": csrf_token(request, session["sid"]),
        },
        status=409 if confirm else 400,
    )


@routes.post("/admin/sessions/{session_id}/teams")
@staff_post
async def form_teams(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = session_or_404(catalog, request.match_info["session_id"])
    try:
        await catalog.write(
            console.form_teams,
            catalog,
            s.id,
            now=request.app[CLOCK].now(),
            actor=Actor.admin_web(admin_sessions.key_of(session["sid"])),
        )
    except CatalogError as e:
        return await _error_page(request, s, session, e)
    raise web.HTTPSeeOther(f"/admin/sessions/{s.id}?formed=1")


@routes.post("/admin/sessions/{session_id}/move")
@staff_post
async def move_member(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = session_or_404(catalog, request.match_info["session_id"])
    form = await request.post()
    try:
        try:
            registration_id = int(str(form.get("registration", "")))
            team = int(str(form.get("team", "")))
        except ValueError as e:
            raise InvalidInput(_l("choose a person and a team number")) from e
        await catalog.write(
            console.move_team_member,
            catalog,
            s.id,
            registration_id,
            team,
            now=request.app[CLOCK].now(),
            force=form.get("force") == "1",
            actor=Actor.admin_web(admin_sessions.key_of(session["sid"])),
        )
    except teams.TeamRuleError as e:
        return await _error_page(request, s, session, e, {"registration": registration_id, "team": team})
    except CatalogError as e:
        return await _error_page(request, s, session, e)
    raise web.HTTPSeeOther(f"/admin/sessions/{s.id}?moved=1")


@routes.get("/admin/rosters.xlsx")
@staff_api
async def download_all(request: web.Request, session: SignIn) -> web.Response:
    """Every session's roster in one workbook (one sheet per session with registrations)."""
    catalog = request.app[CATALOG]
    ids = [s.id for s in catalog.all_sessions(True) if s.registered or s.waitlisted]
    if not ids:
        ids = [s.id for s in catalog.all_sessions(True)][:1]
    filename, mime, data = await asyncio.to_thread(rosters.export_roster, catalog, ids, "xlsx", say=say)
    return web.Response(
        body=data,
        headers={
            "Content-Type": mime,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


@routes.get(r"/admin/sessions/{session_id}/roster.{fmt:csv|xlsx|json}")
@staff_api
async def download_roster(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    s = session_or_404(catalog, request.match_info["session_id"])
    fmt: rosters.Format = (
        "xlsx"
        if request.match_info["fmt"] == "xlsx"
        else ("json" if request.match_info["fmt"] == "json" else "csv")
    )
    filename, mime, data = await asyncio.to_thread(rosters.export_roster, catalog, [s.id], fmt, say=say)
    return web.Response(
        body=data,
        headers={
            "Content-Type": mime,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


# -- wiring ----------------------------------------------------------------------------------


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/admin" or request.path.startswith("/admin/"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )


def setup(app: web.Application) -> None:
    """Add the admin routes and their templates to the HTTP app."""
    aiohttp_jinja2.setup(
        app,
        app_key=JINJA,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        default_helpers=False,
        filters={"say": say},
    )
    app[SIGN_IN_GUARD] = SignInGuard()
    app.router.add_routes(routes)
    app.on_response_prepare.append(_security_headers)
