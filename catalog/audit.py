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

from catalog.store import Store

# action -> (Japanese, English), as staff see it on the admin page
ACTIONS: dict[str, tuple[str, str]] = {
    "registered": ("申込", "registered"),
    "waitlisted": ("キャンセル待ち登録", "waitlisted"),
    "imported": ("取込", "imported"),
    "cancelled": ("取消", "cancelled"),
    "promoted": ("繰上げ", "promoted"),
    "moved": ("開催回の変更", "moved"),
    "edited": ("修正", "edited"),
    "forgotten": ("データ削除", "data deleted"),
    "teams_formed": ("チーム編成", "teams formed"),
    "team_moved": ("チーム移動", "team move"),
    "session_added": ("開催回の追加", "session added"),
    "session_edited": ("開催回の変更", "session edited"),
    "session_cancelled": ("開催回の中止", "session cancelled"),
    "schedule_imported": ("日程の取込", "schedule imported"),
}
# labels of the fields an edit may change
FIELDS: dict[str, tuple[str, str]] = {
    "name": ("氏名", "name"),
    "organisation": ("所属", "organisation"),
    "department": ("部署", "department"),
    "email": ("メール", "e-mail"),
}
VIA = {"chat": ("チャット", "chat"), "cli": ("CLI", "CLI"), "admin-web": ("管理画面", "admin page")}
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
        return cls(row["id"], row["at"], row["who"], row["via"], bool(row["staff"]),
                   row["action"], row["session_id"], row["registration_id"],
                   details if isinstance(details, dict) else {})

    @property
    def when(self) -> str:
        """`2024-06-01 10:00:00` (JST, as recorded)."""
        return self.at.replace("T", " ")[:19]

    def label(self, lang: str = "ja") -> str:
        ja, en = ACTIONS.get(self.action, (self.action, self.action))
        return en if lang.startswith("en") else ja

    def who_text(self, lang: str = "ja") -> str:
        """`staff 42 (chat)`, `CLI`, `admin page (ab12cd34)`, `user 1001 (chat)`."""
        en = lang.startswith("en")
        if self.who == "cli":
            return "CLI"
        if self.who.startswith("admin-web"):
            key = self.who.partition(":")[2]
            base = "admin page" if en else "管理画面"
            return f"{base} ({key})" if key else base
        if self.who == DELETED_USER:
            return "deleted user" if en else "削除済みの利用者"
        via = VIA.get(self.via, (self.via, self.via))[1 if en else 0]
        role = ("staff" if en else "スタッフ") if self.staff else ("user" if en else "利用者")
        return f"{role} {self.who} ({via})"

    def summary(self, lang: str = "ja") -> str:
        """What happened, in one line (reason, from → to, before → after)."""
        en = lang.startswith("en")
        d = self.details
        parts: list[str] = []
        if self.action == "cancelled" and d.get("reason"):
            parts.append(("reason: " if en else "理由: ") + str(d["reason"]))
        if self.action == "moved":
            parts.append(f"{d.get('from', '?')} → {d.get('to', '?')}")
            if d.get("status") == "waitlisted":
                parts.append("to the waitlist" if en else "キャンセル待ちへ")
        if self.action == "promoted":
            if d.get("auto"):
                parts.append("a seat was freed" if en else "空席による自動繰上げ")
            else:
                parts.append("by hand" if en else "手動")
        if self.action == "edited":
            before, after = d.get("before", {}), d.get("after", {})
            for key in after:
                ja, en_label = FIELDS.get(key, (key, key))
                parts.append(f"{en_label if en else ja}: {before.get(key, '')!r} → {after[key]!r}")
        if self.action in ("registered", "waitlisted") and d.get("source"):
            parts.append(("via " if en else "経路: ") + str(d["source"]))
        if self.action == "imported" and d.get("file"):
            parts.append(str(d["file"]))
        if self.action == "teams_formed" and d.get("sizes") is not None:
            parts.append("+".join(str(n) for n in d["sizes"]) or "0")
        if self.action == "team_moved" and d.get("team") is not None:
            parts.append(f"to team {d['team']}" if en else f"チーム{d['team']}へ")
        if self.action == "forgotten" and d.get("registrations") is not None:
            parts.append(f"{d['registrations']} registration(s)" if en
                         else f"申込{d['registrations']}件")
        if d.get("redacted"):
            parts.append("details deleted" if en else "詳細は削除済み")
        return "; ".join(parts)


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def record(db: Any, actor: Actor, action: str, *, now: dt.datetime,
           session_id: str | None = None, registration_id: int | None = None,
           details: dict[str, Any] | None = None) -> int:
    """Write one entry on `db`, which must be inside the change's write transaction
    (`Store.write()`): the entry commits or rolls back with the change."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.record runs inside the write transaction of the change")
    cur = db.execute(
        "insert into audit_log (at, who, via, staff, action, session_id, registration_id, "
        "details) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [_stamp(now), actor.who, actor.via, int(actor.staff), action, session_id,
         registration_id, json.dumps(details or {}, ensure_ascii=False, sort_keys=True)])
    return int(cur.lastrowid or 0)


def _entries(store: Store, where: str, params: list[Any], limit: int | None) -> list[Entry]:
    sql = f"select * from audit_log where {where} order by id desc"
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [Entry.from_row(r) for r in store.query(sql, params)]


def for_registration(store: Store, registration_id: int, *,
                     limit: int | None = None) -> list[Entry]:
    """One registration's history, newest first."""
    return _entries(store, "registration_id = ?", [registration_id], limit)


def for_session(store: Store, session_id: str, *, limit: int | None = 200) -> list[Entry]:
    """A session's history (moves into it included), newest first."""
    return _entries(
        store, "session_id = ? or (action = 'moved' and json_extract(details, '$.to') = ?)",
        [session_id, session_id], limit)


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
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"update audit_log set details = ? where registration_id in ({marks})",
                   [redacted, *chunk])
    db.execute("update audit_log set who = ? where who = ? and staff = 0",
               [DELETED_USER, str(user_id)])
