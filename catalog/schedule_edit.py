"""Changing the schedule in the store: one session at a time (the admin page, the CLI)
or a whole fiscal year's sessions at once (`db load`, a spreadsheet import).

Every path writes a session the same way (`plan_sessions` / `apply_changes`): a change a
calendar shows (`CALENDAR_FIELDS`: dates, times, place, venue, status) raises the
session's revision (its SEQUENCE) and its update time (DTSTAMP, Last-Modified), which is
what `bot.telegram.schedule_watch` watches to tell registrants in chat; a change only to
seats (`CONTENT_FIELDS` beyond those) is written without either. A session is never
deleted: dropping it from a year's data cancels it (registrants get the CANCEL).

A session is checked by `catalog.session_row.validate_session` (the loader's rules) and,
for staff edits and imports, by `check_days`: on a weekday that is not a public holiday
unless staff confirm, and spanning the course's number of days (C: two).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jpholiday

from catalog import audit, registrations
from catalog.errors import InvalidInput, NotFound
from catalog.i18n import ByLang, Joined, Lazy
from catalog.i18n import gettext_lazy as _l
from catalog.session_row import (
    SessionRow,
    SessionRowError,
    as_date,
    fiscal_year_of,
    validate_session,
)
from catalog.store import Store

# What a session's calendar event shows: a change here raises the revision (SEQUENCE).
CALENDAR_FIELDS = (
    "course",
    "prefecture_code",
    "prefecture",
    "city",
    "first_day",
    "last_day",
    "start_time",
    "end_time",
    "venue",
    "address",
    "venue_lat",
    "venue_lon",
    "status",
)
# The rest of a session's row (seats; region and point follow the place).
CONTENT_FIELDS = (*CALENDAR_FIELDS, "region", "lat", "lon", "capacity")
# What staff may change in one session (the course is part of its id: add a new one).
EDITABLE = (
    "first",
    "last",
    "prefecture",
    "city",
    "venue",
    "address",
    "venue_lat",
    "venue_lon",
    "start",
    "end",
    "capacity",
)
WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

ChangeKind = Literal["added", "updated", "adjusted", "unchanged", "cancelled"]


@dataclass
class LoadReport:
    """What a load did. `updated` names sessions and windows (`2024-PRE-first`) whose
    calendar event changed (revision raised); `adjusted` those changed only where no
    calendar shows it (capacity: same revision)."""

    fiscal_year: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    unchanged: int = 0
    adjusted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.cancelled or self.adjusted)

    def summary(self) -> str:
        adjusted = f", {len(self.adjusted)} capacity only" if self.adjusted else ""
        return (
            f"FY{self.fiscal_year}: {len(self.added)} added, {len(self.updated)} updated"
            f"{adjusted}, {len(self.cancelled)} cancelled, {self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class Change:
    """One session's change: its row before (None when added) and after, and which of
    `CONTENT_FIELDS` differ."""

    kind: ChangeKind
    session_id: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    fields: tuple[str, ...] = ()


def _differ(old: Mapping[str, Any], new: Mapping[str, Any], names: Iterable[str]) -> tuple[str, ...]:
    return tuple(f for f in names if old.get(f) != new.get(f))


def classify(old: Mapping[str, Any] | None, new: dict[str, Any]) -> Change:
    """How one session's row changes from `old` (a stored row, or None) to `new`."""
    if old is None:
        return Change("added", new["id"], None, new, CONTENT_FIELDS)
    fields = _differ(old, new, CONTENT_FIELDS)
    if set(fields) & set(CALENDAR_FIELDS):
        kind: ChangeKind = (
            "cancelled"
            if (new.get("status") == "cancelled" and old.get("status") != "cancelled")
            else "updated"
        )
    elif fields:
        kind = "adjusted"
    else:
        kind = "unchanged"
    return Change(kind, new["id"], dict(old), new, fields)


def plan_sessions(
    fiscal_year: int, existing: Mapping[str, Mapping[str, Any]], records: Iterable[dict[str, Any]]
) -> tuple[LoadReport, list[Change]]:
    """What making `fiscal_year` hold exactly `records` (session rows, as
    `SessionRow.record()` gives them) would change, given its `existing` rows by id:
    new ids are added, changed ones updated or adjusted, and ids left out cancelled.
    Pure: nothing is written."""
    report = LoadReport(fiscal_year)
    changes: list[Change] = []
    left = dict(existing)
    for record in records:
        change = classify(left.pop(record["id"], None), record)
        changes.append(change)
        if change.kind == "added":
            report.added.append(change.session_id)
        elif change.kind in ("updated", "cancelled"):
            report.updated.append(change.session_id)
        elif change.kind == "adjusted":
            report.adjusted.append(change.session_id)
        else:
            report.unchanged += 1
    for sid, old in left.items():
        if old.get("status") != "cancelled":
            changes.append(Change("cancelled", sid, dict(old), {**old, "status": "cancelled"}, ("status",)))
            report.cancelled.append(sid)
    return report, changes


def apply_changes(db: Any, changes: Iterable[Change], stamp: str) -> None:
    """Write planned changes on `db` (inside the caller's write transaction)."""
    for c in changes:
        if c.kind == "added":
            db.table("sessions").insert(dict(c.after, revision=0, updated_at=stamp), pk="id")
        elif c.kind in ("updated", "cancelled"):
            assert c.before is not None
            values = {k: v for k, v in c.after.items() if k not in ("revision", "updated_at")}
            db.table("sessions").update(
                c.session_id, dict(values, revision=(c.before.get("revision") or 0) + 1, updated_at=stamp)
            )
        elif c.kind == "adjusted":
            # Seats only: no calendar shows them, so neither SEQUENCE nor DTSTAMP moves.
            values = {k: v for k, v in c.after.items() if k not in ("revision", "updated_at")}
            db.table("sessions").update(c.session_id, values)


def existing_sessions(db: Any, fiscal_year: int) -> dict[str, dict[str, Any]]:
    """The stored rows of one fiscal year's sessions, by id."""
    return {r["id"]: r for r in db.table("sessions").rows_where("fiscal_year = ?", [fiscal_year])}


# -- checks beyond one row's fields -----------------------------------------------------------


@dataclass(frozen=True)
class OffDay:
    """A day of a session that is not a business day: a weekend or a public holiday."""

    day: dt.date
    holiday: str | None  # the holiday's name (jpholiday), None for a plain weekend

    @property
    def said(self) -> Lazy:
        """ "2024-11-02 is a Saturday" / "11月2日は土曜日です", as a gettext message."""
        date = ByLang(f"{self.day.month}月{self.day.day}日", self.day.isoformat())
        if self.holiday:
            return _l("{date} is a public holiday ({holiday})", date=date, holiday=self.holiday)
        weekday = self.day.weekday()
        return _l(
            "{date} is a {weekday}", date=date, weekday=ByLang(WEEKDAYS_JA[weekday], WEEKDAYS_EN[weekday])
        )


def off_days_said(days: Iterable[OffDay]) -> Joined:
    """Several off days in one line ("、" between them in Japanese, "; " in English)."""
    return Joined(ByLang("、", "; "), [d.said for d in days])


def off_days(first: dt.date, last: dt.date) -> list[OffDay]:
    """The days from `first` to `last` that are a Saturday, a Sunday or a public holiday."""
    out = []
    day = first
    while day <= last:
        name = jpholiday.is_holiday_name(day)
        if name or day.weekday() >= 5:
            out.append(OffDay(day, name))
        day += dt.timedelta(days=1)
    return out


class NeedsConfirmation(InvalidInput):
    """A session on a weekend or a public holiday: saved only when staff confirm."""

    code = "confirm"

    def __init__(self, days: list[OffDay]) -> None:
        super().__init__(_l("{days}: confirm to save anyway", days=off_days_said(days)))
        self.days = days


def span_problem(row: SessionRow, days: int | None) -> Lazy | None:
    """The reason when the session does not span its course's `days` (C: two days)."""
    if not days or days < 1:
        return None
    span = (row.last - row.first).days + 1
    if span == days:
        return None
    expected = row.first + dt.timedelta(days=days - 1)
    return _l(
        "course {course} runs {days} day(s): the last day must be {expected}, not {last}",
        course=row.course,
        days=days,
        expected=expected.isoformat(),
        last=row.last.isoformat(),
    )


def check_days(row: SessionRow, days: int | None, *, confirm: bool) -> None:
    """The checks a staff edit and an import add to the row's own: the course's span, and
    business days unless `confirm`. Raises InvalidInput / NeedsConfirmation."""
    span = span_problem(row, days)
    if span:
        raise InvalidInput(span, code="span")
    off = off_days(row.first, row.last)
    if off and not confirm:
        raise NeedsConfirmation(off)


def year_courses(store: Store | Any, fiscal_year: int) -> dict[str, int]:
    """The on-site course codes of a loaded fiscal year, with their number of days
    (`store` a Store or the Database of an open transaction)."""
    return {
        r["code"]: r["days"]
        for r in store.query(
            "select code, days from courses where fiscal_year = ? and format = 'onsite' order by position",
            [fiscal_year],
        )
    }


# -- one session --------------------------------------------------------------------------


# what a staff edit did, by its `kind`
KIND_DONE: dict[ChangeKind, Lazy] = {
    "added": _l("{session}: added"),
    "updated": _l("{session}: changed (registrants will be told)"),
    "adjusted": _l("{session}: capacity changed"),
    "unchanged": _l("{session}: nothing changed"),
    "cancelled": _l("{session}: cancelled (registrants will be told)"),
}


@dataclass(frozen=True)
class EditResult:
    """What a staff edit did: `kind` as `Change.kind`, the fields that changed, and the
    waitlisted registrations promoted because the capacity grew."""

    session_id: str
    kind: ChangeKind
    fields: tuple[str, ...] = ()
    promoted: tuple[int, ...] = ()

    def summary(self) -> Lazy:
        """`2024-A-13-0709: capacity changed; 2 promoted from the waitlist`."""
        text = KIND_DONE[self.kind].fill(session=self.session_id)
        if self.promoted:
            return _l("{change}; {n} promoted from the waitlist", change=text, n=len(self.promoted))
        return text


def record_schedule_change(
    db: Any, actor: Any, action: str, *, now: dt.datetime, session_id: str, details: Mapping[str, Any]
) -> None:
    """The one place a staff change to the schedule is logged, in the audit log, on the
    change's write transaction. `actor` is an `audit.Actor` or a string: "cli" or
    "admin-web:KEY" (the signed-in browser)."""
    if not isinstance(actor, audit.Actor):
        text = str(actor or "cli")
        actor = (
            audit.Actor.admin_web(text.partition(":")[2])
            if text.startswith("admin-web")
            else audit.Actor.cli()
        )
    audit.record(
        db,
        actor,
        action,
        now=now,
        session_id=session_id,
        details=json.loads(json.dumps(dict(details), default=str)),
    )


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def _fiscal_year_of_fields(fields: Mapping[str, Any], default: int) -> int:
    first = fields.get("first") or fields.get("First day") or fields.get("first_day")
    if isinstance(first, str):
        first = first.strip()
    if not first:
        return default
    try:
        return fiscal_year_of(as_date(first, "first"))
    except Exception:  # the row check names the bad date
        return default


def _loaded(store: Store, fiscal_year: int) -> dict[str, int]:
    if store.one("select 1 as x from years where fiscal_year = ?", [fiscal_year]) is None:
        raise InvalidInput(_l("FY{year} is not loaded: import its schedule first", year=fiscal_year))
    return year_courses(store, fiscal_year)


def _row_error(e: SessionRowError) -> InvalidInput:
    en = "; ".join(reason for _, reason in e.problems)
    err = InvalidInput(en, en, code="session_row")
    err.field = e.field  # type: ignore[attr-defined]
    return err


def _validated(fields: Mapping[str, Any], fiscal_year: int, courses: Collection[str]) -> SessionRow:
    try:
        return validate_session(fields, fiscal_year, courses=courses, cells=True)
    except SessionRowError as e:
        raise _row_error(e) from None


def _seats_check(db: Any, session_id: str, capacity: int | None, default_seats: int) -> int:
    """The seats taken; refuses a capacity below them."""
    taken = int(
        db.execute(
            "select count(*) from registrations where session_id = ? and status = 'registered'", [session_id]
        ).fetchone()[0]
    )
    seats = capacity if capacity is not None else default_seats
    if seats < taken:
        raise InvalidInput(
            _l(
                "{taken} people hold seats in {session}: the capacity cannot be "
                "below {taken} (cancel or move registrations first)",
                taken=taken,
                session=session_id,
            ),
            code="capacity",
        )
    return taken


def _deadline_open(session_first: dt.date, today: dt.date, business_days: int) -> bool:
    from catalog.deadlines import business_days_before

    return today <= business_days_before(session_first, business_days)


def _promote(db: Any, session_id: str, free: int, stamp: str) -> tuple[int, ...]:
    """Move the first `free` waitlisted people to a seat (as a freed seat does)."""
    if free <= 0:
        return ()
    ids = tuple(
        r["id"]
        for r in db.query(
            "select id from registrations where session_id = ? and status = 'waitlisted' order by id limit ?",
            [session_id, free],
        )
    )
    for rid in ids:
        # TENTATIVE -> CONFIRMED is a change the person's calendar must apply: a new SEQUENCE.
        db.execute(
            "update registrations set status = 'registered', updated_at = ?, "
            "sequence = coalesce(sequence, 0) + 1 where id = ?",
            [stamp, rid],
        )
    return ids


def _year_seats(db: Any, fiscal_year: int) -> tuple[int, int]:
    row = db.execute(
        "select seats, deadline_business_days from years where fiscal_year = ?", [fiscal_year]
    ).fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def add_session(
    store: Store,
    fields: Mapping[str, Any],
    *,
    now: dt.datetime,
    default_year: int,
    confirm: bool = False,
    actor: Any = None,
) -> EditResult:
    """Add one session from form or CLI fields (`SPREADSHEET_COLUMNS` names; blank means
    absent). Its fiscal year is the one its first day falls in, which must be loaded; its
    id must be new (a cancelled session keeps its id: edit that one instead)."""
    fy = _fiscal_year_of_fields(fields, default_year)
    courses = _loaded(store, fy)
    row = _validated(fields, fy, courses)
    check_days(row, courses.get(row.course), confirm=confirm)
    record = row.record()
    with store.write() as db:
        old = db.execute("select status from sessions where id = ?", [row.id]).fetchone()
        if old is not None:
            exists = (
                _l(
                    "session {session} already exists (cancelled): edit it instead, or give another id",
                    session=row.id,
                )
                if old[0] == "cancelled"
                else _l(
                    "session {session} already exists: edit it instead, or give another id", session=row.id
                )
            )
            raise InvalidInput(exists, code="exists")
        change = classify(None, record)
        apply_changes(db, [change], _stamp(now))
        record_schedule_change(
            db,
            actor,
            "session_added",
            now=now,
            session_id=row.id,
            details={"after": row.model_dump(mode="json")},
        )
    return EditResult(row.id, "added", change.fields)


def edit_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored session row as the input fields of an edit (`SPREADSHEET_COLUMNS` names)."""
    return {
        "course": row["course"],
        "prefecture": row["prefecture"],
        "city": row["city"],
        "first": row["first_day"],
        "last": row["last_day"],
        "venue": row["venue"],
        "address": row["address"],
        "start": row["start_time"],
        "end": row["end_time"],
        "capacity": row["capacity"],
        "id": row["id"],
        "venue_lat": row.get("venue_lat"),
        "venue_lon": row.get("venue_lon"),
    }


def year_edit_rows(store: Store, fiscal_year: int) -> list[dict[str, Any]]:
    """A year's sessions (not cancelled) as edit fields, in the schedule's order: the rows
    of a spreadsheet to correct and upload again."""
    return [
        edit_fields(r)
        for r in store.query(
            "select * from sessions where fiscal_year = ? and status != 'cancelled' "
            "order by first_day, course, prefecture_code",
            [fiscal_year],
        )
    ]


def session_edit_values(store: Store, session_id: str) -> dict[str, Any]:
    """One session's edit fields as a form shows them (empty text for what is unset);
    NotFound for an unknown id."""
    row = store.one("select * from sessions where id = ?", [session_id])
    if row is None:
        raise NotFound(_l("no session {session_id!r}", session_id=session_id))
    return {k: "" if v is None else v for k, v in edit_fields(row).items()}


def _day(value: Any) -> dt.date | None:
    """A first/last value as a date (form text, ISO, Excel's midnight date-time), or None."""
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else None
    if isinstance(value, str):
        value = value.strip()
    if not value:
        return None
    try:
        return as_date(value, "day")
    except Exception:  # the row check names the bad date
        return None


def keep_span(fields: dict[str, Any], old: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """A session moved to another first day keeps its length when its last day is not
    changed with it (a two-day C session moved from 11/28 ends on the day after): sets
    `fields["last"]`. The admin page, the CLI and a re-imported sheet all do this."""
    first = _day(changes.get("first"))
    if first is None:
        return
    old_first, old_last = dt.date.fromisoformat(old["first_day"]), dt.date.fromisoformat(old["last_day"])
    last = changes.get("last")
    if first != old_first and (last in (None, "") or _day(last) == old_last):
        fields["last"] = (first + (old_last - old_first)).isoformat()


def dates_unchanged(row: SessionRow, old: Mapping[str, Any] | None) -> bool:
    """Whether a checked row keeps a stored session's days (then a weekend date that was
    confirmed once need not be confirmed again)."""
    return old is not None and (row.first.isoformat(), row.last.isoformat()) == (
        old["first_day"],
        old["last_day"],
    )


def edit_session(
    store: Store,
    session_id: str,
    changes: Mapping[str, Any],
    *,
    now: dt.datetime,
    today: dt.date,
    confirm: bool = False,
    actor: Any = None,
) -> EditResult:
    """Change a session's date, place, venue, times or capacity (`EDITABLE` keys in
    `changes`; a key given blank clears the value). The session keeps its id, so
    registrations, calendar UIDs and shared links follow it; a change a calendar shows
    raises its revision and registrants are told. A capacity below the seats taken is
    refused; a capacity that grows promotes the waitlist while applications are open."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(
            _l(
                "cannot edit {fields}; editable: {editable}",
                fields=", ".join(unknown),
                editable=", ".join(EDITABLE),
            )
        )
    stamp = _stamp(now)
    with store.write() as db:
        old = next(db.table("sessions").rows_where("id = ?", [session_id]), None)
        if old is None:
            raise NotFound(_l("no session {session!r}", session=session_id))
        if old["status"] == "cancelled":
            raise InvalidInput(
                _l("session {session} is cancelled; add a new session instead", session=session_id),
                code="cancelled",
            )
        fy = old["fiscal_year"]
        courses = year_courses(db, fy)
        fields = edit_fields(old)
        fields.update(changes)
        keep_span(fields, old, changes)
        row = _validated(fields, fy, courses)
        check_days(row, courses.get(row.course), confirm=confirm or dates_unchanged(row, old))
        record = dict(row.record(), status=old["status"])
        change = classify(old, record)
        if change.kind == "unchanged":
            return EditResult(session_id, "unchanged")
        seats, business_days = _year_seats(db, fy)
        taken = _seats_check(db, session_id, row.capacity, seats)
        apply_changes(db, [change], stamp)
        promoted: tuple[int, ...] = ()
        new_seats = row.capacity if row.capacity is not None else seats
        if _deadline_open(row.first, today, business_days):
            promoted = _promote(db, session_id, new_seats - taken, stamp)
            # told in chat and by mail through the notification outbox (the bot sends it)
            registrations.tell_promoted_everywhere(db, promoted, session_id, now)
        record_schedule_change(
            db,
            actor,
            "session_edited",
            now=now,
            session_id=session_id,
            details={
                "before": {f: old.get(f) for f in change.fields},
                "after": {f: record.get(f) for f in change.fields},
            },
        )
    return EditResult(session_id, change.kind, change.fields, promoted)


def cancel_session(store: Store, session_id: str, *, now: dt.datetime, actor: Any = None) -> EditResult:
    """Cancel a session: its registrants are told and get the calendar CANCEL (as when a
    schedule load drops it). Registrations stay, for the record."""
    with store.write() as db:
        old = next(db.table("sessions").rows_where("id = ?", [session_id]), None)
        if old is None:
            raise NotFound(_l("no session {session!r}", session=session_id))
        if old["status"] == "cancelled":
            raise InvalidInput(
                _l("session {session} is already cancelled", session=session_id), code="cancelled"
            )
        change = Change("cancelled", session_id, old, {**old, "status": "cancelled"}, ("status",))
        apply_changes(db, [change], _stamp(now))
        record_schedule_change(db, actor, "session_cancelled", now=now, session_id=session_id, details={})
    return EditResult(session_id, "cancelled", ("status",))
