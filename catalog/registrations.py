"""Register, waitlist, cancel and forget — each one atomic.

Every change runs inside `Store.write()` (BEGIN IMMEDIATE), so "count the seats,
then insert" cannot interleave with another writer: no overbooking, even when
many people take the last seat at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from catalog import fsm_state
from catalog import notifications as notices
from catalog.eligibility import Profile, Verdict
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.i18n import ByLang
from catalog.i18n import gettext_lazy as _l
from catalog.service import Catalog
from catalog.sessions import Session
from catalog.validation import clean_email, clean_name, clean_text, is_skip

ACTIVE = ("registered", "waitlisted")
TEAM_SIZE = 4


class RegistrationError(CatalogError):
    """Why a registration was refused: code is one of closed, cancelled, not_eligible,
    duplicate, full, too_many."""


@dataclass(frozen=True)
class Applicant:
    """One person in an application (the representative or a colleague)."""

    name: str
    organisation: str
    org_type: str
    department: str = ""
    email: str = ""
    prefecture: str = ""
    contractor: bool = False
    dispatched: bool = False
    student: bool = False

    @property
    def profile(self) -> Profile:
        return Profile(self.org_type, self.contractor, self.dispatched, self.student)

    def cleaned(self, *, email_required: bool = False) -> Applicant:
        """The same applicant with every field checked and normalised (InvalidInput if bad)."""
        return replace(
            self,
            name=clean_name(self.name, "name"),
            organisation=clean_name(self.organisation, "organisation"),
            department=(
                ""
                if is_skip(self.department)  # 省略, なし, skip, - : none given
                else clean_text(self.department, "department", required=False)
            ),
            email=clean_email(self.email, required=email_required),
            org_type=(self.org_type or "").strip().lower(),
        )


@dataclass(frozen=True)
class Registration:
    id: int
    session_id: str
    user_id: int | None
    application_id: str
    name: str
    organisation: str
    org_type: str
    department: str
    email: str
    prefecture: str
    contractor: bool
    dispatched: bool
    team_key: str | None
    status: str  # registered | waitlisted | cancelled
    source: str
    created_at: str
    cancelled_at: str | None
    sequence: int
    position: int | None = None  # place on the waitlist, 1-based
    updated_at: str | None = None  # when its row last changed (ISO, as stored)

    @classmethod
    def from_row(cls, row: dict[str, Any], position: int | None = None) -> Registration:
        return cls(
            row["id"],
            row["session_id"],
            row["user_id"],
            row["application_id"] or "",
            row["name"],
            row["organisation"] or "",
            row["org_type"] or "",
            row["department"] or "",
            row["email"] or "",
            row["prefecture"] or "",
            bool(row["contractor"]),
            bool(row["dispatched"]),
            row["team_key"],
            row["status"],
            row["source"] or "",
            row["created_at"],
            row["cancelled_at"],
            row["sequence"] or 0,
            position,
            row.get("updated_at"),
        )


@dataclass
class Outcome:
    """What a registration call did."""

    registrations: list[Registration]
    waitlisted: bool = False


@dataclass
class CancelOutcome:
    cancelled: Registration
    promoted: list[Registration] = field(default_factory=list)


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().replace(" ", "")


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Taken:
    """What the store holds for a session, as the write transaction reads it."""

    registered: int
    waiting: int
    people: tuple[dict[str, Any], ...] = ()  # active rows: user_id, name, organisation, email


@dataclass(frozen=True)
class Application:
    """One application for one session, decided without touching the store.

    `check_open` and `check_people` run before the write transaction; `decide`
    runs inside it on what the transaction read (`Taken`). Each raises
    `RegistrationError` with the reason, or lets the application through.
    """

    session: Session
    people: tuple[Applicant, ...]
    user_id: int | None = None
    waitlist: bool = False
    as_team: bool = False

    @staticmethod
    def people_of(applicants: Sequence[Applicant], *, email_required: bool = False) -> tuple[Applicant, ...]:
        """The applicants checked and normalised: at least one, at most four teams' worth."""
        if not applicants:
            raise InvalidInput(_l("nobody to register"))
        if len(applicants) > TEAM_SIZE * 4:
            raise RegistrationError(_l("Too many people in one application."), code="too_many")
        return tuple(a.cleaned(email_required=email_required) for a in applicants)

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [(_key(p.name), _key(p.organisation)) for p in self.people]

    @property
    def emails(self) -> list[str]:
        return [p.email.lower() for p in self.people if p.email]

    def check_open(self, today: dt.date) -> None:
        """The session takes applications on `today`: not cancelled, deadline not passed."""
        session = self.session
        if session.cancelled:
            raise RegistrationError(_l("This session has been cancelled."), code="cancelled")
        if not session.is_open(today):
            day = session.deadline
            raise RegistrationError(
                _l(
                    "Applications for this session closed on {deadline}.",
                    deadline=ByLang(f"{day.month}月{day.day}日", day.isoformat()),
                ),
                code="closed",
            )

    def check_people(self, verdicts: Iterable[Verdict]) -> None:
        """Everyone may take the course (`verdicts`, one per person, taken in order until
        one refuses), a team is four people of one organisation, and nobody appears
        twice in the application."""
        for person, verdict in zip(self.people, verdicts, strict=True):
            if not verdict.eligible:
                reason = (
                    verdict.reason
                    if len(self.people) == 1
                    else _l("{name}: {reason}", name=person.name, reason=verdict.reason)
                )
                raise RegistrationError(reason, code="not_eligible")
        if self.as_team:
            orgs = {_key(p.organisation) for p in self.people}
            if len(self.people) != TEAM_SIZE or len(orgs) != 1:
                raise RegistrationError(
                    _l("A team application needs exactly four people of one organisation."), code="team"
                )
        keys, emails = self.keys, self.emails
        if len(set(keys)) != len(keys) or len(set(emails)) != len(emails):
            raise RegistrationError(
                _l("The same person appears twice in this application."), code="duplicate"
            )

    def decide(self, taken: Taken) -> str:
        """The status the people get ("registered" or "waitlisted") given what the session
        holds; refuses a person already there and, unless `waitlist`, one that does not fit."""
        keys, emails = self.keys, self.emails
        for row in taken.people:
            same_user = self.user_id is not None and row["user_id"] == self.user_id
            same_email = row["email"] and row["email"].lower() in emails
            same_person = (_key(row["name"]), _key(row["organisation"] or "")) in keys
            if same_user or same_email or same_person:
                raise RegistrationError(
                    _l("You are already registered (or on the waitlist) for this session."), code="duplicate"
                )
        seats_left = self.session.capacity - taken.registered
        n = len(self.people)
        # Nobody jumps the queue: while people wait, newcomers wait too.
        fits = seats_left >= n and taken.waiting == 0
        if not fits and not self.waitlist:
            left = max(seats_left, 0)
            raise RegistrationError(
                _l("Not enough seats: {left} left for {n} person. You can join the waitlist.", left=left, n=n)
                if n == 1
                else _l(
                    "Not enough seats: {left} left for {n} people. You can join the waitlist.", left=left, n=n
                ),
                code="full",
            )
        return "registered" if fits else "waitlisted"


def _taken(db: Any, session_id: str) -> Taken:
    active = tuple(
        db.query(
            "select id, user_id, name, organisation, email from registrations "
            "where session_id = ? and status in ('registered', 'waitlisted')",
            [session_id],
        )
    )
    registered = db.execute(
        "select count(*) from registrations where session_id = ? and status = 'registered'", [session_id]
    ).fetchone()[0]
    waiting = db.execute(
        "select count(*) from registrations where session_id = ? and status = 'waitlisted'", [session_id]
    ).fetchone()[0]
    return Taken(registered, waiting, active)


def register(
    catalog: Catalog,
    session_id: str,
    applicants: list[Applicant],
    *,
    today: dt.date,
    now: dt.datetime,
    user_id: int | None = None,
    waitlist: bool = False,
    as_team: bool = False,
    team_key: str | None = None,
    source: str = "chat",
    email_required: bool = False,
    notify: notices.Notify | None = None,
) -> Outcome:
    """Register the applicants (the first is the representative) for one session.

    All or nothing: every applicant is checked (eligibility, duplicates) and the
    seats counted inside one write transaction. When the seats left are fewer
    than the applicants, `RegistrationError(code="full")` unless `waitlist`, in
    which case all of them join the waitlist in order. `as_team` (exactly four
    people of one organisation) keeps them together as one team. With `notify`, the
    confirmation is queued in the same transaction (`catalog.notifications`).
    """
    people = Application.people_of(applicants, email_required=email_required)
    session = catalog.session(session_id)
    application = Application(session, people, user_id, waitlist, as_team)
    application.check_open(today)
    application.check_people(catalog.verdict(p.profile, session.course) for p in people)
    application_id = secrets.token_hex(8)
    if as_team and not team_key:
        team_key = f"app-{application_id}"
    stamp = _stamp(now)
    with catalog.store.write() as db:
        status = application.decide(_taken(db, session.id))
        ids = []
        for i, p in enumerate(people):
            row = {
                "session_id": session.id,
                "user_id": user_id if i == 0 else None,
                "application_id": application_id,
                "name": p.name,
                "organisation": p.organisation,
                "org_type": p.org_type,
                "department": p.department,
                "email": p.email,
                "prefecture": p.prefecture,
                "contractor": int(p.contractor),
                "dispatched": int(p.dispatched),
                "team_key": team_key,
                "status": status,
                "source": source,
                "created_at": stamp,
                "updated_at": stamp,
                "sequence": 0,
            }
            ids.append(int(db.table("registrations").insert(row).last_pk or 0))
        notices.tell(
            db,
            notify,
            notices.WAITLISTED if status == "waitlisted" else notices.REGISTERED,
            now=now,
            registration_id=ids[0],
            session_id=session.id,
            chat_id=user_id,
            emails=zip(ids, [p.email for p in people], strict=True),
            extra={"people": len(ids)},
        )
    regs = [get_registration(catalog, i) for i in ids]
    return Outcome(regs, waitlisted=status == "waitlisted")


def get_registration(catalog: Catalog, registration_id: int) -> Registration:
    row = catalog.store.one("select * from registrations where id = ?", [registration_id])
    if row is None:
        raise NotFound(_l("That registration no longer exists."))
    return Registration.from_row(row, _position(catalog, row))


def _position(catalog: Catalog, row: dict[str, Any]) -> int | None:
    if row["status"] != "waitlisted":
        return None
    return int(
        catalog.store.db.execute(
            "select count(*) from registrations where session_id = ? and status = 'waitlisted' and id <= ?",
            [row["session_id"], row["id"]],
        ).fetchone()[0]
    )


def for_user(catalog: Catalog, user_id: int, *, include_cancelled: bool = False) -> list[Registration]:
    """A chat user's own registrations, soonest session first."""
    statuses = ("registered", "waitlisted", "cancelled") if include_cancelled else ACTIVE
    rows = catalog.store.query(
        "select r.* from registrations r join sessions s on s.id = r.session_id "
        f"where r.user_id = ? and r.status in ({','.join('?' * len(statuses))}) "
        "order by s.first_day, r.id",
        [user_id, *statuses],
    )
    return [Registration.from_row(r, _position(catalog, r)) for r in rows]


def for_session(catalog: Catalog, session_id: str, *, include_waitlist: bool = True) -> list[Registration]:
    """A session's registrants in registration order, then its waitlist in order."""
    statuses = ACTIVE if include_waitlist else ("registered",)
    rows = catalog.store.query(
        f"select * from registrations where session_id = ? and status in ({','.join('?' * len(statuses))}) "
        "order by status = 'waitlisted', id",
        [session_id, *statuses],
    )
    out, pos = [], 0
    for r in rows:
        if r["status"] == "waitlisted":
            pos += 1
        out.append(Registration.from_row(r, pos if r["status"] == "waitlisted" else None))
    return out


def cancel(
    catalog: Catalog,
    registration_id: int,
    *,
    today: dt.date,
    now: dt.datetime,
    user_id: int | None = None,
    notify: notices.Notify | None = None,
) -> CancelOutcome:
    """Cancel one registration (only the owner's, when `user_id` is given).

    A freed seat goes to the waitlist in order while applications are open. With
    `notify`, the cancellation and the promotions are queued in the same transaction.
    """
    stamp = _stamp(now)
    promoted_ids: list[int] = []
    with catalog.store.write() as db:
        row = next(db.table("registrations").rows_where("id = ?", [registration_id]), None)
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise NotFound(_l("That registration no longer exists."))
        if row["status"] == "cancelled":
            raise RegistrationError(_l("That registration is already cancelled."), code="cancelled")
        db.table("registrations").update(
            registration_id,
            {
                "status": "cancelled",
                "cancelled_at": stamp,
                "updated_at": stamp,
                "sequence": (row["sequence"] or 0) + 1,
            },
        )
        db.table("teams").delete_where("registration_id = ?", [registration_id])
        notices.tell(
            db,
            notify,
            notices.CANCELLED,
            now=now,
            registration_id=registration_id,
            session_id=row["session_id"],
            chat_id=row["user_id"],
            emails=[(registration_id, row["email"] or "")],
            extra={"was": row["status"]},
        )
        if row["status"] == "registered":
            promoted_ids = _promote(catalog, db, row["session_id"], today, stamp)
            _tell_promoted(db, notify, promoted_ids, row["session_id"], now)
    return CancelOutcome(
        get_registration(catalog, registration_id), [get_registration(catalog, i) for i in promoted_ids]
    )


def _promote(catalog: Catalog, db: Any, session_id: str, today: dt.date, stamp: str) -> list[int]:
    session = catalog.session(session_id)
    if not session.is_open(today):
        return []
    registered = db.execute(
        "select count(*) from registrations where session_id = ? and status = 'registered'", [session_id]
    ).fetchone()[0]
    free = session.capacity - registered
    promoted: list[int] = []
    if free <= 0:
        return promoted
    for row in db.query(
        "select id from registrations where session_id = ? and status = 'waitlisted' order by id limit ?",
        [session_id, free],
    ):
        promoted.append(row["id"])
    for rid in promoted:
        # TENTATIVE -> CONFIRMED is a change the person's calendar must apply: a new SEQUENCE.
        db.execute(
            "update registrations set status = 'registered', updated_at = ?, "
            "sequence = coalesce(sequence, 0) + 1 where id = ?",
            [stamp, rid],
        )
    return promoted


def _tell_promoted(
    db: Any, notify: notices.Notify | None, promoted: list[int], session_id: str, now: dt.datetime
) -> None:
    """Queue "a seat became free" for the promoted: one chat message per chat (a
    colleague's goes to the representative who applied for them), mail per person
    (only the mail without `notify`)."""
    if not promoted:
        return
    told: set[int] = set()
    for rid in promoted:
        r = db.execute(
            "select r.user_id, r.email, (select r2.user_id from registrations r2 "
            " where r2.application_id = r.application_id and r2.user_id is not null "
            " order by r2.id limit 1) as representative from registrations r where r.id = ?",
            [rid],
        ).fetchone()
        chat = r[0] if r[0] is not None else r[2]
        notices.tell(
            db,
            notify,
            notices.PROMOTED,
            now=now,
            registration_id=rid,
            session_id=session_id,
            chat_id=None if chat in told else chat,
            emails=[(rid, r[1] or "")],
        )
        if chat is not None:
            told.add(chat)


def tell_promoted_everywhere(db: Any, promoted: Sequence[int], session_id: str, now: dt.datetime) -> None:
    """Queue the promotions' chat message and mail on `db`, unclaimed, for the bot's
    sender: for a change that tells nobody itself (staff raising a session's capacity)."""
    _tell_promoted(
        db, notices.Notify(channels=(notices.TELEGRAM, notices.EMAIL)), list(promoted), session_id, now
    )


def tell_promoted_in_chat(db: Any, promoted: Sequence[int], session_id: str, now: dt.datetime) -> None:
    """Queue the promotions' chat message on `db`, unclaimed, for the bot's sender: for a
    staff change whose mail was queued already (a staff cancel, through `cancel`)."""
    _tell_promoted(db, notices.Notify(channels=(notices.TELEGRAM,)), list(promoted), session_id, now)


def forget_user(
    catalog: Catalog, user_id: int, *, today: dt.date, now: dt.datetime, notify: notices.Notify | None = None
) -> list[Registration]:
    """Delete a user's profile and every application they made, colleagues included
    (personal-data protection). Freed seats go to the waitlist first; the promoted
    registrations are returned so that they can be told, and with `notify` their
    messages are queued with each seat's release (nothing is told to the user leaving).
    """
    if notify is not None:
        notify = notices.Notify(
            notify.channels,
            notify.chat_id,
            notify.payload,
            notify.claimed_by,
            frozenset({notices.PROMOTED}),
            notify.enqueued,
        )
    store = catalog.store
    promoted: list[Registration] = []
    gone = set()
    # one transaction: all of it, or (say, when the database stays busy) nothing
    with store.write() as db:
        app_ids = [
            r["application_id"]
            for r in db.query(
                "select distinct application_id from registrations where user_id = ?", [user_id]
            )
        ]
        for app in app_ids:
            for row in list(
                db.query(
                    "select id from registrations where application_id = ? "
                    "and status in ('registered', 'waitlisted') order by id",
                    [app],
                )
            ):
                promoted.extend(cancel(catalog, row["id"], today=today, now=now, notify=notify).promoted)
        for app in app_ids:
            for r in db.query("select id from registrations where application_id = ?", [app]):
                gone.add(r["id"])
                db.table("teams").delete_where("registration_id = ?", [r["id"]])
                db.table("notifications").delete_where("registration_id = ?", [r["id"]])
            db.table("registrations").delete_where("application_id = ?", [app])
        db.table("users").delete_where("user_id = ?", [user_id])
        db.table("notifications").delete_where("chat_id = ?", [user_id])  # e.g. a follow-up
        fsm_state.forget_user(store, user_id)  # a dialogue's data holds their name, e-mail
    return [p for p in promoted if p.id not in gone]


def fill_freed_seats(
    catalog: Catalog, db: Any, session_id: str, *, today: dt.date, now: dt.datetime
) -> list[int]:
    """Give a session's free seats to its waitlist in order (while applications are open),
    on `db`, an open write transaction; the ids promoted. What `cancel` does after a
    cancel, for other changes that free a seat (a staff move). Their chat message and mail
    are queued, unclaimed, for the bot's sender."""
    promoted = _promote(catalog, db, session_id, today, _stamp(now))
    tell_promoted_everywhere(db, promoted, session_id, now)
    return promoted
