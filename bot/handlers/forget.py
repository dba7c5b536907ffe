"""/forget: after a confirmation, delete the user's profile and registrations."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import show
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import ForgetCB
from bot.telegram.filters import AnyCommand, ButtonOf
from bot.telegram.notify import Notifier
from bot.telegram.writes import save
from catalog import console
from catalog.clock import Clock
from catalog.service import Catalog

router = Router(name="forget")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {"callback_query": (ButtonOf(ForgetCB),), "message": (AnyCommand(),)}


@router.message(Command("forget"))
async def forget_command(message: Message) -> None:
    await message.answer(
        _(
            "<b>Delete my data</b>\nThis deletes your profile and every registration you made "
            "(including colleagues you registered), and frees the seats. Staff rosters will no "
            "longer show you. Continue?"
        ),
        reply_markup=kb.confirm_forget(),
    )


@router.callback_query(ForgetCB.filter(F.action == "yes"))
async def forget_yes(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    notifier: Notifier,
) -> None:
    await state.clear()
    notify = notifier.notify(callback.from_user.id)  # the waitlist's good news, queued
    await save(
        callback,
        catalog,
        console.forget_user,
        catalog,
        callback.from_user.id,
        callback_answer=callback_answer,
        today=clock.today(),
        now=clock.now(),
        notify=notify,
    )
    await show(callback, _("Done: your data has been deleted."), kb.only_menu(), edit=True)
    assert callback.bot is not None
    await notifier.deliver(callback.bot, notify)


@router.callback_query(ForgetCB.filter(F.action == "no"))
async def forget_no(callback: CallbackQuery) -> None:
    await show(callback, _("Nothing was deleted."), kb.only_menu(), edit=True)
