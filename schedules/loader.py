"""Read a fiscal year's schedule file, validate all of it, then write it to the store.

Nothing is written unless the whole file is valid; a bad file is refused with
its path, line and reason (`ScheduleError`). Loading the same file again
changes nothing; a corrected file updates sessions in place and raises the
revision of each session whose calendar event changes (calendars use it as
SEQUENCE). A change no calendar shows (capacity) updates the row but not the
revision. プレCYDER windows have revisions too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from catalog import places
from catalog.errors import ScheduleError
from catalog.store import Store

SESSION_KEYS = {
    "course", "region", "prefecture", "city", "first", "last",
    "start", "end", "venue", "address", "capacity", "id",
}
ID_RE = re.compile(r"^[0-9]{4}-[A-Z0-9-]{1,8}-[0-9]{2}-[0-9]{4}$")
REQUIRED_SESSION_KEYS = {"course", "prefecture", "city", "first"}
ORG_EFFECTS = {"refuse", "as_own_org", "as_private"}
ALLOWED = {"all", "local", "nonlocal"}
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
COURSE_FIELDS = (
    "level_ja", "level_en", "audience_ja", "audience_en", "learn_ja", "learn_en",
    "organisations_ja", "organisations_en", "where_ja", "where_en", "period_ja", "period_en",
)


def default_path(fiscal_year: int = 2024) -> Path:
    """The schedule file shipped with the package for `fiscal_year`."""
    return Path(str(resources.files("schedules") / f"fy{fiscal_year}.toml"))


def session_id(fiscal_year: int, course: str, prefecture_code: int, first: dt.date) -> str:
    """Stable, readable, URL-safe id: ``2024-A-34-1025`` (year, course, JIS code, MMDD)."""
    return f"{fiscal_year}-{course}-{prefecture_code:02d}-{first:%m%d}"


@dataclass
class Schedule:
    """A validated schedule file, ready to write."""

    path: str
    digest: str
    year: dict[str, Any]
    courses: list[dict[str, Any]]
    org_types: list[dict[str, Any]]
    modifiers: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    sessions: list[dict[str, Any]]


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


def _session_lines(text: str) -> list[int]:
    """Line numbers (1-based) of the entries of the top-level `sessions` array, in order."""
    lines = text.splitlines()
    out: list[int] = []
    inside = False
    for no, line in enumerate(lines, 1):
        stripped = line.strip()
        if not inside:
            if re.match(r"^sessions\s*=\s*\[", stripped):
                inside = True
                rest = stripped.split("[", 1)[1]
                out.extend([no] * rest.count("{"))
            continue
        if stripped.startswith("#"):
            continue
        out.extend([no] * stripped.count("{"))
        if stripped.startswith("]"):
            break
    return out


def _line_of(text: str, pattern: str) -> int | None:
    for no, line in enumerate(text.splitlines(), 1):
        if re.search(pattern, line):
            return no
    return None


def _date(value: Any, what: str, fail: Callable[[str], NoReturn]) -> dt.date:
    if isinstance(value, dt.datetime):
        fail(f"{what} must be a date, not a date-time: {value}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return fail(f"{what} is not a date (YYYY-MM-DD): {value!r}")


def parse(path: str | Path) -> Schedule:
    """Read and validate a schedule file; raise `ScheduleError` naming the line at fault."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ScheduleError(name, None, f"cannot read the file ({e.strerror})") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScheduleError(name, None, "the file is not UTF-8 text") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise ScheduleError(name, int(m.group(1)) if m else None, f"not valid TOML: {e}") from e

    def fail(reason: str, line: int | None = None) -> NoReturn:
        raise ScheduleError(name, line, reason)

    fy = data.get("fiscal_year")
    if not isinstance(fy, int) or not 2000 <= fy <= 2100:
        fail(f"fiscal_year must be a year such as 2024, got {fy!r}", _line_of(text, r"^fiscal_year"))
    fy_first, fy_last = dt.date(fy, 4, 1), dt.date(fy + 1, 3, 31)

    defaults = data.get("defaults", {})
    for key in ("seats", "deadline_business_days", "nearly_full_threshold"):
        v = defaults.get(key)
        if not isinstance(v, int) or v < 0:
            fail(f"[defaults] {key} must be a whole number >= 0", _line_of(text, rf"^{key}\b"))
    fees = data.get("fees", {})
    totals = data.get("totals", {})

    courses: list[dict[str, Any]] = []
    allowed = {r.get("course"): r.get("allowed") for r in data.get("course_rules", [])}
    seen_codes: set[str] = set()
    for pos, c in enumerate(data.get("courses", [])):
        code = c.get("code")
        line = _line_of(text, rf'^code\s*=\s*"{re.escape(str(code))}"')
        if not isinstance(code, str) or not re.fullmatch(r"[A-Z0-9-]{1,8}", code):
            fail(f"course code must be short letters/digits/hyphens, got {code!r}", line)
        if code in seen_codes:
            fail(f"course {code} is declared twice", line)
        seen_codes.add(code)
        if c.get("format") not in ("onsite", "online"):
            fail(f"course {code}: format must be 'onsite' or 'online'", line)
        if allowed.get(code) not in ALLOWED:
            fail(f"course {code}: [[course_rules]] needs allowed = all|local|nonlocal", line)
        fee = fees.get(code)
        if fee is not None and (not isinstance(fee, int) or fee < 0):
            fail(f"[fees] {code} must be a whole number of yen", _line_of(text, rf"^{code}\s*="))
        row = {
            "fiscal_year": fy, "code": code, "position": pos,
            "name_ja": c.get("name_ja", f"{code}コース"), "name_en": c.get("name_en", f"Course {code}"),
            "format": c["format"], "days": int(c.get("days", 1)),
            "note_ja": c.get("note_ja", ""), "note_en": c.get("note_en", ""),
            "allowed": allowed[code], "fee_yen": fee, "declared_total": totals.get(code),
        }
        for f in COURSE_FIELDS:
            if not isinstance(c.get(f), str):
                fail(f"course {code}: {f} is missing", line)
            row[f] = c[f]
        courses.append(row)
    if not courses:
        fail("no [[courses]] declared")
    onsite = {c["code"] for c in courses if c["format"] == "onsite"}
    for code in totals:
        if code not in onsite:
            fail(f"[totals] names {code!r}, which is not an on-site course", _line_of(text, r"^\[totals\]"))

    org_types = []
    for pos, o in enumerate(data.get("org_types", [])):
        if o.get("fee") not in ("free", "paid") or not o.get("code"):
            fail(f"org type {o.get('code')!r}: needs a code and fee = free|paid",
                 _line_of(text, rf'^code\s*=\s*"{o.get("code")}"'))
        org_types.append({
            "code": o["code"], "position": pos, "name_ja": o["name_ja"], "name_en": o["name_en"],
            "public": int(bool(o.get("public"))), "local": int(bool(o.get("local"))), "fee": o["fee"],
        })
    if not org_types:
        fail("no [[org_types]] declared")
    modifiers = []
    for pos, m in enumerate(data.get("modifiers", [])):
        if m.get("effect") not in ORG_EFFECTS:
            fail(f"modifier {m.get('flag')!r}: effect must be one of {sorted(ORG_EFFECTS)}",
                 _line_of(text, rf'^flag\s*=\s*"{m.get("flag")}"'))
        modifiers.append({"flag": m["flag"], "position": pos, "effect": m["effect"],
                          "reason_ja": m.get("reason_ja", ""), "reason_en": m.get("reason_en", "")})

    windows = []
    for w in data.get("online_windows", []):
        line = _line_of(text, rf'^name\s*=\s*"{w.get("name")}"')
        def window_fail(reason: str, line: int | None = line) -> NoReturn:
            fail(reason, line)

        first = _date(w.get("first"), "online window first", window_fail)
        last = _date(w.get("last"), "online window last", window_fail)
        if not fy_first <= first <= last <= fy_last:
            fail(f"online window {w.get('name')}: dates must lie inside FY{fy} and last >= first", line)
        windows.append({"fiscal_year": fy, "name": w["name"], "label_ja": w.get("label_ja", ""),
                        "label_en": w.get("label_en", ""), "first": first.isoformat(),
                        "last": last.isoformat()})

    raw_sessions = data.get("sessions")
    if not isinstance(raw_sessions, list) or not raw_sessions:
        fail("no sessions: the file needs a top-level `sessions = [ ... ]` array",
             _line_of(text, r"^sessions"))
    line_nos = _session_lines(text)
    sessions: list[dict[str, Any]] = []
    ids: dict[str, int | None] = {}
    for i, s in enumerate(raw_sessions):
        line = line_nos[i] if i < len(line_nos) else None

        def bad(reason: str, line: int | None = line) -> NoReturn:
            fail(reason, line)

        if not isinstance(s, dict):
            bad("each session must be a table { course = ..., ... }")
        unknown = set(s) - SESSION_KEYS
        if unknown:
            bad(f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(SESSION_KEYS))}")
        missing = REQUIRED_SESSION_KEYS - set(s)
        if missing:
            bad(f"missing field(s) {', '.join(sorted(missing))}")
        course = s["course"]
        if course not in onsite:
            bad(f"unknown course {course!r}; known: {', '.join(sorted(onsite))}")
        try:
            pref = places.prefecture(str(s["prefecture"]))
        except places.UnknownPlace as e:
            bad(f"unknown prefecture {s['prefecture']!r}; did you mean {', '.join(e.candidates) or '-'}?")
        if "region" in s and s["region"] != pref.region:
            bad(f"region {s['region']!r} does not match {pref.name}, which is in {pref.region}")
        city = str(s["city"]).strip()
        if not city:
            bad("city is empty")
        try:
            lat, lon = places.venue_point(pref.code, city)
        except KeyError:
            bad(f"unknown city {city!r} in {pref.name}: add it to catalog/places.py")
        first = _date(s["first"], "first", bad)
        last = _date(s.get("last", first), "last", bad)
        if not fy_first <= first <= fy_last or not fy_first <= last <= fy_last:
            bad(f"date outside FY{fy} ({fy_first} to {fy_last}): {first}..{last}")
        if last < first:
            bad(f"last day {last} is before first day {first}")
        times = {}
        for key in ("start", "end"):
            v = s.get(key)
            if v is not None:
                v = v.strftime("%H:%M") if isinstance(v, dt.time) else str(v)
                if not TIME_RE.match(v):
                    bad(f"{key} must be a time HH:MM, got {s.get(key)!r}")
            times[key] = v
        if bool(times["start"]) != bool(times["end"]):
            bad("give both start and end, or neither")
        if times["start"] and first == last and times["end"] <= times["start"]:
            bad("end must be after start")
        capacity = s.get("capacity")
        if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool)
                                     or not 1 <= capacity <= 10000):
            bad(f"capacity must be a whole number from 1, got {capacity!r}")
        sid = session_id(fy, course, pref.code, first)
        if "id" in s:
            # A session moved to another date keeps the id it was published under, so
            # registrations, calendar UIDs and shared links follow it.
            pinned = str(s["id"])
            if not ID_RE.match(pinned) or not pinned.startswith(f"{fy}-{course}-"):
                bad(f"id {pinned!r} must look like {fy}-{course}-<JIS code>-<MMDD>")
            sid = pinned
        if sid in ids:
            bad(f"duplicate session {sid} (also at line {ids[sid]})")
        ids[sid] = line
        sessions.append({
            "id": sid, "fiscal_year": fy, "course": course, "region": pref.region,
            "prefecture_code": pref.code, "prefecture": pref.name, "city": city,
            "lat": round(lat, 5), "lon": round(lon, 5),
            "first_day": first.isoformat(), "last_day": last.isoformat(),
            "start_time": times["start"], "end_time": times["end"],
            "venue": s.get("venue"), "address": s.get("address"), "capacity": capacity,
            "status": "scheduled",
        })

    counts = Counter(s["course"] for s in sessions)
    for code, total in totals.items():
        if counts.get(code, 0) != total:
            fail(f"course {code}: the file declares {total} sessions in [totals] "
                 f"but lists {counts.get(code, 0)}", _line_of(text, rf"^{re.escape(code)}\s*=\s*\d"))
    for code in counts:
        if code not in totals:
            fail(f"course {code} has sessions but no entry in [totals]", _line_of(text, r"^\[totals\]"))

    year = {
        "fiscal_year": fy, "label_ja": data.get("label_ja", f"{fy}年度"),
        "label_en": data.get("label_en", f"FY{fy}"), "source": data.get("source", ""),
        "apply_url": data.get("apply_url", ""), "contact": data.get("contact", ""),
        "seats": defaults["seats"], "deadline_business_days": defaults["deadline_business_days"],
        "nearly_full_threshold": defaults["nearly_full_threshold"],
        "defaults_source": defaults.get("source", ""), "fees_source": fees.get("source", ""),
        "file_hash": hashlib.sha256(raw).hexdigest(),
    }
    return Schedule(name, year["file_hash"], year, courses, org_types, modifiers, windows, sessions)


# What a session's calendar event shows: a change here raises the revision (SEQUENCE).
CALENDAR_FIELDS = (
    "course", "prefecture_code", "prefecture", "city", "first_day", "last_day",
    "start_time", "end_time", "venue", "address", "status",
)
# The rest of a session's row (seats; region and point follow the place).
CONTENT_FIELDS = (*CALENDAR_FIELDS, "region", "lat", "lon", "capacity")
WINDOW_CALENDAR_FIELDS = ("label_ja", "label_en", "first", "last")


def window_report_id(fiscal_year: int, name: str) -> str:
    """How a load report names a プレCYDER window: ``2024-PRE-first``."""
    return f"{fiscal_year}-PRE-{name}"


def replace_rows(db: Any, table: str, rows: list[dict[str, Any]], pk: Any,
                 where: str | None = None, params: list[Any] | None = None) -> bool:
    """Make `table` (or the part of it `where` selects) hold exactly `rows`; write only if
    it differs. Returns whether it wrote."""
    current = list(db.table(table).rows_where(where, params or []))
    keys = sorted({k for r in rows for k in r})

    def norm(rs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(tuple(str(r.get(k)) for k in keys) for r in rs)

    if norm(current) == norm(rows) and len(current) == len(rows):
        return False
    db.table(table).delete_where(where, params or [])
    if rows:
        db.table(table).insert_all(rows, pk=pk)
    return True


def _write_windows(db: Any, fy: int, windows: list[dict[str, Any]], stamp: str,
                   report: LoadReport) -> bool:
    """Upsert the year's プレCYDER windows by name, raising the revision of each whose
    calendar event changes; a window gone from the file is removed. Returns whether it
    wrote."""
    existing = {r["name"]: r for r in db.table("online_windows").rows_where("fiscal_year = ?", [fy])}
    wrote = False
    for w in windows:
        old = existing.pop(w["name"], None)
        if old is None:
            db.table("online_windows").insert(dict(w, revision=0, updated_at=stamp),
                                              pk=("fiscal_year", "name"))
            report.added.append(window_report_id(fy, w["name"]))
            wrote = True
        elif any(old[f] != w[f] for f in WINDOW_CALENDAR_FIELDS):
            db.table("online_windows").update(
                (fy, w["name"]), dict(w, revision=(old["revision"] or 0) + 1, updated_at=stamp))
            report.updated.append(window_report_id(fy, w["name"]))
            wrote = True
    for name in existing:
        db.table("online_windows").delete((fy, name))
        report.cancelled.append(window_report_id(fy, name))
        wrote = True
    return wrote


def write(store: Store, schedule: Schedule, now: dt.datetime) -> LoadReport:
    """Write a validated schedule in one transaction; see module docstring for the rules."""
    fy = schedule.year["fiscal_year"]
    report = LoadReport(fy)
    stamp = now.isoformat(timespec="seconds")
    with store.write() as db:
        old_year = next(db.table("years").rows_where("fiscal_year = ?", [fy]), None)
        # Rule and course tables are replaced only when they differ, so that loading
        # the same file again writes nothing at all.
        static = [
            replace_rows(db, "courses", schedule.courses, ("fiscal_year", "code"),
                         "fiscal_year = ?", [fy]),
            replace_rows(db, "org_types", schedule.org_types, "code"),
            replace_rows(db, "modifiers", schedule.modifiers, "flag"),
            _write_windows(db, fy, schedule.windows, stamp, report),
        ]
        # loaded_at is when the year's data last changed (course names, rules, windows):
        # feeds take it as their Last-Modified beside the sessions' own times.
        if (old_year is None or any(static)
                or any(old_year.get(k) != v for k, v in schedule.year.items())):
            db.table("years").upsert(dict(schedule.year, loaded_at=stamp), pk="fiscal_year")
        existing = {r["id"]: r for r in db.table("sessions").rows_where("fiscal_year = ?", [fy])}
        for s in schedule.sessions:
            old = existing.pop(s["id"], None)
            if old is None:
                db.table("sessions").insert(dict(s, revision=0, updated_at=stamp), pk="id")
                report.added.append(s["id"])
            elif any(old[f] != s[f] for f in CALENDAR_FIELDS):
                db.table("sessions").update(s["id"], dict(s, revision=old["revision"] + 1, updated_at=stamp))
                report.updated.append(s["id"])
            elif any(old[f] != s[f] for f in CONTENT_FIELDS):
                # Seats only: no calendar shows them, so neither SEQUENCE nor DTSTAMP moves.
                db.table("sessions").update(s["id"], s)
                report.adjusted.append(s["id"])
            else:
                report.unchanged += 1
        for sid, old in existing.items():
            if old["status"] != "cancelled":
                db.table("sessions").update(sid, {"status": "cancelled", "revision": old["revision"] + 1,
                                            "updated_at": stamp})
                report.cancelled.append(sid)
    return report


def load(store: Store, path: str | Path, now: dt.datetime) -> LoadReport:
    """Validate `path` completely, then write it; the store is untouched when it is refused."""
    return write(store, parse(path), now)


def ensure_loaded(store: Store, now: dt.datetime, fiscal_year: int = 2024) -> LoadReport | None:
    """Load the shipped schedule into an empty store (first use); None when data is there."""
    if store.one("select 1 as x from years limit 1"):
        return None
    return load(store, default_path(fiscal_year), now)
