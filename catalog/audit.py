"""The audit log: every change to a registration and every staff action, with who did it,
when, what (before and after, for edits) and from which interface.

As pretix's ``order.log_action``: an entry is written with `record` on the write
transaction of the change itself (it refuses to run outside one), so a change that is
committed always has its entry and a change rolled back leaves none. The log lives in the
database (table ``audit_log``), never in the process's log files.

Who: a staff member's Telegram id, "cli", "admin-web" (with the signed-in browser's key),
a chat user's Telegram id, or "deleted-user" once that user used /forget (their entries
keep what happened and when, not the details).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from catalog.i18n import Joined, Lazy, Said
from catalog.i18n import gettext_lazy as _l
from catalog.i18n import pgettext_lazy as _lp
from catalog.store import Store

# action -> its label, as staff see it on the admin page (a context: "cancelled" here is
# 取消, a registration's status 取消済)
ACTIONS: dict[str, Lazy] = {
    "registered": _lp("audit action", "registered"),
    "waitlisted": _lp("audit action", "waitlisted"),
    "imported": _lp("audit action", "imported"),
    "cancelled": _lp("audit action", "cancelled"),
    "promoted": _lp("audit action", "promoted"),
    "moved": _lp("audit action", "moved"),
    "edited": _lp("audit action", "edited"),
    "forgotten": _lp("audit action", "data deleted"),
    "teams_formed": _lp("audit action", "teams formed"),
    "team_moved": _lp("audit action", "team move"),
    "session_added": _lp("audit action", "session added"),
    "session_edited": _lp("audit action", "session edited"),
    "session_cancelled": _lp("audit action", "session cancelled"),
    "schedule_imported": _lp("audit action", "schedule imported"),
}
# what an edit changed in a field, before → after
FIELDS: dict[str, Lazy] = {
    "name": _l("name: {before} → {after}"),
    "organisation": _l("organisation: {before} → {after}"),
    "department": _l("department: {before} → {after}"),
    "email": _l("e-mail: {before} → {after}"),
}
VIA: dict[str, Said | str] = {"chat": _l("chat"), "cli": "CLI", "admin-web": _l("admin page")}
DELETED_USER = "deleted-user"


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which interface (`via`: chat, cli, admin-web)."""

    who: str
    via: str
    staff: bool = True

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli", "cli")

    @classmethod
    def admin_web(cls, key: str = "") -> Actor:
        """Staff on the admin page; `key` tells signed-in browsers apart (admin_sessions)."""
        return cls(f"admin-web:{key}" if key else "admin-web", "admin-web")

    @classmethod
    def chat_staff(cls, user_id: int) -> Actor:
        return cls(str(user_id), "chat")

    @classmethod
    def chat_user(cls, user_id: int) -> Actor:
        return cls(str(user_id), "chat", staff=False)


@dataclass(frozen=True)
class Entry:
    id: int
    at: str
    who: str
    via: str
    staff: bool
    action: str
    session_id: str | None
    registration_id: int | None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Entry:
        try:
            details = json.loads(row["details"] or "{}")
        except ValueError:
            details = {}
        return cls(
            row["id"],
            row["at"],
            row["who"],
            row["via"],
            bool(row["staff"]),
            row["action"],
            row["session_id"],
            row["registration_id"],
            details if isinstance(details, dict) else {},
        )

    @property
    def when(self) -> str:
        """`2024-06-01 10:00:00` (JST, as recorded)."""
        return self.at.replace("T", " ")[:19]

    def label(self) -> Said | str:
        """The action's name (an unknown action as it is recorded)."""
        return ACTIONS.get(self.action, self.action)

    def who_text(self) -> Said | str:
        """`staff 42 (chat)`, `CLI`, `admin page (ab12cd34)`, `user 1001 (chat)`."""
        if self.who == "cli":
            return "CLI"
        if self.who.startswith("admin-web"):
            key = self.who.partition(":")[2]
            return _l("admin page ({key})", key=key) if key else _l("admin page")
        if self.who == DELETED_USER:
            return _l("deleted user")
        via = VIA.get(self.via, self.via)
        if self.staff:
            return _l("staff {who} ({via})", who=self.who, via=via)
        return _l("user {who} ({via})", who=self.who, via=via)

    def summary(self) -> Said:
        """What happened, in one line (reason, from → to, before → after)."""
        d = self.details
        parts: list[Said | str] = []
        if self.action == "cancelled" and d.get("reason"):
            parts.append(_l("reason: {reason}", reason=str(d["reason"])))
        if self.action == "moved":
            parts.append(f"{d.get('from', '?')} → {d.get('to', '?')}")
            if d.get("status") == "waitlisted":
                parts.append(_l("to the waitlist"))
        if self.action == "promoted":
            parts.append(_l("a seat was freed") if d.get("auto") else _l("by hand"))
        if self.action == "edited":
            before, after = d.get("before", {}), d.get("after", {})
            for key in after:
                was, now = repr(before.get(key, "")), repr(after[key])
                parts.append(
                    FIELDS[key].fill(before=was, after=now) if key in FIELDS else f"{key}: {was} → {now}"
                )
        if self.action in ("registered", "waitlisted") and d.get("source"):
            parts.append(_l("via {source}", source=str(d["source"])))
        if self.action == "imported" and d.get("file"):
            parts.append(str(d["file"]))
        if self.action == "teams_formed" and d.get("sizes") is not None:
            parts.append("+".join(str(n) for n in d["sizes"]) or "0")
        if self.action == "team_moved" and d.get("team") is not None:
            parts.append(_l("to team {team}", team=d["team"]))
        if self.action == "forgotten" and d.get("registrations") is not None:
            parts.append(_l("{n} registration(s)", n=d["registrations"]))
        if d.get("redacted"):
            parts.append(_l("details deleted"))
        return Joined("; ", parts)


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def record(
    db: Any,
    actor: Actor,
    action: str,
    *,
    now: dt.datetime,
    session_id: str | None = None,
    registration_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Write one entry on `db`, which must be inside the change's write transaction
    (`Store.write()`): the entry commits or rolls back with the change."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.record runs inside the write transaction of the change")
    cur = db.execute(
        "insert into audit_log (at, who, via, staff, action, session_id, registration_id, "
        "details) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            _stamp(now),
            actor.who,
            actor.via,
            int(actor.staff),
            action,
            session_id,
            registration_id,
            json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
        ],
    )
    return int(cur.lastrowid or 0)


def _entries(store: Store, where: str, params: list[Any], limit: int | None) -> list[Entry]:
    sql = f"select * from audit_log where {where} order by id desc"
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [Entry.from_row(r) for r in store.query(sql, params)]


def for_registration(store: Store, registration_id: int, *, limit: int | None = None) -> list[Entry]:
    """One registration's history, newest first."""
    return _entries(store, "registration_id = ?", [registration_id], limit)


def for_session(store: Store, session_id: str, *, limit: int | None = 200) -> list[Entry]:
    """A session's history (moves into it included), newest first."""
    return _entries(
        store,
        "session_id = ? or (action = 'moved' and json_extract(details, '$.to') = ?)",
        [session_id, session_id],
        limit,
    )


def recent(store: Store, *, limit: int = 50) -> list[Entry]:
    return _entries(store, "1", [], limit)


def forget(db: Any, registration_ids: Iterable[int], user_id: int) -> None:
    """A user's /forget: their registrations' entries keep what happened and when, not the
    details (names, reasons, e-mail addresses); entries naming them as actor no longer do.
    Runs on the transaction that deletes the registrations."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.forget runs inside the write transaction of the change")
    ids = sorted(set(registration_ids))
    redacted = json.dumps({"redacted": True})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"update audit_log set details = ? where registration_id in ({marks})", [redacted, *chunk])
    db.execute("update audit_log set who = ? where who = ? and staff = 0", [DELETED_USER, str(user_id)])
