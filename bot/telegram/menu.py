"""The command menus Telegram shows beside the text field: everyone's, and the staff's."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.telegram.i18n import N_, create_i18n

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


async def set_commands(bot: Bot) -> None:
    """The command menu in Japanese and English (English for every other language)."""
    i18n = create_i18n()
    for lang in ("ja", "en", None):
        locale = lang or "en"
        commands = [BotCommand(command=c, description=i18n.gettext(d, locale=locale)) for c, d in COMMANDS]
        if lang is None:
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault())
        else:
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=lang)


async def set_staff_commands(
    bot: Bot, admin_ids: Iterable[int], staff_menu: Iterable[tuple[str, str]]
) -> None:
    """Show `staff_menu` after the usual commands in each admin's private chat
    (everyone else's menu stays as it is). Call after `set_commands`."""
    i18n = create_i18n()
    commands = [
        BotCommand(command=c, description=i18n.gettext(d, locale="ja")) for c, d in (*COMMANDS, *staff_menu)
    ]
    for admin_id in sorted(admin_ids):
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=admin_id))
        except TelegramAPIError:  # the admin never opened a chat with the bot
            continue
