"""The chat dialogues' state, kept in the `fsm_state` table so a restart mid-dialogue
goes on where the user was (issue 9 §3).

One row per dialogue key (bot, chat, user, forum thread, business connection and
destiny: the fields of aiogram's `StorageKey`, which any object with those attributes
may stand for; nothing here imports aiogram). A row holds the state's name, the
dialogue's data as JSON text and when it last changed. Rows older than `TTL` count as
gone and `purge` deletes them, so the table stays bounded.

These functions block on SQLite: the chat calls them in a worker thread
(bot/telegram/fsm_storage.py), never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from catalog.clock import JST
from catalog.store import Store

TTL = dt.timedelta(days=1)
DEFAULT_DESTINY = "default"

_KEY_COLUMNS = ("bot_id", "chat_id", "user_id", "thread_id", "business_connection_id", "destiny")
_WHERE_KEY = " and ".join(f"{c} = ?" for c in _KEY_COLUMNS)


class KeyLike(Protocol):
    """What names one dialogue: aiogram's StorageKey has exactly these attributes."""

    @property
    def bot_id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def thread_id(self) -> int | None: ...
    @property
    def business_connection_id(self) -> str | None: ...
    @property
    def destiny(self) -> str: ...


@dataclass(frozen=True)
class FsmKey:
    """A dialogue key read back from the table (the same fields as aiogram's StorageKey)."""

    bot_id: int
    chat_id: int
    user_id: int
    thread_id: int | None = None
    business_connection_id: str | None = None
    destiny: str = DEFAULT_DESTINY


@dataclass(frozen=True)
class FsmRecord:
    """One dialogue's state name (None: no state), its data as JSON text, and when it changed."""

    state: str | None
    data: str
    updated_at: dt.datetime

    def expired(self, now: dt.datetime, ttl: dt.timedelta = TTL) -> bool:
        return now - self.updated_at > ttl

    @property
    def empty(self) -> bool:
        """No state and no data: the same as no row at all."""
        return self.state is None and self.data == "{}"


def encode_data(data: Mapping[str, Any]) -> str:
    """The dialogue data as JSON text (raises TypeError for values JSON cannot carry, so
    a handler learns at once what would not survive a restart)."""
    return json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_data(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _stamp(now: dt.datetime) -> str:
    # one offset for every row, so that comparing the text compares the times
    return now.astimezone(JST).isoformat(timespec="microseconds")


def _values(key: KeyLike) -> list[Any]:
    return [
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    ]


def _record(row: Mapping[str, Any]) -> FsmRecord:
    return FsmRecord(row["state"], row["data"], dt.datetime.fromisoformat(row["updated_at"]))


def get(store: Store, key: KeyLike, *, now: dt.datetime, ttl: dt.timedelta = TTL) -> FsmRecord | None:
    """The dialogue's record, or None when there is none or it is older than `ttl`."""
    row = store.one(f"select state, data, updated_at from fsm_state where {_WHERE_KEY}", _values(key))
    if row is None:
        return None
    record = _record(row)
    return None if record.expired(now, ttl) else record


def load(store: Store, *, now: dt.datetime, ttl: dt.timedelta = TTL) -> dict[FsmKey, FsmRecord]:
    """Every dialogue changed within `ttl` (what a starting bot carries on with)."""
    out = {}
    for row in store.query("select * from fsm_state where updated_at >= ?", [_stamp(now - ttl)]):
        key = FsmKey(
            row["bot_id"],
            row["chat_id"],
            row["user_id"],
            row["thread_id"] or None,
            row["business_connection_id"] or None,
            row["destiny"],
        )
        out[key] = _record(row)
    return out


def save(store: Store, changes: Iterable[tuple[KeyLike, FsmRecord | None]]) -> int:
    """Write dialogues in one transaction: a record replaces the row, None (or an empty
    record) deletes it. Returns how many were written."""
    n = 0
    with store.write(bump=False) as db:
        for key, record in changes:
            values = _values(key)
            if record is None or record.empty:
                db.execute(f"delete from fsm_state where {_WHERE_KEY}", values)
            else:
                db.execute(
                    f"insert into fsm_state ({', '.join(_KEY_COLUMNS)}, state, data, updated_at) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    f"on conflict ({', '.join(_KEY_COLUMNS)}) do update set "
                    "state = excluded.state, data = excluded.data, updated_at = excluded.updated_at",
                    [*values, record.state, record.data, _stamp(record.updated_at)],
                )
            n += 1
    return n


def set_state(
    store: Store, key: KeyLike, state: str | None, data: Mapping[str, Any], *, now: dt.datetime
) -> None:
    """Keep one dialogue's state and data (both None/empty: the row goes)."""
    save(store, [(key, FsmRecord(state, encode_data(data), now))])


def clear(store: Store, key: KeyLike) -> None:
    save(store, [(key, None)])


def purge(store: Store, *, now: dt.datetime, ttl: dt.timedelta = TTL) -> int:
    """Delete the dialogues unchanged for longer than `ttl`; returns how many."""
    with store.write(bump=False) as db:
        cursor = db.execute("delete from fsm_state where updated_at < ?", [_stamp(now - ttl)])
        return int(cursor.rowcount)


def forget_user(store: Store, user_id: int) -> int:
    """Delete every dialogue of this user (their typed name and e-mail are in the data)."""
    with store.write(bump=False) as db:
        return int(db.execute("delete from fsm_state where user_id = ?", [user_id]).rowcount)
