"""An update aiogram cannot parse is skipped, never stalls polling, never answers 500 on
the webhook, and never puts anyone's name, text or e-mail address into the logs (issue 9
§2). Real HTTP on 127.0.0.1 against the fake Bot API server."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.config import Settings
from bot.demo.fake_telegram import FakeTelegram, FakeUser
from bot.serve import setup_webhook
from bot.telegram.updates import Poller
from tests.test_e2e_transport import echo_dispatcher, make_bot

USER = FakeUser(id=8001, first_name="Midori", language_code="en")
# What other people sent: none of it may reach a log line.
PRIVATE = ("Kenji", "Secretname", "kenji.secret@example.jp", "住所は秘密です", "Midori")


def unparsable(update_id: int | None = None) -> dict[str, Any]:
    """A message whose chat lacks its type: aiogram's Update does not parse it."""
    update: dict[str, Any] = {
        "message": {
            "message_id": 77,
            "date": 1717200000,
            "chat": {"id": 8002, "first_name": "Kenji", "last_name": "Secretname"},
            "from": {"id": 8002, "is_bot": False, "first_name": "Kenji", "last_name": "Secretname"},
            "text": "kenji.secret@example.jp 住所は秘密です",
        }
    }
    if update_id is not None:
        update["update_id"] = update_id
    return update


UNKNOWN_TYPE = {
    "business_future_thing": {"from": {"id": 8003, "first_name": "Kenji"}, "text": "kenji.secret@example.jp"}
}


def assert_nothing_private(caplog: pytest.LogCaptureFixture) -> None:
    logs = caplog.text + "".join(str(r.args) for r in caplog.records)
    for private in PRIVATE:
        assert private not in logs, f"{private!r} leaked into the logs"
    assert "input_value" not in logs and "Traceback" not in logs


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


async def test_serve_skips_an_unparsable_update_and_answers_the_next(
    tg: FakeTelegram, tmp_path: Path, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    from bot import serve as runner

    caplog.set_level(logging.DEBUG)
    # one batch: a broken update, an unknown kind of update, then a person asking for help
    bad = tg.push_update(unparsable())
    odd = tg.push_update(UNKNOWN_TYPE)
    tg.user_sends_text(USER, "/help")
    settings = Settings(
        bot_token=tg.token,
        telegram_api_base=tg.base_url,
        db_path=tmp_path / "c.db",
        today=dt.date(2024, 6, 1),
        http_port=unused_tcp_port,
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(settings, stop=stop, install_signals=False))
    try:
        answer = await tg.wait_for("sendMessage", since=0, timeout=30)
        assert answer.chat_id == USER.id and "/find" in answer.text
        await tg.wait_confirmed(odd["update_id"])  # the bad ones are confirmed, not refetched
        later = tg.user_sends_text(USER, "/help")  # and polling goes on
        await tg.wait_for("sendMessage", timeout=30)
        await tg.wait_confirmed(later["update_id"])
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any(f"update {bad['update_id']} (message)" in m and "message.chat.type" in m for m in skipped), (
        skipped
    )
    assert any(f"update {odd['update_id']} (business_future_thing)" in m for m in skipped)
    assert_nothing_private(caplog)


async def test_poller_counts_what_it_skipped_and_stops_on_request(tg: FakeTelegram) -> None:
    bot = make_bot(tg)
    poller = Poller(echo_dispatcher(), bot, timeout=1)
    tg.push_update(unparsable())
    tg.push_update(
        {
            "callback_query": {
                "id": "1",
                "data": "x",  # no chat_instance
                "from": {"id": 8002, "is_bot": False, "first_name": "Kenji"},
            }
        }
    )
    tg.user_sends_text(USER, "hello")
    running = asyncio.create_task(poller.run())
    try:
        sent = await tg.wait_for("sendMessage", since=0)
        assert sent.text == "echo hello"
        assert poller.skipped == 2
    finally:
        poller.stop()
        await asyncio.wait_for(running, 10)
        await bot.session.close()
    assert running.result() is None


# ----- webhook -----------------------------------------------------------------------


@pytest.fixture
async def webhook(tg: FakeTelegram, unused_tcp_port: int):
    bot = make_bot(tg)
    url = f"http://127.0.0.1:{unused_tcp_port}/tg/hook"
    settings = Settings(bot_token=tg.token, webhook_url=url, webhook_secret="s3cret")
    app = web.Application()
    secret = setup_webhook(app, settings, bot, echo_dispatcher())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield url, secret
    await runner.cleanup()


async def _post(url: str, secret: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"update_id": 1, "message": ',
        "\u3042".encode("shift_jis") + b"\xff",
        b"",
        b"[1, 2, 3]",
        b'"kenji.secret@example.jp"',
        b'{"message": {"text": "no id"}}',
        b'{"update_id": "seven"}',
    ],
    ids=["broken", "cut", "not-utf8", "empty", "array", "string", "no-id", "bad-id"],
)
async def test_webhook_answers_400_to_a_body_that_is_not_an_update(
    tg: FakeTelegram, webhook: tuple[str, str], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url, secret = webhook
    caplog.set_level(logging.DEBUG)
    assert await _post(url, secret, body) == 400
    assert_nothing_private(caplog)


async def test_webhook_refuses_an_unparsable_update_and_takes_the_next(
    tg: FakeTelegram, webhook: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, secret = webhook
    caplog.set_level(logging.DEBUG)
    assert await tg.post_update(unparsable(), url=url, secret=secret) == 400
    assert await tg.post_update(UNKNOWN_TYPE, url=url, secret=secret) == 400
    good = {
        "message": {
            "message_id": 1,
            "date": 1717200000,
            "chat": USER.chat(),
            "from": USER.as_dict(),
            "text": "still here",
        }
    }
    assert await tg.post_update(good, url=url, secret=secret) == 200
    sent = await tg.wait_for("sendMessage", since=0)
    assert sent.text == "echo still here"
    assert any(
        "webhook: update" in r.getMessage() and "message.chat.type" in r.getMessage() for r in caplog.records
    )
    assert_nothing_private(caplog)
