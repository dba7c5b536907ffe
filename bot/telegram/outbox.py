"""Outgoing messages at Telegram's pace.

Telegram allows a bot about 30 messages a second overall and one a second per
chat; past that it answers 429 with `retry_after`. The `Outbox` spaces messages
with aiolimiter (no bursts: about one message every 1/rate seconds, so no one-second
window ever holds more than 30), remembers chats that blocked the bot (403 →
`blocked_chats`, never tried again), and can show staff the progress of a broadcast
by editing one message at most every couple of seconds.

It does not retry by itself: the bot's one retry layer (`resilience.RetryMiddleware`,
shared with the handlers) waits out every 429 — all senders pause, not just the one
that was refused — and retries 5xx and network errors; a retried message goes back
through the Outbox's pacing first (`resilience.PACE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
)
from aiolimiter import AsyncLimiter

from bot.telegram.resilience import PACE, error_code, retry_layer
from catalog import reminders as notes
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.writer import DatabaseBusy

log = logging.getLogger(__name__)

# A hair under Telegram's 30/s: with the bucket's 1.1-message slack no one-second window
# holds more than 30 (29 drained + 1.1 held), the most Telegram accepts.
DEFAULT_RATE = 29.0
OVERALL_SLACK = 1.1
# One message per chat per second, plus a margin for network jitter (a request that
# leaves exactly 1.000 s after the last may arrive 0.999 s after it).
PER_CHAT_PERIOD = 1.05
PROGRESS_EVERY = 2.0

SENT, FAILED, BLOCKED = "sent", "failed", "blocked"


@dataclass
class Summary:
    """How a broadcast went."""

    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retried_429: int = 0
    total: int = 0
    results: dict[int, str] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.blocked

    def count(self, chat_id: int, result: str) -> None:
        self.results[chat_id] = result
        if result == SENT:
            self.sent += 1
        elif result == BLOCKED:
            self.blocked += 1
        else:
            self.failed += 1


@dataclass(frozen=True)
class Progress:
    """The staff message to edit while a broadcast runs, and how to word it."""

    chat_id: int
    message_id: int
    render: Callable[[Summary], str]


class Outbox:
    """Sends through an aiogram `Bot` within Telegram's limits. One per bot process."""

    def __init__(
        self,
        bot: Bot,
        catalog: Catalog,
        clock: Clock,
        *,
        rate: float = DEFAULT_RATE,
        per_chat_period: float = PER_CHAT_PERIOD,
        progress_every: float = PROGRESS_EVERY,
        workers: int = 16,
    ) -> None:
        self.bot = bot
        self.catalog = catalog
        self.clock = clock
        # A leaky bucket that drains `rate` per second and holds 1.1 messages: no bursts (two
        # sends are at least 0.9/rate apart, so no one-second window holds more than rate+1),
        # yet a timer that fires a millisecond late does not slow the whole broadcast down.
        self._overall = AsyncLimiter(OVERALL_SLACK, OVERALL_SLACK / rate)
        self.rate = rate
        self._per_chat_period = per_chat_period
        self._chats: dict[int, AsyncLimiter] = {}
        self.retries = retry_layer(bot)
        self.progress_every = progress_every
        self.workers = workers

    @property
    def retried_429(self) -> int:
        """Flood-control answers the bot's retry layer has waited out so far."""
        return self.retries.retried_429

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if len(self._chats) > 10_000:  # idle limiters are full again; drop them
                self._chats = {k: v for k, v in self._chats.items() if not v.has_capacity()}
            limiter = self._chats[chat_id] = AsyncLimiter(1, self._per_chat_period)
        return limiter

    async def _slot(self, chat_id: int) -> None:
        """Wait for this chat's turn within the limits (and out of any 429 pause)."""
        await self.retries.wait_pause()
        # Overall slot first, then the chat's: the message leaves right after the
        # chat's limiter lets it go, so one chat never sees two within a second.
        async with self._overall, self._chat_limiter(chat_id):
            pass
        await self.retries.wait_pause()  # a 429 seen while this one waited its turn

    async def call(self, chat_id: int, make: Callable[[], Any]) -> Any:
        """Run one Bot API call aimed at `chat_id` within the limits. The bot's retry
        layer retries it (each retry waits for a new turn here); raises what finally
        fails, TelegramForbiddenError included."""
        await self._slot(chat_id)
        token = PACE.set(lambda: self._slot(chat_id))
        try:
            return await make()
        finally:
            PACE.reset(token)

    async def send(self, chat_id: int, text: str, **kwargs: Any) -> str:
        """Send one text message; returns "sent", "failed" or "blocked" (never raises for a
        chat-specific failure). Chats that blocked the bot are not tried."""
        if await asyncio.to_thread(notes.is_blocked, self.catalog.store, chat_id):
            return BLOCKED
        return await self._send(chat_id, text, **kwargs)

    async def _send(self, chat_id: int, text: str, **kwargs: Any) -> str:
        try:
            await self.call(chat_id, lambda: self.bot.send_message(chat_id, text, **kwargs))
        except TelegramForbiddenError:
            try:
                await self.catalog.write(notes.block_chat, self.catalog.store, chat_id, self.clock.now())
            except DatabaseBusy:
                log.warning("chat %s blocked the bot; not recorded, database busy", chat_id)
            log.info("chat %s blocked the bot; recorded", chat_id)
            return BLOCKED
        except TelegramAPIError as e:
            log.warning("sending to %s failed: %s", chat_id, error_code(e))
            return FAILED
        return SENT

    async def edit(self, chat_id: int, message_id: int, text: str) -> bool:
        """Edit a message (progress reports); False if Telegram refused."""
        try:
            await self.call(
                chat_id, lambda: self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
            )
        except TelegramBadRequest as e:  # "message is not modified" and friends
            return "not modified" in str(e)
        except TelegramAPIError:
            return False
        return True

    async def broadcast(
        self,
        messages: Iterable[tuple[int, str]],
        *,
        progress: Progress | None = None,
        on_result: Callable[[int, str], Any] | None = None,
    ) -> Summary:
        """Send every (chat_id, text) once, in order, within the limits.

        `on_result(chat_id, result)` runs after each message (e.g. to mark a reminder);
        `progress` is edited at most every `progress_every` seconds and once at the end.
        """
        items = list(messages)
        summary = Summary(total=len(items))
        blocked = await asyncio.to_thread(notes.blocked_chats, self.catalog.store)
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        start_429 = self.retried_429

        async def worker() -> None:
            while True:
                try:
                    chat_id, text = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if chat_id in blocked:
                    result = BLOCKED
                else:
                    result = await self._send(chat_id, text)
                summary.count(chat_id, result)
                if on_result is not None:
                    outcome = on_result(chat_id, result)
                    if asyncio.iscoroutine(outcome):
                        await outcome

        async def reporter() -> None:
            assert progress is not None
            shown = -1
            while True:
                await asyncio.sleep(self.progress_every)
                # Near the end, leave the staff chat's one-per-second slot to the final edit.
                nearly_done = (summary.total - summary.done) / self.rate < self._per_chat_period
                if summary.done != shown and not nearly_done:
                    shown = summary.done
                    await self.edit(progress.chat_id, progress.message_id, progress.render(summary))

        report = asyncio.create_task(reporter()) if progress is not None else None
        try:
            await asyncio.gather(*(worker() for _ in range(min(self.workers, len(items)) or 1)))
        finally:
            if report is not None:
                report.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await report
        summary.retried_429 = self.retried_429 - start_429
        if progress is not None:
            await self.edit(progress.chat_id, progress.message_id, progress.render(summary))
        return summary


class Outboxes:
    """One `Outbox` per bot served by a Dispatcher, so reminders, broadcasts and /remind
    share that bot's limits. Handlers receive it as `outboxes` (Dispatcher workflow data)."""

    def __init__(self, catalog: Catalog, clock: Clock, **options: Any) -> None:
        self.catalog = catalog
        self.clock = clock
        self.options = options
        self._by_token: dict[str, Outbox] = {}

    def for_bot(self, bot: Bot) -> Outbox:
        """The Outbox of `bot` (Telegram counts its limits per bot token)."""
        box = self._by_token.get(bot.token)
        if box is None:
            box = self._by_token[bot.token] = Outbox(bot, self.catalog, self.clock, **self.options)
        return box
