"""The colleagues (同行者) a representative registered, from /my: see each with its status,
cancel one or all of them, cancel one's own seat with or without them, and change a
colleague's name or e-mail up to the deadline. Every button names a registration; one
that is not this user's (or no longer active) is answered as expired and changes nothing.
The rules are in `catalog.colleagues`; writes go through `save` (off the event loop,
telling the person when the database is busy)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.handlers.common import course_name, place_text, q, show
from bot.handlers.fallback import expire
from bot.handlers.my import status_text
from bot.handlers.registration import ANSWER, COMMAND, NOT_COMMAND
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import MateCB
from bot.telegram.i18n import say
from bot.telegram.notify import Notifier
from bot.telegram.writes import save
from catalog import colleagues as mates
from catalog.clock import Clock
from catalog.colleagues import MyApplication
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.registrations import Registration, RegistrationError
from catalog.service import Catalog

router = Router(name="colleagues")

APPLICATION_ACTIONS = {"list", "all", "allyes", "own", "ownall"}
COLLEAGUE_ACTIONS = {"show", "cancel", "yes", "name", "email"}


class ColleagueEdit(StatesGroup):
    value = State()  # data: reg (the colleague's registration id), field (name | email)


@router.message(StateFilter(ColleagueEdit), COMMAND)
async def command_mid_edit(message: Message, state: FSMContext) -> None:
    """A command leaves the change unsaved, then runs as usual."""
    await state.clear()
    raise SkipHandler


def _head(catalog: Catalog, session_id: str, lang: str) -> str:
    s = catalog.session(session_id)
    return _("<b>Colleagues (同行者)</b>: {course}, {dates}, {place}").format(
        course=q(course_name(catalog, s.course, lang)),
        dates=q(s.dates_text(lang)),
        place=q(place_text(s, lang)),
    )


def _names(people: list[Registration] | tuple[Registration, ...]) -> str:
    return ", ".join(p.name for p in people)


async def _show_list(
    callback: CallbackQuery, catalog: Catalog, app: MyApplication, lang: str, note: str = ""
) -> None:
    lines = [note, ""] if note else []
    lines.append(_head(catalog, app.session_id, lang))
    if app.colleagues:
        lines += [f"• {q(m.name)} — {q(status_text(m))}" for m in app.colleagues]
    else:
        lines.append(_("No colleagues are registered in this application any more."))
    await show(
        callback,
        "\n".join(lines),
        kb.colleague_list(
            app.own.id, app.own_active, [(m.id, f"{m.name} — {status_text(m)}") for m in app.colleagues]
        ),
        edit=True,
    )


def _refreshed(catalog: Catalog, app: MyApplication, user_id: int) -> MyApplication | None:
    try:
        return mates.application_of(catalog, app.own.id, user_id)
    except NotFound:  # nothing active left in it
        return None


@router.callback_query(MateCB.filter(F.action.in_(APPLICATION_ACTIONS)))
async def application_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: MateCB,
    catalog: Catalog,
    clock: Clock,
    lang: str,
    notifier: Notifier,
) -> None:
    uid = callback.from_user.id
    try:
        app = mates.application_of(catalog, callback_data.reg, uid)
    except NotFound:
        expire(callback_answer)
        return
    action = callback_data.action
    if action == "list":
        await _show_list(callback, catalog, app, lang)
        return
    if action == "all":
        if not app.colleagues:
            expire(callback_answer)
            return
        await show(
            callback,
            _("Cancel the registrations of all {n} colleague(s) ({names})? This cannot be undone.").format(
                n=len(app.colleagues), names=q(_names(app.colleagues))
            ),
            kb.confirm_cancel_colleagues(app.own.id),
            edit=True,
        )
        return
    # the own seat's calendar CANCEL and the waitlist's good news are queued with the
    # cancels and delivered after this answer (the "Cancelled: …" below is the answer)
    notify = notifier.notify(uid, lang=lang, answered=True)
    try:
        if action == "allyes":
            outcome = await save(
                callback,
                catalog,
                mates.cancel_colleagues,
                catalog,
                app.own.id,
                callback_answer=callback_answer,
                user_id=uid,
                today=clock.today(),
                now=clock.now(),
                notify=notify,
            )
        else:
            outcome = await save(
                callback,
                catalog,
                mates.cancel_own,
                catalog,
                app.own.id,
                callback_answer=callback_answer,
                user_id=uid,
                today=clock.today(),
                now=clock.now(),
                with_colleagues=action == "ownall",
                notify=notify,
            )
    except NotFound:
        expire(callback_answer)
        return
    except CatalogError as e:
        await show(callback, q(say(e, lang)), kb.only_menu())
        return
    note = _("Cancelled: {names}.").format(names=q(_names(outcome.cancelled)))
    after = _refreshed(catalog, app, uid)
    if action == "own" and after is not None and after.colleagues:
        note += "\n" + _("Your colleagues stay registered; you can still manage them here and in /my.")
    if after is not None and after.colleagues:
        await _show_list(callback, catalog, after, lang, note)
    else:
        await show(callback, note, kb.only_menu(), edit=True)
    assert callback.bot is not None
    await notifier.deliver(callback.bot, notify)


async def _show_colleague(
    event: Message | CallbackQuery,
    catalog: Catalog,
    clock: Clock,
    app: MyApplication,
    mate: Registration,
    lang: str,
    note: str = "",
) -> None:
    session = catalog.session(mate.session_id)
    can_edit = session.is_open(clock.today())
    lines = [note, ""] if note else []
    lines += [
        _head(catalog, mate.session_id, lang),
        _("Name: {v}").format(v=q(mate.name)),
        _("E-mail: {v}").format(v=q(mate.email or "—")),
        _("Status: {status}").format(status=q(status_text(mate))),
    ]
    if not can_edit:
        d = session.deadline
        lines.append(
            _(
                "Names and e-mail addresses could be changed up to the deadline "
                "({date}); please ask the office."
            ).format(date=q(d.isoformat()))
        )
    await show(
        event,
        "\n".join(lines),
        kb.colleague_view(mate.id, app.own.id, can_edit),
        edit=isinstance(event, CallbackQuery),
    )


@router.callback_query(MateCB.filter(F.action.in_(COLLEAGUE_ACTIONS)))
async def colleague_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: MateCB,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    lang: str,
    notifier: Notifier,
) -> None:
    uid = callback.from_user.id
    try:
        app, mate = mates.colleague_of(catalog, callback_data.reg, uid)
    except NotFound:
        expire(callback_answer)
        return
    action = callback_data.action
    session = catalog.session(mate.session_id)
    if action == "show":
        await _show_colleague(callback, catalog, clock, app, mate, lang)
    elif action == "cancel":
        await show(
            callback,
            _("Cancel the registration of {name} for {course} on {dates}? This cannot be undone.").format(
                name=q(mate.name),
                course=q(course_name(catalog, session.course, lang)),
                dates=q(session.dates_text(lang)),
            ),
            kb.confirm_cancel_colleague(mate.id),
            edit=True,
        )
    elif action == "yes":
        notify = notifier.notify(uid, lang=lang, answered=True)  # the promotions, queued
        try:
            outcome = await save(
                callback,
                catalog,
                mates.cancel_colleague,
                catalog,
                mate.id,
                callback_answer=callback_answer,
                user_id=uid,
                today=clock.today(),
                now=clock.now(),
                notify=notify,
            )
        except NotFound:
            expire(callback_answer)
            return
        except CatalogError as e:
            await show(callback, q(say(e, lang)), kb.only_menu())
            return
        note = _("Cancelled: {names}.").format(names=q(_names(outcome.cancelled)))
        after = _refreshed(catalog, app, uid)
        if after is not None:
            await _show_list(callback, catalog, after, lang, note)
        else:
            await show(callback, note, kb.only_menu(), edit=True)
        assert callback.bot is not None
        await notifier.deliver(callback.bot, notify)
    else:
        if not session.is_open(clock.today()):
            await _show_colleague(callback, catalog, clock, app, mate, lang)
            return
        await state.set_state(ColleagueEdit.value)
        await state.set_data({"reg": mate.id, "field": action})
        question = (
            _("The new name for {name}?") if action == "name" else _("The new e-mail address for {name}?")
        )
        await show(callback, question.format(name=q(mate.name)), kb.cancel_dialogue())


@router.message(StateFilter(ColleagueEdit.value), ANSWER)
async def got_value(
    message: Message, state: FSMContext, catalog: Catalog, clock: Clock, lang: str, notifier: Notifier
) -> None:
    assert message.from_user is not None
    uid = message.from_user.id
    data = await state.get_data()
    try:
        reg = await save(
            message,
            catalog,
            mates.edit_colleague,
            catalog,
            int(data.get("reg", 0)),
            user_id=uid,
            today=clock.today(),
            now=clock.now(),
            field_name=str(data.get("field", "")),
            value=message.text or "",
        )
    except (InvalidInput, RegistrationError) as e:
        if isinstance(e, InvalidInput) or e.code == "duplicate":
            await message.answer(
                q(say(e, lang)) + "\n" + _("Please try again."), reply_markup=kb.cancel_dialogue()
            )
            return
        await state.clear()
        await message.answer(q(say(e, lang)), reply_markup=kb.only_menu())
        return
    except CatalogError as e:  # gone meanwhile
        await state.clear()
        await message.answer(q(say(e, lang)), reply_markup=kb.only_menu())
        return
    notifier.wake()  # the corrected invite (and the old address's CANCEL): now
    await state.clear()
    try:
        app, mate = mates.colleague_of(catalog, reg.id, uid)
    except NotFound:
        await message.answer(_("✅ Changed."), reply_markup=kb.only_menu())
        return
    await _show_colleague(message, catalog, clock, app, mate, lang, _("✅ Changed."))


@router.message(StateFilter(ColleagueEdit.value), NOT_COMMAND)
async def not_text(message: Message) -> None:
    await message.answer(_("Please type your answer as text (or /cancel)."))
