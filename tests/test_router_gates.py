"""Router gates (bot.factory.gate_router) never turn away an update that one of the
router's handlers would take: for every router of the real Dispatcher, whenever some
handler's filters pass, the router's own gate passes too."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from aiogram import Router
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.types import CallbackQuery, Chat, Location, Message, PhotoSize, User
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from bot.handlers.registration import RegForm
from bot.telegram import callbacks
from bot.telegram.factory import create_dispatcher
from catalog.clock import Clock
from tests.conftest import BOT_USERNAME, MockedBot
from tests.util_catalog import NOW, make_catalog

USER = User(id=5, is_bot=False, first_name="Gate")
CHAT = Chat(id=5, type="private")
STATES: list[str | None] = [None, "SomeOther:state", *RegForm.__all_states_names__]
PREFIXES = sorted({cls.__prefix__ for cls in vars(callbacks).values()
                   if isinstance(cls, type) and hasattr(cls, "__prefix__")})
WORDS = ["find", "start", "help", "lang", "profile", "courses", "my", "sub", "near", "show",
         "reg", "wl", "ics", "ok", "stop", "done", "add", "skip", "reuse", "team", "noteam",
         "new", "off", "yes", "no", "list", "cancel", "ja", "en", "o", "w", "r", "f", "e", "x",
         "a", "p", "q", "n", "34", "0", "1", "", "A", "local", "staff", "fy2024-a-34-1"]
TEXTS = ["広島", "hello", "/start", "/start fy2024-a-34-1", "/help", "/cancel", "/lang",
         "/profile", "/courses", "/my", "/forget", "/find", "/roster", "/stats 1", "/unknown",
         "  /my", "\t/find", "/FIND", f"/find@{BOT_USERNAME}", "/find@someone_else", "/", " "]


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> list[Router]:
    path: Path = tmp_path_factory.mktemp("gates") / "t.db"
    settings = Settings(bot_token="42:TEST", db_path=path)
    return create_dispatcher(settings, make_catalog(path), Clock(NOW.date())).sub_routers


@pytest.fixture(scope="module")
def bot() -> MockedBot:
    b = MockedBot()
    b._me = User(id=42, is_bot=True, first_name="CYDER", username=BOT_USERNAME)
    return b


async def takes(observer: TelegramEventObserver, event: Any, raw_state: str | None,
                bot: MockedBot) -> tuple[bool, bool]:
    """(whether some handler's filters pass, whether the router's gate passes)."""
    kwargs = {"bot": bot, "raw_state": raw_state, "event_from_user": USER, "event_chat": CHAT}
    handled = False
    for handler in observer.handlers:
        if (await handler.check(event, **dict(kwargs)))[0]:
            handled = True
            break
    gate, _ = await observer.check_root_filters(event, **dict(kwargs))
    return handled, gate


def message(**fields: Any) -> Message:
    return Message(message_id=1, date=dt.datetime(2024, 6, 1, tzinfo=dt.UTC), chat=CHAT,
                   from_user=USER, **fields)


def callback(data: str) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=USER, chat_instance="ci", data=data,
                         message=message(text="…"))


def refused(routers: list[Router], observer: str, event: Any, state: str | None,
            bot: MockedBot) -> list[str]:
    """Names of routers whose gate refuses `event` although one of their handlers takes it."""
    async def run() -> list[str]:
        out = []
        for router in routers:
            handled, gate = await takes(getattr(router, observer), event, state, bot)
            if handled and not gate:
                out.append(router.name)
        return out

    return asyncio.run(run())


def test_every_router_but_the_catch_alls_is_gated(routers):
    gated = {r.name for r in routers
             if r.callback_query._handler.filters or r.message._handler.filters}
    assert {"start", "profile", "courses", "registration", "my", "forget", "sessions",
            "admin"} <= gated
    assert "fallback" not in gated  # it takes everything that is left


def test_message_gates_let_in_whatever_a_handler_takes(routers, bot):
    events = [message(text=t) for t in TEXTS] + [
        message(caption="/find", photo=[PhotoSize(file_id="f", file_unique_id="u", width=1,
                                                  height=1)]),
        message(location=Location(latitude=34.4, longitude=132.4))]
    wrong = [(event.text or event.caption, state, names)
             for event, state in itertools.product(events, STATES)
             if (names := refused(routers, "message", event, state, bot))]
    assert wrong == []


@given(prefix=st.sampled_from(PREFIXES) | st.text(max_size=3),
       values=st.lists(st.sampled_from(WORDS) | st.text(max_size=4), max_size=6),
       state=st.sampled_from(STATES))
def test_callback_gates_let_in_whatever_a_handler_takes(routers, bot, prefix, values, state):
    data = ":".join([prefix, *values])
    if data:
        assert refused(routers, "callback_query", callback(data), state, bot) == []


def test_the_bots_buttons_visit_only_the_router_that_takes_them(routers, bot):
    cases = {
        callbacks.MenuCB(action="find").pack(): "sessions",
        callbacks.MenuCB(action="start").pack(): "start",
        callbacks.MenuCB(action="profile").pack(): "profile",
        callbacks.ProfileCB(step="o", value="local").pack(): "profile",
        callbacks.SessionCB(id="fy2024-a-34-1").pack(): "sessions",
        callbacks.SessionCB(id="fy2024-a-34-1", action="reg").pack(): "registration",
        callbacks.RegCB(action="ok").pack(): "registration",
        callbacks.FindCB(kind="p", key="34").pack(): "sessions",
        callbacks.LangCB(lang="en").pack(): "start",
    }

    async def let_in(data: str) -> list[str]:
        names = []
        for router in routers:
            if router.callback_query.handlers:
                _, gate = await takes(router.callback_query, callback(data), None, bot)
                if gate:
                    names.append(router.name)
        return names

    seen = {data: sorted(asyncio.run(let_in(data))) for data in cases}
    # session buttons have two fields, so their gates go by the prefix: both routers that
    # take some session buttons see them all; the catch-all fallback sees everything
    both = {"registration", "sessions"}
    expected = {data: sorted({name, "fallback"} | (both if data.startswith("s:") else set()))
                for data, name in cases.items()}
    assert seen == expected
