"""Build the Bot and the Dispatcher: one factory for production, the demo and the tests."""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.enums import ParseMode
from aiogram.filters import Command, StateFilter
from aiogram.filters.base import Filter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommand, BotCommandScopeDefault, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from magic_filter.operations import (  # aiogram's F: `F.x == v`, `F.x.in_(...)` shapes
    ComparatorOperation,
    FunctionOperation,
    GetAttributeOperation,
)
from magic_filter.util import in_op

from bot.config import Settings
from bot.handlers import get_routers
from bot.telegram.fsm_storage import SQLiteStorage
from bot.telegram.i18n import N_, UserI18nMiddleware, create_i18n
from bot.telegram.middlewares import LongTextMiddleware, ThrottlingMiddleware, UserMiddleware
from bot.telegram.resilience import inline_sync_filters, install_retries
from catalog.clock import Clock
from catalog.service import Catalog

log = logging.getLogger(__name__)

COMMANDS = (
    ("start", N_("Main menu")),
    ("find", N_("Find sessions")),
    ("courses", N_("Courses, eligibility and fees")),
    ("my", N_("My registrations")),
    ("profile", N_("My organisation profile")),
    ("lang", N_("Language / 言語")),
    ("help", N_("Help")),
    ("cancel", N_("Stop the current dialogue")),
    ("forget", N_("Delete my data")),
)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """A Bot with HTML parse mode, talking to `settings.telegram_api_base` when set.

    With no session given (production, the demo) the bot's session retries flood
    control (429 retry_after), 5xx and network errors; a test passing its own session
    sees every error as it comes."""
    own_session = session is None
    if session is None and settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    token = settings.bot_token or "0:demo"
    bot = Bot(token=token, session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    if own_session:
        install_retries(bot)
    return bot


def create_dispatcher(
    settings: Settings,
    catalog: Catalog,
    clock: Clock,
    *,
    storage: BaseStorage | None = None,
    throttle_rate: float = 5.0,
    throttle_burst: float = 30.0,
) -> Dispatcher:
    """The Dispatcher with every router and middleware; services as workflow data.

    Handlers receive `catalog`, `settings` and `clock` as keyword arguments,
    `user_record` (catalog.users.User | None) and `lang` from `UserMiddleware`,
    and `i18n` from the i18n middleware. `throttle_burst=0` turns throttling off
    (benchmarks feed thousands of updates from one user).
    """
    dp = Dispatcher(storage=storage or SQLiteStorage(catalog.store),
                    catalog=catalog, settings=settings, clock=clock)
    if throttle_burst > 0:
        dp.update.outer_middleware(ThrottlingMiddleware(rate=throttle_rate, burst=throttle_burst))
    dp.update.outer_middleware(UserMiddleware())
    UserI18nMiddleware(create_i18n()).setup(dp)
    dp.message.outer_middleware(LongTextMiddleware())
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    routers = get_routers()
    for router in routers:
        gate_router(router)
    dp.include_routers(*routers)
    inline_sync_filters(dp)
    return dp


# -- router gates ---------------------------------------------------------------------------------
#
# aiogram offers each update to the routers in turn, and each router checks its handlers'
# filters one by one (a button's filter parses the callback data every time). A gate is one
# cheap router-level filter that lets in only what one of the router's handlers could match:
# a button with one of its prefixes (or its exact data), a command, a dialogue state. It is
# derived from the handlers' own filters, so a handler added later is covered by itself; a
# handler whose filters say nothing usable (the fallback's catch-all) leaves its router open.


class CallbackGate(Filter):
    """Lets in a callback whose data is one of `exact` or starts with `prefix + separator`."""

    def __init__(self, exact: Iterable[str], prefixes: dict[str, set[str]]) -> None:
        self.exact = frozenset(exact)
        self.prefixes = {sep: frozenset(p) for sep, p in prefixes.items()}

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        if not data:
            return False
        if data in self.exact:
            return True
        return any(data.split(sep, 1)[0] in p for sep, p in self.prefixes.items())

    def __str__(self) -> str:
        return f"CallbackGate({sorted(self.exact)}, {self.prefixes})"


class MessageGate(Filter):
    """Lets in a message in one of `states`, one starting with a command prefix (any
    character of `commands`, after leading spaces, as aiogram's Command reads it), or one
    passing a (command prefixes, states) pair of `both`."""

    def __init__(self, tests: Iterable[tuple[str | None, frozenset[str | None] | None]]) -> None:
        states: set[str | None] = set()
        commands = ""
        both = []
        for prefix, allowed in tests:
            if prefix is None and allowed is not None:
                states |= allowed
            elif allowed is None and prefix is not None:
                commands += "".join(c for c in prefix if c not in commands)
            elif prefix is not None and allowed is not None:
                both.append((prefix, allowed))
            else:
                raise ValueError("a test that lets everything in needs no gate")
        self.states = frozenset(states)
        self.commands = commands
        self.both = tuple(both)

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        if raw_state in self.states:
            return True
        if not (self.commands or self.both):
            return False
        text = (message.text or message.caption or "").lstrip()
        first = text[:1]
        if not first:
            return False
        if first in self.commands:
            return True
        return any(first in prefix and raw_state in allowed for prefix, allowed in self.both)

    def __str__(self) -> str:
        return f"MessageGate({sorted(map(str, self.states))}, {self.commands!r}, {self.both})"


def _exact_data(rule: Any, cls: type[CallbackData]) -> set[str] | None:
    """The packed data a single-str-field button must have for `rule` (F.f == v or
    F.f.in_(values)), or None when that cannot be told."""
    fields = cls.model_fields
    ops = getattr(rule, "_operations", None)
    if (len(fields) != 1 or not ops or len(ops) != 2
            or not isinstance(ops[0], GetAttributeOperation)):
        return None
    name, field = next(iter(fields.items()))
    if ops[0].name != name or field.annotation is not str:
        return None
    op = ops[1]
    if isinstance(op, ComparatorOperation) and op.comparator is operator.eq:
        values = [op.right]
    elif (isinstance(op, FunctionOperation) and op.function is in_op and len(op.args) == 1
          and not op.kwargs and isinstance(op.args[0], set | frozenset | tuple | list)):
        values = list(op.args[0])
    else:
        return None
    sep = cls.__separator__
    if not all(isinstance(v, str) and v and sep not in v for v in values):
        return None
    return {f"{cls.__prefix__}{sep}{v}" for v in values}


def _callback_gate(handlers: list[HandlerObject]) -> CallbackGate | None:
    exact: set[str] = set()
    prefixes: dict[str, set[str]] = {}
    for handler in handlers:
        flt = next((f.callback for f in handler.filters or []
                    if isinstance(f.callback, CallbackQueryFilter)), None)
        if flt is None:
            return None  # e.g. a catch-all: every button may reach this router
        cls = flt.callback_data
        data = _exact_data(flt.rule, cls) if flt.rule is not None else None
        if data is not None:
            exact |= data
        else:
            prefixes.setdefault(cls.__separator__, set()).add(cls.__prefix__)
    return CallbackGate(exact, prefixes)


def _states(flt: Any) -> frozenset[str | None] | None:
    """The FSM states a filter requires, or None when it does not restrict them."""
    items: tuple[Any, ...]
    if isinstance(flt, State):
        items = (flt,)
    elif isinstance(flt, StateFilter):
        items = tuple(flt.states)
    else:
        return None
    names: set[str | None] = set()
    for item in items:
        if isinstance(item, State):
            item = item.state
        elif isinstance(item, StatesGroup) or (isinstance(item, type)
                                               and issubclass(item, StatesGroup)):
            names.update(item.__all_states_names__)  # type: ignore[union-attr]
            continue
        if item == "*" or not (item is None or isinstance(item, str)):
            return None
        names.add(item)
    return frozenset(names)


def _message_gate(handlers: list[HandlerObject]) -> MessageGate | None:
    tests = []
    for handler in handlers:
        prefix: str | None = None
        states: frozenset[str | None] | None = None
        for f in handler.filters or []:
            if isinstance(f.callback, Command) and prefix is None:
                prefix = f.callback.prefix
            elif states is None:
                states = _states(f.callback)
        if prefix is None and states is None:
            return None
        tests.append((prefix, states))
    return MessageGate(tests)


def gate_router(router: Router) -> None:
    """Give `router` a callback and a message gate where its handlers allow one."""
    for observer, make in ((router.callback_query, _callback_gate),
                           (router.message, _message_gate)):
        if observer.handlers:
            gate = make(observer.handlers)
            if gate is not None:
                observer.filter(gate)


async def set_commands(bot: Bot) -> None:
    """The command menu in Japanese and English (English for every other language)."""
    i18n = create_i18n()
    for lang in ("ja", "en", None):
        locale = lang or "en"
        commands = [BotCommand(command=c, description=i18n.gettext(d, locale=locale))
                    for c, d in COMMANDS]
        if lang is None:
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault())
        else:
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault(),
                                      language_code=lang)
