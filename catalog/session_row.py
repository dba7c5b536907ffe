"""One session of a fiscal year's schedule, validated the same way wherever it comes from.

The schedule file's `sessions` array, the admin page's "edit a session" form and a
spreadsheet of sessions (one row per session, columns `SPREADSHEET_COLUMNS`) all go
through `validate_session`, so a session is refused for the same reasons everywhere:
known course, prefecture and city, region matching the prefecture, dates inside the
fiscal year with last >= first, HH:MM times, a capacity, and a well-formed pinned id.
Checks across rows (duplicate ids, per-course totals) belong to whoever holds all rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from catalog import places
from catalog.errors import InvalidInput

SPREADSHEET_COLUMNS: tuple[str, ...] = (
    "course",
    "region",
    "prefecture",
    "city",
    "first",
    "last",
    "venue",
    "address",
    "start",
    "end",
    "capacity",
    "id",
    "venue_lat",
    "venue_lon",
)
REQUIRED = ("course", "prefecture", "city", "first")
# Header spellings a spreadsheet or a form may use for the same columns (after lower-casing
# and turning spaces into underscores): "First day", "start_time" (the store's names).
CELL_ALIASES = {
    "first_day": "first",
    "last_day": "last",
    "start_time": "start",
    "end_time": "end",
    "venue_latitude": "venue_lat",
    "venue_longitude": "venue_lon",
}
ID_RE = re.compile(r"^[0-9]{4}-[A-Z0-9-]{1,8}-[0-9]{2}-[0-9]{4}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_CAPACITY = 10000
# A venue's own point (for a map): inside Japan's bounds, and near its city, which catches
# swapped or mistyped coordinates.
JAPAN_LAT = (20.0, 46.0)
JAPAN_LON = (122.0, 154.0)
VENUE_NEAR_CITY_KM = 60.0
ERROR_TYPE = "schedule"


class SessionRowError(InvalidInput):
    """A session row that cannot be accepted: `field` and `reason` name the first problem,
    `problems` lists every (field, reason) found in the row, in field order."""

    code = "session_row"

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        field, reason = problems[0]
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.problems = problems


def problem(reason: str, field: str | None = None, *where: str | int) -> PydanticCustomError:
    """The error a validator raises: `reason` is shown as is; `field` overrides the field
    pydantic reports, `where` is appended to its location (for locating the line)."""
    return PydanticCustomError(ERROR_TYPE, "{reason}", {"reason": reason, "field": field, "where": where})


def session_id(fiscal_year: int, course: str, prefecture_code: int, first: dt.date) -> str:
    """Stable, readable, URL-safe id: ``2024-A-34-1025`` (year, course, JIS code, MMDD)."""
    return f"{fiscal_year}-{course}-{prefecture_code:02d}-{first:%m%d}"


def fiscal_year_of(day: dt.date) -> int:
    """The fiscal year (April to March) that `day` falls in."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_bounds(fiscal_year: int) -> tuple[dt.date, dt.date]:
    return dt.date(fiscal_year, 4, 1), dt.date(fiscal_year + 1, 3, 31)


def as_date(value: Any, what: str) -> dt.date:
    """A date from a TOML date or an ISO ``YYYY-MM-DD`` string; a date-time is refused."""
    if isinstance(value, dt.datetime):
        raise problem(f"{what} must be a date, not a date-time: {value}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise problem(f"{what} is not a date (YYYY-MM-DD): {value!r}")


def _as_time(value: Any, what: str) -> str | None:
    if value is None:
        return None
    text = value.strftime("%H:%M") if isinstance(value, dt.time) else str(value)
    if not TIME_RE.match(text):
        raise problem(f"{what} must be a time HH:MM, got {value!r}")
    return text


@dataclass(frozen=True)
class _Context:
    fiscal_year: int
    courses: frozenset[str]
    cells: bool


def _context(info: ValidationInfo) -> _Context:
    context = info.context
    if not isinstance(context, _Context):
        raise TypeError("validate a SessionRow through validate_session()")
    return context


def _cells(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Spreadsheet or form cells as the model's fields: headers folded to field names,
    text trimmed, blank cells left out, Excel's midnight date-times as dates and its
    whole-number floats (or digit strings) as whole numbers."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = "_".join(str(key).strip().lower().split())
        name = CELL_ALIASES.get(name, name)
        cell = value.strip() if isinstance(value, str) else value
        if cell is None or cell == "":
            continue
        if name in ("first", "last") and isinstance(cell, dt.datetime) and cell.time() == dt.time(0):
            cell = cell.date()
        if name == "capacity" and isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        if name == "capacity" and isinstance(cell, str) and cell.isdecimal():
            cell = int(cell)
        if name in ("venue_lat", "venue_lon") and isinstance(cell, str):
            with contextlib.suppress(ValueError):  # else refused, with the text, by its check
                cell = float(cell)
        out[name] = cell
    return out


def _prefecture(info: ValidationInfo) -> places.Prefecture | None:
    """The prefecture checked above, or None when it was refused."""
    name = info.data.get("prefecture")
    return None if name is None else places.prefecture(name)


class SessionRow(BaseModel):
    """One validated session. Fields hold the checked values in their usual spelling
    (`prefecture` as 広島県), with `region`, `last` and `id` filled in when left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Declared in the order of checking: a validator sees the fields above it.
    course: str
    prefecture: str
    region: str = Field(default=None, validate_default=True)
    city: str
    first: dt.date
    last: dt.date = Field(default=None, validate_default=True)
    start: str | None = None
    end: str | None = Field(default=None, validate_default=True)
    venue: str | None = None
    address: str | None = None
    capacity: int | None = None
    id: str = Field(default=None, validate_default=True)
    venue_lat: float | None = None
    venue_lon: float | None = Field(default=None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _from_cells(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, Mapping) and _context(info).cells:
            return _cells(data)
        return data

    @field_validator("course", mode="plain")
    @classmethod
    def _known_course(cls, value: Any, info: ValidationInfo) -> str:
        known = _context(info).courses
        if not isinstance(value, str) or value not in known:
            raise problem(f"unknown course {value!r}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("prefecture", mode="plain")
    @classmethod
    def _known_prefecture(cls, value: Any) -> str:
        try:
            return places.prefecture(str(value)).name
        except places.UnknownPlace as e:
            raise problem(
                f"unknown prefecture {value!r}; did you mean {', '.join(e.candidates) or '-'}?"
            ) from None

    @field_validator("region", mode="plain")
    @classmethod
    def _region_of_prefecture(cls, value: Any, info: ValidationInfo) -> str | None:
        pref = _prefecture(info)
        if pref is None:
            return None  # the prefecture is refused already
        if value is not None and value != pref.region:
            raise problem(f"region {value!r} does not match {pref.name}, which is in {pref.region}")
        return str(pref.region)

    @field_validator("city", mode="plain")
    @classmethod
    def _known_city(cls, value: Any, info: ValidationInfo) -> str:
        city = str(value).strip()
        if not city:
            raise problem("city is empty")
        pref = _prefecture(info)
        if pref is not None:
            try:
                places.venue_point(pref.code, city)
            except KeyError:
                raise problem(f"unknown city {city!r} in {pref.name}: add it to catalog/places.py") from None
        return city

    @field_validator("first", mode="plain")
    @classmethod
    def _first_day(cls, value: Any) -> dt.date:
        return as_date(value, "first")

    @field_validator("last", mode="plain")
    @classmethod
    def _last_day(cls, value: Any, info: ValidationInfo) -> dt.date | None:
        first = info.data.get("first")
        last = first if value is None else as_date(value, "last")
        if first is None or last is None:
            return last  # the first day is refused already
        fy = _context(info).fiscal_year
        fy_first, fy_last = fiscal_year_bounds(fy)
        if not fy_first <= first <= fy_last or not fy_first <= last <= fy_last:
            field = "last" if fy_first <= first <= fy_last else "first"
            raise problem(f"date outside FY{fy} ({fy_first} to {fy_last}): {first}..{last}", field)
        if last < first:
            raise problem(f"last day {last} is before first day {first}")
        return last

    @field_validator("start", mode="plain")
    @classmethod
    def _start_time(cls, value: Any) -> str | None:
        return _as_time(value, "start")

    @field_validator("end", mode="plain")
    @classmethod
    def _end_time(cls, value: Any, info: ValidationInfo) -> str | None:
        end = _as_time(value, "end")
        if "start" not in info.data:
            return end  # the start is refused already
        start = info.data["start"]
        if bool(start) != bool(end):
            raise problem("give both start and end, or neither", "end" if start else "start")
        first, last = info.data.get("first"), info.data.get("last")
        if start and end and first is not None and first == last and end <= start:
            raise problem("end must be after start")
        return end

    @field_validator("venue", "address", mode="plain")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is not None and not isinstance(value, str):
            raise problem(f"{info.field_name} must be text, got {value!r}")
        return value

    @field_validator("capacity", mode="plain")
    @classmethod
    def _capacity(cls, value: Any) -> int | None:
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CAPACITY
        ):
            raise problem(f"capacity must be a whole number from 1, got {value!r}")
        return value

    @field_validator("id", mode="plain")
    @classmethod
    def _session_id(cls, value: Any, info: ValidationInfo) -> str | None:
        course, pref, first = info.data.get("course"), _prefecture(info), info.data.get("first")
        if course is None or pref is None or first is None:
            return None  # refused already
        fy = _context(info).fiscal_year
        if value is None:
            return session_id(fy, course, pref.code, first)
        # A session moved to another date keeps the id it was published under, so
        # registrations, calendar UIDs and shared links follow it.
        pinned = str(value)
        if not ID_RE.match(pinned) or not pinned.startswith(f"{fy}-{course}-"):
            raise problem(f"id {pinned!r} must look like {fy}-{course}-<JIS code>-<MMDD>")
        return pinned

    @field_validator("venue_lat", mode="plain")
    @classmethod
    def _venue_lat(cls, value: Any) -> float | None:
        return _coordinate(value, "venue_lat", JAPAN_LAT)

    @field_validator("venue_lon", mode="plain")
    @classmethod
    def _venue_lon(cls, value: Any, info: ValidationInfo) -> float | None:
        lon = _coordinate(value, "venue_lon", JAPAN_LON)
        if "venue_lat" not in info.data:
            return lon  # the latitude is refused already
        lat = info.data["venue_lat"]
        if (lat is None) != (lon is None):
            raise problem(
                "give both venue_lat and venue_lon, or neither",
                "venue_lon" if lat is not None else "venue_lat",
            )
        pref, city = _prefecture(info), info.data.get("city")
        if lat is not None and lon is not None and pref is not None and city:
            try:
                point = places.venue_point(pref.code, city)
            except KeyError:
                return lon  # the city is refused already
            km = places.distance_km(point, (lat, lon))
            if km > VENUE_NEAR_CITY_KM:
                raise problem(
                    f"the venue point {lat},{lon} is {km:.0f} km from {city}; check venue_lat and venue_lon",
                    "venue_lat",
                )
        return lon

    @field_serializer("first", "last", when_used="json")
    def _iso_day(self, day: dt.date) -> str:
        # Said outright: pydantic warns when it serializes a date its plain validator returned
        # (pydantic/pydantic#10964).
        return day.isoformat()

    @property
    def fiscal_year(self) -> int:
        return fiscal_year_of(self.first)

    @cached_property
    def place(self) -> places.Prefecture:
        return places.prefecture(self.prefecture)

    @cached_property
    def point(self) -> tuple[float, float]:
        """The venue city's coordinates (lat, lon), rounded as the store keeps them."""
        lat, lon = places.venue_point(self.place.code, self.city)
        return round(lat, 5), round(lon, 5)

    def record(self) -> dict[str, Any]:
        """The row for the store's `sessions` table (status "scheduled")."""
        lat, lon = self.point
        return {
            "id": self.id,
            "fiscal_year": self.fiscal_year,
            "course": self.course,
            "region": self.region,
            "prefecture_code": self.place.code,
            "prefecture": self.prefecture,
            "city": self.city,
            "lat": lat,
            "lon": lon,
            "first_day": self.first.isoformat(),
            "last_day": self.last.isoformat(),
            "start_time": self.start,
            "end_time": self.end,
            "venue": self.venue,
            "address": self.address,
            "capacity": self.capacity,
            "status": "scheduled",
            "venue_lat": self.venue_lat,
            "venue_lon": self.venue_lon,
        }

    def as_fields(self) -> dict[str, Any]:
        """The row as input fields in `SPREADSHEET_COLUMNS` order (None where empty): what
        a form or a spreadsheet shows, and what `validate_session` takes back."""
        values = self.model_dump()
        return {k: values[k] for k in SPREADSHEET_COLUMNS}


def _coordinate(value: Any, what: str, bounds: tuple[float, float]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem(f"{what} must be a number (decimal degrees), got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise problem(f"{what} {value} is not in Japan ({bounds[0]:g} to {bounds[1]:g})")
    return round(float(value), 6)


def _problems(err: ValidationError) -> list[tuple[str | None, str]]:
    """Every problem as (field, reason): unknown fields first, then missing ones, then the
    rest in field order."""
    unknown = [str(e["loc"][0]) for e in err.errors() if e["type"] == "extra_forbidden"]
    missing = [str(e["loc"][0]) for e in err.errors() if e["type"] == "missing"]
    out: list[tuple[str | None, str]] = []
    if unknown:
        out.append(
            (
                unknown[0],
                f"unknown field(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(SPREADSHEET_COLUMNS))}",
            )
        )
    if missing:
        out.append((missing[0], f"missing field(s) {', '.join(sorted(missing))}"))
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else None
        if e["type"] == ERROR_TYPE:
            out.append((e["ctx"]["field"] or field, e["ctx"]["reason"]))
        elif e["type"] not in ("extra_forbidden", "missing"):
            out.append((field, f"{field}: {e['msg']}"))
    return out


def validate_session(
    fields: Mapping[str, Any],
    fiscal_year: int,
    *,
    courses: Collection[str],
    cells: bool = False,
) -> SessionRow:
    """Check one session's fields for `fiscal_year`, whose on-site course codes are `courses`.

    `fields` uses the schedule file's keys (`SPREADSHEET_COLUMNS`); only course,
    prefecture, city and first are required. With `cells`, the values come from a
    spreadsheet or a form: headers such as "First day" are accepted, text is trimmed,
    blank cells count as absent and Excel's numbers and date-times are read as such.
    Raises `SessionRowError` naming the field and the reason.
    """
    if not isinstance(fields, Mapping):
        raise SessionRowError([(None, "each session must be a table { course = ..., ... }")])
    context = _Context(fiscal_year, frozenset(courses), cells)
    try:
        return SessionRow.model_validate(fields, context=context)
    except ValidationError as e:
        raise SessionRowError(_problems(e)) from None
