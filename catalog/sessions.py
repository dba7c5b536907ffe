"""Sessions as the user sees them: seats, deadlines, seat status, and search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from catalog.deadlines import business_days_before


@dataclass(frozen=True)
class YearSettings:
    fiscal_year: int
    label_ja: str
    label_en: str
    apply_url: str
    contact: str
    seats: int
    deadline_business_days: int
    nearly_full_threshold: int
    source: str
    defaults_source: str
    fees_source: str


@dataclass(frozen=True)
class Session:
    id: str
    fiscal_year: int
    course: str
    region: str
    prefecture_code: int
    prefecture: str
    city: str
    lat: float
    lon: float
    first_day: dt.date
    last_day: dt.date
    start_time: str | None
    end_time: str | None
    venue: str | None
    address: str | None
    capacity: int
    capacity_announced: bool
    status: str
    revision: int
    registered: int
    waitlisted: int
    deadline: dt.date
    nearly_full_threshold: int
    updated_at: str = ""  # when its row last changed (ISO, as stored): DTSTAMP, Last-Modified
    venue_lat: float | None = None  # the venue's own point, when the schedule gives it
    venue_lon: float | None = None

    @property
    def venue_point(self) -> tuple[float, float] | None:
        """Where the venue is, for a map: only when the data gives its address and its own
        coordinates (the city's point is not the venue's)."""
        if self.address and self.venue_lat is not None and self.venue_lon is not None:
            return (self.venue_lat, self.venue_lon)
        return None

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.registered)

    @property
    def seat_mark(self) -> str:
        """○ seats free, △ nearly full, × full — as the official site shows it."""
        if self.seats_left <= 0:
            return "×"
        if self.seats_left <= self.nearly_full_threshold:
            return "△"
        return "○"

    @property
    def timed(self) -> bool:
        """Whether the data gives its hours (else it is shown as all-day)."""
        return bool(self.start_time and self.end_time)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    def is_open(self, today: dt.date) -> bool:
        """Applications are taken up to and including the deadline day."""
        return not self.cancelled and today <= self.deadline

    def is_upcoming(self, today: dt.date) -> bool:
        return self.last_day >= today

    def is_closed(self, today: dt.date) -> bool:
        """Not yet over, but no longer taking applications (deadline passed or cancelled)."""
        return self.is_upcoming(today) and not self.is_open(today)

    def mark(self, today: dt.date) -> str:
        """The seat mark as of `today`: × once applications have closed (a closed
        session shows no ○ however many seats are free), ✖️ when cancelled."""
        if self.cancelled:
            return "✖️"
        if not self.is_open(today):
            return "×"
        return self.seat_mark

    def dates_text(self, lang: str = "ja") -> str:
        """'2024-11-28 – 11-29' style, short and unambiguous in both languages."""
        wd_ja = "月火水木金土日"
        wd_en = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

        def one(d: dt.date) -> str:
            if lang.startswith("en"):
                return f"{wd_en[d.weekday()]} {d.day} {d:%b} {d.year}"
            return f"{d.year}年{d.month}月{d.day}日({wd_ja[d.weekday()]})"

        if self.first_day == self.last_day:
            return one(self.first_day)
        return f"{one(self.first_day)} – {one(self.last_day)}"

    def as_dict(self, distance_km: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "fiscal_year": self.fiscal_year,
            "course": self.course,
            "region": self.region,
            "prefecture": self.prefecture,
            "city": self.city,
            "start": self.first_day.isoformat(),
            "end": self.last_day.isoformat(),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "venue": self.venue,
            "address": self.address,
            "seats": self.capacity,
            "seats_left": self.seats_left,
            "seat_status": self.seat_mark,
            "waitlisted": self.waitlisted,
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "revision": self.revision,
            "lat": self.lat,
            "lon": self.lon,
            "venue_lat": self.venue_lat,
            "venue_lon": self.venue_lon,
        }
        if distance_km is not None:
            d["distance_km"] = round(distance_km, 1)
        return d


def build_session(row: dict[str, Any], year: YearSettings) -> Session:
    first = dt.date.fromisoformat(row["first_day"])
    capacity = row["capacity"]
    return Session(
        id=row["id"],
        fiscal_year=row["fiscal_year"],
        course=row["course"],
        region=row["region"],
        prefecture_code=row["prefecture_code"],
        prefecture=row["prefecture"],
        city=row["city"],
        lat=row["lat"],
        lon=row["lon"],
        first_day=first,
        last_day=dt.date.fromisoformat(row["last_day"]),
        start_time=row["start_time"],
        end_time=row["end_time"],
        venue=row["venue"],
        address=row["address"],
        capacity=capacity if capacity is not None else year.seats,
        capacity_announced=capacity is not None,
        status=row["status"],
        revision=row["revision"],
        registered=row.get("registered") or 0,
        waitlisted=row.get("waitlisted") or 0,
        deadline=business_days_before(first, year.deadline_business_days),
        nearly_full_threshold=year.nearly_full_threshold,
        updated_at=row.get("updated_at") or "",
        venue_lat=row.get("venue_lat"),
        venue_lon=row.get("venue_lon"),
    )


@dataclass(frozen=True)
class Hit:
    """A search result: the session and, for searches near a point, its distance."""

    session: Session
    distance_km: float | None = None
