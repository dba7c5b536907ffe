"""The staff console for registrations, and every change to a registration with its audit
entry in one transaction.

Staff: `search` across sessions, `staff_cancel` (with a reason), `move` to another
session (the seat, eligibility and deadline rules of registering), `promote` from the
waitlist by hand, `edit` a registrant's details (validated as registering validates them).
Chat users and the CLI: `register`, `cancel_own`, `forget_user`, `import_file` — the
functions of `catalog.registrations` and `catalog.imports` inside a write transaction
that also writes the audit entries. Teams: `form_teams`, `move_team_member`.

Each staff change queues, in its own transaction, what the people it concerns must be told
(`catalog.notifications`: the chat message — to the person, or for a colleague to the
representative who applied — and the mail), unclaimed, for the running bot's sender to
send. It returns a `Change` whose `notices` (and `chats`) say who will be told in chat.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from catalog import audit, teams
from catalog import calendar as ics
from catalog import registrations as regs
from catalog.audit import Actor
from catalog.eligibility import Profile
from catalog.errors import InvalidInput, NotFound
from catalog.i18n import ByLang
from catalog.i18n import gettext_lazy as _l
from catalog.imports import ImportReport, import_registrations
from catalog.notifications import (
    Notify,
    tell_corrected_by_mail,
    tell_moved,
    tell_moved_by_mail,
    tell_staff_cancelled,
)
from catalog.registrations import Applicant, Registration, RegistrationError
from catalog.service import Catalog

REASON_LIMIT = 500
EDITABLE = ("name", "organisation", "department", "email")


@dataclass(frozen=True)
class Notice:
    """Something a registrant is told in chat after a staff change (its message is queued
    in the notification outbox by the change itself; this says who and what).

    kind: cancelled (with `reason`), moved (`before` is the registration in its old
    session), promoted. `chat_id` is the person's chat, or for a colleague without one the
    chat of the representative who applied (None: nobody to tell in chat)."""

    kind: str
    registration: Registration
    chat_id: int | None
    before: Registration | None = None
    reason: str = ""

    @property
    def old_copy(self) -> Registration | None:
        """A move: the person's copy of the old session as it now stands, cancelled (its UID,
        SEQUENCE one above the last file sent for it), for the calendar cancel."""
        if self.kind != "moved" or self.before is None:
            return None
        when = self.registration.updated_at
        return replace(
            self.before,
            status="cancelled",
            sequence=self.before.sequence + 1,
            position=None,
            updated_at=when,
            cancelled_at=when,
        )

    @property
    def for_colleague(self) -> bool:
        """The message goes to the representative, about someone else."""
        return self.registration.user_id is None


@dataclass
class Change:
    """What a staff change did: the registration before and after, the waitlist places
    that became seats, the audit entry and who to tell."""

    before: Registration
    after: Registration
    promoted: list[Registration] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # edits: old, new
    entry_id: int | None = None
    team: list[int] = field(default_factory=list)  # edits: teammates whose organisation followed

    @property
    def chats(self) -> set[int]:
        """The chats the change's messages were queued for."""
        return {n.chat_id for n in self.notices if n.chat_id is not None}


# -- reading --------------------------------------------------------------------------------


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


SEARCH_SQL = (
    "select r.*, case when r.status = 'waitlisted' then (select count(*) from registrations w "
    " where w.session_id = r.session_id and w.status = 'waitlisted' and w.id <= r.id) end "
    " as position from registrations r join sessions s on s.id = r.session_id"
)


def search(
    catalog: Catalog,
    text: str = "",
    *,
    session_id: str | None = None,
    include_cancelled: bool = True,
    limit: int | None = None,
) -> list[Registration]:
    """Registrations whose name, organisation or e-mail contain every word of `text`
    (width and case folded, spaces in names ignored; `#12` or `12` also finds id 12),
    across sessions or in one; by session date, then registered, waitlist, cancelled."""
    where: list[str] = []
    params: list[Any] = []
    if session_id is not None:
        where.append("r.session_id = ?")
        params.append(catalog.session(session_id).id)
    if not include_cancelled:
        where.append("r.status in ('registered', 'waitlisted')")
    words = unicodedata.normalize("NFKC", text or "").split()
    for word in words:
        pattern = _like(word)
        clause = (
            "(replace(r.name, ' ', '') like ? escape '\\' "
            "or replace(r.organisation, ' ', '') like ? escape '\\' "
            "or r.email like ? escape '\\'"
        )
        params += [pattern, pattern, pattern]
        digits = word.lstrip("#")
        if digits.isdigit():
            clause += " or r.id = ?"
            params.append(int(digits))
        where.append(clause + ")")
    sql = SEARCH_SQL + (" where " + " and ".join(where) if where else "")
    sql += (
        " order by s.first_day, r.session_id, "
        "case r.status when 'registered' then 0 when 'waitlisted' then 1 else 2 end, r.id"
    )
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [Registration.from_row(r, r["position"]) for r in catalog.store.query(sql, params)]


def registration(catalog: Catalog, registration_id: int) -> Registration:
    """One registration (any status), its waitlist place included; NotFound otherwise."""
    return regs.get_registration(catalog, registration_id)


def history(catalog: Catalog, registration_id: int) -> list[audit.Entry]:
    return audit.for_registration(catalog.store, registration_id)


def chat_of(db: Any, reg: Registration) -> int | None:
    """The chat to tell about `reg`: its own, else its representative's (same application)."""
    if reg.user_id is not None:
        return reg.user_id
    if not reg.application_id:
        return None
    row = db.execute(
        "select user_id from registrations where application_id = ? "
        "and user_id is not null order by id limit 1",
        [reg.application_id],
    ).fetchone()
    return int(row[0]) if row else None


# -- helpers ---------------------------------------------------------------------------------


def _row(db: Any, registration_id: int) -> Registration:
    row = next(db.table("registrations").rows_where("id = ?", [registration_id]), None)
    if row is None:
        raise NotFound(_l("no registration #{registration}", registration=registration_id))
    return Registration.from_row(row)


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().replace(" ", "")


def clean_reason(text: str | None) -> str:
    """A cancellation reason: required, one line, at most REASON_LIMIT characters."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    if not value:
        raise InvalidInput(_l("give the reason for the cancellation (--reason TEXT)"))
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput(_l("the reason contains control characters"))
    if len(value) > REASON_LIMIT:
        raise InvalidInput(
            _l("the reason is too long ({n} characters; at most {limit})", n=len(value), limit=REASON_LIMIT)
        )
    return value


def _log_promoted(
    db: Any, actor: Actor, promoted: list[Registration], *, now: dt.datetime, freed_by: int | None
) -> list[Notice]:
    notices = []
    for p in promoted:
        audit.record(
            db,
            actor,
            "promoted",
            now=now,
            session_id=p.session_id,
            registration_id=p.id,
            details={"auto": True, "freed_by": freed_by},
        )
        notices.append(Notice("promoted", p, chat_of(db, p)))
    return notices


def _active_rows(db: Any, session_id: str, except_id: int) -> list[dict[str, Any]]:
    return list(
        db.query(
            "select id, user_id, name, organisation, email from registrations where session_id = ? "
            "and status in ('registered', 'waitlisted') and id != ?",
            [session_id, except_id],
        )
    )


def _same_person(reg: Registration, rows: list[dict[str, Any]], *, by_user: bool) -> int | None:
    """The id of a row among `rows` that is the same person as `reg`, if any."""
    me = (_key(reg.name), _key(reg.organisation))
    for row in rows:
        if by_user and reg.user_id is not None and row["user_id"] == reg.user_id:
            return int(row["id"])
        if reg.email and (row["email"] or "").lower() == reg.email.lower():
            return int(row["id"])
        if (_key(row["name"]), _key(row["organisation"] or "")) == me:
            return int(row["id"])
    return None


def _counts(db: Any, session_id: str) -> tuple[int, int]:
    registered, waiting = db.execute(
        "select coalesce(sum(status = 'registered'), 0), coalesce(sum(status = 'waitlisted'), 0) "
        "from registrations where session_id = ?",
        [session_id],
    ).fetchone()
    return int(registered), int(waiting)


# -- staff changes ---------------------------------------------------------------------------


def staff_cancel(
    catalog: Catalog, registration_id: int, *, reason: str, actor: Actor, today: dt.date, now: dt.datetime
) -> Change:
    """Cancel a registration for staff, with a reason (required). The seat goes to the
    waitlist as for any cancel; the person (and whoever is promoted) is to be told."""
    reason = clean_reason(reason)
    with catalog.store.write() as db:
        before = _row(db, registration_id)
        outcome = regs.cancel(catalog, registration_id, today=today, now=now)
        entry = audit.record(
            db,
            actor,
            "cancelled",
            now=now,
            session_id=before.session_id,
            registration_id=before.id,
            details={"reason": reason, "was": before.status},
        )
        chat = chat_of(db, before)
        notices = [Notice("cancelled", outcome.cancelled, chat, before, reason)]
        # the mail (the cancel's and the promotions') is queued by `cancel`; the chat here
        tell_staff_cancelled(
            db,
            registration_id=before.id,
            session_id=before.session_id,
            chat_id=chat,
            reason=reason,
            was=before.status,
            now=now,
        )
        regs.tell_promoted_in_chat(db, [p.id for p in outcome.promoted], before.session_id, now)
        notices += _log_promoted(db, actor, outcome.promoted, now=now, freed_by=before.id)
    return Change(before, outcome.cancelled, outcome.promoted, notices, entry_id=entry)


def move(
    catalog: Catalog,
    registration_id: int,
    session_id: str,
    *,
    actor: Actor,
    today: dt.date,
    now: dt.datetime,
    waitlist: bool = False,
) -> Change:
    """Move a person to another session under the rules of registering there: the session
    is open (not cancelled, before its deadline), the person is eligible for its course
    and not already in it, and a seat is free with nobody waiting — else, with `waitlist`,
    they join its waitlist. The registration keeps its id; its calendar copy changes UID
    (the old one is to be cancelled, the new one invited), its SEQUENCE goes up, its team
    and team key (which belong to the old session) are dropped, and the seat it frees goes
    to the old session's waitlist."""
    with catalog.store.write() as db:
        before = _row(db, registration_id)
        if before.status not in regs.ACTIVE:
            raise RegistrationError(
                _l(
                    "#{registration} is cancelled; only an active registration can be moved",
                    registration=before.id,
                ),
                code="cancelled",
            )
        target = catalog.session(session_id)
        if target.id == before.session_id:
            raise InvalidInput(
                _l("#{registration} is already in {session}", registration=before.id, session=target.id)
            )
        if target.cancelled:
            raise RegistrationError(_l("{session} has been cancelled.", session=target.id), code="cancelled")
        if not target.is_open(today):
            raise RegistrationError(
                _l(
                    "Applications for {session} closed on {deadline}.",
                    session=target.id,
                    deadline=ByLang(
                        f"{target.deadline.month}月{target.deadline.day}日", target.deadline.isoformat()
                    ),
                ),
                code="closed",
            )
        profile = Profile(before.org_type, before.contractor, before.dispatched)
        verdict = catalog.verdict(profile, target.course)
        if not verdict.eligible:
            raise RegistrationError(
                _l("{session}: {reason}", session=target.id, reason=verdict.reason), code="not_eligible"
            )
        twin = _same_person(before, _active_rows(db, target.id, before.id), by_user=True)
        if twin is not None:
            raise RegistrationError(
                _l(
                    "{name} is already registered (or waitlisted) for {session} (#{twin}).",
                    name=before.name,
                    session=target.id,
                    twin=twin,
                ),
                code="duplicate",
            )
        registered, waiting = _counts(db, target.id)
        fits = target.capacity - registered >= 1 and waiting == 0
        if not fits and not waitlist:
            raise RegistrationError(
                _l(
                    "No seat for the move: {session} has {left} seat(s) left and {waiting} waiting. "
                    "It can go on the waitlist instead.",
                    session=target.id,
                    left=max(target.capacity - registered, 0),
                    waiting=waiting,
                ),
                code="full",
            )
        status = "registered" if fits else "waitlisted"
        stamp = _stamp(now)
        db.table("registrations").update(
            before.id,
            {
                "session_id": target.id,
                "status": status,
                "team_key": None,
                "updated_at": stamp,
                "sequence": before.sequence + 1,
            },
        )
        db.table("teams").delete_where("registration_id = ?", [before.id])
        promoted_ids: list[int] = []
        if before.status == "registered":
            promoted_ids = regs.fill_freed_seats(catalog, db, before.session_id, today=today, now=now)
        if before.user_id is not None and target.revision > 0:
            # the invite about to be sent is current: no "your session changed" for it
            ics.mark_notified(
                catalog,
                ics.ChangeNotice(before.id, target.id, before.user_id, target.revision, False),
                now=now,
                result="moved",
            )
        tell_moved_by_mail(
            db,
            registration_id=before.id,
            email=before.email,
            old_session_id=before.session_id,
            old_sequence=before.sequence + 1,
            new_session_id=target.id,
            new_status=status,
            sequence=before.sequence + 1,
            revision=target.revision,
            now=now,
        )
        after = regs.get_registration(catalog, before.id)
        entry = audit.record(
            db,
            actor,
            "moved",
            now=now,
            session_id=before.session_id,
            registration_id=before.id,
            details={
                "from": before.session_id,
                "to": target.id,
                "was": before.status,
                "status": status,
                "team_key": before.team_key,
            },
        )
        chat = chat_of(db, after)
        notices = [Notice("moved", after, chat, before)]
        tell_moved(
            db,
            registration_id=before.id,
            chat_id=chat,
            old_session_id=before.session_id,
            old_sequence=before.sequence + 1,
            new_session_id=target.id,
            was=before.status,
            now=now,
        )
        promoted = [regs.get_registration(catalog, i) for i in promoted_ids]
        notices += _log_promoted(db, actor, promoted, now=now, freed_by=before.id)
    return Change(before, after, promoted, notices, entry_id=entry)


def promote(
    catalog: Catalog, registration_id: int, *, actor: Actor, today: dt.date, now: dt.datetime
) -> Change:
    """Give a waitlisted person a seat by hand (any place in the queue; also after the
    deadline, when seats are no longer handed out by themselves). Needs a free seat."""
    with catalog.store.write() as db:
        before = _row(db, registration_id)
        if before.status != "waitlisted":
            raise RegistrationError(
                _l(
                    "#{registration} is not on the waitlist ({status})",
                    registration=before.id,
                    status=before.status,
                ),
                code="not_waitlisted",
            )
        session = catalog.session(before.session_id)
        if session.cancelled:
            raise RegistrationError(_l("{session} has been cancelled.", session=session.id), code="cancelled")
        if session.last_day < today:
            raise RegistrationError(
                _l("{session} has already taken place.", session=session.id), code="closed"
            )
        registered, _waiting = _counts(db, session.id)
        if registered >= session.capacity:
            raise RegistrationError(
                _l(
                    "No free seat in {session} ({registered} registered, capacity {capacity}): "
                    "cancel a registration or raise the capacity first.",
                    session=session.id,
                    registered=registered,
                    capacity=session.capacity,
                ),
                code="full",
            )
        position = regs.get_registration(catalog, before.id).position
        # a seat raises the copy's SEQUENCE, as a promotion by a freed seat does
        db.table("registrations").update(
            before.id, {"status": "registered", "updated_at": _stamp(now), "sequence": before.sequence + 1}
        )
        after = regs.get_registration(catalog, before.id)
        entry = audit.record(
            db,
            actor,
            "promoted",
            now=now,
            session_id=session.id,
            registration_id=before.id,
            details={"auto": False, "position": position},
        )
        notices = [Notice("promoted", after, chat_of(db, after))]
        regs.tell_promoted_everywhere(db, [after.id], session.id, now)
    return Change(replace(before, position=position), after, [after], notices, entry_id=entry)


def edit(
    catalog: Catalog,
    registration_id: int,
    *,
    actor: Actor,
    now: dt.datetime,
    name: str | None = None,
    organisation: str | None = None,
    department: str | None = None,
    email: str | None = None,
) -> Change:
    """Correct a registrant's name, organisation, department or e-mail (None: keep),
    checked as registering checks them; refused when the result is the same person as
    another registration of the session. A declared team is one organisation, so a new
    organisation name is given to its other members too (each logged).
    A new name or e-mail address raises the invite's SEQUENCE, and an active
    registration's invite is mailed again to the address it has now, with the CANCEL to
    the old address when that changed (`notifications.tell_corrected_by_mail`).
    Nothing changed: no write, no entry (`Change.changed` is empty)."""
    given = {"name": name, "organisation": organisation, "department": department, "email": email}
    if all(v is None for v in given.values()):
        raise InvalidInput(_l("nothing to change: give a name, organisation, department or e-mail"))
    with catalog.store.write() as db:
        before = _row(db, registration_id)
        current = {k: getattr(before, k) for k in EDITABLE}
        wanted = {k: (v if v is not None else current[k]) for k, v in given.items()}
        person = Applicant(
            name=wanted["name"],
            organisation=wanted["organisation"],
            org_type=before.org_type,
            department=wanted["department"],
            email=wanted["email"],
        ).cleaned()
        new = {k: getattr(person, k) for k in EDITABLE}
        changed = {k: (current[k], new[k]) for k in EDITABLE if new[k] != current[k]}
        if not changed:
            return Change(before, before)
        candidate = Registration.from_row({**_raw(db, before.id), **new})
        if before.status in regs.ACTIVE:
            twin = _same_person(candidate, _active_rows(db, before.session_id, before.id), by_user=False)
            if twin is not None:
                raise RegistrationError(
                    _l(
                        "#{twin} in {session} already has this name and organisation or e-mail address.",
                        twin=twin,
                        session=before.session_id,
                    ),
                    code="duplicate",
                )
        teammates: list[dict[str, Any]] = []
        if before.team_key and "organisation" in changed:
            # a declared team is one organisation: its name is corrected for all of them
            teammates = list(
                db.query(
                    "select id, organisation from registrations where session_id = ? and "
                    "team_key = ? and id != ? and status in ('registered', 'waitlisted') order by id",
                    [before.session_id, before.team_key, before.id],
                )
            )
        update: dict[str, Any] = {**{k: new[k] for k in changed}, "updated_at": _stamp(now)}
        if "name" in changed or "email" in changed:  # the invite's ATTENDEE changes
            update["sequence"] = before.sequence + 1
        db.table("registrations").update(before.id, update)
        if "sequence" in update and before.status in regs.ACTIVE:
            # the invite again, to the address it has now (and the CANCEL to the old one)
            tell_corrected_by_mail(
                db,
                registration_id=before.id,
                session_id=before.session_id,
                email=new["email"],
                old_email=before.email,
                sequence=update["sequence"],
                now=now,
            )
        after = regs.get_registration(catalog, before.id)
        entry = audit.record(
            db,
            actor,
            "edited",
            now=now,
            session_id=before.session_id,
            registration_id=before.id,
            details={
                "before": {k: v[0] for k, v in changed.items()},
                "after": {k: v[1] for k, v in changed.items()},
            },
        )
        for mate in teammates:
            if mate["organisation"] == new["organisation"]:
                continue
            db.table("registrations").update(
                mate["id"], {"organisation": new["organisation"], "updated_at": _stamp(now)}
            )
            audit.record(
                db,
                actor,
                "edited",
                now=now,
                session_id=before.session_id,
                registration_id=mate["id"],
                details={
                    "before": {"organisation": mate["organisation"]},
                    "after": {"organisation": new["organisation"]},
                    "team_key": before.team_key,
                    "with": before.id,
                },
            )
    return Change(before, after, changed=changed, entry_id=entry, team=[int(m["id"]) for m in teammates])


def _raw(db: Any, registration_id: int) -> dict[str, Any]:
    return dict(next(db.table("registrations").rows_where("id = ?", [registration_id])))


# -- changes by everyone, logged --------------------------------------------------------------


def register(
    catalog: Catalog,
    session_id: str,
    applicants: list[Applicant],
    *,
    actor: Actor,
    now: dt.datetime,
    **kwargs: Any,
) -> regs.Outcome:
    """`catalog.registrations.register` with an audit entry for each person registered
    (or waitlisted), in the same transaction."""
    with catalog.store.write() as db:
        outcome = regs.register(catalog, session_id, applicants, now=now, **kwargs)
        action = "waitlisted" if outcome.waitlisted else "registered"
        for reg in outcome.registrations:
            audit.record(
                db,
                actor,
                action,
                now=now,
                session_id=reg.session_id,
                registration_id=reg.id,
                details={
                    "source": reg.source,
                    "people": len(outcome.registrations),
                    "application": reg.application_id,
                },
            )
    return outcome


def cancel_own(
    catalog: Catalog,
    registration_id: int,
    *,
    user_id: int,
    today: dt.date,
    now: dt.datetime,
    notify: Notify | None = None,
) -> regs.CancelOutcome:
    """A chat user cancels their own registration (`catalog.registrations.cancel`), logged
    with the promotions it causes (and, with `notify`, their messages queued)."""
    actor = Actor.chat_user(user_id)
    with catalog.store.write() as db:
        outcome = regs.cancel(catalog, registration_id, today=today, now=now, user_id=user_id, notify=notify)
        audit.record(
            db,
            actor,
            "cancelled",
            now=now,
            session_id=outcome.cancelled.session_id,
            registration_id=registration_id,
            details={"by": "self"},
        )
        _log_promoted(db, actor, outcome.promoted, now=now, freed_by=registration_id)
    return outcome


def forget_user(
    catalog: Catalog, user_id: int, *, today: dt.date, now: dt.datetime, notify: Notify | None = None
) -> list[Registration]:
    """/forget (`catalog.registrations.forget_user`): the deleted registrations' entries lose
    their details, the promotions it causes are logged, and one entry says it happened."""
    actor = Actor(audit.DELETED_USER, "chat", staff=False)
    with catalog.store.write() as db:
        apps = [
            r["application_id"]
            for r in db.query(
                "select distinct application_id from registrations where user_id = ?", [user_id]
            )
        ]
        ids = [
            r["id"]
            for app in apps
            for r in db.query("select id from registrations where application_id = ?", [app])
        ]
        promoted = regs.forget_user(catalog, user_id, today=today, now=now, notify=notify)
        audit.forget(db, ids, user_id)
        _log_promoted(db, actor, promoted, now=now, freed_by=None)
        audit.record(db, actor, "forgotten", now=now, details={"registrations": len(ids)})
    return promoted


def import_file(
    catalog: Catalog, path: Path, *, actor: Actor, today: dt.date, now: dt.datetime, waitlist: bool = False
) -> ImportReport:
    """`catalog.imports.import_registrations` with an entry per person added, in the
    import's transaction (all or nothing, entries included)."""
    with catalog.store.write() as db:
        first = db.execute("select coalesce(max(id), 0) from registrations").fetchone()[0]
        report = import_registrations(catalog, path, today=today, now=now, waitlist=waitlist)
        for row in db.query(
            "select id, session_id, status from registrations where id > ? and source = 'import' order by id",
            [first],
        ):
            audit.record(
                db,
                actor,
                "imported",
                now=now,
                session_id=row["session_id"],
                registration_id=row["id"],
                details={"file": Path(path).name, "status": row["status"]},
            )
    return report


# -- teams, logged ----------------------------------------------------------------------------


def form_teams(
    catalog: Catalog, session_id: str, *, actor: Actor, now: dt.datetime, **kwargs: Any
) -> list[teams.Team]:
    with catalog.store.write() as db:
        formed = teams.form_teams(catalog, session_id, now=now, **kwargs)
        audit.record(
            db,
            actor,
            "teams_formed",
            now=now,
            session_id=session_id,
            details={"sizes": [len(t.members) for t in formed]},
        )
    return formed


def move_team_member(
    catalog: Catalog,
    session_id: str,
    registration_id: int,
    team: int,
    *,
    actor: Actor,
    now: dt.datetime,
    **kwargs: Any,
) -> list[teams.Team]:
    with catalog.store.write() as db:
        out = teams.move_member(catalog, session_id, registration_id, team, now=now, **kwargs)
        audit.record(
            db,
            actor,
            "team_moved",
            now=now,
            session_id=session_id,
            registration_id=registration_id,
            details={"team": team},
        )
    return out
