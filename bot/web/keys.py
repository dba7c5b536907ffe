"""The typed keys under which the HTTP app holds its shared objects (never string keys)."""

from __future__ import annotations

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
