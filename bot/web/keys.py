"""The typed keys under which the HTTP app holds its shared objects (never string keys)."""

from __future__ import annotations

from typing import Protocol

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


class Sender(Protocol):
    """What the web needs of the notification outbox's sender (`bot.telegram.notify.Notifier`)."""

    def wake(self) -> None: ...


# The outbox's sender of the bot this process runs (None without one): a staff change
# made on the web wakes it, so the mail it queued goes now, not at the sender's next poll.
NOTIFIER: web.AppKey[Sender | None] = web.AppKey("notifier")
