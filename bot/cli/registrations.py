"""Staff console commands: registrations (list and search), cancel-registration,
move-registration, promote-registration, edit-registration.

Each change is logged (who: "cli") and queues, in its own transaction, what the people it
concerns are told in chat and by mail (the notification outbox): the running bot's sender
sends it (within its poll, 30 s at most; at its next start if it is not running). This
process sends nothing itself and needs no BOT_TOKEN.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any

from defusedcsv import csv

from bot.cli.common import UsageError, load_settings, positive_int, with_catalog
from bot.runtime import clock_for
from catalog import console
from catalog.audit import Actor
from catalog.console import Change
from catalog.registrations import Registration
from catalog.service import Catalog
from catalog.textwidth import table

COLUMNS = (
    "id",
    "session",
    "status",
    "name",
    "organisation",
    "department",
    "email",
    "org_type",
    "source",
    "registered_at",
)


def _status(reg: Registration) -> str:
    return f"waitlisted #{reg.position}" if reg.position else reg.status


def _row(reg: Registration) -> dict[str, Any]:
    return {
        "id": reg.id,
        "session": reg.session_id,
        "status": _status(reg),
        "name": reg.name,
        "organisation": reg.organisation,
        "department": reg.department,
        "email": reg.email,
        "org_type": reg.org_type,
        "source": reg.source,
        "registered_at": reg.created_at,
    }


def cmd_registrations(args: argparse.Namespace, catalog: Catalog) -> int:
    found = console.search(
        catalog, args.search or "", session_id=args.session, include_cancelled=not args.active
    )
    rows = [_row(r) for r in found]
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif args.format == "csv":  # names are typed by the public: no cell becomes a formula
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        print(table(list(COLUMNS), [[r[c] for c in COLUMNS] for r in rows]))
        print(f"{len(rows)} registration(s)", file=sys.stderr)
    return 0


def _tell(change: Change) -> None:
    if change.chats:
        print(f"queued for {len(change.chats)} chat(s): the running bot sends them", file=sys.stderr)


def _who(reg: Registration) -> str:
    return f"#{reg.id} {reg.name} ({reg.organisation})"


def _promoted(change: Change) -> str:
    if not change.promoted:
        return ""
    return "; promoted from the waitlist: " + ", ".join(_who(p) for p in change.promoted)


def cmd_cancel(args: argparse.Namespace, catalog: Catalog) -> int:
    settings = load_settings()
    clock = clock_for(settings)
    change = console.staff_cancel(
        catalog, args.id, reason=args.reason, actor=Actor.cli(), today=clock.today(), now=clock.now()
    )
    print(f"cancelled: {_who(change.after)} in {change.after.session_id}{_promoted(change)}")
    _tell(change)
    return 0


def cmd_move(args: argparse.Namespace, catalog: Catalog) -> int:
    settings = load_settings()
    clock = clock_for(settings)
    change = console.move(
        catalog,
        args.id,
        args.session,
        actor=Actor.cli(),
        today=clock.today(),
        now=clock.now(),
        waitlist=args.waitlist,
    )
    where = f"waitlisted #{change.after.position}" if change.after.status == "waitlisted" else "registered"
    print(
        f"moved: {_who(change.after)} from {change.before.session_id} to "
        f"{change.after.session_id} ({where}){_promoted(change)}"
    )
    _tell(change)
    return 0


def cmd_promote(args: argparse.Namespace, catalog: Catalog) -> int:
    settings = load_settings()
    clock = clock_for(settings)
    change = console.promote(catalog, args.id, actor=Actor.cli(), today=clock.today(), now=clock.now())
    print(
        f"promoted: {_who(change.after)} in {change.after.session_id} "
        f"(was waitlisted #{change.before.position})"
    )
    _tell(change)
    return 0


def cmd_edit(args: argparse.Namespace, catalog: Catalog) -> int:
    settings = load_settings()
    given = {"name": args.name, "organisation": args.org, "department": args.department, "email": args.email}
    if all(v is None for v in given.values()):
        raise UsageError("give at least one of --name, --org, --department, --email")
    change = console.edit(catalog, args.id, actor=Actor.cli(), now=clock_for(settings).now(), **given)
    if not change.changed:
        print(f"unchanged: {_who(change.after)}")
        return 0
    what = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in change.changed.items())
    team = f" (and {len(change.team)} team member(s))" if change.team else ""
    print(f"edited: #{change.after.id} {what}{team}")
    return 0


def add_commands(sub: Any) -> None:
    """Add the console commands to `sub` (the parser's subparsers)."""
    p = sub.add_parser("registrations", help="list or search registrations (with ids)")
    p.add_argument("session", metavar="SESSION", nargs="?")
    p.add_argument(
        "--search", metavar="TEXT", help="words found in the name, organisation or e-mail (or an id)"
    )
    p.add_argument("--active", action="store_true", help="leave out cancelled registrations")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=with_catalog(cmd_registrations))

    p = sub.add_parser("cancel-registration", help="cancel a registration, with the reason")
    p.add_argument("id", metavar="ID", type=positive_int)
    p.add_argument(
        "--reason", required=True, metavar="TEXT", help="told to the person and kept in the audit log"
    )
    p.set_defaults(func=with_catalog(cmd_cancel))

    p = sub.add_parser("move-registration", help="move a person to another session")
    p.add_argument("id", metavar="ID", type=positive_int)
    p.add_argument("session", metavar="SESSION")
    p.add_argument(
        "--waitlist", action="store_true", help="join the new session's waitlist when it has no seat"
    )
    p.set_defaults(func=with_catalog(cmd_move))

    p = sub.add_parser("promote-registration", help="give a waitlisted person a free seat")
    p.add_argument("id", metavar="ID", type=positive_int)
    p.set_defaults(func=with_catalog(cmd_promote))

    p = sub.add_parser("edit-registration", help="correct a registrant's details")
    p.add_argument("id", metavar="ID", type=positive_int)
    p.add_argument("--name")
    p.add_argument("--org", help="organisation name")
    p.add_argument("--department")
    p.add_argument("--email")
    p.set_defaults(func=with_catalog(cmd_edit))
