"""Rosters: a session's registrants and waitlist as rows, rendered for Excel and programs.

Exporters follow pretix's shape: rows come from an iterator and are rendered to
``(filename, mime type, bytes)``, so the CLI, the chat and the admin page share them.
CSV is UTF-8 with a BOM (Japanese Excel opens it cleanly) or cp932 on request.

Files for people speak the staff's language: Japanese headers and values by default
(区分: 地方公共団体, 受講料: 無料, 状態: 登録済), English with ``lang="en"``; XLSX holds
real Excel dates. JSON is for programs: the column names and codes of `roster_rows`,
whatever the language. cp932 never loses a character silently: one it cannot hold
refuses the export with every such character named (`Cp932Unsupported`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from defusedcsv import csv

from catalog.clock import JST
from catalog.eligibility import Profile
from catalog.errors import InvalidInput
from catalog.i18n import Say, english
from catalog.i18n import gettext_lazy as _l
from catalog.registrations import for_session
from catalog.service import Catalog
from catalog.teams import current_teams
from catalog.textwidth import width

# Column headers in Japanese; English headers are the column names themselves. A column
# not listed (added elsewhere) keeps its name in both.
HEADERS_JA: dict[str, str] = {
    "session": "開催回",
    "team": "チーム",
    "name": "氏名",
    "organisation": "所属",
    "org type": "区分",
    "department": "部署",
    "prefecture": "都道府県",
    "e-mail": "メール",
    "fee": "受講料",
    "registered at": "申込日時",
    "status": "状態",
    "team exception": "チームの例外",
}
FEE_WORDS = {"ja": {"free": "無料", "paid": "有料"}, "en": {"free": "free", "paid": "paid"}}
DATE_FORMAT = "yyyy-mm-dd hh:mm"  # registered at, as Excel shows it

ROSTER_COLUMNS: tuple[str, ...] = (
    "session",
    "team",
    "name",
    "organisation",
    "org type",
    "department",
    "prefecture",
    "e-mail",
    "fee",
    "registered at",
    "status",
    "team exception",
)
FORMATS = ("csv", "csv-cp932", "xlsx", "json")
Format = Literal["csv", "csv-cp932", "xlsx", "json"]
MIME = {
    "csv": "text/csv; charset=utf-8",
    "csv-cp932": "text/csv; charset=shift_jis",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def roster_rows(
    catalog: Catalog, session_id: str, *, exception_lang: str = "en", say: Say = english
) -> Iterator[dict[str, Any]]:
    """One dict per person (keys `ROSTER_COLUMNS`): registrants in registration order,
    then the waitlist in order. `team` is the stored team number or None; `team
    exception` the rules that team breaks, for staff to accept or change ("" if none),
    in `exception_lang` as `say` says it (`bot.telegram.i18n.say`; the default is English)."""
    session = catalog.session(session_id)
    teams: dict[int, int] = {}
    exceptions: dict[int, str] = {}
    for team in current_teams(catalog, session.id):
        for m in team.members:
            teams[m.registration_id] = team.number
            exceptions[m.registration_id] = say(team.exceptions_said, exception_lang)
    for reg in for_session(catalog, session.id):
        try:
            fee = catalog.verdict(Profile(reg.org_type, reg.contractor, reg.dispatched), session.course).fee
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


def _lang(lang: str) -> str:
    return "en" if (lang or "").startswith("en") else "ja"


def headers(lang: str = "ja") -> list[str]:
    """The roster's column headers in `lang` (ja unless it starts with "en")."""
    if _lang(lang) == "en":
        return list(ROSTER_COLUMNS)
    return [HEADERS_JA.get(c, c) for c in ROSTER_COLUMNS]


def org_type_label(catalog: Catalog, code: str, lang: str = "ja") -> str:
    """An organisation type in words, short (地方公共団体, Local government): the rules
    table's name without its explanation in brackets; the code itself if unknown."""
    try:
        t = catalog.rules.org_type(code)
    except InvalidInput:
        return code
    name = t.name_en if _lang(lang) == "en" else t.name_ja
    for bracket in ("（", " ("):
        name = name.split(bracket)[0]
    return name.strip() or code


def status_label(status: str, lang: str = "ja") -> str:
    """registered -> 登録済; "waitlisted #2" -> キャンセル待ち2番 (English as stored)."""
    if _lang(lang) == "en":
        return status
    if status == "registered":
        return "登録済"
    if status.startswith("waitlisted #"):
        return f"キャンセル待ち{status.removeprefix('waitlisted #')}番"
    return {"waitlisted": "キャンセル待ち", "cancelled": "取消"}.get(status, status)


def registered_at(text: str) -> dt.datetime | str:
    """A stored time as a naive Asia/Tokyo datetime (what Excel holds), or the text as
    it was when it is not a time."""
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text or ""
    if value.tzinfo is not None:
        value = value.astimezone(JST).replace(tzinfo=None)
    return value


def localized_rows(
    catalog: Catalog, session_id: str, lang: str = "ja", say: Say = english
) -> Iterator[list[Any]]:
    """`roster_rows` as values for people, in the order of `headers(lang)`: organisation
    types, fees and statuses in words, the registration time as a datetime."""
    lang = _lang(lang)
    for row in roster_rows(catalog, session_id, exception_lang=lang, say=say):
        out: list[Any] = []
        for c in ROSTER_COLUMNS:
            v = row.get(c)
            if c == "org type":
                v = org_type_label(catalog, v or "", lang) if v else ""
            elif c == "fee":
                v = FEE_WORDS[lang].get(v or "", v or "")
            elif c == "status":
                v = status_label(v or "", lang)
            elif c == "registered at":
                v = registered_at(v or "")
            out.append(v)
        yield out


class Cp932Unsupported(InvalidInput):
    """Characters that cp932 (Shift_JIS) cannot hold: the file was not written. `chars`
    lists each one once, with where it first appears (line of the file, column)."""

    code = "cp932"

    def __init__(self, chars: list[tuple[str, int, str]]) -> None:
        shown_en = ", ".join(f"{ch} (U+{ord(ch):04X}, line {line}, {col})" for ch, line, col in chars)
        shown_ja = "、".join(f"{ch}（U+{ord(ch):04X}・{line}行目の{col}）" for ch, line, col in chars)
        super().__init__(
            f"cp932 (Shift_JIS) cannot hold {shown_en}; nothing was written. "
            "The UTF-8 CSV keeps every character.",
            f"cp932（Shift_JIS）では表せない文字があります: {shown_ja}。出力しませんでした。"
            "UTF-8 の CSV ならすべての文字を保てます。",
        )
        self.chars = chars

    @property
    def characters(self) -> str:
        return "".join(ch for ch, _line, _col in self.chars)


def cp932_problems(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[tuple[str, int, str]]:
    """Every character of the cells that cp932 cannot encode, once each, with the line of
    the file (the header is line 1) and the column it first appears in."""
    found: dict[str, tuple[int, str]] = {}
    for i, row in enumerate(rows, start=2):
        for col, value in zip(header, row, strict=False):
            for ch in str(value if value is not None else ""):
                if ch in found or ch.isascii():
                    continue
                try:
                    ch.encode("cp932")
                except UnicodeEncodeError:
                    found[ch] = (i, col)
    return [(ch, line, col) for ch, (line, col) in found.items()]


# A cell that starts with one of these may be run as a formula by a spreadsheet. defusedcsv
# (as pretix uses) neutralises = + - @ | %; a leading tab or carriage return is neutralised here.
_CONTROL_STARTS = ("\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_CONTROL_STARTS):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")  # a time Excel reads as one
    return _cell(value)


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV whose cells a spreadsheet shows as text: chat users choose their own names."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ROSTER_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _csv_lines(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """`header` and `rows` as CSV, cells neutralised as in `_csv_text`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue()


def _xlsx(catalog: Catalog, session_ids: Sequence[str], lang: str = "ja", say: Say = english) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    header = headers(lang)
    for sid in session_ids:
        ws = wb.create_sheet(title=sid[:31])
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = [width(c) for c in header]
        for values in localized_rows(catalog, sid, lang, say):
            ws.append(values)
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula, whatever the name says
                elif isinstance(cell.value, dt.datetime):
                    cell.number_format = DATE_FORMAT
            widths = [
                max(w, len(DATE_FORMAT) if isinstance(v, dt.datetime) else width("" if v is None else str(v)))
                for w, v in zip(widths, values, strict=True)
            ]
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(60, w + 2)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_roster(
    catalog: Catalog,
    session_ids: Sequence[str],
    fmt: Format,
    *,
    lang: str = "ja",
    say: Say = english,
) -> tuple[str, str, bytes]:
    """Render the rosters of `session_ids` as (filename, mime type, bytes).

    csv: UTF-8 with BOM; csv-cp932: Shift_JIS for older Excel, refused with
    `Cp932Unsupported` (naming each character) when a cell holds one cp932 lacks;
    xlsx: one sheet per session, header frozen, real dates; these three in `lang`
    (Japanese unless "en"). json: a list of row objects (`roster_rows`, for programs).
    `say` says the team exceptions in `lang` (`bot.telegram.i18n.say`; the default is
    English, for a caller without the .po files).
    """
    if fmt not in FORMATS:
        raise InvalidInput(
            _l("unknown roster format {fmt!r}; choose one of: {formats}", fmt=fmt, formats=", ".join(FORMATS))
        )
    ids = [catalog.session(s).id for s in session_ids]
    if not ids:
        raise InvalidInput(_l("no session to export"))
    stem = f"roster-{ids[0]}" if len(ids) == 1 else f"roster-{catalog.fiscal_year}-all"
    if fmt == "xlsx":
        return f"{stem}.xlsx", MIME[fmt], _xlsx(catalog, ids, lang, say)
    if fmt == "json":
        rows = [row for sid in ids for row in roster_rows(catalog, sid)]
        data = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
        return f"{stem}.json", MIME[fmt], data.encode("utf-8")
    header = headers(lang)
    lines = [values for sid in ids for values in localized_rows(catalog, sid, lang, say)]
    text = _csv_lines(header, lines)
    if fmt == "csv-cp932":
        problems = cp932_problems(header, [[_csv_value(v) for v in row] for row in lines])
        if problems:
            raise Cp932Unsupported(problems)
        return f"{stem}-sjis.csv", MIME[fmt], text.encode("cp932")
    return f"{stem}.csv", MIME[fmt], text.encode("utf-8-sig")


def sessions_with_people(catalog: Catalog, *, include_cancelled: bool = True) -> list[str]:
    """The ids of the sessions anyone is registered or waiting for (what `--all` exports)."""
    return [s.id for s in catalog.all_sessions(include_cancelled) if s.registered or s.waitlisted]
