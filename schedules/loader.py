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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from catalog.errors import ScheduleError
from catalog.schedule_edit import (  # noqa: F401 (CALENDAR_FIELDS, CONTENT_FIELDS: used to live here)
    CALENDAR_FIELDS,
    CONTENT_FIELDS,
    LoadReport,
    apply_changes,
    existing_sessions,
    plan_sessions,
)
from catalog.session_row import ERROR_TYPE, SessionRow, SessionRowError, session_id, validate_session
from catalog.store import Store
from schedules import model

__all__ = ["LoadReport", "Schedule", "default_path", "ensure_loaded", "load", "parse", "session_id", "write"]

# How an error inside a table names the entry ("course B-1: days: ...") and which
# model says what keys the table may hold.
ENTRIES: dict[str, tuple[str, type[BaseModel]]] = {
    "defaults": ("[defaults] ", model.Defaults),
    "course_rules": ("[[course_rules]] {course}: ", model.CourseRule),
    "courses": ("course {code}: ", model.Course),
    "org_types": ("org type {code!r}: ", model.OrgType),
    "modifiers": ("modifier {flag!r}: ", model.Modifier),
    "online_windows": ("online window {name}: ", model.OnlineWindow),
}
HEADER_RE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_-]+)\s*\]\]?\s*(#.*)?$")


def default_path(fiscal_year: int = 2024) -> Path:
    """The schedule file shipped with the package for `fiscal_year`."""
    return Path(str(resources.files("schedules") / f"fy{fiscal_year}.toml"))


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


def _locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line (1-based) that a location in the data comes from: ``("fiscal_year",)``,
    ``("defaults", "seats")``, ``("courses", 2, "format")`` (the third [[courses]]),
    ``("totals", "A")``; the table's header when the key is not written there."""
    lines = text.splitlines()
    headers = [(m.group(1), no) for no, line in enumerate(lines, 1) if (m := HEADER_RE.match(line))]

    def key_line(first: int, end: int, key: str | int) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(str(key))}\s*=")
        return next((no for no in range(first, end) if pattern.match(lines[no - 1])), None)

    if not loc:
        return None
    section, rest = str(loc[0]), list(loc[1:])
    entries = [no for name, no in headers if name == section]
    if not entries:  # a top-level key (the sessions array, fiscal_year, ...)
        return key_line(1, headers[0][1] if headers else len(lines) + 1, section)
    header = entries[0]
    if rest and isinstance(index := rest[0], int):
        header = entries[min(index, len(entries) - 1)]
        rest = rest[1:]
    end = next((no for _, no in headers if no > header), len(lines) + 1)
    return (key_line(header + 1, end, rest[0]) if rest else None) or header


class _Unknown(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _reason(error: Any, data: dict[str, Any]) -> tuple[str, str | None]:
    """(reason, field) for one pydantic error of the file (not of a session row)."""
    loc = error["loc"]
    if error["type"] == ERROR_TYPE:
        return error["ctx"]["reason"], error["ctx"]["field"] or (str(loc[-1]) if loc else None)
    section = str(loc[0]) if loc else ""
    prefix, table = ENTRIES.get(section, ("", model.ScheduleFile))
    entry: Any = data.get(section)
    depth = 1
    if len(loc) > 1 and isinstance(loc[1], int) and isinstance(entry, list):
        entry, depth = entry[loc[1]], 2
    if section in ENTRIES:
        prefix = prefix.format_map(_Unknown(entry if isinstance(entry, dict) else {}))
    else:
        table, depth = model.ScheduleFile, 0
    key = str(loc[depth]) if len(loc) > depth else section
    if error["type"] == "missing":
        return f"{prefix}{key} is missing", key
    if error["type"] == "extra_forbidden":
        return f"{prefix}unknown field {key!r}; allowed: {', '.join(table.model_fields)}", key
    if error["type"] == "literal_error":
        return f"{prefix}{key} must be {error['ctx']['expected']}", key
    return f"{prefix}{key}: {error['msg']}", key


def _file_error(name: str, text: str, data: dict[str, Any], err: ValidationError) -> ScheduleError:
    """The first problem of the file, as the old one-pass check would have met it: the
    first table at fault and, within it, unknown keys before missing ones before the rest."""
    errors = err.errors()
    loc = errors[0]["loc"]
    entry = loc[:2] if len(loc) > 1 and isinstance(loc[1], int) else loc[:1]
    rank = {"extra_forbidden": 0, "missing": 1}
    error = min((e for e in errors if e["loc"][: len(entry)] == entry), key=lambda e: rank.get(e["type"], 2))
    reason, key = _reason(error, data)
    where = tuple(error["ctx"]["where"]) if error["type"] == ERROR_TYPE else ()
    return ScheduleError(name, _locate(text, error["loc"] + where), reason, field=key)


def _read(name: str, path: Path) -> tuple[bytes, str, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ScheduleError(name, None, f"cannot read the file ({e.strerror})") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScheduleError(name, None, "the file is not UTF-8 text") from e
    try:
        return raw, text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise ScheduleError(name, int(m.group(1)) if m else None, f"not valid TOML: {e}") from e


def _sessions(name: str, text: str, head: model.ScheduleFile) -> list[SessionRow]:
    """Every session row checked on its own, then across rows: ids unique, totals met."""
    lines = _session_lines(text)

    def line(i: int) -> int | None:
        return lines[i] if i < len(lines) else None

    onsite = head.onsite_codes()
    rows: list[SessionRow] = []
    seen: dict[str, int] = {}
    for i, fields in enumerate(head.sessions):
        try:
            row = validate_session(fields, head.fiscal_year, courses=onsite)
        except SessionRowError as e:
            raise ScheduleError(name, line(i), e.reason, field=e.field) from None
        if row.id in seen:
            also = line(seen[row.id])
            raise ScheduleError(
                name, line(i), f"duplicate session {row.id} (also at line {also})", field="id"
            )
        seen[row.id] = i
        rows.append(row)
    counts = Counter(r.course for r in rows)
    for code, total in head.totals.items():
        if counts.get(code, 0) != total:
            raise ScheduleError(
                name,
                _locate(text, ("totals", code)),
                f"course {code}: the file declares {total} sessions in [totals] "
                f"but lists {counts.get(code, 0)}",
                field=code,
            )
    for code in counts:
        if code not in head.totals:
            raise ScheduleError(
                name,
                _locate(text, ("totals",)),
                f"course {code} has sessions but no entry in [totals]",
                field=code,
            )
    return rows


def parse(path: str | Path) -> Schedule:
    """Read and validate a schedule file; raise `ScheduleError` naming the line at fault."""
    path = Path(path)
    name = str(path)
    raw, text, data = _read(name, path)
    try:
        head = model.ScheduleFile.model_validate(data)
    except ValidationError as e:
        raise _file_error(name, text, data, e) from None
    rows = _sessions(name, text, head)
    digest = hashlib.sha256(raw).hexdigest()
    return Schedule(
        name,
        digest,
        head.year_record(digest),
        head.course_records(),
        head.org_type_records(),
        head.modifier_records(),
        head.window_records(),
        [r.record() for r in rows],
    )


WINDOW_CALENDAR_FIELDS = ("label_ja", "label_en", "first", "last")


def window_report_id(fiscal_year: int, name: str) -> str:
    """How a load report names a プレCYDER window: ``2024-PRE-first``."""
    return f"{fiscal_year}-PRE-{name}"


def replace_rows(
    db: Any,
    table: str,
    rows: list[dict[str, Any]],
    pk: Any,
    where: str | None = None,
    params: list[Any] | None = None,
) -> bool:
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


def _write_windows(db: Any, fy: int, windows: list[dict[str, Any]], stamp: str, report: LoadReport) -> bool:
    """Upsert the year's プレCYDER windows by name, raising the revision of each whose
    calendar event changes; a window gone from the file is removed. Returns whether it
    wrote."""
    existing = {r["name"]: r for r in db.table("online_windows").rows_where("fiscal_year = ?", [fy])}
    wrote = False
    for w in windows:
        old = existing.pop(w["name"], None)
        if old is None:
            db.table("online_windows").insert(
                dict(w, revision=0, updated_at=stamp), pk=("fiscal_year", "name")
            )
            report.added.append(window_report_id(fy, w["name"]))
            wrote = True
        elif any(old[f] != w[f] for f in WINDOW_CALENDAR_FIELDS):
            db.table("online_windows").update(
                (fy, w["name"]), dict(w, revision=(old["revision"] or 0) + 1, updated_at=stamp)
            )
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
            replace_rows(db, "courses", schedule.courses, ("fiscal_year", "code"), "fiscal_year = ?", [fy]),
            replace_rows(db, "org_types", schedule.org_types, "code"),
            replace_rows(db, "modifiers", schedule.modifiers, "flag"),
            _write_windows(db, fy, schedule.windows, stamp, report),
        ]
        # loaded_at is when the year's data last changed (course names, rules, windows):
        # feeds take it as their Last-Modified beside the sessions' own times.
        if old_year is None or any(static) or any(old_year.get(k) != v for k, v in schedule.year.items()):
            db.table("years").upsert(dict(schedule.year, loaded_at=stamp), pk="fiscal_year")
        sessions, changes = plan_sessions(fy, existing_sessions(db, fy), schedule.sessions)
        apply_changes(db, changes, stamp)
        report.added += sessions.added
        report.updated += sessions.updated
        report.adjusted += sessions.adjusted
        report.cancelled += sessions.cancelled
        report.unchanged = sessions.unchanged
    return report


def load(store: Store, path: str | Path, now: dt.datetime) -> LoadReport:
    """Validate `path` completely, then write it; the store is untouched when it is refused."""
    return write(store, parse(path), now)


def ensure_loaded(store: Store, now: dt.datetime, fiscal_year: int = 2024) -> LoadReport | None:
    """Load the shipped schedule into an empty store (first use); None when data is there."""
    if store.one("select 1 as x from years limit 1"):
        return None
    return load(store, default_path(fiscal_year), now)
