"""/my: the user's registrations and waitlist places, with the colleagues (同行者) they
registered; cancel (with confirmation, asking whether the colleagues go too) and
calendar files. (The colleagues themselves: `bot.handlers.colleagues`.) Also the personal
calendar feed ("Subscribe")."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers.common import (
    course_name,
    place_text,
    q,
    send_file,
    session_dates,
    show,
)
from bot.handlers.fallback import expire
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import MateCB, MenuCB, MyCB, SubCB
from bot.telegram.filters import AnyCommand, ButtonOf
from bot.telegram.i18n import say
from bot.telegram.notify import Notifier
from bot.telegram.writes import save
from catalog import calendar as ics
from catalog import colleagues as mates
from catalog import console, users
from catalog import registrations as regs
from catalog.clock import Clock
from catalog.errors import CatalogError, NotFound
from catalog.registrations import Registration
from catalog.service import Catalog
from catalog.users import User

log = logging.getLogger(__name__)

router = Router(name="my")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {
    "callback_query": (ButtonOf(MyCB, SubCB, MenuCB(action="my"), MenuCB(action="sub")),),
    "message": (AnyCommand(),),
}


def status_text(reg: Registration) -> str:
    if reg.status == "waitlisted":
        return _("⏳ waitlist place {n}").format(n=reg.position or "?")
    if reg.status == "cancelled":
        return _("✖️ cancelled")
    return _("✅ registered")


def _my_list(catalog: Catalog, user_id: int, lang: str) -> tuple[str, list[tuple[CallbackData, str]]]:
    """Each application: the user's own seat and the colleagues they registered, each with
    its status; an application whose own seat is cancelled stays while colleagues remain."""
    apps = mates.applications_of(catalog, user_id)
    if not apps:
        return _("You have no registrations yet."), []
    lines = [_("<b>My registrations</b>")]
    buttons: list[tuple[CallbackData, str]] = []
    for i, app in enumerate(apps, start=1):
        s = catalog.session(app.session_id)
        own = status_text(app.own) if app.own_active else _("(your own registration is cancelled)")
        lines.append(
            f"{i}. <b>{q(session_dates(s, lang))}</b> {q(s.course)} {q(place_text(s, lang))} — {q(own)}"
        )
        for mate in app.colleagues:
            lines.append(f"    👥 {q(mate.name)} — {q(status_text(mate))}")
        label = f"{i}. {session_dates(s, lang)} {s.course} {place_text(s, lang)}"
        cb: CallbackData = (
            MyCB(action="show", reg=app.own.id) if app.own_active else MateCB(action="list", reg=app.own.id)
        )
        buttons.append((cb, label))
    return "\n".join(lines), buttons


@router.message(Command("my"))
async def my_command(message: Message, catalog: Catalog, lang: str) -> None:
    assert message.from_user is not None
    text, buttons = _my_list(catalog, message.from_user.id, lang)
    await message.answer(text, reply_markup=kb.my_list_items(buttons))


@router.callback_query(MenuCB.filter(F.action == "my"))
@router.callback_query(MyCB.filter(F.action == "list"))
async def my_button(callback: CallbackQuery, catalog: Catalog, lang: str) -> None:
    text, buttons = _my_list(catalog, callback.from_user.id, lang)
    await show(callback, text, kb.my_list_items(buttons), edit=True)


def _colleagues(catalog: Catalog, reg: Registration, user_id: int) -> tuple[Registration, ...]:
    """The active colleagues of the application whose representative's row is `reg`."""
    try:
        return mates.application_of(catalog, reg.id, user_id).colleagues
    except NotFound:
        return ()


def _own(catalog: Catalog, reg_id: int, user_id: int) -> Registration | None:
    """The registration when it exists, is active and belongs to this user."""
    try:
        reg = regs.get_registration(catalog, reg_id)
    except NotFound:
        return None
    if reg.user_id != user_id or reg.status not in regs.ACTIVE:
        return None
    return reg


@router.callback_query(MyCB.filter(F.action.in_({"show", "cancel", "yes", "ics"})))
async def registration_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: MyCB,
    catalog: Catalog,
    clock: Clock,
    settings: Settings,
    notifier: Notifier,
    lang: str,
) -> None:
    reg = _own(catalog, callback_data.reg, callback.from_user.id)
    if reg is None:
        expire(callback_answer)
        return
    session = catalog.session(reg.session_id)
    assert callback.bot is not None
    if callback_data.action == "show":
        lines = [
            f"<b>{q(course_name(catalog, session.course, lang))}</b>",
            q(session.dates_text(lang)) + " · " + q(place_text(session, lang)),
            _("Status: {status}").format(status=q(status_text(reg))),
            _("Name: {v}").format(v=q(reg.name)),
            _("Organisation: {org}").format(org=q(reg.organisation)),
            _("E-mail: {v}").format(v=q(reg.email or "—")),
        ]
        colleagues = _colleagues(catalog, reg, callback.from_user.id)
        if colleagues:
            lines += ["", _("<b>Colleagues (同行者)</b>")]
            lines += [f"• {q(m.name)} — {q(status_text(m))}" for m in colleagues]
        await show(
            callback,
            "\n".join(lines),
            kb.my_registration_with(reg.id, session.id, len(colleagues)),
            edit=True,
        )
    elif callback_data.action == "cancel" and _colleagues(catalog, reg, callback.from_user.id):
        colleagues = _colleagues(catalog, reg, callback.from_user.id)
        await show(
            callback,
            _(
                "Cancel your own place for {course} on {dates}? You also "
                "registered {n} colleague(s) in this application: {names}. "
                "Do they cancel too?"
            ).format(
                course=q(course_name(catalog, session.course, lang)),
                dates=q(session.dates_text(lang)),
                n=len(colleagues),
                names=q(", ".join(m.name for m in colleagues)),
            ),
            kb.confirm_cancel_with_colleagues(reg.id, len(colleagues)),
            edit=True,
        )
    elif callback_data.action == "cancel":
        await show(
            callback,
            _("Cancel your place for {course} on {dates}? This cannot be undone.").format(
                course=q(course_name(catalog, session.course, lang)), dates=q(session.dates_text(lang))
            ),
            kb.confirm_cancel(reg.id),
            edit=True,
        )
    elif callback_data.action == "ics":
        file = ics.calendar_file(
            catalog, session, user_id=callback.from_user.id, lang=lang, organizer=settings.organizer_email
        )
        await send_file(callback.bot, callback.from_user.id, file)
    else:
        notify = notifier.notify(callback.from_user.id, event=callback, lang=lang)
        try:
            await save(
                callback,
                catalog,
                console.cancel_own,
                catalog,
                reg.id,
                callback_answer=callback_answer,
                today=clock.today(),
                now=clock.now(),
                user_id=callback.from_user.id,
                notify=notify,
            )
        except NotFound:
            expire(callback_answer)
            return
        except CatalogError as e:
            await show(callback, q(say(e, lang)), kb.only_menu())
            return
        # "Cancelled", the calendar's CANCEL and the waitlist's good news were queued
        # with the cancellation; they go now (bot.telegram.notify).
        await notifier.deliver(callback.bot, notify)


# -- personal calendar feed ---------------------------------------------------------------------


def _feed_text(settings: Settings, record: User | None, lang: str) -> str:
    public = ics.subscription_links(settings.public_base_url, lang=lang)
    lines = [
        _("<b>Calendar subscriptions</b>"),
        _('All sessions: <a href="{https}">{https}</a>').format(https=q(public.https)),
        _('Google Calendar: <a href="{url}">add</a>').format(url=q(public.google)),
    ]
    if record and record.calendar_token:
        mine = ics.subscription_links(settings.public_base_url, token=record.calendar_token, lang=lang)
        lines += [
            "",
            _("<b>My registrations</b> (keep this link private):"),
            f"<code>{q(mine.webcal)}</code>",
            _('Google Calendar: <a href="{url}">add</a>').format(url=q(mine.google)),
        ]
    else:
        lines += ["", _("Create a private link to see your own registrations in your calendar app.")]
    return "\n".join(lines)


@router.callback_query(MenuCB.filter(F.action == "sub"))
async def subscribe_menu(
    callback: CallbackQuery, settings: Settings, user_record: User | None, lang: str
) -> None:
    has = bool(user_record and user_record.calendar_token)
    await show(
        callback,
        _feed_text(settings, user_record, lang),
        kb.subscription(has, ics.subscribe_page_url(settings.public_base_url, lang=lang)),
        edit=True,
    )


@router.callback_query(SubCB.filter(F.action.in_({"new", "off"})))
async def subscribe_change(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: SubCB,
    catalog: Catalog,
    clock: Clock,
    settings: Settings,
    lang: str,
) -> None:
    uid = callback.from_user.id
    if callback_data.action == "new":
        await save(
            callback,
            catalog,
            users.issue_calendar_token,
            catalog.store,
            uid,
            clock.now(),
            callback_answer=callback_answer,
        )
    else:
        await save(
            callback,
            catalog,
            users.revoke_calendar_token,
            catalog.store,
            uid,
            callback_answer=callback_answer,
        )
    record = users.get_user(catalog.store, uid)
    has = bool(record and record.calendar_token)
    await show(
        callback,
        _feed_text(settings, record, lang),
        kb.subscription(has, ics.subscribe_page_url(settings.public_base_url, lang=lang)),
        edit=True,
    )
