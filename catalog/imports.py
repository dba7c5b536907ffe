"""Import applications taken outside chat (phone, mail, a spreadsheet) from CSV.

All or nothing: every row is checked first (fields, eligibility, deadline, seats
across the whole file), and one bad row means nothing of the file is saved; the
error lists each bad row with its line. Rows already registered (the same session
and name and organisation, or the same e-mail) are skipped, so importing the same
file twice adds nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog import places
from catalog.errors import CatalogError, InvalidInput
from catalog.i18n import Joined, Said
from catalog.i18n import gettext_lazy as _l
from catalog.registrations import Applicant, register
from catalog.service import Catalog
from catalog.validation import truthy

HEADER: tuple[str, ...] = (
    "session",
    "name",
    "organisation",
    "org_type",
    "department",
    "email",
    "prefecture",
    "contractor",
    "dispatched",
    "team_key",
)
REQUIRED = ("session", "name", "organisation", "org_type")
TEAM_SIZE = 4


@dataclass(frozen=True)
class ImportReport:
    added: int
    skipped_duplicates: int
    waitlisted: int = 0

    def summary(self) -> str:
        text = f"{self.added} added, {self.skipped_duplicates} already registered (skipped)"
        return text + (f", {self.waitlisted} on the waitlist" if self.waitlisted else "")


class ImportRowsError(InvalidInput):
    """The file was refused; `problems` lists (line, reason) for every bad row (the
    reason in English; `said` has it to translate)."""

    code = "import"

    def __init__(self, problems: list[tuple[int, Said | str]]) -> None:
        rows = Joined("; ", [_l("line {line}: {reason}", line=n, reason=reason) for n, reason in problems])
        super().__init__(_l("nothing imported, {n} bad row(s): {rows}", n=len(problems), rows=rows))
        self.problems = [(n, str(reason)) for n, reason in problems]


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else cp932 (Shift_JIS as Japanese Excel saves it)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise InvalidInput(_l("the file is neither UTF-8 nor cp932 (Shift_JIS) text")) from None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().replace(" ", "")


@dataclass
class _Row:
    line: int
    session_id: str
    applicant: Applicant
    team_key: str | None


def _parse(catalog: Catalog, text: str) -> tuple[list[_Row], list[tuple[int, Said | str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(
            _l(
                "the file is empty (expected the header session,name,organisation,"
                "org_type,department,email,prefecture,contractor,dispatched,"
                "team_key)"
            )
        ) from None
    except csv.Error as e:
        raise InvalidInput(_l("line {line}: {reason}", line=1, reason=str(e))) from None
    names = [h.strip().lower() for h in header]
    missing = [h for h in HEADER if h not in names]
    unknown = [h for h in names if h and h not in HEADER]
    if missing or unknown:
        what = ", ".join(
            [f"missing column {m!r}" for m in missing] + [f"unknown column {u!r}" for u in unknown]
        )
        raise InvalidInput(
            _l("line 1: {what}; the header must be {header}", what=what, header=",".join(HEADER))
        )
    rows: list[_Row] = []
    problems: list[tuple[int, Said | str]] = []
    line = 1
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            problems.append((start, str(e)))
            break
        line = start
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            problems.append(
                (line, _l("{n} fields, the header has {columns}", n=len(values), columns=len(names)))
            )
            continue
        cells = dict(zip(names, [*values, *[""] * (len(names) - len(values))], strict=True))
        try:
            rows.append(_row(catalog, line, cells))
        except CatalogError as e:
            problems.append((line, e.said))
        except places.UnknownPlace as e:
            problems.append((line, e.said))
    return rows, problems


def _flag(cells: dict[str, str], column: str) -> bool:
    """A yes/no column: はい/いいえ, 1/0, true/false, ○/× (empty is no); the column is named
    when the value is none of these."""
    try:
        return truthy(cells[column])
    except InvalidInput as e:
        raise InvalidInput(_l("{column}: {reason}", column=column, reason=e.said)) from None


def _row(catalog: Catalog, line: int, cells: dict[str, str]) -> _Row:
    for col in REQUIRED:
        if not cells[col].strip():
            raise InvalidInput(_l("{column} is empty", column=col))
    session = catalog.session(cells["session"].strip())
    org_type = catalog.rules.org_type(cells["org_type"]).code
    pref = cells["prefecture"].strip()
    if pref:
        pref = places.prefecture(pref).name
    applicant = Applicant(
        name=cells["name"],
        organisation=cells["organisation"],
        org_type=org_type,
        department=cells["department"],
        email=cells["email"],
        prefecture=pref,
        contractor=_flag(cells, "contractor"),
        dispatched=_flag(cells, "dispatched"),
    ).cleaned()
    return _Row(line, session.id, applicant, cells["team_key"].strip() or None)


def _existing(catalog: Catalog, session_ids: set[str]) -> list[dict[str, Any]]:
    if not session_ids:
        return []
    marks = ",".join("?" * len(session_ids))
    return catalog.store.query(
        "select session_id, name, organisation, email, team_key from registrations "
        f"where session_id in ({marks}) and status in ('registered', 'waitlisted')",
        sorted(session_ids),
    )


def import_registrations(
    catalog: Catalog,
    path_or_bytes: str | Path | bytes,
    *,
    today: dt.date,
    now: dt.datetime,
    waitlist: bool = False,
    source: str = "import",
) -> ImportReport:
    """Check every row, then register them all in one transaction (or none).

    A row that would not get a seat is an error unless `waitlist`, in which case it
    (and every later row for that session) joins the waitlist in file order, as in chat.
    """
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    rows, problems = _parse(catalog, decode(data))

    # Duplicates: against what is already registered (skipped), within the file (an error).
    existing = _existing(catalog, {r.session_id for r in rows})
    known_people = {(e["session_id"], _fold(e["name"]), _fold(e["organisation"] or "")) for e in existing}
    known_emails = {(e["session_id"], e["email"].lower()) for e in existing if e["email"]}
    team_members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in existing:
        if e["team_key"]:
            team_members[(e["session_id"], e["team_key"])].append(_fold(e["organisation"] or ""))
    seen: dict[tuple[str, ...], int] = {}
    todo: list[_Row] = []
    skipped = 0
    for r in rows:
        person = (r.session_id, _fold(r.applicant.name), _fold(r.applicant.organisation))
        email = (r.session_id, r.applicant.email.lower()) if r.applicant.email else None
        if person in known_people or (email and email in known_emails):
            skipped += 1
            continue
        first = seen.get(person) or (seen.get(email) if email else None)
        if first:
            problems.append((r.line, _l("the same person as line {first}", first=first)))
            continue
        seen[person] = r.line
        if email:
            seen[email] = r.line
        if r.team_key:
            team = team_members[(r.session_id, r.team_key)]
            team.append(_fold(r.applicant.organisation))
            if len(set(team)) > 1:
                problems.append(
                    (
                        r.line,
                        _l(
                            "team {team!r} mixes organisations; a team key joins people of one organisation",
                            team=r.team_key,
                        ),
                    )
                )
                continue
            if len(team) > TEAM_SIZE:
                problems.append(
                    (r.line, _l("team {team!r} has more than {size} people", team=r.team_key, size=TEAM_SIZE))
                )
                continue
        todo.append(r)

    # Eligibility, deadlines and seats: the real registration code inside one
    # transaction that is rolled back unless every row passed.
    added = waitlisted = 0
    try:
        with catalog.store.write():
            for r in todo:
                try:
                    out = register(
                        catalog,
                        r.session_id,
                        [r.applicant],
                        today=today,
                        now=now,
                        waitlist=waitlist,
                        team_key=r.team_key,
                        source=source,
                    )
                except CatalogError as e:
                    problems.append((r.line, e.said))
                    continue
                added += 1
                waitlisted += int(out.waitlisted)
            if problems:
                raise ImportRowsError(sorted(problems, key=lambda p: (p[0], str(p[1]))))
    finally:
        catalog.store.bump()
    return ImportReport(added, skipped, waitlisted)
