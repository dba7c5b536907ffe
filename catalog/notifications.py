"""The notification outbox: what must be told to whom, persisted with the change it reports.

A change a person must hear about (registered, put on the waitlist, promoted from it,
cancelled, their session changed) writes a row to `notifications` INSIDE the same
transaction as the change (`enqueue`, called by `catalog.registrations` and
`catalog.calendar`). So a registration that is committed always has its confirmation
queued, even if the process dies a moment later; the sender (`bot.telegram.notify`)
delivers rows after the commit, marks them sent, retries passing failures with backoff,
and on start-up sends what is left.

Nobody is told twice: a row is *claimed* (claimed_by, claimed_until) before it is sent,
the claim is one conditional UPDATE, and a sender only delivers rows it claimed. A
claim whose process died is given up at the next start (`release_orphans`) or when its
lease runs out. The one gap left is a crash after Telegram accepted a message and
before the row was marked: that message may be sent again (at least once, never lost);
a row with several parts (text, then the calendar file) records each part it sent.

Channels: each row has one `channel` ("telegram": `chat_id`; "email": `email`) and each
channel has its own dispatch point in the sender. Which channels a change is told on is
the caller's choice (`Notify.channels`); without a `Notify`, only the mail (`tell`).

Kinds: registered, waitlisted, promoted, cancelled, session_changed, reminder (staff's
day-before reminders, claimed and marked by `catalog.reminders`), undelivered (a chat
whose answer was lost after every retry: one follow-up once Telegram answers again),
corrected (a registrant's name or e-mail address corrected: the invite again, by mail),
staff_cancelled and moved (what staff did, told in chat: a cancel with its reason, a move
to another session; `tell_staff_cancelled`, `tell_moved`). Staff changes queue their rows
unclaimed, in the change's transaction, for the running bot's sender (the admin page and the
staff chat commands wake it; the CLI leaves them to it).
`last_error` holds an error code (an exception class name), never a message or text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.clock import JST
from catalog.store import Store

TELEGRAM, EMAIL = "telegram", "email"

REGISTERED, WAITLISTED, PROMOTED, CANCELLED = "registered", "waitlisted", "promoted", "cancelled"
SESSION_CHANGED, REMINDER, UNDELIVERED = "session_changed", "reminder", "undelivered"
CORRECTED = "corrected"  # a registrant's name or e-mail corrected: the invite again
STAFF_CANCELLED, MOVED = "staff_cancelled", "moved"  # staff's cancel (with reason), move
KINDS = (
    REGISTERED,
    WAITLISTED,
    PROMOTED,
    CANCELLED,
    SESSION_CHANGED,
    REMINDER,
    UNDELIVERED,
    CORRECTED,
    STAFF_CANCELLED,
    MOVED,
)

# result: pending (queued or being retried) -> sent | blocked | failed (gave up) | skipped
# (nothing left to tell: the registration is gone). Reminders use sending while claimed.
PENDING, SENDING, SENT, BLOCKED, FAILED, SKIPPED = (
    "pending",
    "sending",
    "sent",
    "blocked",
    "failed",
    "skipped",
)
DONE = (SENT, BLOCKED, FAILED, SKIPPED)
RETRY = "retry"  # a sender's passing failure (never stored: the row stays pending)

LEASE = dt.timedelta(minutes=10)  # a claim longer than any send with all its retries


def stamp(now: dt.datetime) -> str:
    """Timestamps as ISO text in one time zone, so text order is time order."""
    return now.astimezone(JST).isoformat(timespec="milliseconds")


@dataclass
class Notify:
    """How a change should be told: passed by the caller (the chat handlers) to
    `register`, `cancel` and `forget_user`, which enqueue inside their transaction.

    `payload` goes with the rows for `chat_id`, the person acting (e.g. their language
    and the message to edit); other people's rows (a promotion) do without it.
    `claimed_by` claims the rows for a sender that delivers them at once (the handler's
    own process), `kinds` limits what is told (None: everything the change causes).
    The ids of the rows written are appended to `enqueued`."""

    channels: tuple[str, ...] = (TELEGRAM,)
    chat_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    claimed_by: str | None = None
    kinds: frozenset[str] | None = None
    enqueued: list[int] = field(default_factory=list)

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


@dataclass(frozen=True)
class Notification:
    """One queued message to one recipient on one channel."""

    id: int
    kind: str
    channel: str
    registration_id: int | None
    session_id: str | None
    chat_id: int | None
    email: str | None
    payload: dict[str, Any]
    result: str
    progress: int  # parts already delivered (a text, then a file)
    attempts: int  # tries that ended (in a passing failure, or for good)
    created_at: str
    sent_at: str | None
    next_attempt_at: str | None
    claimed_by: str | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Notification:
        return cls(
            row["id"],
            row["kind"],
            row["channel"],
            row["registration_id"],
            row["session_id"],
            row["chat_id"],
            row["email"],
            json.loads(row["payload"] or "{}"),
            row["result"],
            row["progress"] or 0,
            row["attempts"] or 0,
            row["created_at"],
            row["sent_at"],
            row["next_attempt_at"],
            row["claimed_by"],
            row["last_error"],
        )


def enqueue(
    db: Any,
    kind: str,
    *,
    now: dt.datetime,
    channel: str = TELEGRAM,
    chat_id: int | None = None,
    email: str | None = None,
    registration_id: int | None = None,
    session_id: str | None = None,
    payload: dict[str, Any] | None = None,
    dedupe: str | None = None,
    claimed_by: str | None = None,
    result: str = PENDING,
    lease: dt.timedelta = LEASE,
) -> int | None:
    """Queue one notification on `db` — the connection of the caller's open write
    transaction, so the row commits (or rolls back) with the change it reports.
    Returns its id, or None when a row with the same `dedupe` key exists."""
    if kind not in KINDS and not kind.startswith(REMINDER + "-"):  # a staff /remind's day
        raise ValueError(f"unknown notification kind {kind!r}")
    if (chat_id is None) == (email is None):
        raise ValueError("a notification goes to a chat id or an e-mail address")
    cur = db.execute(
        "insert or ignore into notifications (kind, channel, registration_id, session_id, "
        "chat_id, email, payload, dedupe, result, created_at, claimed_by, claimed_until) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            kind,
            channel,
            registration_id,
            session_id,
            chat_id,
            email,
            json.dumps(payload or {}, ensure_ascii=False, sort_keys=True),
            dedupe,
            result,
            stamp(now),
            claimed_by,
            stamp(now + lease) if claimed_by else None,
        ],
    )
    return int(cur.lastrowid) if cur.rowcount == 1 else None


def _key(db: Any, kind: str, registration_id: int, session_id: str, channel: str) -> str:
    """The dedupe key of one telling: what happened, to which registration, in which
    session and at which of its sequences (read on `db`, after the change). The same
    event is told once; the same kind of event again (promoted a second time, in another
    session or after a move back) is a new one, since each change raises the sequence."""
    row = db.execute("select sequence from registrations where id = ?", [registration_id]).fetchone()
    sequence = (row[0] or 0) if row else 0
    return f"{kind}:{registration_id}:{session_id}:{sequence}:{channel}"


def tell(
    db: Any,
    notify: Notify | None,
    kind: str,
    *,
    now: dt.datetime,
    registration_id: int,
    session_id: str,
    chat_id: int | None,
    emails: Iterable[tuple[int, str]] = (),
    extra: dict[str, Any] | None = None,
) -> None:
    """Enqueue `kind` about one registration on every channel `notify` asks for: the chat
    `chat_id` (telegram) and each (registration id, address) of `emails` (email).

    Without `notify` (staff, the CLI, the web, an import: nobody in chat waits for the
    answer) only the mail is queued, unclaimed, for the bot's sender to send; a person
    with an address hears by mail whoever made the change. When mail is off the sender
    marks those rows skipped (`bot.mail.outbox`)."""
    if notify is None:
        notify = Notify(channels=(EMAIL,))
    if not notify.wants(kind):
        return
    payload = {**(extra or {})}
    if TELEGRAM in notify.channels and chat_id is not None:
        own = notify.payload if chat_id == notify.chat_id else {}
        row = enqueue(
            db,
            kind,
            now=now,
            chat_id=chat_id,
            registration_id=registration_id,
            session_id=session_id,
            payload={**own, **payload},
            dedupe=_key(db, kind, registration_id, session_id, TELEGRAM),
            claimed_by=notify.claimed_by,
        )
        if row is not None:
            notify.enqueued.append(row)
    if EMAIL in notify.channels:
        for reg_id, address in emails:
            if not address:
                continue
            row = enqueue(
                db,
                kind,
                now=now,
                channel=EMAIL,
                email=address,
                registration_id=reg_id,
                session_id=session_id,
                payload=payload,
                dedupe=_key(db, kind, reg_id, session_id, EMAIL),
                claimed_by=notify.claimed_by,
            )
            if row is not None:
                notify.enqueued.append(row)


def tell_moved_by_mail(
    db: Any,
    *,
    registration_id: int,
    email: str | None,
    old_session_id: str,
    old_sequence: int,
    new_session_id: str,
    new_status: str,
    sequence: int,
    revision: int,
    now: dt.datetime,
) -> None:
    """Queue the mail of a staff move, on `db` (the move's transaction): the CANCEL of the
    old copy (its session and SEQUENCE in the payload: the stored row is in the new
    session now) and the new session's invite; and mark the new session's `revision` as
    told, since that invite is current (as the chat's move does)."""
    if not email:
        return
    enqueue(
        db,
        CANCELLED,
        now=now,
        channel=EMAIL,
        email=email,
        registration_id=registration_id,
        session_id=old_session_id,
        payload={"moved_from": old_session_id, "sequence": old_sequence},
        dedupe=f"{CANCELLED}:{registration_id}:{old_session_id}:{old_sequence}:{EMAIL}",
    )
    kind = WAITLISTED if new_status == "waitlisted" else REGISTERED
    enqueue(
        db,
        kind,
        now=now,
        channel=EMAIL,
        email=email,
        registration_id=registration_id,
        session_id=new_session_id,
        payload={"moved": True},
        dedupe=f"{kind}:{registration_id}:{new_session_id}:{sequence}:{EMAIL}",
    )
    if revision > 0:
        enqueue(
            db,
            SESSION_CHANGED,
            now=now,
            channel=EMAIL,
            email=email,
            registration_id=registration_id,
            session_id=new_session_id,
            payload={"revision": revision},
            result=SKIPPED,
            dedupe=session_changed_mail_key(registration_id, new_session_id, revision),
        )


def tell_staff_cancelled(
    db: Any,
    *,
    registration_id: int,
    session_id: str,
    chat_id: int | None,
    reason: str,
    was: str,
    now: dt.datetime,
) -> None:
    """Queue the chat message of a staff cancel, on `db` (the cancel's transaction, after
    it): "the CYDER office has cancelled your registration … Reason: …" to `chat_id` (the
    person's, or for a colleague the representative's), with the calendar CANCEL when the
    person's own seat (`was` registered) is cancelled. Unclaimed, for the bot's sender."""
    if chat_id is None:
        return
    enqueue(
        db,
        STAFF_CANCELLED,
        now=now,
        chat_id=chat_id,
        registration_id=registration_id,
        session_id=session_id,
        payload={"reason": reason, "was": was},
        dedupe=_key(db, STAFF_CANCELLED, registration_id, session_id, TELEGRAM),
    )


def tell_moved(
    db: Any,
    *,
    registration_id: int,
    chat_id: int | None,
    old_session_id: str,
    old_sequence: int,
    new_session_id: str,
    was: str,
    now: dt.datetime,
) -> None:
    """Queue the chat message of a staff move, on `db` (the move's transaction, after it):
    the text, the CANCEL of the old copy (its session and SEQUENCE in the payload, as for the
    mail: the stored row is in the new session now) when it held a seat, and the new
    session's invite when it has one. Unclaimed, for the bot's sender."""
    if chat_id is None:
        return
    enqueue(
        db,
        MOVED,
        now=now,
        chat_id=chat_id,
        registration_id=registration_id,
        session_id=new_session_id,
        payload={"moved_from": old_session_id, "sequence": old_sequence, "was": was, "to": new_session_id},
        dedupe=_key(db, MOVED, registration_id, new_session_id, TELEGRAM),
    )


def session_changed_mail_key(registration_id: int, session_id: str, revision: int) -> str:
    """The dedupe key of the mail "your session changed" at one revision of one session."""
    return f"{SESSION_CHANGED}:{registration_id}:{session_id}:{revision}:{EMAIL}"


def tell_corrected_by_mail(
    db: Any,
    *,
    registration_id: int,
    session_id: str,
    email: str,
    old_email: str | None,
    sequence: int,
    now: dt.datetime,
) -> None:
    """Queue the mail of a corrected name or e-mail address, on `db` (the correction's
    transaction): the invite again (its SEQUENCE raised to `sequence`, the same UID) to
    the current address `email`; and when the address changed, the CANCEL of that UID to
    `old_email` (in the payload: the registration holds the new one), if anything was
    mailed there. The keys carry the sequence: each correction mails once."""
    if (
        old_email
        and old_email != email
        and db.execute(
            "select 1 from notifications where registration_id = ? and channel = ? "
            "and email = ? and result in (?, ?) limit 1",
            [registration_id, EMAIL, old_email, SENT, PENDING],
        ).fetchone()
    ):
        enqueue(
            db,
            CANCELLED,
            now=now,
            channel=EMAIL,
            email=old_email,
            registration_id=registration_id,
            session_id=session_id,
            payload={"old_email": old_email, "sequence": sequence},
            dedupe=f"{CANCELLED}:{registration_id}:{session_id}:{sequence}:old:{EMAIL}",
        )
    if email:
        enqueue(
            db,
            CORRECTED,
            now=now,
            channel=EMAIL,
            email=email,
            registration_id=registration_id,
            session_id=session_id,
            payload={"sequence": sequence},
            dedupe=f"{CORRECTED}:{registration_id}:{session_id}:{sequence}:{EMAIL}",
        )


def enqueue_undelivered(
    store: Store, chat_id: int, *, now: dt.datetime, delay: dt.timedelta = dt.timedelta(0)
) -> int | None:
    """Queue one follow-up for a chat whose answer was lost (at most one waiting per
    chat): "a message may be missing, please try again"."""
    with store.write() as db:
        waiting = db.execute(
            "select 1 from notifications where kind = ? and chat_id = ? and result = ?",
            [UNDELIVERED, chat_id, PENDING],
        ).fetchone()
        if waiting:
            return None
        row = enqueue(db, UNDELIVERED, now=now, chat_id=chat_id)
        if row is not None and delay:
            db.execute("update notifications set next_attempt_at = ? where id = ?", [stamp(now + delay), row])
        return row


# -- the sender's side ----------------------------------------------------------------------


def get(store: Store, notification_id: int) -> Notification | None:
    row = store.one("select * from notifications where id = ?", [notification_id])
    return Notification.from_row(row) if row else None


def claimed(store: Store, ids: Sequence[int], owner: str) -> list[Notification]:
    """The pending rows among `ids` that `owner` holds (claimed when enqueued), in order."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.query(
        f"select * from notifications where id in ({marks}) and result = ? and claimed_by = ? order by id",
        [*ids, PENDING, owner],
    )
    return [Notification.from_row(r) for r in rows]


def claim(
    store: Store, notification_id: int, owner: str, *, now: dt.datetime, lease: dt.timedelta = LEASE
) -> Notification | None:
    """Take one row for sending: only a pending row nobody holds (or whose lease ran out).
    None when someone else has it or it is done."""
    with store.write() as db:
        cur = db.execute(
            "update notifications set claimed_by = ?, claimed_until = ? "
            "where id = ? and result = ? "
            "and (claimed_by is null or claimed_until < ?)",
            [owner, stamp(now + lease), notification_id, PENDING, stamp(now)],
        )
        if cur.rowcount != 1:
            return None
        row = next(db.query("select * from notifications where id = ?", [notification_id]))
    return Notification.from_row(row)


def due(
    store: Store,
    *,
    now: dt.datetime,
    kinds: Iterable[str],
    channels: Iterable[str],
    limit: int = 200,
    ignore_backoff: bool = False,
) -> list[int]:
    """Ids of pending rows of these kinds and channels that are due and not held, oldest
    first (`ignore_backoff`: also rows still waiting out a backoff, e.g. once the API
    answers again after an outage)."""
    kinds, channels = list(kinds), list(channels)
    if not kinds or not channels:
        return []
    sql = (
        f"select id from notifications where result = ? "
        f"and kind in ({','.join('?' * len(kinds))}) "
        f"and channel in ({','.join('?' * len(channels))}) "
        "and (claimed_by is null or claimed_until < ?)"
    )
    params: list[Any] = [PENDING, *kinds, *channels, stamp(now)]
    if not ignore_backoff:
        sql += " and (next_attempt_at is null or next_attempt_at <= ?)"
        params.append(stamp(now))
    sql += " order by id limit ?"
    params.append(limit)
    return [r["id"] for r in store.query(sql, params)]


def next_due(store: Store, *, kinds: Iterable[str], channels: Iterable[str]) -> str | None:
    """When the earliest backed-off row is due (ISO text), or None."""
    kinds, channels = list(kinds), list(channels)
    if not kinds or not channels:
        return None
    row = store.one(
        "select min(next_attempt_at) as at from notifications where result = ? "
        f"and kind in ({','.join('?' * len(kinds))}) "
        f"and channel in ({','.join('?' * len(channels))}) and next_attempt_at is not null",
        [PENDING, *kinds, *channels],
    )
    return row["at"] if row else None


def release_orphans(store: Store, owner: str) -> int:
    """At start-up: give up the claims of earlier processes (they died holding them), so
    what they did not send is sent now. There is one sending process per database."""
    with store.write() as db:
        return int(
            db.execute(
                "update notifications set claimed_by = null, claimed_until = null "
                "where result = ? and claimed_by is not null and claimed_by != ?",
                [PENDING, owner],
            ).rowcount
        )


def mark_progress(store: Store, notification_id: int, progress: int) -> None:
    """Record that the first `progress` parts of a row were delivered."""
    with store.write() as db:
        db.execute("update notifications set progress = ? where id = ?", [progress, notification_id])


def mark_done(
    store: Store, notification_id: int, result: str, *, now: dt.datetime, error: str | None = None
) -> None:
    """Finish a row: sent, blocked (the chat blocked the bot), failed (gave up; `error`
    is a code) or skipped (nothing left to tell)."""
    if result not in DONE:
        raise ValueError(f"not a final result: {result!r}")
    with store.write() as db:
        db.execute(
            "update notifications set result = ?, sent_at = ?, last_error = ?, "
            "attempts = attempts + 1, claimed_by = null, claimed_until = null, "
            "next_attempt_at = null where id = ?",
            [result, stamp(now), error, notification_id],
        )


def mark_retry(store: Store, notification_id: int, *, at: dt.datetime, error: str) -> None:
    """A passing failure: release the row and try again from `at`."""
    with store.write() as db:
        db.execute(
            "update notifications set next_attempt_at = ?, last_error = ?, "
            "attempts = attempts + 1, claimed_by = null, claimed_until = null "
            "where id = ? and result = ?",
            [stamp(at), error, notification_id, PENDING],
        )


def backlog(store: Store) -> dict[str, int]:
    """Pending rows per kind (for /healthz, staff and tests)."""
    rows = store.query(
        "select kind, count(*) as n from notifications where result = ? group by kind", [PENDING]
    )
    return {r["kind"]: r["n"] for r in rows}
