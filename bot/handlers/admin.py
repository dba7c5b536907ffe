"""Staff commands in chat: /roster, /teams, /remind, /broadcast, /stats.

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
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.handlers.common import q
from bot.telegram import menu, reminders
from bot.telegram.filters import AnyCommand
from bot.telegram.i18n import N_, say
from bot.telegram.lifecycle import Jobs
from bot.telegram.outbox import Outbox, Outboxes, Progress
from bot.telegram.writes import save
from catalog import reminders as notes
from catalog import rosters, stats, teams
from catalog.clock import Clock
from catalog.errors import CatalogError
from catalog.service import Catalog
from catalog.sessions import Session

router = Router(name="admin")

# What may reach this router at all (bot.handlers.get_routers sets it on the router).
ROUTER_FILTERS = {"message": (AnyCommand(),)}

STAFF_COMMANDS = ("roster", "teams", "remind", "broadcast", "stats")
FILE_FORMATS = {"csv": "csv", "xlsx": "xlsx", "excel": "xlsx", "json": "json",
                "sjis": "csv-cp932", "cp932": "csv-cp932", "csv-cp932": "csv-cp932"}
CHUNK = 3500

STAFF_MENU = (
    ("roster", N_("Staff: roster file (csv/xlsx)")),
    ("teams", N_("Staff: form and show teams")),
    ("remind", N_("Staff: send reminders now")),
    ("broadcast", N_("Staff: message a session's registrants")),
    ("stats", N_("Staff: registrations per course and region")),
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
async def staff_command(message: Message, command: CommandObject, bot: Bot, catalog: Catalog,
                        settings: Settings, clock: Clock, jobs: Jobs, outboxes: Outboxes,
                        lang: str = "ja") -> None:
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
        await message.answer(usage[name])
        return
    try:
        session = catalog.session(args[0])
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    rest = args[1].strip() if len(args) > 1 else ""
    if name == "roster":
        await _roster(message, catalog, session, rest, lang)
    elif name == "teams":
        await _teams(message, catalog, clock, session, lang)
    elif name == "remind":
        await _remind(message, catalog, clock, session, lang, jobs, outboxes.for_bot(bot))
    else:
        await _broadcast(message, catalog, session, rest, lang, jobs, outboxes.for_bot(bot))


async def _roster(message: Message, catalog: Catalog, session: Session, fmt_text: str,
                  lang: str) -> None:
    fmt = FILE_FORMATS.get((fmt_text or "csv").lower())
    if fmt is None:
        await message.answer(_("Please choose csv, xlsx or json."))
        return
    try:
        filename, _mime, data = await asyncio.to_thread(
            rosters.export_roster, catalog, [session.id], fmt)  # type: ignore[arg-type]
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    await message.answer_document(
        BufferedInputFile(data, filename=filename),
        caption=_("Roster of {session}").format(session=q(_session_label(session, lang))))


async def _teams(message: Message, catalog: Catalog, clock: Clock, session: Session,
                 lang: str) -> None:
    try:
        formed = await save(message, catalog, teams.form_teams, catalog, session.id,
                            now=clock.now())
    except CatalogError as e:
        await message.answer(q(say(e, lang)))
        return
    if not formed:
        await message.answer(_("No registrants yet, so no teams."))
        return
    lines = [_("<b>Teams of {session}</b>: {n}").format(
        session=q(_session_label(session, lang)), n=len(formed))]
    for team in formed:
        lines.append("")
        lines.append("<b>" + _("Team {n}").format(n=team.number) + f"</b> ({len(team.members)})")
        for m in team.members:
            extra = ", ".join(x for x in (m.organisation, m.org_type, m.prefecture) if x)
            lines.append(f"• {q(m.name)} — {q(extra)}")
    await _reply_chunks(message, lines)


async def _stats(message: Message, catalog: Catalog, lang: str) -> None:
    rows = await asyncio.to_thread(stats.registration_stats, catalog)
    lines = [_("<b>Registrations per course and region</b>")]
    for r in rows:
        lines.append(_("{course} {region}: {sessions} sessions · {registered}/{capacity} "
                       "registered · waitlist {waitlisted}").format(
            course=q(r["course"]), region=q(r["region"]), sessions=r["sessions"],
            registered=r["registered"], capacity=r["capacity"], waitlisted=r["waitlisted"]))
    total_reg = sum(r["registered"] for r in rows)
    total_cap = sum(r["capacity"] for r in rows)
    total_wait = sum(r["waitlisted"] for r in rows)
    lines.append(_("Total: {registered}/{capacity} registered · waitlist {waitlisted}").format(
        registered=total_reg, capacity=total_cap, waitlisted=total_wait))
    await _reply_chunks(message, lines)


async def _start_progress(message: Message, lang: str) -> Progress:
    status = await message.answer(_("⏳ Sending…"))
    return Progress(status.chat.id, status.message_id, reminders.progress_render(lang))


async def _remind(message: Message, catalog: Catalog, clock: Clock, session: Session,
                  lang: str, jobs: Jobs, outbox: Outbox) -> None:
    people = await asyncio.to_thread(notes.not_yet_reminded, catalog, session.id)
    if not people:
        await message.answer(_("Nobody to remind: every registered chat user of this session "
                               "has had the reminder (or none registered through chat)."))
        return
    progress = await _start_progress(message, lang)
    jobs.spawn(reminders.remind_session(outbox, catalog, clock, session, progress=progress),
               name=f"remind {session.id}")


async def _broadcast(message: Message, catalog: Catalog, session: Session, text: str,
                     lang: str, jobs: Jobs, outbox: Outbox) -> None:
    if not text:
        await message.answer(_("Usage: /broadcast SESSION text"))
        return
    people = await asyncio.to_thread(notes.recipients, catalog, session.id)
    if not people:
        await message.answer(_("Nobody to send to: no one registered for this session "
                               "through chat."))
        return
    progress = await _start_progress(message, lang)
    jobs.spawn(reminders.broadcast_session(outbox, catalog, session, text, progress=progress),
               name=f"broadcast {session.id}")


async def set_staff_commands(bot: Bot, settings: Settings) -> None:
    """Show the staff commands in the menu of each admin's private chat (everyone else's
    menu stays as it is). Call after `bot.telegram.menu.set_commands`."""
    await menu.set_staff_commands(bot, settings.admin_ids, STAFF_MENU)
