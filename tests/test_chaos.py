"""Fifty people register at once while Telegram fails a fifth of the requests (5xx) and
answers 429 with and without `retry_after` (issue 9 §4): nobody loses a message of the
dialogue, nobody gets one twice, everyone gets the confirmation and the invite.

The real Dispatcher polls the fake Bot API on 127.0.0.1 through a real aiogram Bot with
the one retry layer. Its budget for server errors is set for a 20% failure rate (ten
tries: a call is lost once in ten million); production's smaller budget is backed by
the follow-up (`test_a_reply_lost_after_every_retry_is_followed_up_once`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.demo.fake_telegram import SENDING, Call, FakeTelegram, FakeUser, inline_buttons
from bot.serve import build_dispatcher
from bot.telegram.notify import Notifier
from bot.telegram.resilience import install_retries
from catalog import users
from catalog.clock import Clock
from catalog.eligibility import Profile
from tests.util_catalog import NOW, make_catalog

PEOPLE = 50
MESSAGES = ("sendMessage", "editMessageText")


def has_button(text: str) -> Any:
    return lambda c: any(
        text in b.get("text", "") for b in inline_buttons({"reply_markup": c.params.get("reply_markup")})
    )


class Person:
    """One user in their own chat; every wait looks only at what came after their action."""

    def __init__(self, tg: FakeTelegram, user_id: int) -> None:
        self.tg = tg
        self.user = FakeUser(id=user_id, first_name=f"P{user_id}", language_code="en")

    async def reply(self, since: int, predicate: Any = None) -> Call:
        uid = self.user.id
        return await self.tg.wait_for(
            MESSAGES,
            lambda c: c.chat_id == uid and (predicate is None or predicate(c)),
            timeout=60,
            since=since,
        )

    async def say(self, text: str, expect: str | None = None) -> Call:
        since = len(self.tg.calls)
        self.tg.user_sends_text(self.user, text)
        return await self.reply(since, has_button(expect) if expect else None)

    async def press(self, call: Call, label: str, expect: str | None = None) -> Call:
        since = len(self.tg.calls)
        message = self.tg.message(self.user.id, call.result["message_id"]) or call.result
        query = self.tg.press(self.user, message, label)["callback_query"]["id"]
        await self.tg.wait_for(
            "answerCallbackQuery",
            lambda c: c.params.get("callback_query_id") == query,
            timeout=60,
            since=since,
        )
        return await self.reply(since, has_button(expect) if expect else None)

    async def register(self, session_id: str) -> Call:
        card = await self.say(f"/start {session_id}", expect="Register")
        step = await self.press(card, "Register")
        for answer in (
            f"Person {self.user.id}",
            "Hiroshima Prefecture",
            "Digital Office",
            f"p{self.user.id}@pref.example.jp",
        ):
            step = await self.say(answer)
        if has_button("Continue")(step):
            step = await self.press(step, "Continue")
        assert has_button("Confirm registration")(step), step.text
        since = len(self.tg.calls)
        self.tg.press(
            self.user,
            self.tg.message(self.user.id, step.result["message_id"]) or step.result,
            "Confirm registration",
        )
        return await self.tg.wait_for(
            "sendDocument", lambda c: c.chat_id == self.user.id, timeout=60, since=since
        )


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


async def test_fifty_people_register_through_5xx_and_flood_control_and_lose_nothing(
    tg, tmp_path, settings, caplog
):
    catalog = make_catalog(tmp_path / "t.db")
    clock = Clock(pinned=NOW.date())
    sessions = [
        h.session.id
        for h in catalog.upcoming(NOW.date(), eligible_for=Profile("local"))
        if h.session.course == "A" and h.session.is_open(NOW.date())
    ][:PEOPLE]
    assert len(sessions) == PEOPLE
    people = [Person(tg, 20_000 + i) for i in range(PEOPLE)]
    for p in people:
        users.save_user(catalog.store, p.user.id, NOW, lang="en", org_type="local", prefecture_code=34)
    bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    layer = install_retries(bot, attempts=10, base_delay=0.005, max_delay=0.2, default_retry_after=0.2)
    dp = build_dispatcher(
        settings, catalog, clock, notifier=Notifier(catalog, settings, clock, backoff_base=0.05)
    )
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    tg.fail_next(2, 429, retry_after=1)
    tg.fail_next(3, 429, retry_after=None)
    tg.fail_randomly(0.2, (500, 502, 503), seed=20240601)
    try:
        with caplog.at_level(logging.WARNING):
            async with asyncio.TaskGroup() as group:  # one failure stops everyone
                runs = [group.create_task(p.register(s)) for p, s in zip(people, sessions, strict=True)]
        docs = [r.result() for r in runs]
    finally:
        tg.stop_failing()
        await dp.stop_polling()
        await asyncio.wait_for(polling, 10)
        await dp.workflow_data["notifier"].idle()
        await bot.session.close()

    assert all(d.files["document"][1].startswith(b"BEGIN:VCALENDAR") for d in docs)
    assert (
        catalog.store.one("select count(*) as n from registrations where status = 'registered'")["n"]
        == PEOPLE
    )  # type: ignore[index]
    # What went on the wire: failures of every kind, each call retried until it went.
    failed = Counter(c.status for c in tg.calls if c.status != 200)
    assert failed[429] >= 5 and failed[500] + failed[502] + failed[503] > 100
    assert layer.gave_up == 0 and "undelivered" not in caplog.text
    for p in people:
        mine = [
            c for c in tg.calls if c.chat_id == p.user.id and (c.method in SENDING or c.method in MESSAGES)
        ]
        # counted per call: every message sent exactly once (retries are refused ones)
        delivered = Counter((c.method, c.text, str(c.params.get("reply_markup"))) for c in mine if c.ok)
        assert max(delivered.values()) == 1, (p.user.id, delivered.most_common(1))
        confirmations = [c for c in mine if c.ok and "Registered!" in c.text]
        assert len(confirmations) == 1
        assert len([c for c in mine if c.ok and c.method == "sendDocument"]) == 1
    assert not catalog.store.query("select id from notifications where result != 'sent'")
