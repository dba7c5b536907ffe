"""Signed-in sessions of the admin page, on the server: revocable, listed, expiring.

The browser holds a random id (in a signed cookie); the database holds its SHA-256 only,
so a copy of the database signs nobody in."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from catalog.store import Store


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AdminSession:
    key: str  # the first characters of the hash: enough to tell sessions apart in a list
    created_at: dt.datetime
    expires_at: dt.datetime


def start(store: Store, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new signed-in session; returns the id to give the browser."""
    sid = secrets.token_urlsafe(24)
    with store.write() as db:
        db.table("admin_sessions").insert(
            {
                "sid_hash": _hash(sid),
                "created_at": now.isoformat(),
                "expires_at": (now + lifetime).isoformat(),
                "revoked_at": None,
            }
        )
        # expired rows are of no use to anyone: keep the table small
        db.execute(
            "delete from admin_sessions where expires_at < ?", [(now - dt.timedelta(days=30)).isoformat()]
        )
    return sid


def is_active(store: Store, sid: str, now: dt.datetime) -> bool:
    row = store.one("select expires_at, revoked_at from admin_sessions where sid_hash = ?", [_hash(sid)])
    return bool(row and row["revoked_at"] is None and dt.datetime.fromisoformat(row["expires_at"]) > now)


def revoke(store: Store, sid: str, now: dt.datetime) -> None:
    """Sign this session out (its cookie no longer opens anything)."""
    with store.write() as db:
        db.execute(
            "update admin_sessions set revoked_at = ? where sid_hash = ? and revoked_at is null",
            [now.isoformat(), _hash(sid)],
        )


def revoke_key(store: Store, key: str, now: dt.datetime) -> int:
    """Sign out the session listed under `key` (from `active`); how many were ended."""
    if not re.fullmatch(r"[0-9a-f]{12}", key or ""):
        return 0  # a forged key ("%%%%...") must not match every session
    with store.write() as db:
        cur = db.execute(
            "update admin_sessions set revoked_at = ? where sid_hash like ? and revoked_at is null",
            [now.isoformat(), key + "%"],
        )
        return cur.rowcount


def active(store: Store, now: dt.datetime) -> list[AdminSession]:
    """The sessions that are signed in now, newest first."""
    rows = store.query(
        "select sid_hash, created_at, expires_at from admin_sessions "
        "where revoked_at is null and expires_at > ? order by created_at desc",
        [now.isoformat()],
    )
    return [
        AdminSession(
            r["sid_hash"][:12],
            dt.datetime.fromisoformat(r["created_at"]),
            dt.datetime.fromisoformat(r["expires_at"]),
        )
        for r in rows
    ]


def key_of(sid: str) -> str:
    return _hash(sid)[:12]
