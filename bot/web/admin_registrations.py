"""The admin page's registration console: search across sessions, a registration's page
with its history, and the staff changes (cancel with a reason, move to another session,
promote from the waitlist, edit the details).

Sign-in, CSRF and rendering are the admin page's (`bot.web.admin`): every POST goes
through its `checked_post`. The domain work is `catalog.console` (changes through `Catalog.write`);
each change queues its chat messages and mail in the notification outbox, and the
running bot's sender sends them (woken at once when this process runs the bot). Each
change is logged as "admin-web:<the signed-in browser's key>".
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.telegram.i18n import say
from bot.web.admin import SignIn, csrf_token, render, staff_page, staff_post, wake_sender
from bot.web.keys import CATALOG, CLOCK
from catalog import admin_sessions, audit, console, teams
from catalog.audit import Actor
from catalog.console import Change
from catalog.errors import CatalogError, NotFound
from catalog.registrations import Registration
from catalog.service import Catalog

routes = web.RouteTableDef()
RESULTS_LIMIT = 500
DONE = {
    "cancelled": "取り消しました。/ Cancelled.",
    "moved": "開催回を変更しました。/ Moved to the other session.",
    "promoted": "キャンセル待ちから繰り上げました。/ Promoted from the waitlist.",
    "edited": "修正しました。/ Details saved.",
    "unchanged": "変更はありませんでした。/ Nothing was changed.",
}


def _actor(session: dict[str, Any]) -> Actor:
    return Actor.admin_web(admin_sessions.key_of(session["sid"]))


def _registration_or_404(catalog: Catalog, registration_id: int) -> Registration:
    try:
        return console.registration(catalog, registration_id)
    except NotFound as e:
        raise web.HTTPNotFound(text=say(e, "en"), content_type="text/plain") from e


def _labels(catalog: Catalog, regs: list[Registration]) -> dict[str, str]:
    """Session id -> `A 2024年7月9日(火) 東京都 東京` for the sessions of `regs`."""
    out = {}
    for sid in {r.session_id for r in regs}:
        try:
            s = catalog.session(sid)
        except NotFound:  # a session of another fiscal year
            out[sid] = sid
            continue
        out[sid] = f"{s.course} {s.dates_text('ja')} {s.prefecture} {s.city}"
    return out


@routes.get("/admin/registrations")
@staff_page
async def search_page(request: web.Request, session: SignIn) -> web.Response:
    catalog = request.app[CATALOG]
    text = request.query.get("q", "").strip()
    session_id = request.query.get("session", "").strip()
    active = request.query.get("active") == "1"
    error = None
    found: list[Registration] = []
    recent: list[audit.Entry] = []
    if text or session_id:
        try:
            found = await asyncio.to_thread(
                console.search,
                catalog,
                text,
                session_id=session_id or None,
                include_cancelled=not active,
                limit=RESULTS_LIMIT + 1,
            )
        except CatalogError as e:
            error = say(e, "ja") + " / " + say(e, "en")
    else:
        recent = await asyncio.to_thread(audit.recent, catalog.store, limit=50)
    return render(
        request,
        "admin_registrations.html",
        {
            "q": text,
            "session_id": session_id,
            "active": active,
            "error": error,
            "results": found[:RESULTS_LIMIT],
            "more": len(found) > RESULTS_LIMIT,
            "searched": bool(text or session_id),
            "labels": _labels(catalog, found),
            "recent": recent,
            "csrf": csrf_token(request, session["sid"]),
        },
        status=400 if error else 200,
    )


def _detail(catalog: Catalog, reg: Registration, today: Any) -> dict[str, Any]:
    current = reg.session_id
    choices = [s for s in catalog.all_sessions() if s.id != current and s.is_open(today)]
    team = teams.team_of(catalog, reg.id)
    return {
        "r": reg,
        "history": audit.for_registration(catalog.store, reg.id),
        "label": _labels(catalog, [reg]).get(current, current),
        "choices": choices,
        "team": team,
    }


async def _detail_page(
    request: web.Request,
    session: dict[str, Any],
    registration_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    catalog = request.app[CATALOG]
    reg = _registration_or_404(catalog, registration_id)
    view = await asyncio.to_thread(_detail, catalog, reg, request.app[CLOCK].today())
    done = request.query.get("done", "")
    chats = request.query.get("chats", "")
    return render(
        request,
        "admin_registration.html",
        {
            **view,
            "error": error,
            "form": form or {},
            "done": DONE.get(done) if error is None else None,
            "chats": int(chats) if chats.isdigit() else 0,
            "csrf": csrf_token(request, session["sid"]),
        },
        status=status,
    )


@routes.get(r"/admin/registrations/{registration_id:\d+}")
@staff_page
async def registration_page(request: web.Request, session: SignIn) -> web.Response:
    return await _detail_page(request, session, int(request.match_info["registration_id"]))


async def _apply(request: web.Request, session: SignIn, action: str) -> web.Response:
    """One staff change from a POST (its CSRF token checked): run it (its messages queued
    with it), wake the sender, and show the registration again (303), or the refusal (400)."""
    catalog = request.app[CATALOG]
    registration_id = int(request.match_info["registration_id"])
    _registration_or_404(catalog, registration_id)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf"}
    clock = request.app[CLOCK]
    actor = _actor(session)
    try:
        change: Change
        if action == "cancel":
            change = await catalog.write(
                console.staff_cancel,
                catalog,
                registration_id,
                reason=form.get("reason", ""),
                actor=actor,
                today=clock.today(),
                now=clock.now(),
            )
        elif action == "move":
            change = await catalog.write(
                console.move,
                catalog,
                registration_id,
                form.get("session", "").strip(),
                actor=actor,
                today=clock.today(),
                now=clock.now(),
                waitlist=form.get("waitlist") == "1",
            )
        elif action == "promote":
            change = await catalog.write(
                console.promote, catalog, registration_id, actor=actor, today=clock.today(), now=clock.now()
            )
        else:
            change = await catalog.write(
                console.edit,
                catalog,
                registration_id,
                actor=actor,
                now=clock.now(),
                name=form.get("name"),
                organisation=form.get("organisation"),
                department=form.get("department"),
                email=form.get("email"),
            )
    except CatalogError as e:
        return await _detail_page(
            request,
            session,
            registration_id,
            error=say(e, "ja") + " / " + say(e, "en"),
            form=form,
            status=400,
        )
    wake_sender(request)  # its chat messages and mail now, not at the sender's next poll
    done = {"cancel": "cancelled", "move": "moved", "promote": "promoted"}.get(
        action, "edited" if change.changed else "unchanged"
    )
    query: dict[str, Any] = {"done": done}
    if change.chats:
        query["chats"] = len(change.chats)
    raise web.HTTPSeeOther(f"/admin/registrations/{registration_id}?{urlencode(query)}")


@routes.post(r"/admin/registrations/{registration_id:\d+}/{action:cancel|move|promote|edit}")
@staff_post
async def change(request: web.Request, session: SignIn) -> web.Response:
    return await _apply(request, session, request.match_info["action"])


def setup(app: web.Application) -> None:
    """Add the registration console's routes (after `bot.web.admin.setup`: its templates)."""
    app.router.add_routes(routes)
