"""Staff commands in chat: /roster, /teams, /remind, /broadcast, /stats, and the
registration console: /registrations, /cancel_reg, /move_reg, /promote_reg.

Only users in `ADMIN_IDS` may use them. Everyone else gets the same "not allowed"
whatever they typed — the answer never depends on whether a session exists or has
registrants. Files are built off the event loop (`asyncio.to_thread`); reminders
and broadcasts run as background jobs (`jobs`) through the bot's Outbox (`outboxes`),
both passed with the Dispatcher's workflow data, and show their progress by editing
one message.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers.common import q
from bot.handlers.fallback import expire
from bot.telegram import keyboards as kb
from bot.telegram import menu, reminders
from bot.telegram.callbacks import StaffCB
from bot.telegram.filters import AnyCommand
from bot.telegram.i18n import N_, say
from bot.telegram.lifecycle import Jobs
from bot.telegram.notify import Notifier
from bot.telegram.outbox import Outbox, Outboxes, Progress
from bot.telegram.writes import save
from catalog import console, rosters, session_lookup, stats
from catalog import reminders as notes
from catalog.audit import Actor
from catalog.clock import Clock
from catalog.console import Change
from catalog.errors import CatalogError, NotFound
from catalog.registrations import Registration
from catalog.service import Catalog
from catalog.sessions import Session

router = Router(name="admin")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {"message": (AnyCommand(),)}

STAFF_COMMANDS = ("roster", "teams", "remind", "broadcast", "stats")
CONSOLE_COMMANDS = ("registrations", "cancel_reg", "move_reg", "promote_reg")
LIST_LIMIT = 40
FILE_FORMATS = {
    "csv": "csv",
    "xlsx": "xlsx",
    "excel": "xlsx",
    "json": "json",
    "sjis": "csv-cp932",
    "cp932": "csv-cp932",
    "csv-cp932": "csv-cp932",
}
CHUNK = 3500
SUGGESTIONS = session_lookup.SUGGESTIONS
SUGGESTED = ("roster", "teams", "remind")  # the commands a suggestion button may run
SESSION_HINT = N_("SESSION is an id (2024-A-34-1025) or a place and date: 広島 10/25")

STAFF_MENU = (
    ("roster", N_("Staff: roster file (csv/xlsx)")),
    ("teams", N_("Staff: form and show teams")),
    ("remind", N_("Staff: send reminders now")),
    ("broadcast", N_("Staff: message a session's registrants")),
    ("stats", N_("Staff: registrations per course and region")),
    ("registrations", N_("Staff: find registrations (name, organisation, e-mail)")),
    ("cancel_reg", N_("Staff: cancel a registration with a reason")),
    ("move_reg", N_("Staff: move a registration to another session")),
    ("promote_reg", N_("Staff: promote from the waitlist")),
)


def staff_help(user_id: int | None, settings: Settings) -> str:
    """The staff commands for /help, for users in ADMIN_IDS only ("" for everyone else)."""
    if user_id is None or user_id not in settings.admin_ids:
        return ""
    return "\n".join(
        [
            _("<b>Staff commands</b> (shown to staff only)"),
            _("/roster SESSION [csv|xlsx|sjis|json] — the roster as a file"),
            _("/teams SESSION — form and show the teams of four"),
            _("/remind SESSION — send a reminder now"),
            _("/broadcast SESSION text — a message to the session's registrants"),
            _("/stats — registrations per course and region"),
            _(SESSION_HINT),
        ]
    )


def is_staff(message: Message, settings: Settings) -> bool:
    return message.from_user is not None and message.from_user.id in settings.admin_ids


async def _reply_chunks(message: Message, lines: list[str]) -> None:
    """Answer with `lines`, split so that no message passes Telegram's length limit."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > CHUNK:
            await message.answer("\n".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        await message.answer("\n".join(chunk))


def _session_label(session: Session, lang: str) -> str:
    return f"{session.id} ({session.dates_text(lang)}, {session.prefecture} {session.city})"


@router.message(Command(*STAFF_COMMANDS))
async def staff_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    catalog: Catalog,
    settings: Settings,
    clock: Clock,
    jobs: Jobs,
    outboxes: Outboxes,
    lang: str = "ja",
) -> None:
    if not is_staff(message, settings):
        await message.answer(_("⛔ Not allowed."))
        return
    args = (command.args or "").split(maxsplit=1)
    name = command.command.lower()
    if name == "stats":
        await _stats(message, catalog, lang)
        return
    if not args:
        usage = {
            "roster": _("Usage: /roster SESSION [csv|xlsx|json]"),
            "teams": _("Usage: /teams SESSION"),
            "remind": _("Usage: /remind SESSION"),
            "broadcast": _("Usage: /broadcast SESSION text"),
        }
        await message.answer(usage[name] + "\n" + _(SESSION_HINT))
        return
    try:
        found = session_lookup.lookup(catalog, command.args or "", today=clock.today())
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    if found.session is None:
        await _suggest(message, name, found, lang)
        return
    await _run(name, message, bot, catalog, clock, found.session, found.rest.strip(), lang, jobs, outboxes)


async def _suggest(message: Message, name: str, found: session_lookup.Lookup, lang: str) -> None:
    """Several sessions fit the place and date: buttons to choose one (for /broadcast, whose
    text cannot ride on a button, the commands to send)."""
    shown = found.sessions[:SUGGESTIONS]
    lines = [_("Several sessions match “{words}”. Which one?").format(words=q(found.words))]
    more = len(found.sessions) - len(shown)
    if name == "broadcast":
        lines += [
            f"<code>/broadcast {q(s.id)} {q(found.rest)}</code> — {q(_session_label(s, lang))}" for s in shown
        ]
    if more > 0:
        lines.append(_("…and {n} more: add a date or a course (e.g. 広島 10/25 A).").format(n=more))
    if name == "broadcast":
        await message.answer("\n".join(lines))
        return
    fmt = ""
    if name == "roster":
        fmt = FILE_FORMATS.get((found.rest.strip() or "csv").lower(), "")
        if not fmt:
            await message.answer(_("Please choose csv, xlsx or json."))
            return
    await message.answer(
        "\n".join(lines),
        reply_markup=kb.staff_suggestions(name, fmt, [(s.id, _session_label(s, lang)) for s in shown]),
    )


@router.callback_query(StaffCB.filter())
async def suggestion_chosen(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: StaffCB,
    bot: Bot,
    catalog: Catalog,
    settings: Settings,
    clock: Clock,
    jobs: Jobs,
    outboxes: Outboxes,
    lang: str = "ja",
) -> None:
    """A suggested session pressed: the command runs on it (staff only, as typed ones)."""
    if callback.from_user.id not in settings.admin_ids:
        callback_answer.text = _("⛔ Not allowed.")
        callback_answer.show_alert = True
        return
    message = callback.message
    if callback_data.cmd not in SUGGESTED or not isinstance(message, Message):
        expire(callback_answer)
        return
    try:
        session = catalog.session(callback_data.id)
    except NotFound:
        expire(callback_answer)
        return
    await _run(
        callback_data.cmd, message, bot, catalog, clock, session, callback_data.fmt, lang, jobs, outboxes
    )


async def _run(
    name: str,
    message: Message,
    bot: Bot,
    catalog: Catalog,
    clock: Clock,
    session: Session,
    rest: str,
    lang: str,
    jobs: Jobs,
    outboxes: Outboxes,
) -> None:
    if name == "roster":
        await _roster(message, catalog, session, rest, lang)
    elif name == "teams":
        await _teams(message, catalog, clock, session, lang)
    elif name == "remind":
        await _remind(message, catalog, clock, session, lang, jobs, outboxes.for_bot(bot))
    else:
        await _broadcast(message, catalog, session, rest, lang, jobs, outboxes.for_bot(bot))


async def _roster(message: Message, catalog: Catalog, session: Session, fmt_text: str, lang: str) -> None:
    fmt = FILE_FORMATS.get((fmt_text or "csv").lower())
    if fmt is None:
        await message.answer(_("Please choose csv, xlsx or json."))
        return
    caption = _("Roster of {session}").format(session=q(_session_label(session, lang)))
    try:
        filename, _mime, data = await asyncio.to_thread(
            rosters.export_roster,
            catalog,
            [session.id],
            fmt,  # type: ignore[arg-type]
            lang=lang,
            say=say,
        )
    except rosters.Cp932Unsupported as e:
        # nothing lost silently: say which characters, and send the UTF-8 file instead
        filename, _mime, data = await asyncio.to_thread(
            rosters.export_roster, catalog, [session.id], "csv", lang=lang, say=say
        )
        caption += "\n" + _(
            "⚠️ cp932 (Shift_JIS) cannot hold {chars}, so this is the UTF-8 CSV, which keeps every character."
        ).format(chars=q(e.characters))
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    await message.answer_document(BufferedInputFile(data, filename=filename), caption=caption)


async def _teams(message: Message, catalog: Catalog, clock: Clock, session: Session, lang: str) -> None:
    try:
        staff_id = message.from_user.id if message.from_user else 0
        formed = await save(
            message,
            catalog,
            console.form_teams,
            catalog,
            session.id,
            now=clock.now(),
            actor=Actor.chat_staff(staff_id),
            quick=False,  # a whole session's teams: on the writer thread
        )
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    if not formed:
        await message.answer(_("No registrants yet, so no teams."))
        return
    lines = [
        _("<b>Teams of {session}</b>: {n}").format(session=q(_session_label(session, lang)), n=len(formed))
    ]
    for team in formed:
        lines.append("")
        lines.append("<b>" + _("Team {n}").format(n=team.number) + f"</b> ({len(team.members)})")
        # the rules a team breaks, for staff to accept or change (one line each)
        lines.extend("⚠️ " + q(say(e.message, lang)) for e in team.exceptions)
        for m in team.members:
            kind = rosters.org_type_label(catalog, m.org_type, lang) if m.org_type else ""
            extra = ", ".join(x for x in (m.organisation, kind, m.prefecture) if x)
            lines.append(f"• {q(m.name)} — {q(extra)}")
    await _reply_chunks(message, lines)


async def _stats(message: Message, catalog: Catalog, lang: str) -> None:
    rows = await asyncio.to_thread(stats.registration_stats, catalog)
    lines = [_("<b>Registrations per course and region</b>")]
    for r in rows:
        lines.append(
            _(
                "{course} {region}: {sessions} sessions · {registered}/{capacity} "
                "registered · waitlist {waitlisted}"
            ).format(
                course=q(r["course"]),
                region=q(r["region"]),
                sessions=r["sessions"],
                registered=r["registered"],
                capacity=r["capacity"],
                waitlisted=r["waitlisted"],
            )
        )
    total_reg = sum(r["registered"] for r in rows)
    total_cap = sum(r["capacity"] for r in rows)
    total_wait = sum(r["waitlisted"] for r in rows)
    lines.append(
        _("Total: {registered}/{capacity} registered · waitlist {waitlisted}").format(
            registered=total_reg, capacity=total_cap, waitlisted=total_wait
        )
    )
    await _reply_chunks(message, lines)


async def _start_progress(message: Message, lang: str) -> Progress:
    status = await message.answer(_("⏳ Sending…"))
    return Progress(status.chat.id, status.message_id, reminders.progress_render(lang))


async def _remind(
    message: Message, catalog: Catalog, clock: Clock, session: Session, lang: str, jobs: Jobs, outbox: Outbox
) -> None:
    today = clock.today()
    if session.last_day < today:
        await message.answer(_("That session is over; no reminder was sent."))
        return
    kind = notes.staff_kind(session, today)  # not the day before: the automatic one still comes
    people = await asyncio.to_thread(notes.not_yet_reminded, catalog, session.id, kind)
    if not people:
        await message.answer(
            _(
                "Nobody to remind: every registered chat user of this session "
                "has had the reminder (or none registered through chat)."
            )
        )
        return
    progress = await _start_progress(message, lang)
    jobs.spawn(
        reminders.remind_session(outbox, catalog, clock, session, progress=progress, kind=kind),
        name=f"remind {session.id}",
    )


async def _broadcast(
    message: Message, catalog: Catalog, session: Session, text: str, lang: str, jobs: Jobs, outbox: Outbox
) -> None:
    if not text:
        await message.answer(_("Usage: /broadcast SESSION text"))
        return
    people = await asyncio.to_thread(notes.recipients, catalog, session.id)
    if not people:
        await message.answer(_("Nobody to send to: no one registered for this session through chat."))
        return
    progress = await _start_progress(message, lang)
    jobs.spawn(
        reminders.broadcast_session(outbox, catalog, session, text, progress=progress),
        name=f"broadcast {session.id}",
    )


def _status_text(reg: Registration) -> str:
    if reg.status == "waitlisted":
        return _("waitlist {n}").format(n=reg.position or "")
    if reg.status == "cancelled":
        return _("cancelled")
    return _("registered")


def _reg_line(reg: Registration) -> str:
    return (
        f"<code>#{reg.id}</code> {q(_status_text(reg))} · <b>{q(reg.name)}</b> — "
        f"{q(reg.organisation)} · <code>{q(reg.session_id)}</code>"
    )


def _told_text(chats: int) -> str:
    if not chats:
        return ""
    return "\n" + _("Queued for {chats} chat(s): the bot sends them now.").format(chats=chats)


async def _after_change(message: Message, change: Change, text: str) -> None:
    """The staff member's answer; the people concerned are told through the outbox rows
    the change queued (the sender was woken)."""
    for p in change.promoted:
        if p.id != change.after.id:
            text += "\n" + _("Promoted from the waitlist: {who}").format(who=_reg_line(p))
    await message.answer(text + _told_text(len(change.chats)))


def _id_arg(text: str) -> int | None:
    value = text.strip().lstrip("#")
    return int(value) if value.isdigit() and int(value) > 0 else None


@router.message(Command(*CONSOLE_COMMANDS))
async def console_command(
    message: Message,
    command: CommandObject,
    catalog: Catalog,
    settings: Settings,
    clock: Clock,
    notifier: Notifier,
    lang: str = "ja",
) -> None:
    """The registration console: search, cancel with a reason, move, promote."""
    if not is_staff(message, settings):
        await message.answer(_("⛔ Not allowed."))
        return
    assert message.from_user is not None
    name = command.command.lower()
    args = (command.args or "").split(maxsplit=1)
    actor = Actor.chat_staff(message.from_user.id)
    usage = {
        "registrations": _("Usage: /registrations TEXT or SESSION"),
        "cancel_reg": _("Usage: /cancel_reg ID reason"),
        "move_reg": _("Usage: /move_reg ID SESSION [waitlist]"),
        "promote_reg": _("Usage: /promote_reg ID"),
    }[name]
    if name == "registrations":
        if not args:
            await message.answer(usage)
            return
        await _find(message, catalog, " ".join(args), lang)
        return
    rid = _id_arg(args[0]) if args else None
    rest = args[1].strip() if len(args) > 1 else ""
    if rid is None or (name in ("cancel_reg", "move_reg") and not rest):
        await message.answer(usage)
        return
    try:
        if name == "cancel_reg":
            change = await save(
                message,
                catalog,
                console.staff_cancel,
                catalog,
                rid,
                reason=rest,
                actor=actor,
                today=clock.today(),
                now=clock.now(),
            )
            text = _("Cancelled: {who}").format(who=_reg_line(change.after))
        elif name == "move_reg":
            target, _sep, flag = rest.partition(" ")
            change = await save(
                message,
                catalog,
                console.move,
                catalog,
                rid,
                target,
                actor=actor,
                today=clock.today(),
                now=clock.now(),
                waitlist=flag.strip().lower() in ("waitlist", "待ち"),
            )
            text = _("Moved from {old}: {who}").format(
                old=q(change.before.session_id), who=_reg_line(change.after)
            )
        else:
            change = await save(
                message,
                catalog,
                console.promote,
                catalog,
                rid,
                actor=actor,
                today=clock.today(),
                now=clock.now(),
            )
            text = _("Promoted: {who}").format(who=_reg_line(change.after))
    except CatalogError as e:
        await message.answer("❌ " + q(say(e, lang)))
        return
    notifier.wake()  # the change's chat messages and mail, queued unclaimed: now
    await _after_change(message, change, "✅ " + text)


async def _find(message: Message, catalog: Catalog, text: str, lang: str) -> None:
    try:
        session = catalog.session(text.strip())
    except NotFound:
        session = None
    try:
        found = await asyncio.to_thread(
            console.search,
            catalog,
            "" if session else text,
            session_id=session.id if session else None,
            limit=LIST_LIMIT + 1,
        )
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    if not found:
        await message.answer(_("No registration matches."))
        return
    lines = [
        _("<b>Registrations</b>: {n}").format(n=f"{LIST_LIMIT}+" if len(found) > LIST_LIMIT else len(found))
    ]
    lines += [_reg_line(r) for r in found[:LIST_LIMIT]]
    if len(found) > LIST_LIMIT:
        lines.append(_("More than {n}: narrow the search, or use the admin page.").format(n=LIST_LIMIT))
    await _reply_chunks(message, lines)


async def set_staff_commands(bot: Bot, settings: Settings) -> None:
    """Show the staff commands in the menu of each admin's private chat (everyone else's
    menu stays as it is). Call after `bot.telegram.menu.set_commands`."""
    await menu.set_staff_commands(bot, settings.admin_ids, STAFF_MENU)
