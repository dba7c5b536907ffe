"""Every update reaches the feature that owns it, whatever the order of the routers: each
button the bot shows gets its feature's answer (never "this button has expired"), each
command its own reply (never "I did not understand"), and any other button data is
answered exactly once, as expired, without an error."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from aiogram import Dispatcher
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from bot.handlers.admin import STAFF_COMMANDS
from bot.telegram import callbacks
from bot.telegram.factory import create_dispatcher
from bot.telegram.menu import COMMANDS
from catalog.clock import Clock
from tests.conftest import ChatUser, MockedBot
from tests.test_handlers import set_profile
from tests.util_catalog import NOW, make_catalog

EXPIRED = "このボタンは期限切れです。"
NOT_UNDERSTOOD = "すみません、よくわかりませんでした"
FAILED = "エラーが発生しました"  # the errors router: "Sorry, something went wrong"
SCREENS = ["/start", "/find", "/courses", "/my", "/profile", "/lang", "/help", "/forget"]
PREFIXES = sorted(
    {
        cls.__prefix__
        for cls in vars(callbacks).values()
        if isinstance(cls, type) and hasattr(cls, "__prefix__")
    }
)
WORDS = [
    "find",
    "start",
    "help",
    "lang",
    "profile",
    "courses",
    "my",
    "sub",
    "near",
    "show",
    "reg",
    "wl",
    "ics",
    "ok",
    "stop",
    "done",
    "add",
    "skip",
    "reuse",
    "team",
    "noteam",
    "new",
    "off",
    "yes",
    "no",
    "list",
    "cancel",
    "ja",
    "en",
    "o",
    "w",
    "r",
    "f",
    "e",
    "x",
    "a",
    "p",
    "q",
    "n",
    "34",
    "0",
    "1",
    "",
    "A",
    "local",
    "staff",
    "2024-A-34-1025",
]
_ids = itertools.count(50_000)


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Dispatcher:
    path: Path = tmp_path_factory.mktemp("routing") / "t.db"
    settings = Settings(bot_token="42:TEST", db_path=path)
    return create_dispatcher(settings, make_catalog(path), Clock(NOW.date()))


async def new_user(dp: Dispatcher, *, profile: bool = True) -> ChatUser:
    user = ChatUser(dp, MockedBot(), next(_ids))
    if profile:
        await set_profile(user)
    return user


def data_buttons(user: ChatUser) -> list[str]:
    return [data for _text, data in user.buttons_all() if data]


async def replay(dp: Dispatcher, path: list[str]) -> ChatUser:
    """A new user with a profile who typed or pressed `path` (commands, button data)."""
    user = await new_user(dp)
    for step in path:
        await (user.send(step) if step.startswith("/") else user.press(step))
    return user


def expired(user: ChatUser) -> bool:
    return any(a.text == EXPIRED for a in user.answers())


def test_every_button_shown_two_screens_deep_gets_its_features_answer(dispatcher):
    async def run() -> list[tuple[list[str], str]]:
        wrong: list[tuple[list[str], str]] = []
        seen: set[str] = set()
        paths = [[screen] for screen in SCREENS]
        for _depth in range(2):
            deeper = []
            for path in paths:
                shown = data_buttons(await replay(dispatcher, path))
                for data in shown:
                    if data in seen:
                        continue
                    seen.add(data)
                    user = await replay(dispatcher, path)
                    await user.press(data)
                    if expired(user) or len(user.answers()) != 1 or any(FAILED in t for t in user.texts()):
                        wrong.append((path, data))
                    deeper.append([*path, data])
            paths = deeper
        assert len(seen) > 40, sorted(seen)  # the walk did reach the bot's screens
        return wrong

    assert asyncio.run(run()) == []


@pytest.mark.parametrize("command", [f"/{c}" for c, _ in COMMANDS] + ["/find@cyder_test_bot"])
def test_every_command_gets_its_own_reply(dispatcher, command):
    async def run() -> str:
        user = await new_user(dispatcher)
        await user.send(command)
        return user.text()

    text = asyncio.run(run())
    assert text and NOT_UNDERSTOOD not in text


@pytest.mark.parametrize("command", [f"/{c}" for c in STAFF_COMMANDS])
def test_staff_commands_reach_the_staff_router_even_for_strangers(dispatcher, command):
    async def run() -> str:
        user = await new_user(dispatcher, profile=False)
        await user.send(command)
        return user.text()

    assert asyncio.run(run()) == "⛔ この操作は許可されていません。"


@given(
    prefix=st.sampled_from(PREFIXES) | st.text(max_size=3),
    values=st.lists(st.sampled_from(WORDS) | st.text(max_size=4), max_size=6),
    profile=st.booleans(),
)
def test_any_other_button_data_is_answered_once_without_an_error(dispatcher, prefix, values, profile):
    data = ":".join([prefix, *values])
    if not data:
        return

    async def run() -> ChatUser:
        user = await new_user(dispatcher, profile=profile)
        await user.press(data)
        return user

    user = asyncio.run(run())
    assert len(user.answers()) == 1, data
    assert not any(FAILED in t for t in user.texts()), data
    assert not any(FAILED in (a.text or "") for a in user.answers()), data


def test_every_filter_is_awaited_on_the_loop(dispatcher):
    """aiogram runs a synchronous filter (a bare `F...` or state) in a thread, a hop each
    time a handler is tried: the handlers use `Magic(...)` and `StateFilter(...)`."""
    sync = [
        f"{router.name}.{name}: {handler.callback.__name__}"
        for router in dispatcher.sub_routers
        for name, observer in router.observers.items()
        for handler in observer.handlers
        if not all(f.awaitable for f in handler.filters or [])
    ]
    assert sync == []


def test_router_filters_let_in_whatever_a_handler_of_their_router_takes():
    """A feature's ROUTER_FILTERS names every kind of button its handlers take, and a
    state filter on its messages only where every message handler needs such a state."""
    from aiogram.filters import Command, StateFilter
    from aiogram.filters.callback_data import CallbackQueryFilter

    from bot.handlers import ROUTER_MODULES
    from bot.telegram.filters import AnyCommand, ButtonOf

    checked = 0
    for module in ROUTER_MODULES:
        declared = getattr(module, "ROUTER_FILTERS", {})
        for gate in declared.get("callback_query", ()):
            assert isinstance(gate, ButtonOf)
            for handler in module.router.callback_query.handlers:
                flts = [
                    f.callback for f in handler.filters or [] if isinstance(f.callback, CallbackQueryFilter)
                ]
                assert flts, (module.__name__, handler.callback.__name__)
                for flt in flts:
                    if flt.callback_data in gate.kinds:
                        continue
                    # only some buttons of this kind: each one the handler takes (among
                    # single-field buttons with any of WORDS) is let in by its data
                    (field,) = flt.callback_data.model_fields
                    taken = [
                        b
                        for w in WORDS
                        if (b := flt.callback_data(**{field: w})) is not None
                        and (flt.rule is None or flt.rule.resolve(b))
                    ]
                    assert taken and all(b.pack() in gate.exact for b in taken), (
                        module.__name__,
                        handler.callback.__name__,
                        taken,
                    )
                checked += 1
        for gate in declared.get("message", ()):
            if isinstance(gate, AnyCommand):
                for handler in module.router.message.handlers:
                    assert any(
                        isinstance(f.callback, Command) and f.callback.prefix == "/"
                        for f in handler.filters or []
                    ), (module.__name__, handler.callback.__name__)
                    checked += 1
                continue
            assert isinstance(gate, StateFilter)
            allowed = {s.state if hasattr(s, "state") else s for s in gate.states}
            allowed |= {n for s in gate.states for n in getattr(s, "__all_states_names__", ())}
            for handler in module.router.message.handlers:
                needs = [
                    set(getattr(s, "__all_states_names__", ())) or {getattr(s, "state", s)}
                    for f in handler.filters or []
                    if isinstance(f.callback, StateFilter)
                    for s in f.callback.states
                ]
                assert needs and all(n <= allowed for n in needs), (
                    module.__name__,
                    handler.callback.__name__,
                )
                checked += 1
    assert checked > 40
