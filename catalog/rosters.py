"""Rosters: a session's registrants and waitlist as rows, rendered for Excel and programs.

Exporters follow pretix's shape: rows come from an iterator and are rendered to
``(filename, mime type, bytes)``, so the CLI, the chat and the admin page share them.
CSV is UTF-8 with a BOM (Japanese Excel opens it cleanly) or cp932 on request.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from defusedcsv import csv

from catalog.eligibility import Profile
from catalog.errors import InvalidInput
from catalog.i18n import gettext_lazy as _l
from catalog.registrations import for_session
from catalog.service import Catalog
from catalog.teams import current_teams
from catalog.textwidth import width

ROSTER_COLUMNS: tuple[str, ...] = (
    "session", "team", "name", "organisation", "org type", "department", "prefecture",
    "e-mail", "fee", "registered at", "status", "team exception",
)
FORMATS = ("csv", "csv-cp932", "xlsx", "json")
Format = Literal["csv", "csv-cp932", "xlsx", "json"]
MIME = {
    "csv": "text/csv; charset=utf-8",
    "csv-cp932": "text/csv; charset=shift_jis",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def roster_rows(catalog: Catalog, session_id: str) -> Iterator[dict[str, Any]]:
    """One dict per person (keys `ROSTER_COLUMNS`): registrants in registration order,
    then the waitlist in order. `team` is the stored team number or None; `team
    exception` the rules that team breaks, for staff to accept or change ("" if none)."""
    session = catalog.session(session_id)
    teams: dict[int, int] = {}
    exceptions: dict[int, str] = {}
    for team in current_teams(catalog, session.id):
        for m in team.members:
            teams[m.registration_id] = team.number
            exceptions[m.registration_id] = team.exception_text("en")
    for reg in for_session(catalog, session.id):
        try:
            fee = catalog.verdict(Profile(reg.org_type, reg.contractor, reg.dispatched),
                                  session.course).fee
        except InvalidInput:
            fee = ""  # an org type no longer in the rules table
        status = reg.status if reg.position is None else f"waitlisted #{reg.position}"
        yield {
            "session": session.id,
            "team": teams.get(reg.id) if reg.status == "registered" else None,
            "name": reg.name,
            "organisation": reg.organisation,
            "org type": reg.org_type,
            "department": reg.department,
            "prefecture": reg.prefecture,
            "e-mail": reg.email,
            "fee": fee,
            "registered at": reg.created_at,
            "status": status,
            "team exception": exceptions.get(reg.id, "") if reg.status == "registered" else "",
        }


# A cell that starts with one of these may be run as a formula by a spreadsheet. defusedcsv
# (as pretix uses) neutralises = + - @ | %; a leading tab or carriage return is neutralised here.
_CONTROL_STARTS = ("\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_CONTROL_STARTS):
        return "'" + value
    return value


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV whose cells a spreadsheet shows as text: chat users choose their own names."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ROSTER_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _xlsx(catalog: Catalog, session_ids: Sequence[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for sid in session_ids:
        ws = wb.create_sheet(title=sid[:31])
        ws.append(list(ROSTER_COLUMNS))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = [width(c) for c in ROSTER_COLUMNS]
        for row in roster_rows(catalog, sid):
            values = [row[c] for c in ROSTER_COLUMNS]
            ws.append(values)
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula, whatever the name says
            widths = [max(w, width("" if v is None else str(v))) for w, v in zip(widths, values,
                                                                                   strict=True)]
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(60, w + 2)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_roster(
    catalog: Catalog, session_ids: Sequence[str], fmt: Format
) -> tuple[str, str, bytes]:
    """Render the rosters of `session_ids` as (filename, mime type, bytes).

    csv: UTF-8 with BOM; csv-cp932: Shift_JIS for older Excel (characters cp932 lacks
    become "?"); xlsx: one sheet per session, header frozen; json: a list of row objects.
    """
    if fmt not in FORMATS:
        raise InvalidInput(_l("unknown roster format {fmt!r}; choose one of: {formats}",
                              fmt=fmt, formats=", ".join(FORMATS)))
    ids = [catalog.session(s).id for s in session_ids]
    if not ids:
        raise InvalidInput(_l("no session to export"))
    stem = f"roster-{ids[0]}" if len(ids) == 1 else f"roster-{catalog.fiscal_year}-all"
    if fmt == "xlsx":
        return f"{stem}.xlsx", MIME[fmt], _xlsx(catalog, ids)
    rows = [row for sid in ids for row in roster_rows(catalog, sid)]
    if fmt == "json":
        data = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
        return f"{stem}.json", MIME[fmt], data.encode("utf-8")
    text = _csv_text(rows)
    if fmt == "csv-cp932":
        return f"{stem}-sjis.csv", MIME[fmt], text.encode("cp932", errors="replace")
    return f"{stem}.csv", MIME[fmt], text.encode("utf-8-sig")
