"""Who is due a reminder, who has had one, and which chats blocked the bot.

Pure data functions on the `notifications` and `blocked_chats` tables; the bot's
sender (`bot.reminders`, `bot.outbox`) calls them and never writes SQL itself.

At most once, even across restarts: a reminder is *claimed* (a row of the notification
outbox, `catalog.notifications`, with result "sending" and the unique key kind + session
+ registration) before it is sent, and the row is updated with the result afterwards. A crash
between the claim and the send loses that one reminder rather than sending it
twice — for a courtesy reminder, silence beats a duplicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from catalog import notifications as outbox
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.store import Store

REMINDER = "reminder"


@dataclass(frozen=True)
class Recipient:
    """One chat user to message about one session."""

    session_id: str
    registration_id: int
    user_id: int
    lang: str  # "ja" unless the user chose English


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def sessions_starting(catalog: Catalog, day: dt.date) -> list[Session]:
    """Scheduled (not cancelled) sessions whose first day is `day`."""
    return [s for s in catalog.all_sessions() if s.first_day == day]


_RECIPIENTS_SQL = """
select r.session_id, r.id as registration_id, r.user_id, coalesce(u.lang, 'ja') as lang
from registrations r
left join users u on u.user_id = r.user_id
where r.session_id = ? and r.status = 'registered' and r.user_id is not null
  and r.user_id not in (select user_id from blocked_chats)
order by r.id
"""

_NOT_REMINDED = """
  and not exists (
    select 1 from notifications n join registrations r2 on r2.id = n.registration_id
    where n.kind = ? and n.session_id = r.session_id and r2.user_id = r.user_id
      and n.channel = 'telegram')
"""


def recipients(catalog: Catalog, session_id: str) -> list[Recipient]:
    """Chat users registered (not waitlisted) for a session, minus chats that blocked the bot.

    One per user: a representative who applied for colleagues gets one message.
    """
    rows = catalog.store.query(_RECIPIENTS_SQL, [session_id])
    seen: set[int] = set()
    out = []
    for r in rows:
        if r["user_id"] in seen:
            continue
        seen.add(r["user_id"])
        out.append(Recipient(r["session_id"], r["registration_id"], r["user_id"], _lang(r["lang"])))
    return out


def _lang(value: str | None) -> str:
    return "en" if (value or "").startswith("en") else "ja"


def not_yet_reminded(catalog: Catalog, session_id: str, kind: str = REMINDER) -> list[Recipient]:
    """`recipients` of a session who have not been sent (or claimed) a `kind` notification."""
    sql = _RECIPIENTS_SQL.replace("order by r.id", _NOT_REMINDED + "order by r.id")
    rows = catalog.store.query(sql, [session_id, kind])
    seen: set[int] = set()
    out = []
    for r in rows:
        if r["user_id"] not in seen:
            seen.add(r["user_id"])
            out.append(Recipient(r["session_id"], r["registration_id"], r["user_id"], _lang(r["lang"])))
    return out


def due_reminders(catalog: Catalog, today: dt.date) -> list[tuple[Session, list[Recipient]]]:
    """Sessions starting tomorrow with the registered chat users not yet reminded."""
    tomorrow = today + dt.timedelta(days=1)
    out = []
    for session in sessions_starting(catalog, tomorrow):
        people = not_yet_reminded(catalog, session.id)
        if people:
            out.append((session, people))
    return out


def is_day_before(session: Session, today: dt.date) -> bool:
    """Whether `today` is the day before the session starts (when "tomorrow" is true)."""
    return session.first_day - today == dt.timedelta(days=1)


def staff_kind(session: Session, today: dt.date) -> str:
    """What a staff /remind sent on `today` counts as. The day before, it is the day-before
    reminder itself (so nobody gets it twice). On any other day it is a notice of its own,
    one per person and day, which leaves the automatic day-before reminder to come."""
    if is_day_before(session, today):
        return REMINDER
    return f"{REMINDER}-{today.isoformat()}"


def _dedupe(kind: str, recipient: Recipient) -> str:
    return f"{kind}:{recipient.session_id}:{recipient.registration_id}"


def claim(catalog: Catalog, recipient: Recipient, now: dt.datetime, kind: str = REMINDER) -> bool:
    """Reserve the right to send `kind` to this recipient; False if it was already claimed."""
    with catalog.store.write() as db:
        row = outbox.enqueue(
            db,
            kind,
            now=now,
            chat_id=recipient.user_id,
            registration_id=recipient.registration_id,
            session_id=recipient.session_id,
            dedupe=_dedupe(kind, recipient),
            result=outbox.SENDING,
        )
        return row is not None


def mark(catalog: Catalog, recipient: Recipient, result: str, now: dt.datetime, kind: str = REMINDER) -> None:
    """Record how a claimed notification went: sent, failed or blocked."""
    with catalog.store.write() as db:
        db.execute(
            "update notifications set result = ?, sent_at = ? where dedupe = ?",
            [result, outbox.stamp(now), _dedupe(kind, recipient)],
        )


def notification_results(catalog: Catalog, session_id: str, kind: str = REMINDER) -> dict[int, str]:
    """registration id -> result of the `kind` notifications of a session."""
    rows = catalog.store.query(
        "select registration_id, result from notifications where kind = ? and session_id = ? "
        "and channel = 'telegram'",
        [kind, session_id],
    )
    return {r["registration_id"]: r["result"] for r in rows}


# -- chats that blocked the bot -------------------------------------------------------------


def block_chat(store: Store, user_id: int, now: dt.datetime) -> None:
    """Remember that this chat blocked the bot, so nothing is sent to it again."""
    with store.write() as db:
        db.execute(
            "insert or ignore into blocked_chats (user_id, blocked_at) values (?, ?)", [user_id, _stamp(now)]
        )


def unblock_chat(store: Store, user_id: int) -> bool:
    """Forget a block (the user wrote to the bot again); True if one was recorded."""
    with store.write() as db:
        return db.execute("delete from blocked_chats where user_id = ?", [user_id]).rowcount == 1


def blocked_chats(store: Store) -> set[int]:
    """Every chat id that blocked the bot."""
    return {r["user_id"] for r in store.query("select user_id from blocked_chats")}


def is_blocked(store: Store, user_id: int) -> bool:
    return store.one("select 1 as x from blocked_chats where user_id = ?", [user_id]) is not None


# -- the day-before reminder by mail ---------------------------------------------------------

_MAIL_RECIPIENTS_SQL = """
select r.id, r.session_id, r.email from registrations r
where r.session_id = ? and r.status = 'registered' and r.email is not null and r.email != ''
  and not exists (select 1 from notifications n where n.dedupe = ? || r.id || ?)
order by r.id
"""


def _mail_dedupe(session_id: str, registration_id: int) -> str:
    return f"{REMINDER}:{session_id}:{registration_id}:{outbox.EMAIL}"


def queue_mail_reminders(catalog: Catalog, today: dt.date, now: dt.datetime) -> int:
    """Queue the day-before reminder by mail (in the outbox, unclaimed) for everyone
    registered with an address for a session starting tomorrow; each person at most once
    (the unique key kind + session + registration + channel). How many were queued."""
    due = [
        (s.id, r["id"], r["email"])
        for s in sessions_starting(catalog, today + dt.timedelta(days=1))
        for r in catalog.store.query(_MAIL_RECIPIENTS_SQL, [s.id, f"{REMINDER}:{s.id}:", f":{outbox.EMAIL}"])
    ]
    if not due:  # the usual case, every minute: no write
        return 0
    queued = 0
    with catalog.store.write() as db:
        for session_id, registration_id, address in due:
            row = outbox.enqueue(
                db,
                REMINDER,
                now=now,
                channel=outbox.EMAIL,
                email=address,
                registration_id=registration_id,
                session_id=session_id,
                dedupe=_mail_dedupe(session_id, registration_id),
            )
            queued += row is not None
    return queued
