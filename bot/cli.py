"""The `cyder-bot` command line.

Each feature module adds its subcommands through `add_commands(subparsers)`;
`COMMAND_MODULES` lists them. Bad input exits with status 2 and one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import importlib
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError
from bot.runtime import clock_for, open_catalog
from bot.textwidth import table
from catalog import places
from catalog.eligibility import Profile
from catalog.errors import CatalogError, ScheduleError
from catalog.service import Catalog, parse_filters
from catalog.store import Store
from schedules import loader

COMMAND_MODULES = ["bot.cli", "bot.cli_bot", "bot.cli_staff"]


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise UsageError(str(e)) from e


def _date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _emit(rows: list[dict[str, Any]], fmt: str, columns: Sequence[str], out: Any = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        out.write(buf.getvalue())
    else:
        out.write(table(columns, [[r.get(c, "") for c in columns] for r in rows]) + "\n")


def resolve_origin(text: str) -> tuple[tuple[float, float] | None, int | None, str]:
    """`--near` as "lat,lon" or a place name: (point, prefecture code for pref-first order, label)."""
    try:
        point = places.parse_latlon(text)
    except ValueError as e:
        raise UsageError(f"--near {text!r}: {e}") from e
    if point:
        return point, None, text
    place = places.resolve_place(text)
    if place.kind == "prefecture" and place.prefecture:
        return None, place.prefecture.code, place.name
    if place.kind == "region" and place.region:
        first = places.prefecture(place.region.prefectures[0])
        return (first.lat, first.lon), None, place.name
    assert place.lat is not None and place.lon is not None
    return (place.lat, place.lon), None, place.name


def cmd_sessions(args: argparse.Namespace, catalog: Catalog) -> int:
    wanted = parse_filters(catalog, courses=args.course or [], prefectures=args.prefecture or [],
                           regions=args.region or [])
    profile = None
    if args.eligible_for:
        catalog.rules.org_type(args.eligible_for)
        profile = Profile(args.eligible_for.strip().lower())
    near = near_pref = None
    if args.near:
        near, near_pref, _ = resolve_origin(args.near)
    hits = catalog.find(courses=wanted.courses, prefectures=wanted.prefectures,
                        regions=wanted.regions, near=near,
                        near_prefecture=near_pref, eligible_for=profile,
                        date_from=args.date_from, date_to=args.date_to, limit=args.limit)
    rows = [h.session.as_dict(h.distance_km if args.near else None) for h in hits]
    cols = ["id", "course", "region", "prefecture", "city", "start", "end", "seats",
            "seats_left", "seat_status", "deadline"]
    if args.near:
        cols.append("distance_km")
    if args.format == "csv":
        cols = list(rows[0].keys()) if rows else cols
    _emit(rows, args.format, cols)
    if args.format == "table":
        print(f"{len(rows)} session(s)", file=sys.stderr)
    return 0


def cmd_courses(args: argparse.Namespace, catalog: Catalog) -> int:
    rows = [c.as_dict() for c in catalog.courses()]
    for r in rows:
        r["fee_yen"] = r["fee_yen"] if r["fee_yen"] is not None else "not announced"
    _emit(rows, args.format, ["code", "level_ja", "level_en", "format", "organisations_en",
                              "where_en", "period_en", "declared_total", "fee_yen"])
    return 0


def cmd_eligibility(args: argparse.Namespace, catalog: Catalog) -> int:
    catalog.rules.org_type(args.org_type)
    profile = Profile(args.org_type.strip().lower(), args.contractor, args.dispatched, args.student)
    verdicts = catalog.verdicts(profile)
    rows = [v.as_dict() for v in verdicts]
    if args.format == "table":
        for r, v in zip(rows, verdicts, strict=True):
            r["fee"], r["fee_yen"] = r["fee"] or "-", v.fee_cell()  # no fee when not eligible
    _emit(rows, args.format, ["course", "eligible", "fee", "fee_yen", "reason_en"])
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings()
    clock = clock_for(settings)
    if args.db_command == "init":
        catalog = open_catalog(settings, clock)
        n = len(catalog.all_sessions())
        print(f"{settings.db_path}: FY{catalog.fiscal_year} loaded, {n} sessions")
    elif args.db_command == "load":
        store = Store.open(settings.db_path)
        report = loader.load(store, args.file, clock.now())
        print(f"{args.file}: {report.summary()}")
    elif args.db_command == "backup":
        store = Store.open(settings.db_path)
        store.backup(args.file)
        print(f"backed up {settings.db_path} to {args.file}")
    return 0


def add_commands(sub: argparse._SubParsersAction, with_catalog: Callable[..., Any]) -> None:
    p = sub.add_parser("sessions", help="list or search sessions")
    p.add_argument("--course", action="append", help="A, B-1, B-2, C (repeat or comma-separate)")
    p.add_argument("--prefecture", action="append", help="広島, 広島県, hiroshima, 34 ...")
    p.add_argument("--region", action="append", help="中国, chugoku, 関東 ...")
    p.add_argument("--near", help="LAT,LON or a place name (prefecture, region, city)")
    p.add_argument("--eligible-for", metavar="ORGTYPE", help="only courses this org type may take")
    p.add_argument("--from", dest="date_from", type=_date_arg, metavar="DATE")
    p.add_argument("--to", dest="date_to", type=_date_arg, metavar="DATE")
    p.add_argument("--limit", type=int)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_sessions))

    p = sub.add_parser("courses", help="the course table")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_courses))

    p = sub.add_parser("eligibility", help="which courses an organisation type may take, and fees")
    p.add_argument("--org-type", required=True,
                   help="national, local, iaa, designated, infra, private, school")
    p.add_argument("--contractor", action="store_true", help="an outside contractor (請負)")
    p.add_argument("--dispatched", action="store_true", help="a dispatched worker (派遣労働者)")
    p.add_argument("--student", action="store_true")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_eligibility))

    p = sub.add_parser("db", help="database: init, load FILE, backup FILE")
    dbsub = p.add_subparsers(dest="db_command", required=True, parser_class=Parser)
    dbsub.add_parser("init", help="create the database and load the shipped schedule")
    q = dbsub.add_parser("load", help="validate and load a schedule file (TOML)")
    q.add_argument("file", type=Path)
    q = dbsub.add_parser("backup", help="online backup to FILE (safe while the bot runs)")
    q.add_argument("file", type=Path)
    p.set_defaults(func=cmd_db)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cyder-bot", description="CYDER exercises: catalog, chat bot, calendars.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    def with_catalog(fn: Callable[[argparse.Namespace, Catalog], int]) -> Callable[..., int]:
        def run(args: argparse.Namespace) -> int:
            return fn(args, open_catalog(_settings()))
        run.__name__ = fn.__name__
        return run

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub, with_catalog)
    parser.set_defaults(default_command="run" if "run" in sub.choices else None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        default = getattr(args, "default_command", None)
        if default is None:
            parser.print_help()
            return 0
        args = parser.parse_args([default])
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except (UsageError, ScheduleError, places.UnknownPlace) as e:
        print(f"cyder-bot: error: {e}", file=sys.stderr)
        return 2
    except CatalogError as e:
        print(f"cyder-bot: error: {e.en}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
