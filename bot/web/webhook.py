"""The webhook's request handler: aiogram's `SimpleRequestHandler`, hardened at the door."""

from __future__ import annotations

import hmac

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler


class WebhookHandler(SimpleRequestHandler):
    """Requests whose `X-Telegram-Bot-Api-Secret-Token` is not the secret get 401.

    aiogram compares the header as text, which raises (and so answers 500) when a caller
    sends non-ASCII bytes; comparing the UTF-8 bytes refuses them like any wrong secret."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return True
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret_token.encode("utf-8"))
