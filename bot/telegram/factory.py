"""Build the Bot and the Dispatcher: one factory for production, the demo and the tests."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.utils.callback_answer import CallbackAnswerMiddleware

from bot.config import Settings
from bot.handlers import after_profile, get_routers
from bot.telegram import lifecycle
from bot.telegram.fsm_storage import SQLiteStorage
from bot.telegram.i18n import UserI18nMiddleware, create_i18n
from bot.telegram.middlewares import LongTextMiddleware, ThrottlingMiddleware, UserMiddleware
from bot.telegram.notify import FollowUpMiddleware, Notifier
from bot.telegram.outbox import Outboxes
from bot.telegram.resilience import install_retries
from catalog.clock import Clock
from catalog.service import Catalog

log = logging.getLogger(__name__)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """A Bot with HTML parse mode, talking to `settings.telegram_api_base` when set.

    With no session given (production, the demo) the bot's session retries flood
    control (429 retry_after), 5xx and network errors; a test passing its own session
    sees every error as it comes."""
    own_session = session is None
    if session is None and settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    token = settings.bot_token or "0:demo"
    bot = Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
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
    notifier: Notifier | None = None,
) -> Dispatcher:
    """The Dispatcher with every router and middleware; services as workflow data.

    Handlers receive `catalog`, `settings` and `clock` as keyword arguments, `jobs`
    (`bot.telegram.lifecycle.Jobs`: background work, finished or cancelled at
    shutdown), `outboxes` (one Outbox per bot: Telegram's pace) and `after_profile`
    (`bot.handlers.flow`), `notifier` (the sender of the notification outbox,
    `bot.telegram.notify`), `user_record` (catalog.users.User | None) and `lang` from
    `UserMiddleware`, and `i18n` from the i18n middleware. `throttle_burst=0` turns
    throttling off (benchmarks feed thousands of updates from one user).
    """
    outboxes = Outboxes(catalog, clock)
    dp = Dispatcher(
        storage=storage or SQLiteStorage(catalog.store),
        catalog=catalog,
        settings=settings,
        clock=clock,
        outboxes=outboxes,
        after_profile=after_profile(),
        notifier=notifier or Notifier(catalog, settings, clock, outboxes=outboxes),
    )
    lifecycle.install(dp)  # first: its count of updates in flight wraps every other step
    # after it: the marks of what was sent are written before the process ends
    dp.shutdown.register(dp.workflow_data["notifier"].shutdown)
    dp.update.outer_middleware(FollowUpMiddleware())
    if throttle_burst > 0:
        dp.update.outer_middleware(ThrottlingMiddleware(rate=throttle_rate, burst=throttle_burst))
    dp.update.outer_middleware(UserMiddleware())
    UserI18nMiddleware(create_i18n()).setup(dp)
    dp.message.outer_middleware(LongTextMiddleware())
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.include_routers(*get_routers())
    return dp
