"""The SQLite store: one file in WAL mode, schema by sqlite-utils migrations.

Each thread gets its own connection (sqlite3 connections must not be shared
across threads), so slow work can move off the event loop with
``asyncio.to_thread`` and still use the same `Store`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from catalog.errors import InvalidInput
from catalog.i18n import gettext_lazy as _l

log = logging.getLogger("cyder.store")

T = TypeVar("T")

migrations = Migrations("cyder")


@migrations()
def m001_catalog(db: Database) -> None:
    db.table("years").create(
        {
            "fiscal_year": int,
            "label_ja": str,
            "label_en": str,
            "source": str,
            "apply_url": str,
            "contact": str,
            "seats": int,
            "deadline_business_days": int,
            "nearly_full_threshold": int,
            "defaults_source": str,
            "fees_source": str,
            "file_hash": str,
            "loaded_at": str,
        },
        pk="fiscal_year",
    )
    db.table("courses").create(
        {
            "fiscal_year": int,
            "code": str,
            "position": int,
            "name_ja": str,
            "name_en": str,
            "format": str,
            "days": int,
            "level_ja": str,
            "level_en": str,
            "audience_ja": str,
            "audience_en": str,
            "learn_ja": str,
            "learn_en": str,
            "organisations_ja": str,
            "organisations_en": str,
            "where_ja": str,
            "where_en": str,
            "period_ja": str,
            "period_en": str,
            "note_ja": str,
            "note_en": str,
            "allowed": str,
            "fee_yen": int,
            "declared_total": int,
        },
        pk=("fiscal_year", "code"),
        not_null={"code", "fiscal_year"},
    )
    db.table("org_types").create(
        {
            "code": str,
            "position": int,
            "name_ja": str,
            "name_en": str,
            "public": int,
            "local": int,
            "fee": str,
        },
        pk="code",
    )
    db.table("modifiers").create(
        {"flag": str, "position": int, "effect": str, "reason_ja": str, "reason_en": str},
        pk="flag",
    )
    db.table("online_windows").create(
        {
            "fiscal_year": int,
            "name": str,
            "label_ja": str,
            "label_en": str,
            "first": str,
            "last": str,
        },
        pk=("fiscal_year", "name"),
    )
    db.table("sessions").create(
        {
            "id": str,
            "fiscal_year": int,
            "course": str,
            "region": str,
            "prefecture_code": int,
            "prefecture": str,
            "city": str,
            "lat": float,
            "lon": float,
            "first_day": str,
            "last_day": str,
            "start_time": str,
            "end_time": str,
            "venue": str,
            "address": str,
            "capacity": int,
            "status": str,
            "revision": int,
            "updated_at": str,
        },
        pk="id",
        not_null={"fiscal_year", "course", "prefecture_code", "first_day", "last_day"},
        defaults={"status": "scheduled", "revision": 0},
    )
    db.table("sessions").create_index(["first_day"])
    db.table("sessions").create_index(["course", "first_day"])
    db.table("sessions").create_index(["prefecture_code", "first_day"])
    db.table("sessions").create_index(["region", "first_day"])

    db.table("users").create(
        {
            "user_id": int,
            "lang": str,
            "org_type": str,
            "contractor": int,
            "dispatched": int,
            "student": int,
            "prefecture_code": int,
            "calendar_token": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="user_id",
    )
    db.table("users").create_index(["calendar_token"], unique=True)

    db.table("registrations").create(
        {
            "id": int,
            "session_id": str,
            "user_id": int,
            "application_id": str,
            "name": str,
            "organisation": str,
            "org_type": str,
            "department": str,
            "email": str,
            "prefecture": str,
            "contractor": int,
            "dispatched": int,
            "team_key": str,
            "status": str,
            "source": str,
            "created_at": str,
            "updated_at": str,
            "cancelled_at": str,
            "sequence": int,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "name", "status", "created_at"},
        defaults={"sequence": 0, "contractor": 0, "dispatched": 0},
    )
    db.table("registrations").create_index(["session_id", "status", "id"])
    db.table("registrations").create_index(["user_id", "status"])
    db.table("registrations").create_index(["application_id"])


@migrations()
def m002_staff(db: Database) -> None:
    db.table("teams").create(
        {"session_id": str, "registration_id": int, "team": int, "pinned": int},
        pk="registration_id",
        foreign_keys=[
            ("session_id", "sessions", "id"),
            ("registration_id", "registrations", "id"),
        ],
        defaults={"pinned": 0},
    )
    db.table("teams").create_index(["session_id", "team"])
    db.table("notifications").create(
        {"kind": str, "session_id": str, "registration_id": int, "sent_at": str, "result": str},
        pk=("kind", "session_id", "registration_id"),
    )
    db.table("blocked_chats").create({"user_id": int, "blocked_at": str}, pk="user_id")


# Tables whose changes make cached views of the catalog (sessions with seat counts,
# rules, feeds) stale. Users' profiles are not among them: saving one costs no rebuild.
STATIC_TABLES = ("years", "courses", "org_types", "modifiers", "online_windows")
COUNTED_TABLES = (*STATIC_TABLES, "sessions", "registrations")


@migrations()
def m003_change_counter(db: Database) -> None:
    db.execute("create table catalog_changes (id integer primary key check (id = 1), n integer not null)")
    db.execute("insert into catalog_changes (id, n) values (1, 0)")
    for table in COUNTED_TABLES:
        for op in ("insert", "update", "delete"):
            db.execute(
                f"create trigger count_{table}_{op} after {op} on {table} "
                "begin update catalog_changes set n = n + 1 where id = 1; end"
            )


@migrations()
def m004_change_counter_parts(db: Database) -> None:
    """The counter's parts: rules, courses and year settings change rarely and sessions
    when a schedule is loaded, while registrations change all day. Knowing which part
    moved, a cached view rebuilds only that part (after a registration: the seat counts,
    not every session)."""
    db.execute("alter table catalog_changes add column static_n integer not null default 0")
    db.execute("alter table catalog_changes add column sessions_n integer not null default 0")
    for table in (*STATIC_TABLES, "sessions"):
        part = "sessions_n" if table == "sessions" else "static_n"
        for op in ("insert", "update", "delete"):
            db.execute(f"drop trigger count_{table}_{op}")
            db.execute(
                f"create trigger count_{table}_{op} after {op} on {table} "
                f"begin update catalog_changes set n = n + 1, {part} = {part} + 1 "
                "where id = 1; end"
            )


@migrations()
def m005_admin_sessions(db: Database) -> None:
    """Signed-in admin browsers, kept on the server so that signing out ends the session
    (a signed cookie alone stays valid until it expires). Only a hash of each id is kept."""
    db.table("admin_sessions").create(
        {"sid_hash": str, "created_at": str, "expires_at": str, "revoked_at": str},
        pk="sid_hash",
    )


@migrations()
def m006_window_revisions(db: Database) -> None:
    """プレCYDER windows get a revision (their calendar SEQUENCE) and an update time, as
    sessions have, so `db load` can raise SEQUENCE when a window's dates change."""
    db.execute("alter table online_windows add column revision integer not null default 0")
    db.execute("alter table online_windows add column updated_at text")


@migrations()
def m007_fsm_state(db: Database) -> None:
    """The chat dialogues' state (aiogram's FSM), so a restart mid-dialogue goes on where
    the user was: one row per dialogue key, its state, its data as JSON, and when it last
    changed (ISO text in Asia/Tokyo, so text order is time order; old rows are purged).
    thread_id 0 and business_connection_id '' stand for "none" (NULLs in a primary key
    would not be unique)."""
    db.table("fsm_state").create(
        {
            "bot_id": int,
            "chat_id": int,
            "user_id": int,
            "thread_id": int,
            "business_connection_id": str,
            "destiny": str,
            "state": str,
            "data": str,
            "updated_at": str,
        },
        pk=("bot_id", "chat_id", "user_id", "thread_id", "business_connection_id", "destiny"),
        not_null={
            "bot_id",
            "chat_id",
            "user_id",
            "thread_id",
            "business_connection_id",
            "destiny",
            "data",
            "updated_at",
        },
        defaults={"thread_id": 0, "business_connection_id": "", "destiny": "default", "data": "{}"},
    )
    db.table("fsm_state").create_index(["updated_at"])
    db.table("fsm_state").create_index(["user_id"])


@migrations()
def m008_audit_log(db: Database) -> None:
    """The audit log (`catalog.audit`): who changed which registration, when, how and from
    which interface, written in the transaction of the change (as pretix's log_action).
    No foreign keys: the history outlives a registration that /forget deletes (its details
    are then emptied)."""
    db.table("audit_log").create(
        {
            "id": int,
            "at": str,
            "who": str,
            "via": str,
            "staff": int,
            "action": str,
            "session_id": str,
            "registration_id": int,
            "details": str,
        },
        pk="id",
        not_null={"at", "who", "via", "action"},
        defaults={"staff": 0, "details": "{}"},
    )
    db.table("audit_log").create_index(["registration_id", "id"])
    db.table("audit_log").create_index(["session_id", "id"])


# How long a connection waits for another writer's lock before SQLITE_BUSY, unless its
# thread chose otherwise (`Store.set_busy_timeout`): the CLI waits patiently, while the
# bot's writer thread (catalog.writer) waits briefly and retries on its own terms.
DEFAULT_BUSY_TIMEOUT = 30.0
WAL_AUTOCHECKPOINT = 1000  # pages: SQLite's default, restored after a write `without_waiting`
CHECKPOINT_EVERY = 200  # writes `without_waiting` between two checkpoints (`Store.checkpoint_if_due`)


def on_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's "database is locked" (another connection holds the lock)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


@migrations()
def m009_venue_point(db: Database) -> None:
    """A venue's own coordinates, when the schedule gives them (a map in chat, GEO in a
    calendar); `lat`/`lon` stay the venue city's point, which searches measure from."""
    db.execute("alter table sessions add column venue_lat real")
    db.execute("alter table sessions add column venue_lon real")


@migrations()
def m010_notification_outbox(db: Database) -> None:
    """The notification outbox (`catalog.notifications`): one row per message to one
    recipient on one channel, written in the transaction of the change it reports, with
    its delivery state (claim, attempts, backoff, parts sent, the last error's code).
    m002's claim table (reminders, revision:N schedule notices) moves into it."""
    db.execute("alter table notifications rename to notifications_m002")
    db.table("notifications").create(
        {
            "id": int,
            "kind": str,
            "channel": str,
            "registration_id": int,
            "session_id": str,
            "chat_id": int,
            "email": str,
            "payload": str,
            "dedupe": str,
            "result": str,
            "progress": int,
            "attempts": int,
            "created_at": str,
            "sent_at": str,
            "next_attempt_at": str,
            "claimed_by": str,
            "claimed_until": str,
            "last_error": str,
        },
        pk="id",
        not_null={"kind", "channel", "result", "created_at"},
        defaults={"result": "pending", "progress": 0, "attempts": 0, "payload": "{}"},
    )
    db.execute("create unique index notifications_dedupe on notifications (dedupe)")
    db.execute("create index notifications_due on notifications (result, next_attempt_at)")
    db.execute("create index notifications_registration on notifications (registration_id)")
    db.execute("create index notifications_session on notifications (kind, session_id)")
    db.execute(
        "insert into notifications (kind, channel, registration_id, session_id, chat_id, "
        "payload, dedupe, result, attempts, created_at, sent_at) "
        "select case when n.kind like 'revision:%' then 'session_changed' else n.kind end, "
        "'telegram', n.registration_id, n.session_id, r.user_id, "
        "case when n.kind like 'revision:%' "
        "  then json_object('revision', cast(substr(n.kind, 10) as integer)) else '{}' end, "
        "case when n.kind like 'revision:%' "
        "  then 'session_changed:' || n.registration_id || ':' || substr(n.kind, 10) "
        "  else n.kind || ':' || n.session_id || ':' || n.registration_id end, "
        "case when n.result in ('sent', 'blocked', 'failed') then n.result else 'sending' end, "
        "1, coalesce(n.sent_at, ''), n.sent_at "
        "from notifications_m002 n left join registrations r on r.id = n.registration_id"
    )
    db.execute("drop table notifications_m002")


class Store:
    """The catalog database. Open with `Store.open(path)`; schema is migrated on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._version = 0
        self._version_lock = threading.Lock()
        self.last_hold = 0.0  # seconds the last write transaction held the write lock
        # A write transaction begun on an event loop's thread would freeze the loop while
        # another process holds the lock (unless begun `without_waiting`): "allow" (the
        # CLI, most tests), "warn" (the bot: a path that missed `Catalog.write` is
        # logged) or "raise" (tests proving that no path does).
        self.loop_writes = "allow"
        # writes made `without_waiting` (whose connection never checkpoints) between two
        # checkpoints by a thread of the caller's (`checkpoint_if_due`)
        self.checkpoint_every = CHECKPOINT_EVERY
        self._unchecked = 0

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) the database file and bring its schema up to date."""
        store = cls(path)
        if store.path != ":memory:":
            Path(store.path).parent.mkdir(parents=True, exist_ok=True)
        db = store.db
        db.execute("PRAGMA journal_mode=WAL")
        migrations.apply(db)
        return store

    def _connect(self) -> Database:
        timeout = getattr(self._local, "busy_timeout", DEFAULT_BUSY_TIMEOUT)
        conn = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False)
        conn.row_factory = None
        db = Database(conn, execute_plugins=False)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @property
    def db(self) -> Database:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def set_busy_timeout(self, ms: int) -> None:
        """How long this thread's connection waits for another writer's lock before
        "database is locked" (30 s unless set; see `is_busy`): a worker thread that must
        not queue up behind a long staff write sets it short and retries on its own terms."""
        self._local.busy_timeout = ms / 1000  # also for a connection opened later
        self.db.execute(f"PRAGMA busy_timeout={int(ms)}")

    def without_waiting(self, call: Callable[[], T]) -> T:
        """`call()` (one write transaction) on this thread's connection such that no
        SQLite call in it can wait: no busy wait (a lock held by another connection is
        "database is locked" at once, see `is_busy`, with nothing written) and no
        checkpoint at commit (it would write the database file and sync it). The event
        loop may write this way (`loop_writes` lets it); the checkpoints are left to
        the connections of other threads (`checkpoint`)."""
        if getattr(self._local, "no_wait", False):  # inside one already: as it is
            return call()
        conn = self.db.conn
        waits = int(getattr(self._local, "busy_timeout", DEFAULT_BUSY_TIMEOUT) * 1000)
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._local.no_wait = True
        try:
            result = call()
        finally:
            self._local.no_wait = False
            conn.execute(f"PRAGMA busy_timeout={waits}")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        with self._version_lock:
            self._unchecked += 1
        return result

    def checkpoint_if_due(self, executor: concurrent.futures.Executor) -> None:
        """After a write `without_waiting`: once `checkpoint_every` of them have been made
        since the last one, a `checkpoint` on `executor` (a thread of the caller's; not
        waited for: nobody needs it done)."""
        with self._version_lock:
            if self._unchecked < self.checkpoint_every:
                return
            self._unchecked = 0
        executor.submit(self._checkpoint_quietly)

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the database file as far as readers
        allow (PASSIVE: waits for nobody); for writes made `without_waiting`."""
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpoint_quietly(self) -> None:
        try:
            self.checkpoint()
        except Exception as e:  # noqa: BLE001 - a later one will do (SQLite checkpoints too)
            log.info("checkpoint skipped: %s", type(e).__name__)

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextlib.contextmanager
    def write(self, *, bump: bool = True) -> Iterator[Database]:
        """A write transaction that takes SQLite's write lock up front (BEGIN IMMEDIATE).

        "Check seats, then insert" must run inside one of these, so that two
        writers can never both see the last free seat. `bump=False` for tables no
        cached view reads (the dialogue state), so caches are not marked stale.
        """
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        if self.loop_writes != "allow" and not getattr(self._local, "no_wait", False) and on_event_loop():
            if self.loop_writes == "raise":
                raise RuntimeError("a write transaction on the event loop (use Catalog.write)")
            log.warning("a write transaction on the event loop (use Catalog.write)", stack_info=True)
        db.conn.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        try:
            yield db
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        finally:
            self.last_hold = time.monotonic() - locked_at
        if bump:
            self.bump()

    def bump(self) -> None:
        """Mark cached views stale (called after every write transaction)."""
        with self._version_lock:
            self._version += 1

    @property
    def version(self) -> int:
        return self._version

    def catalog_version(self) -> int:
        """A counter that rises with every change to the catalog's tables, from any
        process (kept by triggers); cheap enough to read before every cached lookup."""
        return self.change_marks()[0]

    def change_marks(self) -> tuple[int, int, int]:
        """(all changes, changes to the static tables, changes to sessions), each kept by
        triggers: what changed since a view was built, with registrations being the rest."""
        row = self.db.execute("select n, static_n, sessions_n from catalog_changes where id = 1").fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return list(self.db.query(sql, params))

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def backup(self, dest: str | Path) -> None:
        """SQLite's online backup API: a consistent copy, safe while the bot writes.

        InvalidInput (one line, the file untouched) when `dest` cannot be written."""
        dest = Path(dest)
        if not dest.parent.is_dir():
            raise InvalidInput(_l("{dest}: no such folder {folder}", dest=dest, folder=dest.parent))
        if dest.resolve() == Path(self.path).resolve():
            raise InvalidInput(_l("{dest}: that is the database itself", dest=dest))
        try:
            target = sqlite3.connect(str(dest))
        except sqlite3.Error as e:
            raise InvalidInput(_l("{dest}: cannot write the backup ({reason})", dest=dest, reason=e)) from e
        try:
            self.db.conn.backup(target)
        finally:
            target.close()
