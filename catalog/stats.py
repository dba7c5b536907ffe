"""Registration figures for staff: per course and region."""

from __future__ import annotations

from typing import Any

from catalog import places
from catalog.service import Catalog


def registration_stats(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per course and region (courses in catalog order, regions north to south):
    `course, region, sessions, registered, capacity, waitlisted`. Cancelled sessions
    are left out."""
    course_pos = {c.code: i for i, c in enumerate(catalog.courses())}
    region_pos = {r.name: i for i, r in enumerate(places.REGIONS)}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in catalog.all_sessions():
        row = rows.setdefault((s.course, s.region), {
            "course": s.course, "region": s.region, "sessions": 0, "registered": 0,
            "capacity": 0, "waitlisted": 0})
        row["sessions"] += 1
        row["registered"] += s.registered
        row["capacity"] += s.capacity
        row["waitlisted"] += s.waitlisted
    return sorted(rows.values(), key=lambda r: (course_pos.get(r["course"], len(course_pos)),
                                                region_pos.get(r["region"], len(region_pos)),
                                                r["region"]))
