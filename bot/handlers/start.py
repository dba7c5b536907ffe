"""/start (with deep links), /help, /lang, /cancel and the main menu."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers.admin import staff_help
from bot.handlers.common import q, show
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import LangCB, MenuCB
from bot.telegram.filters import AnyCommand, ButtonOf
from bot.telegram.writes import save
from catalog import users
from catalog.clock import Clock
from catalog.errors import NotFound
from catalog.service import Catalog
from catalog.users import User

router = Router(name="start")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {
    "callback_query": (
        ButtonOf(LangCB, MenuCB(action="start"), MenuCB(action="help"), MenuCB(action="lang")),
    ),
    "message": (AnyCommand(),),
}


def greeting(first_name: str | None) -> str:
    name = q(first_name or "")
    return (
        _(
            "Hello {name}! I help you find and join CYDER cyber-defence exercises: which "
            "course fits you, whether it is free, the nearest session, registration and your "
            "calendar."
        ).format(name=name)
        + "\n\n"
        + _("Choose below, or just type a place (広島, Sapporo…).")
    )


def help_text() -> str:
    return "\n".join(
        [
            _("<b>How to use this bot</b>"),
            _("🔎 /find — sessions by region, prefecture, a typed place or your location"),
            _("📚 /courses — courses, who may attend, fees"),
            _("📝 /my — your registrations, cancel, calendar files"),
            _("👤 /profile — your organisation type and prefecture"),
            _("🌐 /lang — 日本語 / English"),
            _("✖️ /cancel — stop the current dialogue"),
            _("🗑 /forget — delete your data"),
            _("You can also type a place name such as 広島 or Sapporo."),
            _("Or ask: 無料ですか, 初心者, Aコース, 締切, B-1 沖縄 (a course and a place)."),
        ]
    )


@router.message(CommandStart(deep_link=True))
async def start_deep_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    from bot.handlers.sessions import send_card

    await state.clear()
    try:
        session = catalog.session(command.args or "")
    except NotFound:
        await message.answer(
            _("That session link is not valid any more.")
            + "\n\n"
            + greeting(message.from_user.first_name if message.from_user else None),
            reply_markup=kb.main_menu(),
        )
        return
    await send_card(
        message, session, catalog=catalog, today=clock.today(), user_record=user_record, lang=lang
    )


@router.message(CommandStart())
async def start(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(
        greeting(message.from_user.first_name if message.from_user else None), reply_markup=kb.main_menu()
    )


@router.callback_query(MenuCB.filter(F.action == "start"))
async def menu(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await show(callback, greeting(callback.from_user.first_name), kb.main_menu(), edit=True)


def _help_for(user_id: int | None, settings: Settings) -> str:
    """/help, and for staff (ADMIN_IDS) the staff commands after it."""
    extra = staff_help(user_id, settings)
    return help_text() + ("\n\n" + extra if extra else "")


@router.message(Command("help"))
async def help_command(message: Message, settings: Settings) -> None:
    uid = message.from_user.id if message.from_user else None
    await message.answer(_help_for(uid, settings), reply_markup=kb.only_menu())


@router.callback_query(MenuCB.filter(F.action == "help"))
async def help_button(callback: CallbackQuery, settings: Settings) -> None:
    await show(callback, _help_for(callback.from_user.id, settings), kb.only_menu(), edit=True)


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext) -> None:
    had = await state.get_state()
    await state.clear()
    text = _("Stopped. Nothing was saved.") if had else _("There is nothing to stop.")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())
    await message.answer(_("What next?"), reply_markup=kb.main_menu())


@router.message(Command("lang"))
async def lang_command(message: Message) -> None:
    await message.answer(_("Choose your language / 言語を選んでください"), reply_markup=kb.languages())


@router.callback_query(MenuCB.filter(F.action == "lang"))
async def lang_button(callback: CallbackQuery) -> None:
    await show(callback, _("Choose your language / 言語を選んでください"), kb.languages(), edit=True)


@router.callback_query(LangCB.filter(F.lang.in_({"ja", "en"})))
async def set_lang(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: LangCB,
    catalog: Catalog,
    clock: Clock,
    i18n: I18n,
) -> None:
    now: dt.datetime = clock.now()
    await save(
        callback,
        catalog,
        users.save_user,
        catalog.store,
        callback.from_user.id,
        now,
        callback_answer=callback_answer,
        lang=callback_data.lang,
    )
    with i18n.use_locale(callback_data.lang):
        await show(
            callback,
            _("Language set: English.") + "\n\n" + greeting(callback.from_user.first_name),
            kb.main_menu(),
            edit=True,
        )
