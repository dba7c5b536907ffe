"""One retry layer with one budget (issue 9 §4), through the fake Bot API on 127.0.0.1:
requests are counted per call, 429s (with and without retry_after) are waited out
without eating the 5xx budget, and what finally fails is logged by method and chat id."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramServerError

from bot.demo.fake_telegram import FakeTelegram
from bot.telegram.outbox import Outbox
from bot.telegram.resilience import RetryMiddleware, install_retries, retry_layer
from catalog.clock import Clock
from tests.util_catalog import make_catalog

CHAT = 501


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg):
    b = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    yield b
    await b.session.close()


def statuses(tg: FakeTelegram, method: str = "sendMessage") -> list[int]:
    return [c.status for c in tg.calls if c.method == method]


async def test_one_failing_send_through_the_outbox_is_one_budget_not_twenty_five(tg, bot, tmp_path):
    install_retries(bot, attempts=4, base_delay=0.001)
    outbox = Outbox(bot, make_catalog(tmp_path / "c.db"), Clock())
    tg.fail_next(100, 502, methods=["sendMessage"])
    assert await outbox.send(CHAT, "hello") == "failed"
    assert statuses(tg) == [502] * 4


async def test_a_429_without_retry_after_is_waited_out_and_sent(tg, bot):
    install_retries(bot, default_retry_after=0.05)
    tg.fail_next(1, 429, retry_after=None, methods=["sendMessage"])
    message = await bot.send_message(CHAT, "hello")
    assert message.text == "hello"
    assert statuses(tg) == [429, 200]


async def test_429s_do_not_use_up_the_budget_for_server_errors(tg, bot):
    layer = install_retries(bot, attempts=3, base_delay=0.001, default_retry_after=0.05)
    tg.fail_next(1, 429, retry_after=1, methods=["sendMessage"])
    tg.fail_next(2, 429, retry_after=None, methods=["sendMessage"])
    tg.fail_next(2, 500, methods=["sendMessage"])
    await bot.send_message(CHAT, "hello")
    assert statuses(tg) == [429, 429, 429, 500, 500, 200]
    assert (layer.retried_429, layer.retried, layer.gave_up) == (3, 2, 0)


async def test_flood_control_pauses_every_request_of_the_bot(tg, bot):
    install_retries(bot)
    tg.fail_next(1, 429, retry_after=1, methods=["sendMessage"])
    first = asyncio.create_task(bot.send_message(CHAT, "refused once"))
    while not [c for c in tg.calls if c.status == 429]:
        await asyncio.sleep(0.01)
    refused = next(c for c in tg.calls if c.status == 429)
    await bot.send_message(CHAT + 1, "someone else")  # waits out the same pause
    await first
    other = next(c for c in tg.calls if c.chat_id == CHAT + 1)
    assert other.at - refused.at >= 0.95


async def test_what_finally_fails_is_logged_by_method_and_chat_without_text(tg, bot, caplog):
    install_retries(bot, attempts=2, base_delay=0.001)
    tg.fail_next(2, 503, methods=["sendMessage"])
    with caplog.at_level(logging.INFO, logger="cyder.telegram"), pytest.raises(TelegramServerError):
        await bot.send_message(CHAT, "private words hanako@example.jp")
    assert f"sendMessage to chat {CHAT} failed after 2 request(s): TelegramServerError" in caplog.text
    assert "hanako" not in caplog.text and "private" not in caplog.text


async def test_recovery_listeners_hear_when_telegram_answers_again(tg, bot):
    layer = install_retries(bot, attempts=1)
    heard: list[str] = []
    layer.on_recovery(lambda: heard.append("back"))
    tg.fail_next(1, 500, methods=["sendMessage"])
    with pytest.raises(TelegramServerError):
        await bot.send_message(CHAT, "lost")
    assert heard == []
    await bot.send_message(CHAT, "works again")
    await bot.send_message(CHAT, "and again")
    assert heard == ["back"]  # once per outage


async def test_the_layer_is_installed_once_and_shared(bot, tmp_path):
    first = retry_layer(bot)
    assert retry_layer(bot) is first
    assert Outbox(bot, make_catalog(tmp_path / "c.db"), Clock()).retries is first
    assert [m for m in bot.session.middleware if isinstance(m, RetryMiddleware)] == [first]
    replaced = install_retries(bot, attempts=2)
    assert [m for m in bot.session.middleware if isinstance(m, RetryMiddleware)] == [replaced]
