"""Registration figures for staff: per course and region."""

from __future__ import annotations

import datetime as dt
from typing import Any

from catalog import charts, places
from catalog.charts import DayCount
from catalog.service import Catalog
from catalog.sessions import Session


def registration_stats(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per course and region (courses in catalog order, regions north to south):
    `course, region, sessions, registered, capacity, waitlisted`. Cancelled sessions
    are left out."""
    course_pos = {c.code: i for i, c in enumerate(catalog.courses())}
    region_pos = {r.name: i for i, r in enumerate(places.REGIONS)}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in catalog.all_sessions():
        row = rows.setdefault(
            (s.course, s.region),
            {
                "course": s.course,
                "region": s.region,
                "sessions": 0,
                "registered": 0,
                "capacity": 0,
                "waitlisted": 0,
            },
        )
        row["sessions"] += 1
        row["registered"] += s.registered
        row["capacity"] += s.capacity
        row["waitlisted"] += s.waitlisted
    return sorted(
        rows.values(),
        key=lambda r: (
            course_pos.get(r["course"], len(course_pos)),
            region_pos.get(r["region"], len(region_pos)),
            r["region"],
        ),
    )


def registrations_by_day(catalog: Catalog) -> list[DayCount]:
    """Per day (JST, as the times are stored), registrations made and cancelled for the
    sessions the catalog shows: the data of `charts.registrations_over_time`."""
    years = list(catalog.fiscal_years)
    marks = ",".join("?" * len(years))
    made: dict[str, int] = {}
    cancelled: dict[str, int] = {}
    for day, n in catalog.store.db.execute(
        "select substr(r.created_at, 1, 10), count(*) from registrations r "
        f"join sessions s on s.id = r.session_id where s.fiscal_year in ({marks}) "
        "group by 1",
        years,
    ).fetchall():
        made[day] = n
    for day, n in catalog.store.db.execute(
        "select substr(r.cancelled_at, 1, 10), count(*) from registrations r "
        f"join sessions s on s.id = r.session_id where s.fiscal_year in ({marks}) "
        "and r.status = 'cancelled' and r.cancelled_at is not null group by 1",
        years,
    ).fetchall():
        cancelled[day] = n
    out = []
    for day in sorted(set(made) | set(cancelled)):
        try:
            date = dt.date.fromisoformat(day)
        except (TypeError, ValueError):
            continue
        out.append(DayCount(date, made.get(day, 0), cancelled.get(day, 0)))
    return out


def home_charts(catalog: Catalog, sessions: list[Session] | tuple[Session, ...]) -> dict[str, str]:
    """The admin home's pictures as inline SVG: seats by course and region, and
    registrations over time."""
    courses = [c.code for c in catalog.courses()]
    return {
        "seats": charts.seats_by_course_and_region(sessions, courses),
        "registrations": charts.registrations_over_time(registrations_by_day(catalog)),
    }
