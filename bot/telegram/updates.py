"""Taking updates from Telegram so that one bad update cannot stop the rest.

aiogram's long polling parses a whole getUpdates batch at once: one update it cannot
parse fails the batch, the same batch is fetched again forever (no one is answered
again) and every retry logs the batch, other people's names, texts and e-mail
addresses included. Here the batch stays raw JSON (`GetRawUpdates`) and each update is
parsed on its own (`parse_update`): one that does not parse is confirmed and skipped,
logged by update id, type and the failing field names, never by value. The webhook
(bot/web/webhook.py) parses its body the same way and answers 400.

`Poller` is the polling loop of `cyder-bot serve`, in place of `Dispatcher.start_polling`:
it emits the Dispatcher's startup and shutdown, hands each update to the Dispatcher as
a task (at most `concurrency` at once), keeps those tasks in `tasks` (the runner lets
them finish on shutdown) and survives network errors with aiogram's backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.backoff import Backoff, BackoffConfig
from pydantic import ValidationError

from bot.telegram.resilience import where

log = logging.getLogger("cyder.updates")

BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)  # aiogram's
_NAME = re.compile(r"^[a-z_]{1,40}$")  # a Telegram field name, safe to log


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates with its result left as JSON objects, to be parsed one by one."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def update_id_of(raw: Any) -> int | None:
    value = raw.get("update_id") if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def kind_of(raw: Any) -> str:
    """The update's type ("message", "callback_query"...) as far as its keys tell."""
    if not isinstance(raw, dict):
        return type(raw).__name__
    kinds = [k for k in raw if k != "update_id" and isinstance(k, str) and _NAME.match(k)]
    return ",".join(kinds[:3]) or "?"


def _fields(error: ValidationError) -> str:
    """Where validation failed (field paths and error types), never the values."""
    out = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        parts = [str(p) if isinstance(p, int) or _NAME.match(str(p)) else "…" for p in item.get("loc", ())]
        out.append(f"{'.'.join(parts) or '(root)'}:{item.get('type', '?')}")
    more = f" (+{len(out) - 3})" if len(out) > 3 else ""
    return ", ".join(out[:3]) + more


def parse_update(raw: Any, bot: Bot, *, source: str) -> Update | None:
    """The Update, or None (logged by id, type and failing fields only) when it is not
    one aiogram can parse or route."""
    try:
        update = Update.model_validate(raw, context={"bot": bot})
        update.event_type  # noqa: B018 - raises for a type this aiogram does not know
    except ValidationError as e:
        log.warning(
            "%s: update %s (%s) skipped: it cannot be parsed (%s)",
            source,
            update_id_of(raw),
            kind_of(raw),
            _fields(e),
        )
        return None
    except UpdateTypeLookupError:
        log.warning(
            "%s: update %s (%s) skipped: unknown update type", source, update_id_of(raw), kind_of(raw)
        )
        return None
    return update


async def feed_safely(dp: Dispatcher, bot: Bot, update: Update, **data: Any) -> None:
    """Hand one update to the Dispatcher; an error escaping it is logged by update id,
    error type and code location (a message could carry what a user typed)."""
    try:
        response = await dp.feed_update(bot, update, **data)
        if isinstance(response, TelegramMethod):  # a handler's webhook-style answer
            await dp.silent_call_request(bot=bot, result=response)
    except Exception as e:  # noqa: BLE001 - one update must never stop the others
        log.error("update %s failed: %s at %s", update.update_id, type(e).__name__, where(e))


class Poller:
    """Long polling of one bot into one Dispatcher that skips updates it cannot parse."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        *,
        timeout: int = 30,
        concurrency: int = 64,
        allowed_updates: list[str] | None = None,
        backoff: BackoffConfig = BACKOFF,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.timeout = timeout
        self.concurrency = concurrency
        self.allowed_updates = dp.resolve_used_update_types() if allowed_updates is None else allowed_updates
        self.backoff = backoff
        self.tasks: set[asyncio.Task[None]] = set()  # updates being handled
        self.offset: int | None = None  # the next update id to ask for
        self.skipped = 0  # updates confirmed without handling (unparsable)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Stop fetching (the update tasks in `tasks` go on)."""
        self._stop.set()

    async def run(self, **kwargs: Any) -> None:
        """Emit the Dispatcher's startup, poll until `stop()`, then emit its shutdown.
        `kwargs` reach the handlers as in `start_polling`."""
        data = {"dispatcher": self.dp, "bots": [self.bot], **self.dp.workflow_data, **kwargs}
        await self.dp.emit_startup(bot=self.bot, **data)
        user = await self.bot.me()
        log.info("polling as @%s", user.username)
        try:
            await self._poll(data)
        finally:
            log.info("polling stopped")
            await self.dp.emit_shutdown(bot=self.bot, **data)

    async def _fetch(self) -> list[Any] | None:
        """One getUpdates, or None when `stop()` came first."""
        method = GetRawUpdates(offset=self.offset, timeout=self.timeout, allowed_updates=self.allowed_updates)
        request_timeout = int(self.bot.session.timeout + self.timeout)
        fetch = asyncio.ensure_future(self.bot(method, request_timeout=request_timeout))
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (fetch, stopped):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fut
        if not fetch.done() or fetch.cancelled():
            return None
        return fetch.result()

    async def _pause(self, backoff: Backoff) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), next(backoff))

    async def _poll(self, data: dict[str, Any]) -> None:
        backoff = Backoff(config=self.backoff)
        limit = asyncio.Semaphore(self.concurrency)
        while not self._stop.is_set():
            try:
                batch = await self._fetch()
            except Exception as e:  # noqa: BLE001 - network, 5xx, a body that is not JSON
                log.error("getUpdates failed: %s; retrying in %.1f s", type(e).__name__, backoff.next_delay)
                await self._pause(backoff)
                continue
            if batch is None:
                break
            backoff.reset()
            for raw in batch:
                update_id = update_id_of(raw)
                if update_id is not None:  # confirmed with the next getUpdates, parsed or not
                    self.offset = max(self.offset or 0, update_id + 1)
                update = parse_update(raw, self.bot, source="polling")
                if update is None:
                    self.skipped += 1
                    continue
                await limit.acquire()
                task = asyncio.create_task(self._handle(update, limit, data))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _handle(self, update: Update, limit: asyncio.Semaphore, data: dict[str, Any]) -> None:
        try:
            await feed_safely(self.dp, self.bot, update, **data)
        finally:
            limit.release()
