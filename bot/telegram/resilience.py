"""Telegram-facing resilience shared by the factory and the runner.

- `RetryMiddleware`: the one retry layer for every Bot API request of a bot.
- `retry_layer`: that layer of a bot (installed once, shared by every sender).
- `where`: an exception's code location, for logs that must carry no personal data.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger("cyder.telegram")

# Set by a sender that paces its requests (the Outbox): awaited before each retry, so a
# retried message takes a new place in the queue instead of jumping it.
PACE: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "cyder_pace", default=None
)

_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)


def flood_wait(exc: BaseException) -> float | None:
    """Seconds to wait when `exc` is Telegram's flood control (429), else None.

    aiogram raises TelegramRetryAfter only when the answer carries `retry_after`; a 429
    without it arrives as a bare TelegramAPIError whose description Telegram starts with
    "Too Many Requests". Then the wait is read from the text, or 0 (use the default)."""
    if isinstance(exc, TelegramRetryAfter):
        return float(exc.retry_after)
    if type(exc) is TelegramAPIError and exc.message.lower().startswith("too many requests"):
        found = _RETRY_AFTER_TEXT.search(exc.message)
        return float(found.group(1)) if found else 0.0
    return None


def is_passing(exc: BaseException) -> bool:
    """A failure that may pass on its own: flood control, 5xx, the network."""
    return isinstance(exc, TelegramServerError | TelegramNetworkError) or flood_wait(exc) is not None


def error_code(exc: BaseException) -> str:
    """What went wrong, as a code for logs and the outbox (never the message text)."""
    if flood_wait(exc) is not None:
        return "flood_control"
    return type(exc).__name__


def _chat_of(method: TelegramMethod[Any]) -> Any:
    return getattr(method, "chat_id", None)


class RetryMiddleware(BaseRequestMiddleware):
    """The one retry layer: every Bot API request of the bot passes through it once.

    - Flood control (429): wait `retry_after` (`default_retry_after` when the answer has
      none), and every other request of the bot waits too (Telegram's limits are the
      bot's, not one sender's). Up to `flood_attempts` waits, each at most
      `max_retry_after` s (a longer one is not slept: the request fails at once). These
      waits do not use up the budget for server errors.
    - 5xx and network errors: up to `attempts` tries in all, backing off exponentially
      (`base_delay` doubling up to `max_delay`) with full jitter.
    - What finally fails is logged with the method and the chat id (no texts) and
      raised; the bot's listeners (`on_recovery`) are called when a request succeeds
      again after such a failure, so the senders can follow up at once.

    getUpdates is left to the polling loop, which has its own backoff."""

    def __init__(
        self,
        attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 10.0,
        max_retry_after: float = 120.0,
        flood_attempts: int = 10,
        default_retry_after: float = 3.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.flood_attempts = flood_attempts
        self.default_retry_after = default_retry_after
        self.sleep = sleep
        self.jitter = jitter
        self.retried_429 = 0  # flood-control answers seen (and waited out)
        self.retried = 0  # server and network errors retried
        self.gave_up = 0  # requests that failed after every retry
        self._resume_at = 0.0
        self._failing = False
        self._listeners: list[Callable[[], Any]] = []

    def on_recovery(self, listener: Callable[[], Any]) -> None:
        """Call `listener()` when a request succeeds after one failed for good."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def paused_for(self) -> float:
        """Seconds left of the current flood-control pause (0 when none)."""
        return max(0.0, self._resume_at - time.monotonic())

    async def wait_pause(self) -> None:
        """Wait until no flood-control pause is in force."""
        while (delay := self.paused_for()) > 0:
            await asyncio.sleep(delay)

    def backoff(self, failures: int) -> float:
        """Seconds before try `failures + 1` after a server or network error."""
        return self.jitter() * min(self.max_delay, self.base_delay * 2 ** (failures - 1))

    def _give_up(self, name: str, method: TelegramMethod[Any], exc: BaseException, tries: int) -> None:
        self.gave_up += 1
        self._failing = True
        log.warning(
            "%s to chat %s failed after %d request(s): %s", name, _chat_of(method), tries, error_code(exc)
        )

    def _recovered(self) -> None:
        self._failing = False
        log.info("Telegram answers again")
        for listener in list(self._listeners):
            try:
                listener()
            except Exception as e:  # noqa: BLE001 - a listener must not break a request
                log.error("recovery listener failed: %s at %s", type(e).__name__, where(e))

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:  # polling has its own backoff
            return await make_request(bot, method)
        name = method.__api_method__
        errors = floods = tries = 0
        while True:
            await self.wait_pause()
            if tries:
                pace = PACE.get()
                if pace is not None:
                    await pace()
            tries += 1
            try:
                response = await make_request(bot, method)
            except TelegramAPIError as e:
                wait = flood_wait(e)
                if wait is not None:
                    floods += 1
                    self.retried_429 += 1
                    wait = wait or self.default_retry_after
                    if floods > self.flood_attempts or wait > self.max_retry_after:
                        self._give_up(name, method, e, tries)
                        raise
                    self._resume_at = max(self._resume_at, time.monotonic() + wait)
                    log.warning("%s: flood control, every request waits %.1fs", name, wait)
                    continue
                if not isinstance(e, TelegramServerError | TelegramNetworkError):
                    raise  # a refusal (400, 403...): trying again would not change it
                errors += 1
                if errors >= self.attempts:
                    self._give_up(name, method, e, tries)
                    raise
                self.retried += 1
                delay = self.backoff(errors)
                log.warning("%s: %s, retry %d in %.2fs", name, type(e).__name__, errors, delay)
                await self.sleep(delay)
                continue
            if self._failing:
                self._recovered()
            return response


def retry_layer(bot: Bot, **kwargs: Any) -> RetryMiddleware:
    """The bot's retry layer, installed on its session the first time it is asked for.
    Every sender of the bot (handlers, the Outbox, the notification sender) shares it,
    so there is one budget per request and one flood-control pause for the bot."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, RetryMiddleware):
            return middleware
    layer = RetryMiddleware(**kwargs)
    bot.session.middleware(layer)
    return layer


def install_retries(bot: Bot, **kwargs: Any) -> RetryMiddleware:
    """Install the retry layer with these settings (replacing one installed before)."""
    for middleware in list(bot.session.middleware):
        if isinstance(middleware, RetryMiddleware):
            bot.session.middleware.unregister(middleware)
    layer = RetryMiddleware(**kwargs)
    bot.session.middleware(layer)
    return layer


def where(exc: BaseException) -> str:
    """file:line where `exc` was raised (no message: messages may hold user text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
