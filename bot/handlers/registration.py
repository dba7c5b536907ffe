"""The registration dialogue (FSM): name, organisation, department, e-mail, colleagues
(同行者), team of four, summary; saved only on confirmation. /cancel leaves at any step.
A colleague already in the application (or the session) is refused as it is typed; a
typed colleague can be removed until confirming; "one team of four" is exactly four."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers.common import course_name, place_text, q, session_dates, show
from bot.handlers.fallback import expire
from bot.handlers.profile import ask_profile
from bot.telegram import keyboards as kb
from bot.telegram.callbacks import DraftCB, RegCB, SessionCB
from bot.telegram.filters import ButtonOf, Magic
from bot.telegram.i18n import say
from bot.telegram.notify import Notifier
from bot.telegram.writes import BUSY_APPLICATION, save
from catalog import colleagues as mates
from catalog import console, places, users
from catalog import registrations as regs
from catalog.audit import Actor
from catalog.clock import Clock
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.registrations import Applicant, RegistrationError
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.users import User
from catalog.validation import clean_email, clean_name, clean_text, is_skip

log = logging.getLogger(__name__)

router = Router(name="registration")

MAX_PEOPLE = 16
TEAM_SIZE = regs.TEAM_SIZE


class RegForm(StatesGroup):
    name = State()
    organisation = State()
    department = State()
    email = State()
    colleagues = State()  # buttons: add one / continue
    colleague_name = State()
    colleague_email = State()
    team = State()  # buttons: one team / mix
    confirm = State()  # buttons: confirm / cancel


# What may reach this router at all (bot.handlers.get_routers sets it on the router): its
# buttons, and messages in the middle of the dialogue.
ROUTER_FILTERS = {
    "callback_query": (ButtonOf(RegCB, SessionCB, DraftCB),),
    "message": (StateFilter(RegForm),),
}

# A command is never an answer: "/my" typed as the name leaves the dialogue instead.
COMMAND = Magic(F.text.startswith("/"))
NOT_COMMAND = Magic(~F.text.startswith("/"))
ANSWER = Magic(F.text & ~F.text.startswith("/"))


@router.message(StateFilter(RegForm), COMMAND)
async def command_mid_dialogue(message: Message, state: FSMContext) -> None:
    """A command typed in the middle of the dialogue (other than the ones routers before
    this one take: /start and /cancel end it too, /help, /lang, /profile and /courses
    answer and let it go on) ends it, saving nothing, and then runs as usual."""
    await state.clear()
    await message.answer(_("Registration stopped. Nothing was saved."))
    raise SkipHandler  # on to the routers after this one, which take the command


def _limit(session: Session, waitlist: bool) -> int:
    return MAX_PEOPLE if waitlist else max(1, min(MAX_PEOPLE, session.seats_left))


async def begin(
    event: Message | CallbackQuery,
    state: FSMContext,
    session: Session,
    *,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
    waitlist: bool,
) -> None:
    """Check what can be known before asking anything; then ask for the name."""
    if user_record is None or user_record.profile is None:
        await ask_profile(event, state, after=f"r:{session.id}", lang=lang, catalog=catalog)
        return
    today = clock.today()
    if session.cancelled or not session.is_open(today):
        text = (
            _("This session has been cancelled.")
            if session.cancelled
            else _("Applications for this session are closed.")
        )
        await show(event, text, kb.only_menu())
        return
    verdict = catalog.verdict(user_record.profile, session.course)
    if not verdict.eligible:
        reason = say(verdict.reason, lang)
        await show(
            event,
            _("❌ You cannot register for this session: {reason}").format(reason=q(reason)),
            kb.only_menu(),
        )
        return
    user_id = event.from_user.id if event.from_user else 0
    if any(r.session_id == session.id for r in regs.for_user(catalog, user_id)):
        await show(
            event,
            _("You are already registered (or on the waitlist) for this session. See /my."),
            kb.only_menu(),
        )
        return
    full = session.seats_left <= 0 or session.waitlisted > 0
    if full and not waitlist:
        await show(
            event,
            _(
                "This session is full. You can join the waitlist: when a seat "
                "frees up before the deadline, the first on the list gets it and "
                "is told here."
            ),
            kb.waitlist_offer(session.id),
        )
        return
    await state.set_state(RegForm.name)
    await state.set_data({"session_id": session.id, "waitlist": waitlist, "colleagues": [], "team": False})
    head = _("<b>Registration</b>: {course}, {dates}, {place}").format(
        course=q(course_name(catalog, session.course, lang)),
        dates=q(session_dates(session, lang)),
        place=q(place_text(session, lang)),
    )
    if waitlist:
        head += "\n" + _("(You are joining the waitlist.)")
    last = _last_details(catalog, user_id)
    markup = kb.reuse_or_cancel(f"{last.name}, {last.organisation}") if last else kb.cancel_dialogue()
    await show(
        event,
        head
        + "\n\n"
        + _("Your full name?")
        + "\n"
        + _("(/cancel stops at any step; nothing is saved until you confirm.)"),
        markup,
    )


async def begin_after_profile(
    callback: CallbackQuery,
    state: FSMContext,
    session_id: str,
    *,
    catalog: Catalog,
    clock: Clock,
    record: User,
    lang: str,
) -> None:
    """The `bot.handlers.flow` step "r:<session id>": registration goes on."""
    try:
        session = catalog.session(session_id)
    except NotFound:
        return
    await begin(
        callback, state, session, catalog=catalog, clock=clock, user_record=record, lang=lang, waitlist=False
    )


def _last_details(catalog: Catalog, user_id: int) -> regs.Registration | None:
    """This user's most recent application (their own row), to offer its details again."""
    mine = regs.for_user(catalog, user_id, include_cancelled=True)
    return max(mine, key=lambda r: r.id) if mine else None


@router.callback_query(StateFilter(RegForm.name), RegCB.filter(F.action == "reuse"))
async def reuse_details(
    callback: CallbackQuery, callback_answer: CallbackAnswer, state: FSMContext, catalog: Catalog, lang: str
) -> None:
    last = _last_details(catalog, callback.from_user.id)
    if last is None or not last.email:
        expire(callback_answer)
        return
    await state.update_data(
        name=last.name, organisation=last.organisation, department=last.department, email=last.email
    )
    await _after_people(callback, state, catalog, lang)


@router.callback_query(SessionCB.filter(F.action.in_({"reg", "wl"})))
async def register_button(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: SessionCB,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    user_record: User | None,
    lang: str,
) -> None:
    try:
        session = catalog.session(callback_data.id)
    except NotFound:
        expire(callback_answer)
        return
    await begin(
        callback,
        state,
        session,
        catalog=catalog,
        clock=clock,
        user_record=user_record,
        lang=lang,
        waitlist=callback_data.action == "wl",
    )


@router.callback_query(RegCB.filter(F.action == "stop"))
async def stop(callback: CallbackQuery, state: FSMContext) -> None:
    had = await state.get_state()
    await state.clear()
    await show(
        callback,
        _("Stopped. Nothing was saved.") if had else _("There is nothing to stop."),
        kb.only_menu(),
        edit=True,
    )


async def _field(message: Message, lang: str, field: str, *, required: bool = True) -> str | None:
    try:
        if field in ("name", "organisation"):  # a name needs a letter: 😀😀 is none
            return clean_name(message.text or "", field)
        return clean_text(message.text or "", field, required=required)
    except InvalidInput as e:
        await message.answer(
            q(say(e, lang)) + "\n" + _("Please try again."), reply_markup=kb.cancel_dialogue()
        )
        return None


async def _take(
    message: Message,
    state: FSMContext,
    lang: str,
    field: str,
    key: str,
    then: State,
    question: str,
    markup: InlineKeyboardMarkup,
) -> None:
    """One step of the dialogue: check the typed `field`, keep it as `key`, ask the next."""
    value = await _field(message, lang, field)
    if value is None:
        return
    await state.update_data({key: value})
    await state.set_state(then)
    await message.answer(question, reply_markup=markup)


@router.message(StateFilter(RegForm.name), ANSWER)
async def got_name(message: Message, state: FSMContext, lang: str) -> None:
    await _take(
        message,
        state,
        lang,
        "name",
        "name",
        RegForm.organisation,
        _("Your organisation's name? (e.g. 広島県庁, 〇〇市役所)"),
        kb.cancel_dialogue(),
    )


@router.message(StateFilter(RegForm.organisation), ANSWER)
async def got_organisation(message: Message, state: FSMContext, lang: str) -> None:
    await _take(
        message,
        state,
        lang,
        "organisation",
        "organisation",
        RegForm.department,
        _("Your department? (or Skip)"),
        kb.skip_or_cancel(),
    )


async def _ask_email(event: Message | CallbackQuery, state: FSMContext, settings: Settings) -> None:
    await state.set_state(RegForm.email)
    if settings.mail_enabled:
        text = _("Your e-mail address? (the confirmation and calendar invites are mailed to it)")
    else:  # nothing is mailed: say what the address is for
        text = _("Your e-mail address? (it goes on the office's roster; this bot sends no mail)")
    await show(event, text, kb.cancel_dialogue())


@router.message(StateFilter(RegForm.department), ANSWER)
async def got_department(message: Message, state: FSMContext, settings: Settings, lang: str) -> None:
    if is_skip(message.text):  # 省略, なし, skip, none, - : as the Skip button
        value: str | None = ""
    else:
        value = await _field(message, lang, "department", required=False)
    if value is None:
        return
    await state.update_data(department=value)
    await _ask_email(message, state, settings)


@router.callback_query(StateFilter(RegForm.department), RegCB.filter(F.action == "skip"))
async def skip_department(callback: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    await state.update_data(department="")
    await _ask_email(callback, state, settings)


async def _email(message: Message, lang: str) -> str | None:
    try:
        return clean_email(message.text or "")
    except InvalidInput as e:
        await message.answer(
            q(say(e, lang)) + "\n" + _("Please try again."), reply_markup=kb.cancel_dialogue()
        )
        return None


async def _session(state: FSMContext, catalog: Catalog) -> Session | None:
    data = await state.get_data()
    try:
        return catalog.session(str(data.get("session_id", "")))
    except NotFound:
        return None


async def _after_people(
    event: Message | CallbackQuery, state: FSMContext, catalog: Catalog, lang: str, note: str = ""
) -> None:
    """Offer another colleague while there is room; then the team question or the summary."""
    session = await _session(state, catalog)
    if session is None:
        await state.clear()
        await show(event, _("That session no longer exists."), kb.only_menu())
        return
    data = await state.get_data()
    people = 1 + len(data["colleagues"])
    can_add = people < _limit(session, bool(data["waitlist"]))
    if people == 1 and not can_add:
        await _team_or_summary(event, state, catalog, lang)
        return
    await state.set_state(RegForm.colleagues)
    text = _(
        "Register colleagues (同行者) from your organisation in the same application? People so far: {n}."
    ).format(n=people)
    for i, c in enumerate(data["colleagues"], start=1):
        text += "\n" + _("Colleague {i}: {name} &lt;{email}&gt;").format(
            i=i, name=q(c["name"]), email=q(c["email"])
        )
    if not can_add:
        text += "\n" + _("No more seats for further colleagues.")
    if note:
        text = note + "\n\n" + text
    await show(event, text, kb.colleagues_draft(can_add, _removals(data)))


def _draft_key(colleague: dict[str, Any]) -> str:
    """A short name for one typed colleague, so a stale "remove" button removes nobody else."""
    text = f"{colleague.get('name', '')}\n{colleague.get('email', '')}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _removals(data: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(i, str(c["name"]), _draft_key(c)) for i, c in enumerate(data["colleagues"])]


def _people_so_far(data: dict[str, Any]) -> list[Applicant]:
    """The representative and the colleagues typed so far (for the duplicate check)."""
    org = str(data.get("organisation") or "")
    return [
        Applicant(str(data.get("name") or ""), org, "", email=str(data.get("email") or "")),
        *(Applicant(str(c["name"]), org, "", email=str(c["email"])) for c in data["colleagues"]),
    ]


async def _refuse_twice(
    message: Message, state: FSMContext, catalog: Catalog, lang: str, *, name: str = "", email: str = ""
) -> bool:
    """Whether the colleague just typed is already in the application or the session (then
    said so, and the same question stays open)."""
    data = await state.get_data()
    try:
        mates.check_new_colleague(
            catalog,
            str(data.get("session_id", "")),
            _people_so_far(data),
            organisation=str(data.get("organisation") or ""),
            name=name,
            email=email,
        )
    except RegistrationError as e:
        await message.answer(
            q(say(e, lang)) + "\n" + _("Please try again."), reply_markup=kb.cancel_dialogue()
        )
        return True
    return False


@router.message(StateFilter(RegForm.email), ANSWER)
async def got_email(message: Message, state: FSMContext, catalog: Catalog, lang: str) -> None:
    value = await _email(message, lang)
    if value is None:
        return
    await state.update_data(email=value)
    await _after_people(message, state, catalog, lang)


@router.callback_query(StateFilter(RegForm.colleagues), RegCB.filter(F.action == "add"))
async def add_colleague(
    callback: CallbackQuery, callback_answer: CallbackAnswer, state: FSMContext, catalog: Catalog
) -> None:
    session = await _session(state, catalog)
    data = await state.get_data()
    if session is None or 1 + len(data["colleagues"]) >= _limit(session, bool(data["waitlist"])):
        expire(callback_answer)
        return
    await state.set_state(RegForm.colleague_name)
    await show(callback, _("The colleague's full name?"), kb.cancel_dialogue())


@router.message(StateFilter(RegForm.colleague_name), ANSWER)
async def got_colleague_name(message: Message, state: FSMContext, catalog: Catalog, lang: str) -> None:
    value = await _field(message, lang, "name")
    if value is None or await _refuse_twice(message, state, catalog, lang, name=value):
        return
    await state.update_data(colleague_name=value)
    await state.set_state(RegForm.colleague_email)
    await message.answer(_("The colleague's e-mail address?"), reply_markup=kb.cancel_dialogue())


@router.message(StateFilter(RegForm.colleague_email), ANSWER)
async def got_colleague_email(message: Message, state: FSMContext, catalog: Catalog, lang: str) -> None:
    value = await _email(message, lang)
    if value is None or await _refuse_twice(message, state, catalog, lang, email=value):
        return
    data = await state.get_data()
    colleagues = [*data["colleagues"], {"name": data["colleague_name"], "email": value}]
    await state.update_data(colleagues=colleagues, colleague_name=None)
    await _after_people(message, state, catalog, lang)


@router.callback_query(
    StateFilter(RegForm.colleagues, RegForm.team, RegForm.confirm), DraftCB.filter(F.action == "rm")
)
async def remove_colleague(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: DraftCB,
    state: FSMContext,
    catalog: Catalog,
    lang: str,
) -> None:
    """Take a typed colleague out of the application before it is confirmed; a team of
    four is no longer one, and the colleagues question comes back (add, or continue)."""
    data = await state.get_data()
    colleagues = list(data.get("colleagues") or [])
    idx = callback_data.idx
    if not 0 <= idx < len(colleagues) or _draft_key(colleagues[idx]) != callback_data.key:
        expire(callback_answer)
        return
    gone = colleagues.pop(idx)
    note = _("Removed {name} from this application.").format(name=q(gone["name"]))
    if data.get("team"):
        note += "\n" + _("No longer one team of four: the application now has {n} people.").format(
            n=1 + len(colleagues)
        )
    await state.update_data(colleagues=colleagues, team=False)
    await _after_people(callback, state, catalog, lang, note)


@router.callback_query(StateFilter(RegForm.colleagues), RegCB.filter(F.action == "done"))
async def colleagues_done(callback: CallbackQuery, state: FSMContext, catalog: Catalog, lang: str) -> None:
    await _team_or_summary(callback, state, catalog, lang)


async def _team_or_summary(
    event: Message | CallbackQuery, state: FSMContext, catalog: Catalog, lang: str
) -> None:
    data = await state.get_data()
    if 1 + len(data["colleagues"]) == TEAM_SIZE:
        await state.set_state(RegForm.team)
        await show(
            event,
            _(
                "You are four people of one organisation. Do you want to be one "
                "team in the exercise (teams are of four)?"
            ),
            kb.team_question(),
        )
        return
    await _summary(event, state, catalog, lang)


@router.callback_query(StateFilter(RegForm.team), RegCB.filter(F.action.in_({"team", "noteam"})))
async def team_chosen(
    callback: CallbackQuery, callback_data: RegCB, state: FSMContext, catalog: Catalog, lang: str
) -> None:
    await state.update_data(team=callback_data.action == "team")
    await _summary(callback, state, catalog, lang)


async def _summary(
    event: Message | CallbackQuery, state: FSMContext, catalog: Catalog, lang: str, note: str = ""
) -> None:
    session = await _session(state, catalog)
    if session is None:
        await state.clear()
        await show(event, _("That session no longer exists."), kb.only_menu())
        return
    data = await state.get_data()
    await state.set_state(RegForm.confirm)
    lines = [
        _("<b>Please check</b>"),
        _("Session: {course}, {dates}, {place}").format(
            course=q(course_name(catalog, session.course, lang)),
            dates=q(session.dates_text(lang)),
            place=q(place_text(session, lang)),
        ),
        _("Name: {v}").format(v=q(data["name"])),
        _("Organisation: {org}").format(org=q(data["organisation"])),
        _("Department: {v}").format(v=q(data.get("department") or "—")),
        _("E-mail: {v}").format(v=q(data["email"])),
    ]
    for i, c in enumerate(data["colleagues"], start=1):
        lines.append(
            _("Colleague {i}: {name} &lt;{email}&gt;").format(i=i, name=q(c["name"]), email=q(c["email"]))
        )
    if data.get("team") and 1 + len(data["colleagues"]) != TEAM_SIZE:
        await state.update_data(team=False)  # one team of four is exactly four people
        data = await state.get_data()
    if data.get("team"):
        lines.append(_("As one team of four."))
    if data["waitlist"]:
        lines.append(_("⏳ This puts you on the waitlist."))
    user_id = event.from_user.id if event.from_user else 0
    lines += _fee_lines(catalog, users.get_user(catalog.store, user_id), session, lang)
    if note:
        lines = [note, "", *lines]
    await show(event, "\n".join(lines), kb.confirm_draft(bool(data["waitlist"]), _removals(data)))


def _fee_lines(catalog: Catalog, record: User | None, session: Session, lang: str) -> list[str]:
    """The fee on the confirmation screen: 無料, or the price with the official site's
    source and, since no source says how or when to pay, that this is not announced."""
    if record is None or record.profile is None:
        return []
    verdict = catalog.verdict(record.profile, session.course)
    if not verdict.eligible:
        return []
    reason = say(verdict.reason, lang)
    lines = [
        "",
        _("💴 Fee (per person): {fee}").format(fee=q(say(verdict.fee_said, lang))),
        f"<i>{q(reason)}</i>",
    ]
    if verdict.fee != "free":
        year = catalog.year
        lines.append(
            _(
                "The price is the official site's ({source}). How and when to pay is "
                "not announced here: see {url}."
            ).format(source=q(year.fees_source), url=q(year.apply_url))
        )
    return lines


def _applicants(data: dict[str, Any], record: User) -> list[Applicant]:
    pref = ""
    if record.prefecture_code:
        pref = places.prefecture(record.prefecture_code).name
    base = {
        "organisation": data["organisation"],
        "org_type": record.org_type or "",
        "department": data.get("department") or "",
        "prefecture": pref,
        "contractor": record.contractor,
        "dispatched": record.dispatched,
    }
    people = [Applicant(name=data["name"], email=data["email"], **base)]
    people += [Applicant(name=c["name"], email=c["email"], **base) for c in data["colleagues"]]
    return people


@router.callback_query(StateFilter(RegForm.confirm), RegCB.filter(F.action == "ok"))
async def confirm(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    catalog: Catalog,
    clock: Clock,
    notifier: Notifier,
    user_record: User | None,
    lang: str,
) -> None:
    data = await state.get_data()
    if user_record is None or user_record.profile is None:
        await state.clear()
        expire(callback_answer)
        return
    # The confirmation (and the invite) is queued in the registration's own transaction
    # and sent right after it: a crash in between cannot lose it (bot.telegram.notify).
    notify = notifier.notify(callback.from_user.id, event=callback, lang=lang)
    try:
        # saved off the event loop; told "busy…" if it has to wait. A DatabaseBusy leaves
        # the dialogue at this step, so the errors router's "try again" button works.
        await save(
            callback,
            catalog,
            console.register,
            catalog,
            str(data["session_id"]),
            _applicants(data, user_record),
            notice=BUSY_APPLICATION,
            callback_answer=callback_answer,
            actor=Actor.chat_user(callback.from_user.id),
            today=clock.today(),
            now=clock.now(),
            user_id=callback.from_user.id,
            waitlist=bool(data["waitlist"]),
            as_team=bool(data.get("team")),
            email_required=True,
            notify=notify,
        )
    except RegistrationError as e:
        if e.code == "full":
            await state.update_data(waitlist=True)
            await show(
                callback,
                q(say(e, lang)) + "\n\n" + _("Join the waitlist instead?"),
                kb.confirm_registration(True),
            )
            return
        if e.code == "duplicate" and data.get("colleagues"):
            # someone registered meanwhile: keep what was typed, so a colleague can go
            await _summary(callback, state, catalog, lang, "❌ " + q(say(e, lang)))
            return
        await state.clear()
        await show(callback, "❌ " + q(say(e, lang)), kb.only_menu())
        return
    except CatalogError as e:
        await state.clear()
        await show(callback, "❌ " + q(say(e, lang)), kb.only_menu())
        return
    await state.clear()
    assert callback.bot is not None
    await notifier.deliver(callback.bot, notify)


@router.message(StateFilter(RegForm.colleagues), NOT_COMMAND)
@router.message(StateFilter(RegForm.team), NOT_COMMAND)
@router.message(StateFilter(RegForm.confirm), NOT_COMMAND)
async def use_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons above (or /cancel)."))


@router.message(
    StateFilter(
        RegForm.name,
        RegForm.organisation,
        RegForm.department,
        RegForm.email,
        RegForm.colleague_name,
        RegForm.colleague_email,
    ),
    NOT_COMMAND,
)
async def not_text(message: Message) -> None:
    await message.answer(_("Please type your answer as text (or /cancel)."))
