"""Catalog commands: sessions, courses, eligibility, and the database (init, load, backup)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import (
    Parser,
    Subcommands,
    UsageError,
    date_arg,
    emit,
    load_settings,
    lock_note,
    positive_int,
    with_catalog,
)
from bot.runtime import clock_for, open_catalog
from bot.telegram.i18n import say
from catalog import places
from catalog.eligibility import Profile
from catalog.service import Catalog, parse_filters
from catalog.store import Store
from schedules import loader


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
    wanted = parse_filters(
        catalog, courses=args.course or [], prefectures=args.prefecture or [], regions=args.region or []
    )
    profile = None
    if args.eligible_for:
        catalog.rules.org_type(args.eligible_for)
        profile = Profile(args.eligible_for.strip().lower())
    near = near_pref = None
    if args.near:
        near, near_pref, _ = resolve_origin(args.near)
    hits = catalog.find(
        courses=wanted.courses,
        prefectures=wanted.prefectures,
        regions=wanted.regions,
        near=near,
        near_prefecture=near_pref,
        eligible_for=profile,
        date_from=args.date_from,
        date_to=args.date_to,
        limit=args.limit,
    )
    rows = [h.session.as_dict(h.distance_km if args.near else None) for h in hits]
    cols = [
        "id",
        "course",
        "region",
        "prefecture",
        "city",
        "start",
        "end",
        "seats",
        "seats_left",
        "seat_status",
        "deadline",
    ]
    if args.near:
        cols.append("distance_km")
    if args.format == "csv":
        cols = list(rows[0].keys()) if rows else cols
    emit(rows, args.format, cols)
    if args.format == "table":
        print(f"{len(rows)} session(s)", file=sys.stderr)
    return 0


def cmd_courses(args: argparse.Namespace, catalog: Catalog) -> int:
    rows = [c.as_dict() for c in catalog.courses()]
    for r in rows:
        r["fee_yen"] = r["fee_yen"] if r["fee_yen"] is not None else "not announced"
    emit(
        rows,
        args.format,
        [
            "code",
            "level_ja",
            "level_en",
            "format",
            "organisations_en",
            "where_en",
            "period_en",
            "declared_total",
            "fee_yen",
        ],
    )
    return 0


def cmd_eligibility(args: argparse.Namespace, catalog: Catalog) -> int:
    catalog.rules.org_type(args.org_type)
    profile = Profile(args.org_type.strip().lower(), args.contractor, args.dispatched, args.student)
    verdicts = catalog.verdicts(profile)
    rows = [
        {**v.as_dict(), "reason_ja": say(v.reason, "ja"), "reason_en": say(v.reason, "en")} for v in verdicts
    ]
    if args.format == "table":
        for r, v in zip(rows, verdicts, strict=True):
            r["fee"], r["fee_yen"] = r["fee"] or "-", v.fee_cell()  # no fee when not eligible
    emit(rows, args.format, ["course", "eligible", "fee", "fee_yen", "reason_en"])
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    clock = clock_for(settings)
    if args.db_command == "init":
        catalog = open_catalog(settings, clock)
        n = len(catalog.all_sessions())
        print(f"{settings.db_path}: FY{catalog.fiscal_year} loaded, {n} sessions")
    elif args.db_command == "load":
        store = Store.open(settings.db_path)
        report = loader.load(store, args.file, clock.now())
        print(f"{args.file}: {report.summary()}")
        print(lock_note(store.last_hold), file=sys.stderr)
    elif args.db_command == "backup":
        store = Store.open(settings.db_path)
        store.backup(args.file)
        print(f"backed up {settings.db_path} to {args.file}")
    return 0


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("sessions", help="list or search sessions")
    p.add_argument("--course", action="append", help="A, B-1, B-2, C (repeat or comma-separate)")
    p.add_argument("--prefecture", action="append", help="広島, 広島県, hiroshima, 34 ...")
    p.add_argument("--region", action="append", help="中国, chugoku, 関東 ...")
    p.add_argument("--near", help="LAT,LON or a place name (prefecture, region, city)")
    p.add_argument("--eligible-for", metavar="ORGTYPE", help="only courses this org type may take")
    p.add_argument("--from", dest="date_from", type=date_arg, metavar="DATE")
    p.add_argument("--to", dest="date_to", type=date_arg, metavar="DATE")
    p.add_argument("--limit", type=positive_int, metavar="N")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_sessions))

    p = sub.add_parser("courses", help="the course table")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_courses))

    p = sub.add_parser("eligibility", help="which courses an organisation type may take, and fees")
    p.add_argument(
        "--org-type", required=True, help="national, local, iaa, designated, infra, private, school"
    )
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
