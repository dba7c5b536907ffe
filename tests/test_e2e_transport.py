"""The transport layer over real HTTP on 127.0.0.1: a real aiogram Bot talking to the fake
Bot API server, with the runner's retry middleware, error logging and webhook wiring.

A tiny echo Dispatcher stands in for the product's handlers here, so these tests pin down
the transport alone; tests/test_e2e.py plays the product end to end."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiohttp import web

from bot.config import Settings
from bot.demo.fake_telegram import FakeTelegram, FakeUser
from bot.serve import add_error_logging, setup_webhook
from bot.telegram.resilience import install_retries

pytestmark = pytest.mark.e2e

USER = FakeUser(id=501, first_name="Hanako")


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        if message.text == "boom":
            raise ValueError("hanako@example.jp wrote something private")
        kb = InlineKeyboardBuilder()
        kb.button(text="Press me", callback_data="press:1")
        await message.answer(f"echo {message.text}", reply_markup=kb.as_markup())

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("ok")
        await query.message.edit_text("pressed")  # type: ignore[union-attr]
        await query.message.answer_document(  # type: ignore[union-attr]
            BufferedInputFile(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "x.ics")
        )

    dp.include_router(router)
    add_error_logging(dp)
    return dp


def make_bot(tg: FakeTelegram, **retry) -> Bot:
    bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    install_retries(bot, **({"base_delay": 0.01} | retry))
    return bot


@pytest.fixture
async def polling(tg):
    bot = make_bot(tg)
    dp = echo_dispatcher()
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    yield bot
    await dp.stop_polling()
    await asyncio.wait_for(task, 5)


async def test_polling_round_trip_with_buttons_edits_and_documents(tg, polling):
    tg.user_sends_text(USER, "hello")
    sent = await tg.wait_for("sendMessage")
    assert sent.chat_id == USER.id and sent.text == "echo hello"
    tg.press(USER, sent.result, "Press")
    doc = await tg.wait_for("sendDocument")
    assert doc.files["document"][1].startswith(b"BEGIN:VCALENDAR")
    assert tg.message(USER.id, sent.result["message_id"])["text"] == "pressed"
    assert [c.text for c in tg.sent_to(USER.id)] == ["echo hello", ""]
    assert tg.calls_of("answerCallbackQuery")


async def test_handler_error_is_logged_without_personal_data_and_polling_goes_on(tg, polling, caplog):
    caplog.set_level(logging.INFO)
    tg.user_sends_text(USER, "boom")
    tg.user_sends_text(USER, "after")
    sent = await tg.wait_for("sendMessage")
    assert sent.text == "echo after"
    errors = [r.getMessage() for r in caplog.records if r.name == "cyder.runner"]
    assert any("ValueError" in m for m in errors)
    assert not any("hanako" in r.getMessage().lower() or "boom" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [429, 500, 502])
async def test_send_failures_are_retried(tg, polling, status):
    tg.fail_next(2, status, retry_after=1, methods=["sendMessage"])
    tg.user_sends_text(USER, "retry me")
    sent = await tg.wait_for("sendMessage", timeout=15)
    assert sent.text == "echo retry me"
    attempts = [c.status for c in tg.calls if c.method == "sendMessage"]
    assert attempts == [status, status, 200]


async def test_polling_survives_get_updates_server_errors(tg, polling):
    await tg.wait_for("getUpdates", since=0)
    mark = len(tg.calls)
    tg.fail_next(2, 500, methods=["getUpdates"])
    # the first long poll to succeed after the two failed ones (the one in progress
    # arrived, and was recorded, before `mark`)
    await tg.wait_for("getUpdates", since=mark, timeout=20)
    tg.user_sends_text(USER, "still there?")
    sent = await tg.wait_for("sendMessage", timeout=20)
    assert sent.text == "echo still there?"
    assert [c.status for c in tg.calls if c.method == "getUpdates"].count(500) == 2


async def test_retries_are_bounded(tg):
    bot = make_bot(tg, attempts=3)
    tg.fail_next(5, 500, methods=["sendMessage"])
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER.id, "x")
    assert [c.status for c in tg.calls] == [500, 500, 500]
    await bot.session.close()


async def test_huge_retry_after_is_not_slept(tg):
    bot = make_bot(tg, max_retry_after=5)
    tg.fail_next(1, 429, retry_after=3600, methods=["sendMessage"])
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER.id, "x")
    await bot.session.close()


async def test_flood_limits_answer_429_per_chat_and_globally():
    async with FakeTelegram(limits=True, global_rate=3) as tg:
        bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        await bot.send_message(1, "a")
        with pytest.raises(TelegramRetryAfter) as e:
            await bot.send_message(1, "b")  # 1 message per second per chat
        assert e.value.retry_after >= 1
        await bot.send_message(2, "c")
        await bot.send_message(3, "d")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(4, "e")  # 3 per second in all (set low for the test)
        await asyncio.sleep(1.05)
        await bot.send_message(4, "e")
        await bot.session.close()
        assert [c.chat_id for c in tg.calls if c.ok] == [1, 2, 3, 4]


async def test_blocked_chat_answers_403(tg):
    from aiogram.exceptions import TelegramForbiddenError

    bot = make_bot(tg)
    tg.block(7)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(7, "x")
    await bot.session.close()


async def test_get_updates_offset_confirms_and_long_poll_waits(tg):
    bot = make_bot(tg)
    first = tg.user_sends_text(USER, "one")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first["update_id"]]
    assert await bot.get_updates(offset=first["update_id"] + 1, timeout=0) == []
    mark = len(tg.calls)
    later = asyncio.create_task(bot.get_updates(offset=first["update_id"] + 1, timeout=5))
    await tg.wait_for("getUpdates", since=mark)  # the long poll reached the server
    assert not later.done()
    second = tg.user_sends_text(USER, "two")
    assert [u.update_id for u in await asyncio.wait_for(later, 5)] == [second["update_id"]]
    await bot.session.close()


# ----- webhook -----------------------------------------------------------------------


@pytest.fixture
async def webhook(tg, unused_tcp_port):
    bot = make_bot(tg)
    dp = echo_dispatcher()
    url = f"http://127.0.0.1:{unused_tcp_port}/tg/hook"
    settings = Settings(bot_token=tg.token, webhook_url=url, webhook_secret="s3cret-Token_1")
    app = web.Application()
    secret = setup_webhook(app, settings, bot, dp)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    await bot.set_webhook(url, secret_token=secret)
    yield url, secret
    await runner.cleanup()


async def test_webhook_with_the_right_secret_is_processed(tg, webhook):
    url, secret = webhook
    assert secret == "s3cret-Token_1" and tg.webhook_secret == secret
    tg.user_sends_text(USER, "via webhook")
    sent = await tg.wait_for("sendMessage")
    assert sent.text == "echo via webhook"
    assert tg.webhook_deliveries and all(s == 200 for _, s in tg.webhook_deliveries)


@pytest.mark.parametrize("secret", [None, "", "wrong", "s3cret-Token_", "s3cret-Token_1é", "秘密の合言葉"])
async def test_webhook_with_a_wrong_or_missing_secret_is_rejected(tg, webhook, secret):
    url, _ = webhook
    update = {
        "message": {"message_id": 1, "date": 0, "chat": USER.chat(), "from": USER.as_dict(), "text": "forged"}
    }
    status = await tg.post_update(update, url=url, secret=secret)
    assert status == 401  # non-ASCII headers too (aiogram's text comparison raised: 500)
    tg.user_sends_text(USER, "genuine")  # a later update, delivered with the secret
    await tg.wait_for("sendMessage")
    assert [c.text for c in tg.calls_of("sendMessage")] == ["echo genuine"]


async def test_generated_secret_when_none_is_configured(tg):
    from bot.serve import webhook_secret

    settings = Settings(webhook_url="https://example.invalid/hook")
    a, b = webhook_secret(settings), webhook_secret(settings)
    assert a != b and len(a) >= 32


async def test_fake_rejects_a_wrong_token(tg):
    async with aiohttp.ClientSession() as http, http.post(f"{tg.base_url}/bot1:nope/getMe") as resp:
        assert resp.status == 401


# ----- runner.serve in-process: background jobs and graceful shutdown ------------------

events: list[str] = []


async def background_job(outbox, settings) -> None:
    events.append(f"started {outbox.catalog.fiscal_year} {settings.http_port}")
    try:
        await asyncio.Event().wait()
    finally:
        events.append("cancelled")


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_serve_runs_background_jobs_and_finishes_updates_before_stopping(
    tg, tmp_path, unused_tcp_port, monkeypatch, mode
):
    import datetime as dt

    from bot import serve as runner
    from bot.telegram import lifecycle
    from bot.telegram.outbox import Outboxes

    started = asyncio.Event()

    def slow_dispatcher(settings, catalog, clock, **kwargs):
        # what serve needs of create_dispatcher's Dispatcher: outboxes, and the lifecycle
        dp = Dispatcher(outboxes=Outboxes(catalog, clock))
        lifecycle.install(dp)
        router = Router()

        @router.message()
        async def slow(message: Message) -> None:
            started.set()
            await asyncio.sleep(1.0)
            await message.answer("finished")

        dp.include_router(router)
        return dp

    monkeypatch.setattr(runner, "build_dispatcher", slow_dispatcher)
    monkeypatch.setattr(runner, "BACKGROUND_TASKS", [("background_job", background_job)])
    events.clear()
    hook = f"http://127.0.0.1:{unused_tcp_port}/tg/hook" if mode == "webhook" else None
    settings = Settings(
        bot_token=tg.token,
        telegram_api_base=tg.base_url,
        db_path=tmp_path / "c.db",
        today=dt.date(2024, 6, 1),
        http_port=unused_tcp_port,
        webhook_url=hook,
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(settings, stop=stop, install_signals=False))
    await tg.wait_for("setWebhook" if hook else "getUpdates", since=0, timeout=30)
    assert events == [f"started 2024 {unused_tcp_port}"]
    tg.user_sends_text(USER, "take your time")
    await asyncio.wait_for(started.wait(), 10)
    stop.set()  # as SIGTERM does, while the handler is still working
    await asyncio.wait_for(serving, 20)
    assert [c.text for c in tg.calls_of("sendMessage")] == ["finished"]
    assert events[-1] == "cancelled"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            await http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz")
