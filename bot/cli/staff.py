"""Staff commands: register, import-registrations, teams, roster, stats."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import Subcommands, UsageError, lock_note, with_catalog
from bot.config import Settings, SettingsError
from bot.runtime import clock_for
from bot.telegram.i18n import say
from catalog import console, places
from catalog.audit import Actor
from catalog.registrations import Applicant
from catalog.rosters import Format as RosterFormat
from catalog.rosters import export_roster
from catalog.service import Catalog
from catalog.stats import registration_stats
from catalog.teams import Team, TeamRuleError, check_team_key, current_teams
from catalog.textwidth import table


def _clock() -> Any:
    try:
        return clock_for(Settings.from_env())
    except SettingsError as e:
        raise UsageError(str(e)) from e


def cmd_register(args: argparse.Namespace, catalog: Catalog) -> int:
    clock = _clock()
    session = catalog.session(args.session)
    org_type = catalog.rules.org_type(args.org_type).code
    pref = places.prefecture(args.prefecture).name if args.prefecture else ""
    person = Applicant(
        name=args.name,
        organisation=args.org,
        org_type=org_type,
        department=args.department or "",
        email=args.email or "",
        prefecture=pref,
        contractor=args.contractor,
        dispatched=args.dispatched,
    )
    key = (args.as_team or "").strip() or None
    if key:
        check_team_key(catalog, session.id, key, person.cleaned().organisation)
    out = console.register(
        catalog,
        session.id,
        [person],
        actor=Actor.cli(),
        today=clock.today(),
        now=clock.now(),
        waitlist=args.waitlist,
        team_key=key,
        source="cli",
    )
    reg = out.registrations[0]
    fee = catalog.verdict(person.profile, session.course).fee
    where = f"waitlisted #{reg.position}" if out.waitlisted else "registered"
    print(
        f"{where}: #{reg.id} {reg.name} ({reg.organisation}) for {session.id}, fee {fee}"
        + (f", team {key}" if key else "")
    )
    return 0


def cmd_import(args: argparse.Namespace, catalog: Catalog) -> int:
    clock = _clock()
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    report = console.import_file(
        catalog, path, actor=Actor.cli(), today=clock.today(), now=clock.now(), waitlist=args.waitlist
    )
    print(f"{path}: {report.summary()}")
    print(lock_note(catalog.store.last_hold), file=sys.stderr)
    return 0


def _print_teams(teams: list[Team], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([t.as_dict(say) for t in teams], ensure_ascii=False, indent=2))
        return
    rows = [
        [
            t.number,
            m.registration_id,
            m.name,
            m.organisation,
            m.org_type,
            m.prefecture,
            say(t.exceptions_said, "en") if i == 0 else "",
        ]
        for t in teams
        for i, m in enumerate(t.members)
    ]
    print(table(["team", "id", "name", "organisation", "org_type", "prefecture", "exception"], rows))
    sizes = "+".join(str(len(t.members)) for t in teams) or "0"
    flagged = [str(t.number) for t in teams if t.is_exception]
    note = f"; exception(s) in team {', '.join(flagged)}" if flagged else ""
    print(f"{len(teams)} team(s): {sizes}{note}", file=sys.stderr)


def cmd_teams(args: argparse.Namespace, catalog: Catalog) -> int:
    from bot.cli import UsageError

    if args.force and not args.move:
        raise UsageError("--force applies to --move only")
    now = _clock().now()
    if args.move:
        reg_id, team = args.move
        try:
            teams = console.move_team_member(
                catalog, args.session, reg_id, team, actor=Actor.cli(), now=now, force=args.force
            )
        except TeamRuleError as e:
            raise UsageError(f"{e.en} (add --force to move anyway)") from e
    elif args.show:
        teams = current_teams(catalog, args.session)
    else:
        teams = console.form_teams(catalog, args.session, actor=Actor.cli(), now=now)
    _print_teams(teams, args.format)
    return 0


def cmd_roster(args: argparse.Namespace, catalog: Catalog) -> int:
    if args.all == bool(args.session):
        raise UsageError("give one SESSION or --all")
    if args.cp932 and args.format != "csv":
        raise UsageError("--cp932 applies to --format csv only")
    if args.all:
        every = (
            catalog.all_sessions()
            if args.fiscal_year is None
            else catalog.sessions_of(args.fiscal_year, include_cancelled=False)
        )
        if not every:
            raise UsageError(f"FY{args.fiscal_year} has no sessions in the database")
        ids = [s.id for s in every if s.registered or s.waitlisted]
    else:
        ids = [args.session]
    if not ids:
        raise UsageError(
            "--all: nobody is registered for any session"
            + (f" of FY{args.fiscal_year}" if args.fiscal_year else "")
            + ", so there is no roster"
        )
    fmt: RosterFormat = "csv-cp932" if args.cp932 else args.format
    name, _mime, data = export_roster(catalog, ids, fmt, lang=args.lang, say=say)
    if args.output is None and args.format == "xlsx":
        args.output = Path(name)
    if args.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    Path(args.output).write_bytes(data)
    print(f"wrote {args.output} ({len(ids)} session(s), {len(data)} bytes)", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace, catalog: Catalog) -> int:
    rows = registration_stats(catalog)
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    cols = ["course", "region", "sessions", "registered", "capacity", "waitlisted"]
    print(table(cols, [[r[c] for c in cols] for r in rows]))
    return 0


def _move(text: str) -> tuple[int, int]:
    reg, sep, team = text.partition(":")
    try:
        if not sep or not reg.strip().isdecimal() or not team.strip().isdecimal():
            raise ValueError(text)
        return int(reg), int(team)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not REGISTRATION_ID:TEAM (e.g. 12:3)") from None


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("register", help="register one person taken by phone or mail")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--name", required=True)
    p.add_argument("--org", required=True, help="organisation name")
    p.add_argument(
        "--org-type", required=True, help="national, local, iaa, designated, infra, private, school"
    )
    p.add_argument("--department")
    p.add_argument("--email")
    p.add_argument("--prefecture")
    p.add_argument("--contractor", action="store_true", help="an outside contractor (請負)")
    p.add_argument("--dispatched", action="store_true", help="a dispatched worker (派遣労働者)")
    p.add_argument(
        "--as-team",
        metavar="KEY",
        help="people of one organisation applying as a full team of four share KEY",
    )
    p.add_argument("--waitlist", action="store_true", help="join the waitlist when full")
    p.set_defaults(func=with_catalog(cmd_register))

    p = sub.add_parser("import-registrations", help="import applications from CSV (all or nothing)")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument(
        "--waitlist",
        action="store_true",
        help="rows past the seats join the waitlist instead of failing the import",
    )
    p.set_defaults(func=with_catalog(cmd_import))

    p = sub.add_parser("teams", help="form (or show) a session's teams of four")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--format", choices=["table", "json"], default="table")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--show", action="store_true", help="show the stored teams, do not re-form")
    g.add_argument(
        "--move",
        type=_move,
        metavar="ID:TEAM",
        help="move registration ID into TEAM (kept when re-forming); a move that "
        "breaks the team rules is refused unless --force",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --move: make the move though it breaks the team rules "
        "(the team is then shown as an exception)",
    )
    p.set_defaults(func=with_catalog(cmd_teams))

    p = sub.add_parser("roster", help="a session's roster as CSV, XLSX or JSON")
    p.add_argument("session", metavar="SESSION", nargs="?")
    p.add_argument("--format", choices=["csv", "xlsx", "json"], default="csv")
    p.add_argument("-o", "--output", type=Path, metavar="FILE")
    p.add_argument("--cp932", action="store_true", help="CSV in cp932 (Shift_JIS)")
    p.add_argument("--all", action="store_true", help="every session anyone is registered for, into one file")
    p.add_argument(
        "--lang",
        choices=["ja", "en"],
        default="ja",
        help="headers and values in Japanese (default) or English (csv, xlsx)",
    )
    p.add_argument(
        "--fiscal-year",
        type=int,
        metavar="N",
        help="with --all: that year's sessions (past years stay in the database)",
    )
    p.set_defaults(func=with_catalog(cmd_roster))

    p = sub.add_parser("stats", help="registrations and waitlists per course and region")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_stats))
