"""Course cards: level, audience, what you learn, format, period; eligibility and fee."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import course_card, course_level, show
from bot.handlers.fallback import expire
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import CourseCB, MenuCB
from bot.telegram.filters import AnyCommand, ButtonOf
from catalog.errors import CatalogError
from catalog.service import Catalog, Course
from catalog.users import User

router = Router(name="courses")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {
    "callback_query": (ButtonOf(CourseCB, MenuCB(action="courses")),),
    "message": (AnyCommand(),),
}


def _list(catalog: Catalog, user_record: User | None, lang: str) -> tuple[str, list[tuple[str, str]]]:
    profile = user_record.profile if user_record else None
    items = []
    for c in catalog.courses():
        label = f"{c.t('name', lang)} — {course_level(c, lang)}"
        if profile is not None:
            v = catalog.verdict(profile, c.code)
            label = ("✅ " if v.eligible else "❌ ") + label
        items.append((c.code, label))
    text = _("<b>Courses</b>\nChoose one for details.")
    if profile is None:
        text += "\n" + _("Set up your profile (/profile) to see which ones you may attend.")
    return text, items


@router.message(Command("courses"))
async def courses_command(message: Message, catalog: Catalog, user_record: User | None, lang: str) -> None:
    text, items = _list(catalog, user_record, lang)
    await message.answer(text, reply_markup=kb.course_list(items))


@router.callback_query(MenuCB.filter(F.action == "courses"))
async def courses_button(
    callback: CallbackQuery, catalog: Catalog, user_record: User | None, lang: str
) -> None:
    text, items = _list(catalog, user_record, lang)
    await show(callback, text, kb.course_list(items), edit=True)


@router.callback_query(CourseCB.filter())
async def course_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: CourseCB,
    catalog: Catalog,
    user_record: User | None,
    lang: str,
) -> None:
    try:
        course = catalog.course(callback_data.code)
    except CatalogError:
        expire(callback_answer)
        return
    text, markup = course_view(catalog, course, user_record, lang)
    await show(callback, text, markup, edit=True)


def course_view(
    catalog: Catalog, course: Course, user_record: User | None, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    """A course's card and buttons: its sessions, or for an online course (no sessions)
    the official site where it is applied for."""
    profile = user_record.profile if user_record else None
    verdict = catalog.verdict(profile, course.code) if profile else None
    has_sessions = any(s.course == course.code for s in catalog.all_sessions())
    apply_url = "" if has_sessions else catalog.year.apply_url
    return (
        course_card(course, verdict, lang, catalog.online_windows(), apply_url),
        kb.course_card(course.code, has_sessions, apply_url),
    )
