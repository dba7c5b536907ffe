"""The webhook's request handler: aiogram's `SimpleRequestHandler`, hardened at the door."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.telegram.updates import feed_safely, parse_update

log = logging.getLogger("cyder.webhook")


class WebhookHandler(SimpleRequestHandler):
    """Requests whose `X-Telegram-Bot-Api-Secret-Token` is not the secret get 401; a body
    that is not JSON, or not an update aiogram can parse, gets 400 (logged by update id
    and type only: aiogram's own path answers 500 and logs pydantic's `input_value`,
    other people's names and texts included). Updates are handled in the background, in
    `tasks` while they run, so that Telegram is answered at once.

    aiogram compares the header as text, which raises (and so answers 500) when a caller
    sends non-ASCII bytes; comparing the UTF-8 bytes refuses them like any wrong secret."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: set[asyncio.Task[None]] = set()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return True
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret_token.encode("utf-8"))

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw = await request.json(loads=bot.session.json_loads)
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("webhook: body refused, not JSON (%s)", type(e).__name__)
            return web.Response(text="Bad Request: the body is not JSON", status=400)
        update = parse_update(raw, bot, source="webhook")
        if update is None:
            return web.Response(text="Bad Request: not a Telegram update", status=400)
        if not self.handle_in_background:
            return await super().handle(request)  # answers in the response (parses again)
        task = asyncio.create_task(feed_safely(self.dispatcher, bot, update, **self.data))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response({}, dumps=bot.session.json_dumps)
