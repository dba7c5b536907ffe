"""A chat user's remembered profile, language and calendar token."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

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


def get_user(store: Store, user_id: int) -> User | None:
    row = store.one("select * from users where user_id = ?", [user_id])
    if row is None:
        return None
    return User(row["user_id"], row["lang"], row["org_type"], bool(row["contractor"]),
                bool(row["dispatched"]), bool(row["student"]), row["prefecture_code"],
                row["calendar_token"])


def save_user(store: Store, user_id: int, now: dt.datetime, **fields: object) -> User:
    """Create or update a user's row with the given fields (lang, org_type, flags, prefecture)."""
    allowed = {"lang", "org_type", "contractor", "dispatched", "student", "prefecture_code"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown user fields: {sorted(unknown)}")
    stamp = now.isoformat(timespec="seconds")
    values = {k: (int(v) if isinstance(v, bool) else v) for k, v in fields.items()}
    with store.write() as db:
        if db.table("users").count_where("user_id = ?", [user_id]):
            if values:
                db.table("users").update(user_id, dict(values, updated_at=stamp))
        else:
            base = {"user_id": user_id, "contractor": 0, "dispatched": 0, "student": 0,
                    "created_at": stamp, "updated_at": stamp}
            db.table("users").insert(dict(base, **values), pk="user_id")
    user = get_user(store, user_id)
    assert user is not None
    return user


def issue_calendar_token(store: Store, user_id: int, now: dt.datetime) -> str:
    """A new random feed token (256 bits) for the user; any older token stops working."""
    save_user(store, user_id, now)
    token = secrets.token_urlsafe(32)
    with store.write() as db:
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
