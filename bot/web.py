"""The aiohttp application of `cyder-bot serve`: health, feeds, admin, webhook.

Feature modules listed in `WEB_MODULES` add their routes with `setup(app)`; they
read shared objects through the typed `web.AppKey`s below (never string keys).
"""

from __future__ import annotations

import importlib

from aiohttp import web

from bot.config import Settings
from catalog.clock import Clock
from catalog.service import Catalog

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)
CLOCK = web.AppKey("clock", Clock)
# The aiogram Bot and Dispatcher, when the process runs one (None in feed-only use).
BOT = web.AppKey("bot", object)
DISPATCHER = web.AppKey("dispatcher", object)

WEB_MODULES = ["bot.feeds", "bot.admin_web"]


async def healthz(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    return web.json_response({"ok": True, "fiscal_year": catalog.fiscal_year,
                              "sessions": len(catalog.all_sessions())})


def create_web_app(settings: Settings, catalog: Catalog, clock: Clock) -> web.Application:
    """The HTTP app with every feature module's routes. Webhook routes are added by the
    bot runner (`bot.runner`) when WEBHOOK_URL is set."""
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app[CLOCK] = clock
    app[BOT] = None
    app[DISPATCHER] = None
    app.router.add_get("/healthz", healthz)
    for name in WEB_MODULES:
        importlib.import_module(name).setup(app)
    return app
