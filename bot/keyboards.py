"""Keyboard builders. They take domain objects and return markup; texts are translated
in the current locale (call them inside a handler)."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    CourseCB,
    FindCB,
    ForgetCB,
    LangCB,
    MenuCB,
    MyCB,
    ProfileCB,
    RegCB,
    RegionCB,
    SessionCB,
    SubCB,
)
from catalog import places
from catalog.eligibility import OrgType
from catalog.sessions import Session


def _button(text: str, cb: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=cb.pack())  # type: ignore[attr-defined]


def back_to_menu() -> InlineKeyboardButton:
    return _button(_("⬅️ Menu"), MenuCB(action="start"))


def main_menu() -> InlineKeyboardMarkup:
    rows = [
        [_button(_("🔎 Find sessions"), MenuCB(action="find")),
         _button(_("📚 Courses"), MenuCB(action="courses"))],
        [_button(_("📝 My registrations"), MenuCB(action="my")),
         _button(_("👤 Profile"), MenuCB(action="profile"))],
        [_button(_("📅 Calendar feed"), MenuCB(action="sub")),
         _button(_("🌐 Language"), MenuCB(action="lang"))],
        [_button(_("❓ Help"), MenuCB(action="help"))],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def only_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[back_to_menu()]])


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _button("日本語", LangCB(lang="ja")), _button("English", LangCB(lang="en"))]])


def region_name(region: places.Region, lang: str) -> str:
    return region.name_en if lang == "en" else region.name


def pref_name(pref: places.Prefecture, lang: str) -> str:
    return pref.romaji if lang == "en" else pref.name


def org_types(types: Sequence[OrgType], lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for t in types:
        kb.row(_button(t.name_en if lang == "en" else t.name_ja, ProfileCB(step="o", value=t.code)))
    return kb.as_markup()


def work_question() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("Staff of this organisation"), ProfileCB(step="w", value="staff"))],
        [_button(_("Dispatched worker (派遣) under its direction"),
                 ProfileCB(step="w", value="disp"))],
        [_button(_("Contractor (請負) running its systems"), ProfileCB(step="w", value="cont"))],
    ])


def profile_regions(lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, r in enumerate(places.REGIONS):
        kb.button(text=region_name(r, lang), callback_data=ProfileCB(step="r", value=str(i)))
    kb.adjust(3)
    kb.row(_button(_("Skip"), ProfileCB(step="f", value="0")))
    return kb.as_markup()


def profile_prefectures(region: places.Region, lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in region.prefectures:
        kb.button(text=pref_name(places.prefecture(code), lang),
                  callback_data=ProfileCB(step="f", value=str(code)))
    kb.adjust(3)
    kb.row(_button(_("⬅️ Back"), ProfileCB(step="x", value="")))
    return kb.as_markup()


def profile_view() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("✏️ Change"), ProfileCB(step="e"))], [back_to_menu()]])


def find_menu(lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, r in enumerate(places.REGIONS):
        kb.button(text=region_name(r, lang), callback_data=RegionCB(idx=i))
    kb.adjust(3)
    kb.row(_button(_("📍 Near me"), MenuCB(action="near")),
           _button(_("🗓 All upcoming"), FindCB(kind="a")))
    kb.row(back_to_menu())
    return kb.as_markup()


def region_prefectures(idx: int, region: places.Region, lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in region.prefectures:
        kb.button(text=pref_name(places.prefecture(code), lang),
                  callback_data=FindCB(kind="p", key=str(code)))
    kb.adjust(3)
    kb.row(_button(_("The whole region"), FindCB(kind="r", key=str(idx))))
    kb.row(_button(_("⬅️ Back"), MenuCB(action="find")))
    return kb.as_markup()


def location_request() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📍 Send my location"), request_location=True)]],
        resize_keyboard=True, one_time_keyboard=True,
        input_field_placeholder=_("or type a place: 広島, Sapporo…"))


def session_card(session: Session, *, can_register: bool, full: bool,
                 share_url: str | None) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if can_register:
        if full:
            rows.append([_button(_("⏳ Join the waitlist"), SessionCB(id=session.id, action="wl"))])
        else:
            rows.append([_button(_("✍️ Register"), SessionCB(id=session.id, action="reg"))])
    rows.append([_button(_("📅 Add to calendar"), SessionCB(id=session.id, action="ics"))])
    if share_url:
        rows.append([InlineKeyboardButton(text=_("↗️ Share"), url=share_url)])
    rows.append([_button(_("🔎 Find sessions"), MenuCB(action="find")), back_to_menu()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def course_list(codes: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code, label in codes:
        kb.row(_button(label, CourseCB(code=code)))
    kb.row(back_to_menu())
    return kb.as_markup()


def course_card(code: str, has_sessions: bool) -> InlineKeyboardMarkup:
    rows = []
    if has_sessions:
        rows.append([_button(_("🔎 Sessions of this course"), FindCB(kind="a", course=code))])
    rows.append([_button(_("⬅️ Courses"), MenuCB(action="courses")), back_to_menu()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cancel_dialogue() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("✖️ Cancel"), RegCB(action="stop"))]])


def skip_or_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _button(_("Skip"), RegCB(action="skip")), _button(_("✖️ Cancel"), RegCB(action="stop"))]])


def colleagues_question(can_add: bool) -> InlineKeyboardMarkup:
    rows = []
    if can_add:
        rows.append([_button(_("➕ Add a colleague (同行者)"), RegCB(action="add"))])
    rows.append([_button(_("Continue ➡️"), RegCB(action="done"))])
    rows.append([_button(_("✖️ Cancel"), RegCB(action="stop"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def team_question() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("Yes, we four are one team"), RegCB(action="team"))],
        [_button(_("No, mix us with others"), RegCB(action="noteam"))],
        [_button(_("✖️ Cancel"), RegCB(action="stop"))],
    ])


def confirm_registration(waitlist: bool) -> InlineKeyboardMarkup:
    label = _("✅ Join the waitlist") if waitlist else _("✅ Confirm registration")
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(label, RegCB(action="ok"))], [_button(_("✖️ Cancel"), RegCB(action="stop"))]])


def waitlist_offer(session_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("⏳ Join the waitlist"), SessionCB(id=session_id, action="wl"))],
        [_button(_("🔎 Other sessions"), MenuCB(action="find")), back_to_menu()]])


def my_list(items: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for reg_id, label in items:
        kb.row(_button(label, MyCB(action="show", reg=reg_id)))
    kb.row(_button(_("🔎 Find sessions"), MenuCB(action="find")), back_to_menu())
    return kb.as_markup()


def my_registration(reg_id: int, session_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("📅 Calendar file"), MyCB(action="ics", reg=reg_id))],
        [_button(_("ℹ️ Session details"), SessionCB(id=session_id))],
        [_button(_("🗑 Cancel this registration"), MyCB(action="cancel", reg=reg_id))],
        [_button(_("⬅️ My registrations"), MyCB(action="list"))],
    ])


def confirm_cancel(reg_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("Yes, cancel it"), MyCB(action="yes", reg=reg_id))],
        [_button(_("No, keep it"), MyCB(action="show", reg=reg_id))],
    ])


def confirm_forget() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(_("Yes, delete everything"), ForgetCB(action="yes"))],
        [_button(_("No, keep my data"), ForgetCB(action="no"))],
    ])


def subscription(has_token: bool) -> InlineKeyboardMarkup:
    rows = []
    if has_token:
        rows.append([_button(_("🔄 New link (old one stops working)"), SubCB(action="new"))])
        rows.append([_button(_("🚫 Turn my feed off"), SubCB(action="off"))])
    else:
        rows.append([_button(_("🔑 Create my personal feed"), SubCB(action="new"))])
    rows.append([back_to_menu()])
    return InlineKeyboardMarkup(inline_keyboard=rows)
