"""Schedule commands: the Excel template, importing a year from a spreadsheet, and adding,
editing or cancelling one session (the same catalog functions as the admin page)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import UsageError, with_catalog
from bot.config import Settings, SettingsError
from bot.runtime import clock_for
from catalog import schedule_edit, schedule_import, schedule_sheet
from catalog.errors import InvalidInput
from catalog.i18n import english
from catalog.service import Catalog

ACTOR = "cli"  # who the schedule change log names (see schedule_edit.record_schedule_change)
FIELD_OPTIONS = {  # option dest -> field name
    "first": "first",
    "last": "last",
    "prefecture": "prefecture",
    "city": "city",
    "venue": "venue",
    "address": "address",
    "start": "start",
    "end": "end",
    "capacity": "capacity",
    "venue_lat": "venue_lat",
    "venue_lon": "venue_lon",
}


def _clock() -> Any:
    try:
        return clock_for(Settings.from_env())
    except SettingsError as e:
        raise UsageError(str(e)) from e


def cmd_template(args: argparse.Namespace, catalog: Catalog) -> int:
    rows: list[dict[str, Any]] = []
    year = args.fiscal_year
    if year is not None:
        if year not in catalog.loaded_years():
            raise UsageError(
                f"FY{year} is not loaded (loaded: {', '.join(str(y) for y in catalog.loaded_years())})"
            )
        rows = schedule_edit.year_edit_rows(catalog.store, year)
    courses = list(schedule_edit.year_courses(catalog.store, year or catalog.fiscal_year))
    data = schedule_sheet.template(rows, courses=courses, fiscal_year=year)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: no such folder {out.parent}")
    out.write_bytes(data)
    what = f"{len(rows)} session(s) of FY{year}" if year is not None else "empty"
    print(f"wrote {out} ({what}, {len(data)} bytes)", file=sys.stderr)
    return 0


def _print_plan(plan: schedule_import.ImportPlan) -> None:
    labels = {"added": "add", "updated": "change", "adjusted": "capacity", "cancelled": "cancel"}
    for change in plan.changes:
        if change.kind in labels:
            taken = plan.registered.get(change.session_id, 0)
            note = f" [{taken} registered]" if change.kind == "cancelled" and taken else ""
            print(
                f"{labels[change.kind]:8} {change.session_id}  "
                f"{english(schedule_import.describe(change))}{note}"
            )


def cmd_import(args: argparse.Namespace, catalog: Catalog) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        plan = schedule_import.read_and_plan(
            catalog.store,
            path.name,
            path.read_bytes(),
            fiscal_year=args.fiscal_year,
            confirm_weekends=args.confirm_weekends,
        )
    except InvalidInput as e:
        raise UsageError(f"{path}: {e.en}") from None
    if not plan.ok:
        for problem in plan.blocking():
            print(f"{path}:{problem.line or ''}: {problem.en}", file=sys.stderr)
        print(f"{path}: nothing saved ({len(plan.blocking())} problem(s))", file=sys.stderr)
        return 2
    if args.dry_run:
        _print_plan(plan)
        print(f"{path}: dry run, nothing saved: {plan.summary()}")
        return 0
    clock = _clock()
    report = schedule_import.apply_import(catalog.store, plan, now=clock.now(), actor=ACTOR)
    _print_plan(plan)
    print(
        f"{path}: {report.summary()}"
        + (f" (new year: copied from FY{plan.new_year_from})" if plan.new_year_from else "")
    )
    return 0


def _confirmed(run: Any) -> Any:
    """Run an edit; a weekend or holiday date names the option that confirms it."""
    try:
        return run()
    except schedule_edit.NeedsConfirmation as e:
        raise UsageError(
            f"{'; '.join(str(d.said) for d in e.days)}: add --confirm-weekend to save it anyway"
        ) from None


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        name: getattr(args, dest)
        for dest, name in FIELD_OPTIONS.items()
        if getattr(args, dest, None) is not None
    }


def cmd_add(args: argparse.Namespace, catalog: Catalog) -> int:
    clock = _clock()
    fields = {"course": args.course, **_fields(args)}
    if args.id:
        fields["id"] = args.id
    result = _confirmed(
        lambda: schedule_edit.add_session(
            catalog.store,
            fields,
            now=clock.now(),
            default_year=catalog.fiscal_year,
            confirm=args.confirm_weekend,
            actor=ACTOR,
        )
    )
    print(english(result.summary()))
    return 0


def cmd_edit(args: argparse.Namespace, catalog: Catalog) -> int:
    clock = _clock()
    changes = _fields(args)
    if not changes:
        raise UsageError("nothing to change: give --first, --city, --venue, --capacity, ...")
    result = _confirmed(
        lambda: schedule_edit.edit_session(
            catalog.store,
            args.session,
            changes,
            now=clock.now(),
            today=clock.today(),
            confirm=args.confirm_weekend,
            actor=ACTOR,
        )
    )
    print(english(result.summary()))
    return 0


def cmd_cancel(args: argparse.Namespace, catalog: Catalog) -> int:
    result = schedule_edit.cancel_session(catalog.store, args.session, now=_clock().now(), actor=ACTOR)
    print(english(result.summary()))
    return 0


def _year(text: str) -> int:
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fiscal year such as 2025")
    return int(text)


def _session_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--first", metavar="DATE", help="first day (YYYY-MM-DD)")
    p.add_argument("--last", metavar="DATE", help="last day (C runs two days)")
    p.add_argument("--prefecture")
    p.add_argument("--city")
    p.add_argument("--venue", help='venue name ("" clears it)')
    p.add_argument("--address", help='venue address ("" clears it)')
    p.add_argument("--start", metavar="HH:MM")
    p.add_argument("--end", metavar="HH:MM")
    p.add_argument("--capacity", help='seats ("" for the default)')
    p.add_argument("--venue-lat", metavar="LAT", help="the venue's latitude, for a map")
    p.add_argument("--venue-lon", metavar="LON", help="the venue's longitude")
    p.add_argument(
        "--confirm-weekend", action="store_true", help="save a session on a weekend or public holiday anyway"
    )


def add_commands(sub: Any) -> None:  # argparse subparsers
    from bot.cli.common import Parser

    p = sub.add_parser("schedule", help="schedule: template, import, add, edit, cancel")
    ssub = p.add_subparsers(dest="schedule_command", required=True, parser_class=Parser)

    q = ssub.add_parser("template", help="write the Excel template (one row per session)")
    q.add_argument("-o", "--output", required=True, metavar="FILE.xlsx")
    q.add_argument(
        "--fiscal-year",
        type=_year,
        metavar="N",
        help="fill it with that year's sessions (to correct and import again)",
    )
    q.set_defaults(func=with_catalog(cmd_template))

    q = ssub.add_parser("import", help="validate every row, then load the sheet as a fiscal year")
    q.add_argument("file", metavar="FILE.xlsx|FILE.csv")
    q.add_argument(
        "--fiscal-year",
        type=_year,
        metavar="N",
        help="the year the sheet is for (else the year of its first dates)",
    )
    q.add_argument(
        "--dry-run", action="store_true", help="show what would be added, changed and cancelled; save nothing"
    )
    q.add_argument(
        "--confirm-weekends", action="store_true", help="accept sessions on weekends and public holidays"
    )
    q.set_defaults(func=with_catalog(cmd_import))

    q = ssub.add_parser("add", help="add one session")
    q.add_argument("--course", required=True)
    q.add_argument("--id", help="a pinned id (else made from year, course, prefecture, date)")
    _session_options(q)
    q.set_defaults(func=with_catalog(cmd_add))

    q = ssub.add_parser("edit", help="change a session's date, place, venue, times or capacity")
    q.add_argument("session", metavar="SESSION")
    _session_options(q)
    q.set_defaults(func=with_catalog(cmd_edit))

    q = ssub.add_parser("cancel", help="cancel a session (registrants are told)")
    q.add_argument("session", metavar="SESSION")
    q.set_defaults(func=with_catalog(cmd_cancel))
