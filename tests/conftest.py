"""Shared fixtures: a real catalog on a temporary SQLite file, a Bot whose session
records every request (as aiogram's own tests/mocked_bot.py does), and a `ChatUser`
that feeds real `Update` objects through the real `create_dispatcher()`; and for tests
over real HTTP, the fake Bot API server on 127.0.0.1 (`tg`, with Telegram's flood limits
in a test or module marked `telegram_limits`) and a real aiogram Bot talking to it
(`tg_bot`).

Other test files may add fixtures here with small edits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    InlineQuery,
    Location,
    Message,
    Update,
    User,
)

from bot.config import Settings
from bot.demo.fake_telegram import FakeTelegram
from catalog.clock import Clock
from catalog.service import Catalog
from tests.util_catalog import NOW, make_catalog

# Property tests: CI replays the same derandomized examples (never fails on a newly drawn
# one); local runs keep exploring. (`hypothesis.settings`: a fixture here is `settings`.)
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") else "default")

BOT_USERNAME = "cyder_test_bot"
MESSAGE_RESULT_METHODS = {
    "SendMessage",
    "SendDocument",
    "EditMessageText",
    "EditMessageReplyMarkup",
    "SendLocation",
    "SendVenue",
}


class MockedSession(BaseSession):
    """Records requests; answers each with a plausible result (or a queued one)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.queued: list[Any] = []
        self._ids = itertools.count(1000)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requests.append(method)
        if self.queued:
            result = self.queued.pop(0)
            if isinstance(result, Exception):
                raise result
            return result  # type: ignore[no-any-return]
        name = type(method).__name__
        if name == "GetMe":
            return User(
                id=42,
                is_bot=True,
                first_name="CYDER",  # type: ignore[return-value]
                username=BOT_USERNAME,
            )
        if name in MESSAGE_RESULT_METHODS:
            chat_id = getattr(method, "chat_id", None) or 1
            return Message(  # type: ignore[return-value]
                message_id=next(self._ids),
                date=dt.datetime.now(dt.UTC),
                chat=Chat(id=int(chat_id), type="private"),
                text=getattr(method, "text", None) or "",
            )
        return True  # type: ignore[return-value]

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None


class MockedBot(Bot):
    def __init__(self, **kwargs: Any) -> None:
        from aiogram.client.default import DefaultBotProperties
        from aiogram.enums import ParseMode

        super().__init__(
            kwargs.pop("token", "42:TEST"),
            session=MockedSession(),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
            **kwargs,
        )

    @property
    def requests(self) -> list[TelegramMethod[Any]]:
        return self.session.requests  # type: ignore[attr-defined,no-any-return]


_update_ids = itertools.count(1)


class ChatUser:
    """A Telegram user in a private chat with the bot, driving the real Dispatcher."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: MockedBot,
        user_id: int = 1001,
        language_code: str = "ja",
        first_name: str = "Taro",
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.user = User(id=user_id, is_bot=False, first_name=first_name, language_code=language_code)
        self.chat = Chat(id=user_id, type="private")
        self._msg_ids = itertools.count(1)
        self.last: list[TelegramMethod[Any]] = []

    def _message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(self._msg_ids),
            date=dt.datetime.now(dt.UTC),
            chat=self.chat,
            from_user=self.user,
            **fields,
        )

    async def feed(self, **update: Any) -> list[TelegramMethod[Any]]:
        before = len(self.bot.requests)
        await self.dp.feed_update(self.bot, Update(update_id=next(_update_ids), **update))
        self.last = self.bot.requests[before:]
        return self.last

    async def send(self, text: str) -> list[TelegramMethod[Any]]:
        """Type `text` (a command when it starts with "/")."""
        entities = None
        if text.startswith("/"):
            from aiogram.types import MessageEntity

            length = len(text.split()[0])
            entities = [MessageEntity(type="bot_command", offset=0, length=length)]
        return await self.feed(message=self._message(text=text, entities=entities))

    async def location(self, lat: float, lon: float) -> list[TelegramMethod[Any]]:
        return await self.feed(message=self._message(location=Location(latitude=lat, longitude=lon)))

    async def press(self, data: str) -> list[TelegramMethod[Any]]:
        """Press an inline button with this callback data."""
        msg = self._message(text="…")
        cq = CallbackQuery(
            id=str(next(_update_ids)), from_user=self.user, chat_instance="ci", message=msg, data=data
        )
        return await self.feed(callback_query=cq)

    async def click(self, label: str) -> list[TelegramMethod[Any]]:
        """Press the button whose text contains `label` in the latest keyboard shown."""
        for text, data in reversed(self.buttons_all()):
            if label in text and data:
                return await self.press(data)
        raise AssertionError(f"no button {label!r} in {self.buttons_all()!r}")

    async def inline(self, query: str) -> list[TelegramMethod[Any]]:
        iq = InlineQuery(id=str(next(_update_ids)), from_user=self.user, query=query, offset="")
        return await self.feed(inline_query=iq)

    # -- reading what the bot did --------------------------------------------------------------

    def texts(self, requests: list[TelegramMethod[Any]] | None = None) -> list[str]:
        out = []
        for r in self.last if requests is None else requests:
            text = getattr(r, "text", None) or getattr(r, "caption", None)
            if text:
                out.append(str(text))
        return out

    def text(self) -> str:
        """Everything the bot said during the last update, joined."""
        return "\n".join(self.texts())

    def keyboard(self) -> InlineKeyboardMarkup | None:
        for r in reversed(self.bot.requests):
            markup = getattr(r, "reply_markup", None)
            if isinstance(markup, InlineKeyboardMarkup):
                return markup
        return None

    def buttons_all(self) -> list[tuple[str, str | None]]:
        markup = self.keyboard()
        if markup is None:
            return []
        return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]

    def buttons(self) -> list[str]:
        return [t for t, _ in self.buttons_all()]

    def answers(self) -> list[Any]:
        """answerCallbackQuery calls during the last update."""
        return [r for r in self.last if type(r).__name__ == "AnswerCallbackQuery"]

    def sent(self, kind: str) -> list[Any]:
        return [r for r in self.last if type(r).__name__ == kind]


@pytest.fixture
def today() -> dt.date:
    return NOW.date()


@pytest.fixture
def clock(today: dt.date) -> Clock:
    return Clock(pinned=today)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return make_catalog(tmp_path / "t.db")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        bot_token="42:TEST",
        db_path=tmp_path / "t.db",
        public_base_url="https://cyder.example.org",
        organizer_email="office@cyder.example.org",
    )


@pytest.fixture
async def bot() -> AsyncIterator[MockedBot]:
    b = MockedBot()
    yield b


@pytest.fixture
async def tg(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """The fake Bot API server; it answers 429 past Telegram's limits when the test or its
    module is marked `telegram_limits`."""
    limits = request.node.get_closest_marker("telegram_limits") is not None
    async with FakeTelegram(limits=limits) as server:
        yield server


@pytest.fixture
async def one_try_bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A real aiogram Bot talking to `tg` that tries each request once (the retry layer
    with one attempt): what fails is left to the notification outbox's sender."""
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.telegram.resilience import install_retries

    b = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    install_retries(b, attempts=1)
    yield b
    await b.session.close()


@pytest.fixture
async def tg_bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A real aiogram Bot (its own HTTP session) talking to `tg`."""
    async with tg.connected_bot() as b:
        yield b


@pytest.fixture
def dp(settings: Settings, catalog: Catalog, clock: Clock) -> Dispatcher:
    from bot.telegram.factory import create_dispatcher

    return create_dispatcher(settings, catalog, clock)


@pytest.fixture
def make_dp(settings: Settings, catalog: Catalog) -> Any:
    """make_dp(today=None, **create_dispatcher_kwargs) -> a Dispatcher on the same catalog."""
    from bot.telegram.factory import create_dispatcher

    def make(today: dt.date | None = None, **kwargs: Any) -> Dispatcher:
        return create_dispatcher(settings, catalog, Clock(pinned=today or NOW.date()), **kwargs)

    return make


def fill(catalog: Catalog, session_id: str, n: int, *, waitlist: bool = False, prefix: str = "p") -> None:
    """Register `n` people (local-government staff, no chat user) for a session."""
    from catalog.registrations import Applicant, register

    done = 0
    while done < n:
        chunk = min(8, n - done)
        people = [
            Applicant(
                name=f"{prefix}{done + i}",
                organisation=f"Org {prefix}{done + i}",
                org_type="local",
                email=f"{prefix}{done + i}@example.lg.jp",
            )
            for i in range(chunk)
        ]
        register(catalog, session_id, people, today=NOW.date(), now=NOW, waitlist=waitlist)
        done += chunk


@pytest.fixture
def make_user(dp: Dispatcher, bot: MockedBot) -> Any:
    """make_user(user_id=1001, language_code="ja") -> ChatUser."""

    def make(user_id: int = 1001, language_code: str = "ja", first_name: str = "Taro") -> ChatUser:
        return ChatUser(dp, bot, user_id, language_code, first_name)

    return make


@pytest.fixture
def user(make_user: Any) -> ChatUser:
    return make_user()  # type: ignore[no-any-return]


@pytest.fixture
def smtp_server() -> Any:
    """A real aiosmtpd server on 127.0.0.1 (its own thread), stopped after the test."""
    from tests.util_smtp import Inbox, start

    controller, server = start(Inbox())
    try:
        yield server
    finally:
        controller.stop()
