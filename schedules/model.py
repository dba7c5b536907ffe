"""The schedule file as pydantic models: what each table may hold and what it must satisfy.

Every table refuses keys it does not know (`extra="forbid"`). A validator raises
`catalog.session_row.problem(...)` with the full reason; pydantic's own errors
(missing, unknown or mistyped keys) are worded by the loader. The sessions are
only collected here: each row goes through `catalog.session_row.validate_session`,
the same check the admin page and a spreadsheet import use.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, field_validator

from catalog.session_row import as_date, fiscal_year_bounds, problem

COURSE_CODE_RE = re.compile(r"[A-Z0-9-]{1,8}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _default_count(value: Any, info: ValidationInfo) -> int:
    if not _whole(value):
        raise problem(f"[defaults] {info.field_name} must be a whole number >= 0")
    return int(value)


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DefaultCount = Annotated[int, PlainValidator(_default_count)]


class Defaults(Table):
    source: str = ""
    seats: DefaultCount = Field(default=None, validate_default=True)
    deadline_business_days: DefaultCount = Field(default=None, validate_default=True)
    nearly_full_threshold: DefaultCount = Field(default=None, validate_default=True)


class CourseRule(Table):
    course: str
    allowed: Literal["all", "local", "nonlocal"]


class Course(Table):
    code: str
    name_ja: str | None = None
    name_en: str | None = None
    format: Literal["onsite", "online"]
    days: int = Field(default=1, ge=0)
    level_ja: str
    level_en: str
    audience_ja: str
    audience_en: str
    learn_ja: str
    learn_en: str
    organisations_ja: str
    organisations_en: str
    where_ja: str
    where_en: str
    period_ja: str
    period_en: str
    note_ja: str = ""
    note_en: str = ""

    @field_validator("code", mode="plain")
    @classmethod
    def _short_code(cls, value: Any) -> str:
        if not isinstance(value, str) or not COURSE_CODE_RE.fullmatch(value):
            raise problem(f"course code must be short letters/digits/hyphens, got {value!r}")
        return value


class OrgType(Table):
    code: str = Field(min_length=1)
    name_ja: str
    name_en: str
    public: bool = False
    local: bool = False
    fee: Literal["free", "paid"]


class Modifier(Table):
    flag: str
    effect: Literal["refuse", "as_own_org", "as_private"]
    reason_ja: str = ""
    reason_en: str = ""


class OnlineWindow(Table):
    name: str
    label_ja: str = ""
    label_en: str = ""
    first: dt.date
    last: dt.date

    @field_validator("first", "last", mode="plain")
    @classmethod
    def _day(cls, value: Any, info: ValidationInfo) -> dt.date:
        return as_date(value, f"online window {info.field_name}")


def _fiscal_year(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 2000 <= value <= 2100:
        raise problem(f"fiscal_year must be a year such as 2024, got {value!r}")
    return value


class ScheduleFile(Table):
    """A whole schedule file but its sessions' own checks. Fields are declared in the
    order of checking, so a validator sees the tables above it in `info.data`."""

    fiscal_year: Annotated[int, PlainValidator(_fiscal_year)] = Field(default=None, validate_default=True)
    label_ja: str | None = None
    label_en: str | None = None
    source: str = ""
    apply_url: str = ""
    contact: str = ""
    defaults: Defaults = Field(default_factory=dict, validate_default=True)
    fees: dict[str, Any] = Field(default_factory=dict)
    course_rules: list[CourseRule] = Field(default_factory=list)
    courses: list[Course] = Field(default=None, validate_default=True)
    totals: dict[str, int] = Field(default_factory=dict)
    org_types: list[OrgType] = Field(default=None, validate_default=True)
    modifiers: list[Modifier] = Field(default_factory=list)
    online_windows: list[OnlineWindow] = Field(default_factory=list)
    sessions: list[Any] = Field(default=None, validate_default=True)

    @field_validator("fees", mode="after")
    @classmethod
    def _yen(cls, fees: dict[str, Any]) -> dict[str, Any]:
        for code, fee in fees.items():
            if code == "source":
                if not isinstance(fee, str):
                    raise problem("[fees] source must be text", "source", code)
            elif not _whole(fee):
                raise problem(f"[fees] {code} must be a whole number of yen", code, code)
        return fees

    @field_validator("courses", mode="before")
    @classmethod
    def _some_courses(cls, value: Any) -> Any:
        if not value:
            raise problem("no [[courses]] declared")
        return value

    @field_validator("courses", mode="after")
    @classmethod
    def _courses_unique_with_rules(cls, courses: list[Course], info: ValidationInfo) -> list[Course]:
        allowed = {r.course for r in info.data.get("course_rules", [])}
        seen: set[str] = set()
        for i, c in enumerate(courses):
            if c.code in seen:
                raise problem(f"course {c.code} is declared twice", "code", i, "code")
            seen.add(c.code)
            if c.code not in allowed:
                raise problem(
                    f"course {c.code}: [[course_rules]] needs allowed = all|local|nonlocal",
                    "allowed",
                    i,
                    "code",
                )
        return courses

    @field_validator("totals", mode="after")
    @classmethod
    def _totals_of_onsite_courses(cls, totals: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        if "courses" not in info.data:
            return totals  # the courses are refused already
        onsite = {c.code for c in info.data["courses"] if c.format == "onsite"}
        for code, total in totals.items():
            if code not in onsite:
                raise problem(f"[totals] names {code!r}, which is not an on-site course", code, code)
            if total < 0:
                raise problem(f"[totals] {code} must be a whole number of sessions", code, code)
        return totals

    @field_validator("org_types", mode="before")
    @classmethod
    def _some_org_types(cls, value: Any) -> Any:
        if not value:
            raise problem("no [[org_types]] declared")
        return value

    @field_validator("online_windows", mode="after")
    @classmethod
    def _windows_inside_year(cls, windows: list[OnlineWindow], info: ValidationInfo) -> list[OnlineWindow]:
        fy = info.data.get("fiscal_year")
        if fy is None:
            return windows
        fy_first, fy_last = fiscal_year_bounds(fy)
        for i, w in enumerate(windows):
            if not fy_first <= w.first <= w.last <= fy_last:
                key = "first" if not fy_first <= w.first <= fy_last else "last"
                raise problem(
                    f"online window {w.name}: dates must lie inside FY{fy} and last >= first", key, i, key
                )
        return windows

    @field_validator("sessions", mode="before")
    @classmethod
    def _some_sessions(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise problem("no sessions: the file needs a top-level `sessions = [ ... ]` array")
        return value

    def onsite_codes(self) -> list[str]:
        return [c.code for c in self.courses if c.format == "onsite"]

    def course_records(self) -> list[dict[str, Any]]:
        allowed = {r.course: r.allowed for r in self.course_rules}
        return [
            {
                "fiscal_year": self.fiscal_year,
                "code": c.code,
                "position": pos,
                "name_ja": c.name_ja if c.name_ja is not None else f"{c.code}コース",
                "name_en": c.name_en if c.name_en is not None else f"Course {c.code}",
                **c.model_dump(exclude={"code", "name_ja", "name_en"}),
                "allowed": allowed[c.code],
                "fee_yen": self.fees.get(c.code),
                "declared_total": self.totals.get(c.code),
            }
            for pos, c in enumerate(self.courses)
        ]

    def org_type_records(self) -> list[dict[str, Any]]:
        return [
            {
                "code": o.code,
                "position": pos,
                "name_ja": o.name_ja,
                "name_en": o.name_en,
                "public": int(o.public),
                "local": int(o.local),
                "fee": o.fee,
            }
            for pos, o in enumerate(self.org_types)
        ]

    def modifier_records(self) -> list[dict[str, Any]]:
        return [
            {"flag": m.flag, "position": pos, **m.model_dump(exclude={"flag"})}
            for pos, m in enumerate(self.modifiers)
        ]

    def window_records(self) -> list[dict[str, Any]]:
        return [
            {
                "fiscal_year": self.fiscal_year,
                "name": w.name,
                "label_ja": w.label_ja,
                "label_en": w.label_en,
                "first": w.first.isoformat(),
                "last": w.last.isoformat(),
            }
            for w in self.online_windows
        ]

    def year_record(self, file_hash: str) -> dict[str, Any]:
        fy = self.fiscal_year
        return {
            "fiscal_year": fy,
            "label_ja": self.label_ja if self.label_ja is not None else f"{fy}年度",
            "label_en": self.label_en if self.label_en is not None else f"FY{fy}",
            "source": self.source,
            "apply_url": self.apply_url,
            "contact": self.contact,
            "seats": self.defaults.seats,
            "deadline_business_days": self.defaults.deadline_business_days,
            "nearly_full_threshold": self.defaults.nearly_full_threshold,
            "defaults_source": self.defaults.source,
            "fees_source": self.fees.get("source", ""),
            "file_hash": file_hash,
        }
