"""Per-update plumbing: throttling, the user's saved profile, over-long text."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from aiogram.utils.i18n import gettext as _

from bot.telegram.i18n import N_, lang_of, tr
from catalog import reminders, users
from catalog.service import Catalog
from catalog.writer import DatabaseBusy

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

MAX_MESSAGE_CHARS = 1000
SLOW_DOWN = N_("Slow down, please: try again in a moment.")


class ThrottlingMiddleware(BaseMiddleware):
    """A token bucket per user: `burst` updates at once, refilled at `rate` per second.

    Updates over the limit are dropped; the first dropped one in a row gets a
    short "slow down" (a callback is answered so its button stops spinning).
    """

    def __init__(self, rate: float = 5.0, burst: float = 30.0, max_users: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_users = max_users
        self._buckets: dict[int, tuple[float, float, bool]] = {}

    def allow(self, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """(allowed, warn): whether to process, and whether to warn about a drop."""
        now = time.monotonic() if now is None else now
        tokens, last, warned = self._buckets.get(user_id, (self.burst, now, False))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[user_id] = (tokens - 1.0, now, False)
            return True, False
        self._buckets[user_id] = (tokens, now, True)
        if len(self._buckets) > self.max_users:  # forget the idle half; cheap and rare
            for key in list(self._buckets)[: self.max_users // 2]:
                del self._buckets[key]
        return False, not warned

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        allowed, warn = self.allow(user.id)
        if allowed:
            return await handler(event, data)
        log.info("throttled user %s", user.id)
        inner = getattr(event, "event", event)
        if not (warn or isinstance(inner, CallbackQuery)):
            return None
        lang = data["lang"] if "lang" in data else lang_of(user)
        text = tr(SLOW_DOWN, lang)
        try:
            if isinstance(inner, CallbackQuery):
                # Every dropped press is answered, or its button spins: the first with the
                # notice as an alert, the rest silently.
                await inner.answer(text if warn else None, show_alert=warn)
            elif isinstance(inner, Message):
                await inner.answer(text)
        except Exception:  # a throttled reply must never crash the loop
            log.warning("could not answer a throttled update", exc_info=True)
        return None


class UserMiddleware(BaseMiddleware):
    """Loads the user's saved record (language, profile) into `data["user_record"]`, and
    lets the handlers read the catalog with one freshness check (`Catalog.checked_once`)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        catalog: Catalog = data["catalog"]
        with catalog.checked_once():  # the catalog's change counter: once per update
            record, blocked = (
                users.get_user_and_blocked(catalog.store, tg_user.id) if tg_user else (None, False)
            )
            if blocked and tg_user:
                # They write to us again, so they no longer block the bot: reminders resume.
                try:
                    await catalog.write(reminders.unblock_chat, catalog.store, tg_user.id, quick=True)
                except DatabaseBusy:  # recorded on their next update instead
                    log.info("user %s: unblock not recorded, database busy", tg_user.id)
            data["user_record"] = record
            data["lang"] = lang_of(tg_user, record.lang if record else None)
            return await handler(event, data)


class LongTextMiddleware(BaseMiddleware):
    """Refuses messages longer than `limit` characters before any handler sees them."""

    def __init__(self, limit: int = MAX_MESSAGE_CHARS) -> None:
        self.limit = limit

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message):
            text = event.text or event.caption or ""
            if len(text) > self.limit:
                await event.answer(
                    _("That message is too long ({n} characters). Please keep it under {limit}.").format(
                        n=len(text), limit=self.limit
                    )
                )
                return None
        return await handler(event, data)
