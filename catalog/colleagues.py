"""A representative and the colleagues (同行者) they registered.

One application (one `application_id`) holds the representative's own row, the only
one with the chat user's id, and a row for each colleague, who may have no Telegram
account (`user_id` is NULL). So "who registered whom" is: the colleagues of a user are
the rows without a user id in the applications where that user has a row.

Everything here is built on `catalog.registrations` (`cancel` frees the seat and
promotes the waitlist); the representative may cancel one colleague or all of them,
cancel their own seat with or without the colleagues, and correct a colleague's name
or e-mail before the session's deadline. Another user's registration id is refused
as not found, whatever it is.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from catalog import notifications as notices
from catalog import registrations as regs
from catalog.errors import InvalidInput, NotFound
from catalog.i18n import ByLang
from catalog.i18n import gettext_lazy as _l
from catalog.registrations import (
    ACTIVE,
    Applicant,
    CancelOutcome,
    Registration,
    RegistrationError,
)
from catalog.service import Catalog
from catalog.validation import clean_email, clean_text

EDITABLE = ("name", "email")


def _key(text: str) -> str:
    """As registering compares names: NFKC, case and spaces ignored."""
    return unicodedata.normalize("NFKC", text or "").casefold().replace(" ", "")


def _gone() -> NotFound:
    return NotFound(_l("That registration no longer exists."))


@dataclass(frozen=True)
class MyApplication:
    """One application of a chat user: their own row (any status) and its active
    colleagues, in registration order."""

    session_id: str
    application_id: str
    own: Registration
    colleagues: tuple[Registration, ...] = ()

    @property
    def own_active(self) -> bool:
        return self.own.status in ACTIVE

    @property
    def active(self) -> tuple[Registration, ...]:
        """Everyone of the application still registered or waiting, the representative first."""
        return ((self.own,) if self.own_active else ()) + self.colleagues


@dataclass
class BatchCancel:
    """What cancelling several registrations did: the cancelled rows, in order, and the
    waitlist places that became seats (none of them among the cancelled)."""

    cancelled: list[Registration] = field(default_factory=list)
    promoted: list[Registration] = field(default_factory=list)


def _rows_of(catalog: Catalog, application_id: str) -> list[dict[str, Any]]:
    return catalog.store.query(
        "select * from registrations where application_id = ? order by id", [application_id]
    )


def applications_of(catalog: Catalog, user_id: int) -> list[MyApplication]:
    """The user's applications with anything still active (their own seat or a colleague's),
    soonest session first."""
    own_rows = catalog.store.query(
        "select r.* from registrations r join sessions s on s.id = r.session_id "
        "where r.user_id = ? and coalesce(r.application_id, '') != '' "
        "order by s.first_day, r.id",
        [user_id],
    )
    out: list[MyApplication] = []
    for row in own_rows:
        own = regs.get_registration(catalog, row["id"])
        mates = tuple(
            regs.get_registration(catalog, r["id"])
            for r in _rows_of(catalog, own.application_id)
            if r["user_id"] is None and r["status"] in ACTIVE
        )
        if own.status in ACTIVE or mates:
            out.append(MyApplication(own.session_id, own.application_id, own, mates))
    return out


def application_of(catalog: Catalog, own_registration_id: int, user_id: int) -> MyApplication:
    """The application whose representative's row is `own_registration_id`, when that row
    is this user's; NotFound otherwise (another user's id, or nothing left active)."""
    for app in applications_of(catalog, user_id):
        if app.own.id == own_registration_id:
            return app
    raise _gone()


def colleague_of(catalog: Catalog, registration_id: int, user_id: int) -> tuple[MyApplication, Registration]:
    """An active colleague this user registered (and its application); NotFound for anyone
    else's registration, the user's own row, or one already cancelled."""
    try:
        reg = regs.get_registration(catalog, registration_id)
    except NotFound:
        raise _gone() from None
    if reg.user_id is not None or reg.status not in ACTIVE or not reg.application_id:
        raise _gone()
    for app in applications_of(catalog, user_id):
        if app.application_id == reg.application_id:
            for mate in app.colleagues:
                if mate.id == reg.id:
                    return app, mate
    raise _gone()


def _cancel_all(
    catalog: Catalog,
    ids: Sequence[int],
    *,
    today: dt.date,
    now: dt.datetime,
    notify: notices.Notify | None = None,
) -> BatchCancel:
    """Cancel `ids` in one transaction: waiting ones first (so a seat freed by one of them
    never goes to another of them), then the seated ones, each freed seat promoting the
    waitlist (`registrations.cancel`; with `notify`, the representative's own cancel and
    the promotions are queued in it, as for /my)."""
    result = BatchCancel()
    with catalog.store.write():
        current = [regs.get_registration(catalog, i) for i in ids]
        order = sorted(current, key=lambda r: (r.status != "waitlisted", r.id))
        outcomes: list[CancelOutcome] = []
        for reg in order:
            if reg.status not in ACTIVE:
                continue
            outcomes.append(regs.cancel(catalog, reg.id, today=today, now=now, notify=notify))
    gone = {o.cancelled.id for o in outcomes}
    by_id = {o.cancelled.id: o.cancelled for o in outcomes}
    result.cancelled = [by_id[i] for i in ids if i in by_id]
    seen: set[int] = set()
    for o in outcomes:
        for p in o.promoted:
            if p.id not in gone and p.id not in seen:
                seen.add(p.id)
                result.promoted.append(regs.get_registration(catalog, p.id))
    return result


def cancel_colleague(
    catalog: Catalog,
    registration_id: int,
    *,
    user_id: int,
    today: dt.date,
    now: dt.datetime,
    notify: notices.Notify | None = None,
) -> BatchCancel:
    """The representative cancels one colleague's seat (or waitlist place)."""
    _app, mate = colleague_of(catalog, registration_id, user_id)
    return _cancel_all(catalog, [mate.id], today=today, now=now, notify=notify)


def cancel_colleagues(
    catalog: Catalog,
    own_registration_id: int,
    *,
    user_id: int,
    today: dt.date,
    now: dt.datetime,
    notify: notices.Notify | None = None,
) -> BatchCancel:
    """The representative cancels every colleague of one application; their own seat stays."""
    app = application_of(catalog, own_registration_id, user_id)
    if not app.colleagues:
        raise RegistrationError(_l("There are no colleagues left to cancel."), code="cancelled")
    return _cancel_all(catalog, [m.id for m in app.colleagues], today=today, now=now, notify=notify)


def cancel_own(
    catalog: Catalog,
    own_registration_id: int,
    *,
    user_id: int,
    today: dt.date,
    now: dt.datetime,
    with_colleagues: bool,
    notify: notices.Notify | None = None,
) -> BatchCancel:
    """The representative cancels their own seat and, with `with_colleagues`, every
    colleague of the same application too (one transaction; every freed seat promotes
    the waitlist). Without it the colleagues stay registered and stay in /my."""
    app = application_of(catalog, own_registration_id, user_id)
    if not app.own_active:
        raise RegistrationError(_l("That registration is already cancelled."), code="cancelled")
    ids = [app.own.id] + ([m.id for m in app.colleagues] if with_colleagues else [])
    return _cancel_all(catalog, ids, today=today, now=now, notify=notify)


# -- correcting a colleague -------------------------------------------------------------------


def _clean(field_name: str, value: str) -> str:
    if field_name == "name":
        return clean_text(value, "name")
    if field_name == "email":
        return clean_email(value)
    raise InvalidInput(_l("{field!r} cannot be changed here", field=field_name))


def edit_colleague(
    catalog: Catalog,
    registration_id: int,
    *,
    user_id: int,
    today: dt.date,
    now: dt.datetime,
    field_name: str,
    value: str,
) -> Registration:
    """Change a colleague's name or e-mail (checked as registering checks them) up to the
    session's deadline; refused when it would make them the same person as someone else
    registered for the session. A new name or address is a new calendar invitation
    attendee, so the registration's sequence rises, and the invite is mailed again (with
    the CANCEL to the old address), in the same transaction."""
    _app, mate = colleague_of(catalog, registration_id, user_id)
    session = catalog.session(mate.session_id)
    if session.cancelled or not session.is_open(today):
        d = session.deadline
        raise RegistrationError(
            _l(
                "Changes closed with the deadline on {deadline}; please ask the office.",
                deadline=ByLang(f"{d.month}月{d.day}日", d.isoformat()),
            ),
            code="closed",
        )
    new = _clean(field_name, value)
    if new == getattr(mate, field_name):
        return mate
    candidate = _as_applicant(mate)
    candidate = replace(candidate, name=new) if field_name == "name" else replace(candidate, email=new)
    with catalog.store.write() as db:
        for row in db.query(
            "select id, name, organisation, email from registrations where session_id = ? "
            "and status in ('registered', 'waitlisted') and id != ?",
            [mate.session_id, mate.id],
        ):
            if same_person(
                candidate, Applicant(row["name"], row["organisation"] or "", "", email=row["email"] or "")
            ):
                raise RegistrationError(
                    _l("Someone with this name (or e-mail address) is already registered for this session."),
                    code="duplicate",
                )
        stamp = now.isoformat(timespec="seconds")
        db.table("registrations").update(
            mate.id, {field_name: new, "updated_at": stamp, "sequence": mate.sequence + 1}
        )
        if mate.status in ACTIVE:  # the invite again (and the CANCEL to an old address)
            notices.tell_corrected_by_mail(
                db,
                registration_id=mate.id,
                session_id=mate.session_id,
                email=new if field_name == "email" else mate.email,
                old_email=mate.email,
                sequence=mate.sequence + 1,
                now=now,
            )
    return regs.get_registration(catalog, mate.id)


def _as_applicant(reg: Registration) -> Applicant:
    return Applicant(
        reg.name,
        reg.organisation,
        reg.org_type,
        reg.department,
        reg.email,
        reg.prefecture,
        reg.contractor,
        reg.dispatched,
    )


# -- the application being typed --------------------------------------------------------------


def same_person(a: Applicant, b: Applicant) -> bool:
    """The rule registering applies: the same name in the same organisation (NFKC, case and
    spaces ignored), or the same e-mail address."""
    if a.email and b.email and a.email.lower() == b.email.lower():
        return True
    return bool(a.name) and (_key(a.name), _key(a.organisation)) == (_key(b.name), _key(b.organisation))


def check_new_colleague(
    catalog: Catalog,
    session_id: str,
    people: Sequence[Applicant],
    *,
    organisation: str,
    name: str = "",
    email: str = "",
) -> None:
    """Refuse, as soon as it is typed, a colleague who is already in the application
    (`people`, the representative first) or already registered for the session: by
    `name` within `organisation` (asked first), or by `email` (asked next).
    RegistrationError code="duplicate" with the reason; nothing otherwise."""
    probe = Applicant(name, organisation, "", email=email)
    for i, p in enumerate(people):
        if not _same(probe, p):
            continue
        if i == 0:
            raise RegistrationError(
                _l("That is you (the representative); a colleague is someone else."), code="duplicate"
            )
        raise RegistrationError(_l("{name} is already in this application.", name=p.name), code="duplicate")
    for row in catalog.store.query(
        "select name, organisation, email from registrations where session_id = ? "
        "and status in ('registered', 'waitlisted')",
        [session_id],
    ):
        if _same(probe, Applicant(row["name"], row["organisation"] or "", "", email=row["email"] or "")):
            raise RegistrationError(
                _l("Someone with this name (or e-mail address) is already registered for this session."),
                code="duplicate",
            )


def _same(probe: Applicant, other: Applicant) -> bool:
    """`same_person` on what `probe` gives: its name (and organisation), or its e-mail."""
    if probe.email:
        return bool(other.email) and probe.email.lower() == other.email.lower()
    return (_key(probe.name), _key(probe.organisation)) == (_key(other.name), _key(other.organisation))
