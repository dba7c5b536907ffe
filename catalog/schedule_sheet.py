"""A fiscal year's sessions as a spreadsheet: the Excel template staff fill in, and
reading a filled-in workbook (.xlsx) or CSV back as rows of cells.

One row per session, columns `SPREADSHEET_COLUMNS` (course, region, prefecture, city,
first day, last day, venue, address, start, end, capacity, id, and the venue's own
coordinates). Headers may be written in English (`first`, "First day"), in Japanese
(初日) or both (`初日 / first`, as the template writes them). CSV is read as
`import-registrations` reads it: UTF-8 with or without BOM, or cp932. Dates may be
ISO (2025-05-20) or as Japanese Excel writes them (2025/5/20); times 9:30 or 09:30.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.errors import InvalidInput
from catalog.i18n import Lazy
from catalog.i18n import gettext_lazy as _l
from catalog.imports import decode
from catalog.session_row import CELL_ALIASES, REQUIRED, SPREADSHEET_COLUMNS

MAX_ROWS = 5000  # a year has about 100 sessions; more rows than this is not a schedule
MAX_COLUMNS = 40
SHEET_TITLE = "sessions"
HELP_TITLE = "説明 instructions"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# column -> (Japanese header, Japanese help, English help)
COLUMN_HELP: dict[str, tuple[str, str, str]] = {
    "course": (
        "コース",
        "必須。A、B-1、B-2、C など（その年度のコース）",
        "Required. A, B-1, B-2, C … (the year's on-site courses)",
    ),
    "region": (
        "地域",
        "省略可。都道府県から決まります（書く場合は一致が必要）",
        "Optional: follows from the prefecture (must match when given)",
    ),
    "prefecture": (
        "都道府県",
        "必須。広島県、広島、hiroshima、34 など",
        "Required. 広島県, 広島, hiroshima, 34 …",
    ),
    "city": ("市区町村", "必須。開催都市（例: 広島、倉吉）", "Required. The venue city (e.g. 広島, 倉吉)"),
    "first": (
        "初日",
        "必須。日付（2025-05-20 または 2025/5/20）。その年度内",
        "Required. A date (2025-05-20 or 2025/5/20) inside the fiscal year",
    ),
    "last": (
        "最終日",
        "省略すると初日と同じ。C コースは2日間",
        "Blank: the same as the first day. C runs two days",
    ),
    "venue": ("会場", "会場名（発表されている場合のみ）", "The venue's name (only when announced)"),
    "address": ("住所", "会場の住所（発表されている場合のみ）", "The venue's address (only when announced)"),
    "start": ("開始", "開始時刻 HH:MM（未発表なら空欄）", "Start time HH:MM (blank when not announced)"),
    "end": (
        "終了",
        "終了時刻 HH:MM（開始と両方、または両方空欄）",
        "End time HH:MM (both start and end, or neither)",
    ),
    "capacity": (
        "定員",
        "定員（未発表なら空欄: 既定の席数を使います）",
        "Seats (blank when not announced: the default is used)",
    ),
    "id": (
        "ID",
        "空欄で自動。既存の回を直すときはそのIDを残してください",
        "Blank for a new session; keep it to correct an existing one",
    ),
    "venue_lat": (
        "緯度",
        "会場の緯度（地図用、分かる場合のみ）",
        "The venue's latitude (for a map, only if known)",
    ),
    "venue_lon": ("経度", "会場の経度（緯度と両方）", "The venue's longitude (with the latitude)"),
}
JA_HEADERS = {ja: name for name, (ja, _, _) in COLUMN_HELP.items()} | {
    "開催地": "city",
    "市": "city",
    "開始日": "first",
    "終了日": "last",
    "開始時刻": "start",
    "終了時刻": "end",
    "会場名": "venue",
    "所在地": "address",
    "席数": "capacity",
}
DATE_RE = re.compile(r"^(\d{4})[/.年-](\d{1,2})[/.月-](\d{1,2})日?$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")


@dataclass(frozen=True)
class SheetRow:
    """One filled-in row: its line (the spreadsheet's row number, or the CSV line) and
    its cells by field name."""

    line: int
    cells: dict[str, Any]


class SheetError(InvalidInput):
    """A file that cannot be read as a schedule sheet at all (not one row's fault)."""

    code = "sheet"


def column_name(header: Any) -> str | None:
    """The field a header names (`初日 / first`, "First day", 初日), or None."""
    text = unicodedata.normalize("NFKC", str(header or "")).strip()
    for part in [text, *text.split("/")]:
        part = part.strip()
        if part in JA_HEADERS:
            return JA_HEADERS[part]
        name = "_".join(part.lower().split())
        name = CELL_ALIASES.get(name, name)
        if name in SPREADSHEET_COLUMNS:
            return name
    return None


def _header(values: Sequence[Any]) -> list[str | None]:
    names = [column_name(v) if v not in (None, "") else None for v in values]
    unknown = [str(v) for v, n in zip(values, names, strict=True) if n is None and v not in (None, "")]
    missing = [c for c in REQUIRED if c not in names]
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if unknown or missing or twice:
        what = (
            [f"unknown column {u!r}" for u in unknown]
            + [f"missing column {m!r}" for m in missing]
            + [f"column {t!r} twice" for t in twice]
        )
        raise SheetError(
            _l(
                "line 1: {what}; the columns are {columns}",
                what="; ".join(what),
                columns=", ".join(SPREADSHEET_COLUMNS),
            )
        )
    return names


def _cell(name: str, value: Any) -> Any:
    """A cell as `validate_session` reads cells: Japanese Excel's 2025/5/20 dates and 9:30
    times spelled the ISO way; everything else as it is."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if name in ("first", "last") and (m := DATE_RE.match(text)):
            y, mo, d = (int(g) for g in m.groups())
            try:
                return dt.date(y, mo, d).isoformat()
            except ValueError:
                return value  # refused, as written, by the row check
        if name in ("start", "end") and (m := TIME_RE.match(text)):
            return f"{int(m.group(1)):02d}:{m.group(2)}"
        return value.strip()
    return value


def _rows(lines: Iterable[tuple[int, Sequence[Any]]]) -> list[SheetRow]:
    header: list[str | None] | None = None
    out: list[SheetRow] = []
    for line, values in lines:
        if not any(v not in (None, "") and str(v).strip() for v in values):
            continue
        if header is None:
            header = _header(list(values))
            continue
        if len(out) >= MAX_ROWS:
            raise SheetError(_l("more than {limit} rows: this is not one year's schedule", limit=MAX_ROWS))
        extra = [v for v in values[len(header) :] if v not in (None, "")]
        cells = {n: _cell(n, v) for n, v in zip(header, values, strict=False) if n is not None}
        if extra:
            cells["_extra"] = extra
        out.append(SheetRow(line, cells))
    if header is None:
        raise SheetError(
            _l("the file is empty (expected a header row: {columns})", columns=", ".join(SPREADSHEET_COLUMNS))
        )
    return out


def _csv_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SheetError(_l("line {line}: {reason}", line=start, reason=str(e))) from None
        yield start, values


def _unreadable(e: Exception) -> Lazy:
    return _l("not a readable Excel workbook (.xlsx): {error}", error=type(e).__name__)


def _xlsx_lines(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as e:
        raise SheetError(_unreadable(e)) from None
    except Exception as e:  # openpyxl raises its own errors for broken parts
        raise SheetError(_unreadable(e)) from None
    try:
        sheets = book.worksheets
        if not sheets:
            raise SheetError(_l("the workbook has no sheet"))
        sheet = next((s for s in sheets if SHEET_TITLE in s.title.lower() or "開催回" in s.title), sheets[0])
        for line, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), 1):
            if line > MAX_ROWS + 50:
                raise SheetError(
                    _l("more than {limit} rows: this is not one year's schedule", limit=MAX_ROWS)
                )
            yield line, values
    finally:
        book.close()


def is_xlsx(name: str, data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" or name.lower().endswith((".xlsx", ".xlsm"))


def read_sheet(name: str, data: bytes) -> list[SheetRow]:
    """The filled-in rows of a schedule sheet (.xlsx, or CSV), with their line numbers.

    SheetError when the file cannot be read at all (not a workbook, not text, no header,
    unknown or missing columns); each row's own problems are for `validate_session`."""
    if not data.strip():
        raise SheetError(_l("the file is empty"))
    if is_xlsx(name, data):
        return _rows(_xlsx_lines(data))
    if b"\0" in data[:4096]:
        raise SheetError(_l("not a spreadsheet: give an .xlsx workbook or a CSV file"))
    try:
        text = decode(data)
    except InvalidInput as e:
        raise SheetError(e.said) from None
    return _rows(_csv_lines(text))


# -- the template -----------------------------------------------------------------------------


def template(
    rows: Iterable[dict[str, Any]] = (), *, courses: Sequence[str] = (), fiscal_year: int | None = None
) -> bytes:
    """The Excel template: a `sessions` sheet with the header row (Japanese / English) and
    `rows` (input fields, as `edit_fields` gives them) filled in, and a sheet explaining
    each column in Japanese and English. With `courses`, the course column offers them."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    for col, name in enumerate(SPREADSHEET_COLUMNS, 1):
        ja, help_ja, help_en = COLUMN_HELP[name]
        cell = sheet.cell(row=1, column=col, value=f"{ja} / {name}")
        cell.font = bold
        cell.fill = fill
        cell.comment = Comment(f"{help_ja}\n{help_en}", "cyder-bot")
        sheet.column_dimensions[cell.column_letter].width = max(12, len(ja) * 2 + len(name) + 4)
    sheet.freeze_panes = "A2"
    for r, fields in enumerate(rows, 2):
        for col, name in enumerate(SPREADSHEET_COLUMNS, 1):
            value = fields.get(name)
            if name in ("first", "last") and isinstance(value, str) and value:
                value = dt.date.fromisoformat(value)
            cell = sheet.cell(row=r, column=col, value=value)
            if name in ("first", "last"):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, str):
                cell.data_type = "s"  # text stays text (a name starting with = is no formula)
    if courses:
        rule = DataValidation(type="list", formula1='"' + ",".join(courses) + '"', allow_blank=False)
        rule.error = "A, B-1, B-2, C …"
        sheet.add_data_validation(rule)
        rule.add(f"A2:A{MAX_ROWS + 1}")

    info = book.create_sheet(HELP_TITLE)
    year = f"（{fiscal_year}年度）" if fiscal_year else ""
    year_en = f" (FY{fiscal_year})" if fiscal_year else ""
    info.append([f"CYDER 開催日程の入力シート{year}"])
    info.append([f"CYDER schedule sheet{year_en}"])
    info.append([])
    info.append(
        [
            "「sessions」シートに1行1開催回で入力し、保存して取り込みます: "
            "cyder-bot schedule import FILE.xlsx（管理画面の「日程の取り込み」からも可）。"
        ]
    )
    info.append(
        [
            "Fill in the 'sessions' sheet, one row per session, save, and import it: "
            "cyder-bot schedule import FILE.xlsx (or from the admin page's schedule upload)."
        ]
    )
    info.append(
        [
            "すべての行を先に確認し、1行でも誤りがあれば何も保存しません（行番号と理由を表示）。"
            "ファイルにない開催回は中止になります。"
        ]
    )
    info.append(
        [
            "Every row is checked first; if any row is wrong nothing is saved (each bad line "
            "is named with its reason). Sessions missing from the file are cancelled."
        ]
    )
    info.append(
        [
            "土日・祝日の開催は確認が必要です（--confirm-weekends、管理画面ではチェック）。"
            "未発表の項目（時刻、会場、住所、定員）は空欄のままにしてください。"
        ]
    )
    info.append(
        [
            "Weekend and holiday dates need confirming (--confirm-weekends, or the box on the "
            "admin page). Leave what is not announced (times, venue, address, capacity) blank."
        ]
    )
    info.append([])
    info.append(["列 / column", "見出し", "説明", "Description"])
    for cell in info[info.max_row]:
        cell.font = bold
    for name in SPREADSHEET_COLUMNS:
        ja, help_ja, help_en = COLUMN_HELP[name]
        info.append([name, ja, help_ja, help_en])
    info.column_dimensions["A"].width = 12
    info.column_dimensions["B"].width = 12
    info.column_dimensions["C"].width = 60
    info.column_dimensions["D"].width = 60
    for row in info.iter_rows(min_row=1, max_row=9):
        for cell in row:
            cell.alignment = Alignment(wrap_text=False)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
