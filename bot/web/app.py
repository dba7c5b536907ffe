"""The aiohttp application of `cyder-bot serve`: health, feeds, admin, webhook.

Feature modules add their routes with `setup(app)`; they read shared objects through
the typed keys in `bot.web.keys`.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.config import Settings
from bot.telegram.i18n import say
from bot.web import admin, admin_registrations, admin_schedule, calendar_page, feeds
from bot.web.keys import BOT, CATALOG, CLOCK, DISPATCHER, NOTIFIER, SETTINGS
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.writer import DatabaseBusy


async def healthz(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    return web.json_response(
        {"ok": True, "fiscal_year": catalog.fiscal_year, "sessions": len(catalog.all_sessions())}
    )


@web.middleware
async def busy_database(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write that found the database locked past the writer's budget (nothing saved):
    503 with Retry-After and a plain ja/en sentence, not a 500 with a traceback."""
    try:
        return await handler(request)
    except DatabaseBusy as e:
        return web.Response(
            status=503,
            text=say(e.said, "ja") + "\n" + say(e.said, "en") + "\n",
            headers={"Retry-After": "30"},
        )


def create_web_app(settings: Settings, catalog: Catalog, clock: Clock) -> web.Application:
    """The HTTP app with every feature module's routes. Webhook routes are added by
    `bot.serve` when WEBHOOK_URL is set."""
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[busy_database])
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app[CLOCK] = clock
    app[BOT] = None
    app[DISPATCHER] = None
    app[NOTIFIER] = None
    app.router.add_get("/healthz", healthz)
    for module in (feeds, calendar_page, admin, admin_registrations, admin_schedule):
        module.setup(app)
    return app
