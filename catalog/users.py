"""A chat user's remembered profile, language and calendar token."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from catalog.eligibility import Profile
from catalog.store import Store


@dataclass(frozen=True)
class User:
    user_id: int
    lang: str | None
    org_type: str | None
    contractor: bool
    dispatched: bool
    student: bool
    prefecture_code: int | None
    calendar_token: str | None

    @property
    def profile(self) -> Profile | None:
        """The eligibility profile, or None until the organisation type is known."""
        if not self.org_type:
            return None
        return Profile(self.org_type, self.contractor, self.dispatched, self.student)


def _user(row: dict[str, Any]) -> User:
    return User(
        row["user_id"],
        row["lang"],
        row["org_type"],
        bool(row["contractor"]),
        bool(row["dispatched"]),
        bool(row["student"]),
        row["prefecture_code"],
        row["calendar_token"],
    )


def get_user(store: Store, user_id: int) -> User | None:
    row = store.one("select * from users where user_id = ?", [user_id])
    return None if row is None else _user(row)


def get_user_and_blocked(store: Store, user_id: int) -> tuple[User | None, bool]:
    """`get_user`, and whether the user is recorded as having blocked the bot
    (catalog.reminders.is_blocked), in one query: the chat asks both for every update."""
    row = store.one(
        "select b.user_id is not null as blocked_bot, u.* from (select ? as id) k "
        "left join users u on u.user_id = k.id left join blocked_chats b on b.user_id = k.id",
        [user_id],
    )
    assert row is not None
    return (None if row["user_id"] is None else _user(row)), bool(row["blocked_bot"])


def save_user(store: Store, user_id: int, now: dt.datetime, **fields: object) -> User:
    """Create or update a user's row with the given fields (lang, org_type, flags, prefecture)."""
    allowed = {"lang", "org_type", "contractor", "dispatched", "student", "prefecture_code"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown user fields: {sorted(unknown)}")
    stamp = now.isoformat(timespec="seconds")
    values = {k: (int(v) if isinstance(v, bool) else v) for k, v in fields.items()}
    row = {
        "user_id": user_id,
        "contractor": 0,
        "dispatched": 0,
        "student": 0,
        "created_at": stamp,
        "updated_at": stamp,
        **values,
    }
    # a new row gets the defaults; an existing one only the given fields (and updated_at)
    on_conflict = (
        "do update set " + ", ".join(f"{k} = excluded.{k}" for k in [*values, "updated_at"])
        if values
        else "do nothing"
    )
    with store.write() as db:
        db.execute(
            f"insert into users ({', '.join(row)}) values ({', '.join('?' * len(row))}) "
            f"on conflict (user_id) {on_conflict}",
            list(row.values()),
        )
    user = get_user(store, user_id)
    assert user is not None
    return user


def issue_calendar_token(store: Store, user_id: int, now: dt.datetime) -> str:
    """A new random feed token (256 bits) for the user; any older token stops working."""
    token = secrets.token_urlsafe(32)
    with store.write() as db:  # one transaction: the user's row and its token
        save_user(store, user_id, now)
        db.table("users").update(user_id, {"calendar_token": token})
    return token


def revoke_calendar_token(store: Store, user_id: int) -> None:
    with store.write() as db:
        db.execute("update users set calendar_token = null where user_id = ?", [user_id])


def user_by_token(store: Store, token: str) -> User | None:
    """The user whose feed token this is, or None (also for empty or malformed tokens)."""
    if not token or len(token) > 128:
        return None
    row = store.one("select user_id from users where calendar_token = ?", [token])
    return get_user(store, row["user_id"]) if row else None
