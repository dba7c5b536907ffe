"""Admin sign-in sessions on the server: start, expire, revoke, list; only hashes stored."""

from __future__ import annotations

import datetime as dt

from catalog import admin_sessions
from catalog.clock import JST
from catalog.store import Store

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=JST)
DAY = dt.timedelta(hours=12)


def test_a_session_lives_until_it_expires_or_is_revoked(tmp_path):
    store = Store.open(tmp_path / "a.db")
    sid = admin_sessions.start(store, NOW, DAY)
    assert admin_sessions.is_active(store, sid, NOW + dt.timedelta(hours=11))
    assert not admin_sessions.is_active(store, sid, NOW + dt.timedelta(hours=12, seconds=1))
    other = admin_sessions.start(store, NOW, DAY)
    admin_sessions.revoke(store, sid, NOW)
    assert not admin_sessions.is_active(store, sid, NOW)
    assert admin_sessions.is_active(store, other, NOW)
    assert [s.key for s in admin_sessions.active(store, NOW)] == [admin_sessions.key_of(other)]
    assert not admin_sessions.is_active(store, "made-up", NOW)


def test_the_database_holds_no_usable_id(tmp_path):
    store = Store.open(tmp_path / "a.db")
    sid = admin_sessions.start(store, NOW, DAY)
    dump = "\n".join(store.db.iterdump())
    assert sid not in dump


def test_revoking_by_a_short_or_empty_key_ends_nothing(tmp_path):
    store = Store.open(tmp_path / "a.db")
    sid = admin_sessions.start(store, NOW, DAY)
    assert admin_sessions.revoke_key(store, "", NOW) == 0
    assert admin_sessions.revoke_key(store, "ab", NOW) == 0
    assert admin_sessions.revoke_key(store, "%" * 12, NOW) == 0
    assert admin_sessions.is_active(store, sid, NOW)
    assert admin_sessions.revoke_key(store, admin_sessions.key_of(sid), NOW) == 1
    assert not admin_sessions.is_active(store, sid, NOW)
