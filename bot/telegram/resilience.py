"""Telegram-facing resilience shared by the factory and the runner.

- `RetryMiddleware`: retry Bot API requests on flood control, 5xx and network errors.
- `where`: an exception's code location, for logs that must carry no personal data.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger("cyder.telegram")


class RetryMiddleware(BaseRequestMiddleware):
    """Retry a Bot API request on flood control (sleep `retry_after`), on 5xx and on
    network errors (bounded exponential backoff). getUpdates is left to the polling
    loop, which has its own backoff."""

    def __init__(self, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 30.0,
                 max_retry_after: float = 120.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.sleep = sleep

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:  # polling has its own backoff
            return await make_request(bot, method)
        name = method.__api_method__
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as e:
                if attempt == self.attempts or e.retry_after > self.max_retry_after:
                    raise
                log.warning("%s: flood control, retry %d after %ss", name, attempt,
                            e.retry_after)
                await self.sleep(e.retry_after)
            except (TelegramServerError, TelegramNetworkError) as e:
                if attempt == self.attempts:
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                log.warning("%s: %s, retry %d in %.1fs", name, type(e).__name__, attempt, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def install_retries(bot: Bot, **kwargs: Any) -> RetryMiddleware:
    middleware = RetryMiddleware(**kwargs)
    bot.session.middleware(middleware)
    return middleware


def where(exc: BaseException) -> str:
    """file:line where `exc` was raised (no message: messages may hold user text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
