"""GET /healthz on the aiohttp app that `cyder-bot serve` runs (a real loopback server)."""

from __future__ import annotations

import datetime as dt

import aiohttp
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.runtime import clock_for, open_catalog
from bot.web.app import create_web_app
from bot.web.keys import BOT, DISPATCHER


async def test_healthz_reports_the_loaded_year(tmp_path):
    settings = Settings(db_path=tmp_path / "c.db", today=dt.date(2024, 6, 1))
    clock = clock_for(settings)
    app = create_web_app(settings, open_catalog(settings, clock), clock)
    assert app[BOT] is None and app[DISPATCHER] is None
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/healthz")) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.post(server.make_url("/healthz")) as resp:
            assert resp.status == 405
    assert body == {"ok": True, "fiscal_year": 2024, "sessions": 100}
