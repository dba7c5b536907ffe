"""Load a fiscal year's sessions from a spreadsheet (`catalog.schedule_sheet`).

Two steps, so the admin page and `--dry-run` can show what would happen first:
`plan_import` checks every row (each row as the schedule loader checks it, then the
course's span, business days unless confirmed, unique ids, a capacity not below the
seats already taken) and works out what would be added, changed and cancelled;
`apply_import` writes a plan that has no problems, in one transaction, as `db load`
writes a schedule file (revisions raised, registrants told by the schedule watch).

A year not in the store yet is created from the nearest loaded year: its settings
(apply URL, contact, default seats, deadline rule), its courses and their rules and
fees are copied, with the labels of the new year and each on-site course's period and
places taken from the sheet's own rows; the online course's dates (windows) are not
copied, since they differ each year ("not announced" until a schedule file gives them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog import places
from catalog.errors import InvalidInput
from catalog.i18n import ByLang, Joined, Lazy, Said
from catalog.i18n import gettext_lazy as _l
from catalog.i18n import pgettext_lazy as _lp
from catalog.schedule_edit import (
    Change,
    LoadReport,
    OffDay,
    apply_changes,
    dates_unchanged,
    existing_sessions,
    off_days,
    off_days_said,
    plan_sessions,
    record_schedule_change,
    span_problem,
    year_courses,
)
from catalog.schedule_sheet import SheetRow, read_sheet
from catalog.session_row import SessionRow, SessionRowError, as_date, fiscal_year_of, validate_session
from catalog.store import Store

MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Problem:
    """One bad row: its line and the reason, a gettext message (`catalog.i18n`) or, for a
    row's own check (`SessionRowError`), English text shown as it is. `days` are the
    weekend or holiday dates of a row that needs confirming (what the preview carries)."""

    line: int | None
    reason: Said | str
    days: tuple[OffDay, ...] = ()

    @property
    def said(self) -> Said | str:
        """The reason with its line ("line 3: …" / "3行目: …")."""
        if self.line is None:
            return self.reason
        return _l("line {line}: {reason}", line=self.line, reason=self.reason)

    @property
    def translated(self) -> bool:
        """False for a reason in English only (shown once, not as a pair)."""
        return isinstance(self.reason, Lazy | ByLang | Joined)

    @property
    def en(self) -> str:
        """The reason in English (what the command line prints after the line)."""
        return str(self.reason)


def _weekend_problem(line: int | None, days: Sequence[OffDay]) -> Problem:
    return Problem(line, _l("{days} (confirm weekends to import it)", days=off_days_said(days)), tuple(days))


@dataclass
class ImportPlan:
    """What importing a sheet would do. `problems` (bad rows) and, unless confirmed,
    `weekend_rows` (rows on a weekend or holiday) keep it from being applied."""

    name: str
    digest: str
    fiscal_year: int
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # session id -> line
    problems: list[Problem] = field(default_factory=list)
    weekend_rows: list[Problem] = field(default_factory=list)
    confirmed: bool = False
    report: LoadReport | None = None
    changes: list[Change] = field(default_factory=list)
    new_year_from: int | None = None  # a new year: settings and courses copied from this one
    registered: dict[str, int] = field(default_factory=dict)  # session id -> seats taken

    @property
    def ok(self) -> bool:
        return not self.problems and (self.confirmed or not self.weekend_rows)

    def blocking(self) -> list[Problem]:
        """What keeps the plan from being applied, in line order."""
        rows = self.problems + ([] if self.confirmed else self.weekend_rows)
        return sorted(rows, key=lambda p: p.line or 0)

    def error(self) -> InvalidInput:
        rows = self.blocking()
        return InvalidInput(
            _l(
                "{name}: nothing saved, {n} problem(s): {problems}",
                name=self.name,
                n=len(rows),
                problems=Joined("; ", [p.said for p in rows]),
            ),
            code="import",
        )

    def summary(self) -> str:
        assert self.report is not None
        text = self.report.summary()
        if self.new_year_from is not None:
            text += f" (new year: settings and courses copied from FY{self.new_year_from})"
        return text

    def to_json(self) -> dict[str, Any]:
        """What a preview hands to the apply step (signed by the caller): the checked rows,
        not the file."""
        return {
            "name": self.name,
            "digest": self.digest,
            "fiscal_year": self.fiscal_year,
            "records": self.records,
            "lines": self.lines,
            "weekend_rows": [
                [p.line, [[d.day.isoformat(), d.holiday] for d in p.days]] for p in self.weekend_rows
            ],
            "new_year_from": self.new_year_from,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, confirm_weekends: bool) -> ImportPlan:
        return cls(
            str(data["name"]),
            str(data["digest"]),
            int(data["fiscal_year"]),
            records=list(data["records"]),
            lines=dict(data["lines"]),
            weekend_rows=[
                _weekend_problem(p[0], [OffDay(dt.date.fromisoformat(day), holiday) for day, holiday in p[1]])
                for p in data["weekend_rows"]
            ],
            confirmed=confirm_weekends,
            new_year_from=data["new_year_from"],
        )

    def fingerprint(self) -> str:
        """Identifies what applying would do (the changes and the year), so an apply can
        refuse a plan the store has moved away from since the preview."""
        assert self.report is not None
        parts = [str(self.fiscal_year), str(self.new_year_from)]
        parts += [
            f"{c.kind}:{c.session_id}:{','.join(c.fields)}" for c in self.changes if c.kind != "unchanged"
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _source_year(store: Store, fiscal_year: int) -> int | None:
    years = [r["fiscal_year"] for r in store.query("select fiscal_year from years")]
    if not years:
        return None
    before = [y for y in years if y < fiscal_year]
    return max(before) if before else min(years)


def _target_year(rows: Sequence[SheetRow], given: int | None) -> int | None:
    if given is not None:
        return given
    for row in rows:
        first = row.cells.get("first")
        try:
            return fiscal_year_of(as_date(first.date() if isinstance(first, dt.datetime) else first, "first"))
        except Exception:  # a bad date: the row check reports it
            continue
    return None


def _row_problem(line: int, e: SessionRowError) -> Problem:
    return Problem(line, "; ".join(reason for _, reason in e.problems))


def plan_import(
    store: Store,
    rows: Sequence[SheetRow],
    *,
    name: str,
    digest: str = "",
    fiscal_year: int | None = None,
    confirm_weekends: bool = False,
) -> ImportPlan:
    """Check every row and work out the changes; nothing is written."""
    fy = _target_year(rows, fiscal_year)
    if fy is None:
        raise InvalidInput(
            _l("{name}: no row has a first day to tell the fiscal year; give --fiscal-year", name=name)
        )
    if not 2000 <= fy <= 2100:
        raise InvalidInput(_l("fiscal year {year} is not a year such as 2025", year=fy))
    plan = ImportPlan(name, digest, fy, confirmed=confirm_weekends)
    courses = year_courses(store, fy)
    if not courses:
        source = _source_year(store, fy)
        if source is None:
            raise InvalidInput(_l("no fiscal year is loaded yet: run `cyder-bot db init` first"))
        plan.new_year_from = source
        courses = year_courses(store, source)
    if not rows:
        plan.problems.append(Problem(None, _l("no sessions in the file (only a header)")))
    existing = existing_sessions(store.db, fy)
    valid: list[tuple[int, SessionRow]] = []
    for row in rows:
        cells = dict(row.cells)
        extra = cells.pop("_extra", None)
        if extra:
            plan.problems.append(Problem(row.line, _l("{n} cell(s) beyond the last column", n=len(extra))))
            continue
        try:
            checked = validate_session(cells, fy, courses=courses, cells=True)
        except SessionRowError as e:
            plan.problems.append(_row_problem(row.line, e))
            continue
        span = span_problem(checked, courses.get(checked.course))
        if span:
            plan.problems.append(Problem(row.line, span))
            continue
        off = off_days(checked.first, checked.last)
        if off and not dates_unchanged(checked, existing.get(checked.id)):
            plan.weekend_rows.append(_weekend_problem(row.line, off))
        valid.append((row.line, checked))
    seen: dict[str, int] = {}
    for line, checked in valid:
        if checked.id in seen:
            also = seen[checked.id]
            plan.problems.append(
                Problem(
                    line,
                    _l("duplicate session {session} (also at line {also})", session=checked.id, also=also),
                )
            )
            continue
        seen[checked.id] = line
        plan.records.append(checked.record())
        plan.lines[checked.id] = line
    _plan_changes(store, plan)
    return plan


def _plan_changes(store: Store, plan: ImportPlan) -> None:
    """The plan's changes against the store as it is now, and the capacity check."""
    db = store.db
    plan.report, plan.changes = plan_sessions(
        plan.fiscal_year, existing_sessions(db, plan.fiscal_year), plan.records
    )
    plan.registered = {
        r[0]: int(r[1])
        for r in db.execute(
            "select r.session_id, count(*) from registrations r join sessions s on s.id = r.session_id "
            "where s.fiscal_year = ? and r.status = 'registered' group by r.session_id",
            [plan.fiscal_year],
        ).fetchall()
    }
    year = db.execute(
        "select seats from years where fiscal_year = ?", [plan.new_year_from or plan.fiscal_year]
    ).fetchone()
    default_seats = int(year[0] or 0) if year else 0
    for record in plan.records:
        taken = plan.registered.get(record["id"], 0)
        seats = record["capacity"] if record["capacity"] is not None else default_seats
        if seats < taken:
            plan.problems.append(
                Problem(
                    plan.lines.get(record["id"]),
                    _l(
                        "{session}: {taken} people hold seats, the capacity cannot be {seats}",
                        session=record["id"],
                        taken=taken,
                        seats=seats,
                    ),
                )
            )


def read_and_plan(
    store: Store, name: str, data: bytes, *, fiscal_year: int | None = None, confirm_weekends: bool = False
) -> ImportPlan:
    """`plan_import` for a file's bytes (.xlsx or CSV); SheetError when unreadable."""
    rows = read_sheet(name, data)
    return plan_import(
        store,
        rows,
        name=name,
        digest=hashlib.sha256(data).hexdigest(),
        fiscal_year=fiscal_year,
        confirm_weekends=confirm_weekends,
    )


def _reiwa(fiscal_year: int) -> str:
    n = fiscal_year - 2018
    return f"令和{'元' if n == 1 else n}年度" if n >= 1 else f"{fiscal_year}年度"


def _period(days: Iterable[dt.date], fiscal_year: int) -> tuple[str, str]:
    days = sorted(days)
    first, last = days[0], days[-1]

    def ja(d: dt.date) -> str:
        return f"{'翌年' if d.year > fiscal_year else ''}{d.month}月"

    if (first.year, first.month) == (last.year, last.month):
        return ja(first), MONTHS_EN[first.month - 1]
    return f"{ja(first)}～{ja(last)}", f"{MONTHS_EN[first.month - 1]} - {MONTHS_EN[last.month - 1]}"


def _where(records: list[dict[str, Any]]) -> tuple[str, str]:
    prefectures = {r["prefecture_code"] for r in records}
    if len(prefectures) == len(places.PREFECTURES):
        return "47都道府県", "All 47 prefectures"
    cities = sorted({(r["prefecture_code"], r["city"]) for r in records})
    if len(cities) <= 4:
        from catalog.calendar import city_en

        return ("・".join(c for _, c in cities), ", ".join(city_en(p, c) for p, c in cities))
    return f"{len(prefectures)}都道府県", f"{len(prefectures)} prefectures"


def _new_year(db: Any, plan: ImportPlan, stamp: str) -> None:
    """The year's settings and courses, copied from `plan.new_year_from`."""
    source = plan.new_year_from
    fy = plan.fiscal_year
    year = next(db.table("years").rows_where("fiscal_year = ?", [source]))
    db.table("years").insert(
        dict(
            year,
            fiscal_year=fy,
            label_ja=_reiwa(fy),
            label_en=f"FY{fy}",
            source=f"{plan.name} (settings copied from FY{source})",
            file_hash=plan.digest,
            loaded_at=stamp,
        ),
        pk="fiscal_year",
    )
    by_course: dict[str, list[dict[str, Any]]] = {}
    for r in plan.records:
        by_course.setdefault(r["course"], []).append(r)
    for course in db.table("courses").rows_where("fiscal_year = ?", [source], order_by="position"):
        row = dict(course, fiscal_year=fy, declared_total=None)
        mine = by_course.get(course["code"], [])
        if course["format"] == "onsite" and mine:
            row["period_ja"], row["period_en"] = _period(
                [dt.date.fromisoformat(r["first_day"]) for r in mine], fy
            )
            row["where_ja"], row["where_en"] = _where(mine)
        elif course["format"] == "onsite":  # no session in the sheet
            row["period_ja"], row["period_en"] = "未発表", "not announced"
            row["where_ja"], row["where_en"] = "未発表", "not announced"
        else:  # the online course's dates differ each year
            row["period_ja"], row["period_en"] = "未発表", "not announced"
        db.table("courses").insert(row, pk=("fiscal_year", "code"))


def apply_import(
    store: Store, plan: ImportPlan, *, now: dt.datetime, actor: Any = None, expect: str | None = None
) -> LoadReport:
    """Write a plan with no problems in one transaction (re-planned against the store as
    it is then). With `expect` (a preview's `fingerprint()`), refuses when the changes
    are no longer the ones previewed."""
    if not plan.ok:
        raise plan.error()
    stamp = now.isoformat(timespec="seconds")
    with store.write() as db:
        if (
            plan.new_year_from is not None
            and db.execute("select 1 from years where fiscal_year = ?", [plan.fiscal_year]).fetchone()
        ):
            plan.new_year_from = None  # created meanwhile: the sessions are checked against it
        _plan_changes(store, plan)
        if not plan.ok:
            raise plan.error()
        if expect is not None and plan.fingerprint() != expect:
            raise InvalidInput(
                _l("the schedule changed since the preview: upload the file again"), code="stale"
            )
        if plan.new_year_from is not None:
            _new_year(db, plan, stamp)
        apply_changes(db, plan.changes, stamp)
        assert plan.report is not None
        record_schedule_change(
            db,
            actor,
            "schedule_imported",
            now=now,
            session_id=f"FY{plan.fiscal_year}",
            details={"file": plan.name, "summary": plan.report.summary()},
        )
    return plan.report


# the fields a preview shows, by their labels (a context: bare words such as "start")
FIELD_LABELS: dict[str, Lazy] = {
    "first_day": _lp("schedule field", "first day"),
    "last_day": _lp("schedule field", "last day"),
    "prefecture": _lp("schedule field", "prefecture"),
    "city": _lp("schedule field", "city"),
    "venue": _lp("schedule field", "venue"),
    "address": _lp("schedule field", "address"),
    "start_time": _lp("schedule field", "start"),
    "end_time": _lp("schedule field", "end"),
    "capacity": _lp("schedule field", "capacity"),
    "status": _lp("schedule field", "status"),
    "venue_lat": _lp("schedule field", "latitude"),
    "venue_lon": _lp("schedule field", "longitude"),
}
SHOWN_FIELDS = tuple(FIELD_LABELS)


def describe(change: Change) -> Said | str:
    """One line for a preview: the session, and for a change each field before → after."""
    row = change.after
    what = (
        f"{row['course']} {row['first_day']}"
        + (f"–{row['last_day']}" if row["last_day"] != row["first_day"] else "")
        + f" {row['prefecture']} {row['city']}"
    )
    if change.kind in ("added", "cancelled") or change.before is None:
        return what
    parts: list[Said] = []
    for f in change.fields:
        if f not in FIELD_LABELS:
            continue
        before = change.before.get(f)
        after = row.get(f)
        parts.append(
            Joined(
                ": ",
                [FIELD_LABELS[f], f"{'-' if before is None else before} → {'-' if after is None else after}"],
            )
        )
    return Joined("", [what, " (", Joined("; ", parts), ")"]) if parts else what


def counts(plan: ImportPlan) -> dict[str, int]:
    """How many sessions each kind of change touches (for a preview's headline)."""
    return dict(Counter(c.kind for c in plan.changes))
