"""The user's profile: organisation type, staff/dispatched/contractor, prefecture.

Asked once when first needed (finding or registering), remembered in
catalog.users, editable from the menu or /profile. What comes after the last answer is
the asking dialogue's own step (`bot.handlers.flow`).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import course_name, q, show
from bot.handlers.fallback import expire
from bot.handlers.flow import AfterProfile
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import MenuCB, ProfileCB
from bot.telegram.filters import AnyCommand, ButtonOf
from bot.telegram.i18n import say
from bot.telegram.writes import save
from catalog import places, users
from catalog.clock import Clock
from catalog.service import Catalog
from catalog.users import User

router = Router(name="profile")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {
    "callback_query": (ButtonOf(ProfileCB, MenuCB(action="profile")),),
    "message": (AnyCommand(),),
}

AFTER_KEY = "after_profile"


def org_question() -> str:
    return _(
        "<b>Your organisation</b>\nWhich kind of organisation do you work for? "
        "(Eligibility and fees depend on it.)"
    )


async def ask_profile(
    event: Message | CallbackQuery, state: FSMContext, *, after: str, lang: str, catalog: Catalog
) -> None:
    """Start the profile questions; `after` ("find", "s:<id>", "r:<id>") continues later."""
    await state.update_data({AFTER_KEY: after})
    intro = _("First, two or three quick questions so that I can show what you may attend.")
    await show(
        event, intro + "\n\n" + org_question(), kb.org_types(tuple(catalog.rules.org_types.values()), lang)
    )


def profile_text(record: User | None, catalog: Catalog, lang: str) -> str:
    if record is None or record.org_type is None:
        return _("You have not set up your profile yet.")
    org = catalog.rules.org_types.get(record.org_type)
    org_name = (org.name_en if lang == "en" else org.name_ja) if org else record.org_type
    if record.dispatched:
        work = _("dispatched worker (派遣)")
    elif record.contractor:
        work = _("contractor (請負)")
    else:
        work = _("staff")
    pref = _("not set")
    if record.prefecture_code:
        p = places.prefecture(record.prefecture_code)
        pref = p.romaji if lang == "en" else p.name
    lines = [
        _("<b>Your profile</b>"),
        _("Organisation: {org}").format(org=q(org_name)),
        _("Role: {work}").format(work=q(work)),
        _("Prefecture: {pref}").format(pref=q(pref)),
    ]
    verdicts = catalog.verdicts(record.profile) if record.profile else []
    if verdicts:
        lines.append("")
        for v in verdicts:
            mark = "✅" if v.eligible else "❌"
            fee = say(v.fee_said, lang) if v.eligible else _("not eligible")
            label = v.course if v.course != "PRE" else course_name(catalog, v.course, lang)
            lines.append(f"{mark} {q(label)}: {q(fee)}")
    return "\n".join(lines)


@router.message(Command("profile"))
async def profile_command(message: Message, catalog: Catalog, user_record: User | None, lang: str) -> None:
    await message.answer(profile_text(user_record, catalog, lang), reply_markup=kb.profile_view())


@router.callback_query(MenuCB.filter(F.action == "profile"))
async def profile_button(
    callback: CallbackQuery, catalog: Catalog, user_record: User | None, lang: str
) -> None:
    await show(callback, profile_text(user_record, catalog, lang), kb.profile_view(), edit=True)


@router.callback_query(ProfileCB.filter(F.step == "e"))
async def edit(callback: CallbackQuery, catalog: Catalog, lang: str) -> None:
    await show(
        callback, org_question(), kb.org_types(tuple(catalog.rules.org_types.values()), lang), edit=True
    )


@router.callback_query(ProfileCB.filter(F.step == "o"))
async def org_chosen(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: ProfileCB,
    catalog: Catalog,
    clock: Clock,
    lang: str,
) -> None:
    org = catalog.rules.org_types.get(callback_data.value)
    if org is None:
        expire(callback_answer)
        return
    # remember the language too, so that later messages to this user (a waitlist
    # promotion, a reminder) come in the language they used
    await save(
        callback,
        catalog,
        users.save_user,
        catalog.store,
        callback.from_user.id,
        clock.now(),
        callback_answer=callback_answer,
        org_type=org.code,
        contractor=False,
        dispatched=False,
        lang=lang,
    )
    if org.public:
        await show(
            callback,
            _(
                "Do you work for it as its own staff, as a dispatched worker "
                "(派遣) under its direction, or as a contractor (請負) running "
                "its systems?"
            ),
            kb.work_question(),
            edit=True,
        )
        return
    await ask_prefecture(callback, lang)


async def ask_prefecture(callback: CallbackQuery, lang: str) -> None:
    await show(
        callback,
        _(
            "Where do you work? Choose your region, then your prefecture "
            "(used to show nearby sessions first)."
        ),
        kb.profile_regions(lang),
        edit=True,
    )


@router.callback_query(ProfileCB.filter(F.step == "w"))
async def work_chosen(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: ProfileCB,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    flags = {"staff": (False, False), "disp": (False, True), "cont": (True, False)}
    if callback_data.value not in flags or user_record is None or not user_record.org_type:
        expire(callback_answer)
        return
    contractor, dispatched = flags[callback_data.value]
    await save(
        callback,
        catalog,
        users.save_user,
        catalog.store,
        callback.from_user.id,
        clock.now(),
        callback_answer=callback_answer,
        contractor=contractor,
        dispatched=dispatched,
    )
    await ask_prefecture(callback, lang)


@router.callback_query(ProfileCB.filter(F.step == "x"))
async def back_to_regions(callback: CallbackQuery, lang: str) -> None:
    await ask_prefecture(callback, lang)


@router.callback_query(ProfileCB.filter(F.step == "r"))
async def region_chosen(
    callback: CallbackQuery, callback_answer: CallbackAnswer, callback_data: ProfileCB, lang: str
) -> None:
    if not callback_data.value.isdigit() or int(callback_data.value) >= len(places.REGIONS):
        expire(callback_answer)
        return
    region = places.REGIONS[int(callback_data.value)]
    await show(callback, _("Choose your prefecture."), kb.profile_prefectures(region, lang), edit=True)


@router.callback_query(ProfileCB.filter(F.step == "f"))
async def prefecture_chosen(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: ProfileCB,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    after_profile: AfterProfile,
    user_record: User | None,
    lang: str,
) -> None:
    value = callback_data.value
    if not value.isdigit() or not 0 <= int(value) <= 47 or user_record is None or not user_record.org_type:
        expire(callback_answer)
        return
    code = int(value) or None
    record = await save(
        callback,
        catalog,
        users.save_user,
        catalog.store,
        callback.from_user.id,
        clock.now(),
        callback_answer=callback_answer,
        prefecture_code=code,
    )
    data = await state.get_data()
    after = data.get(AFTER_KEY)
    await state.update_data({AFTER_KEY: None})
    await show(
        callback,
        _("Saved.") + "\n\n" + profile_text(record, catalog, lang),
        kb.profile_view() if not after else None,
        edit=True,
    )
    if after:
        await after_profile.go_on(
            callback, state, after, catalog=catalog, clock=clock, record=record, lang=lang
        )
