"""Who is due a reminder (pinned clock), at-most-once claims, blocked chats."""

from __future__ import annotations

import datetime as dt

import pytest

from catalog import reminders
from catalog.clock import JST
from catalog.registrations import Applicant, cancel, register
from catalog.users import save_user
from tests.util_catalog import make_catalog

SESSION = "2024-A-13-0709"  # first day 2024-07-09
TODAY = dt.date(2024, 7, 8)
NOW = dt.datetime(2024, 7, 8, 9, 30, tzinfo=JST)
EARLY = dt.date(2024, 6, 1)
EARLY_NOW = dt.datetime(2024, 6, 1, 10, 0, tzinfo=JST)


def person(name: str, org: str = "横浜市") -> Applicant:
    return Applicant(name=name, organisation=org, org_type="local")


def reg(catalog, name, user_id=None, session=SESSION, org="横浜市", **kw):
    return register(
        catalog, session, [person(name, org)], today=EARLY, now=EARLY_NOW, user_id=user_id, **kw
    ).registrations[0]


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "cyder.db")


def test_due_lists_registered_chat_users_of_sessions_starting_tomorrow(catalog):
    a = reg(catalog, "山田 太郎", user_id=101)
    reg(catalog, "電話 受付")  # no chat user: nobody to message
    save_user(catalog.store, 102, EARLY_NOW, lang="en")
    b = reg(catalog, "Jane Doe", user_id=102)
    due = reminders.due_reminders(catalog, TODAY)
    assert [(s.id, [(r.user_id, r.registration_id, r.lang) for r in people]) for s, people in due] == [
        (SESSION, [(101, a.id, "ja"), (102, b.id, "en")])
    ]


def test_not_due_on_other_days_or_for_cancelled_and_waitlisted(catalog):
    r = reg(catalog, "山田 太郎", user_id=101)
    assert reminders.due_reminders(catalog, TODAY - dt.timedelta(days=1)) == []
    assert reminders.due_reminders(catalog, TODAY + dt.timedelta(days=1)) == []
    cancel(catalog, r.id, today=EARLY, now=EARLY_NOW, user_id=101)
    assert reminders.due_reminders(catalog, TODAY) == []


def test_waitlisted_people_are_not_reminded(catalog):
    session = catalog.session(SESSION)
    for i in range(session.capacity):
        reg(catalog, f"参加者{i}", org=f"組織{i}")
    assert reg(catalog, "待ち 花子", user_id=201, waitlist=True).status == "waitlisted"
    reg_user = reg(catalog, "待ち 次郎", user_id=202, waitlist=True)
    assert reg_user.status == "waitlisted"
    assert reminders.due_reminders(catalog, TODAY) == []


def test_claim_is_at_most_once_and_survives_reopening(catalog, tmp_path):
    reg(catalog, "山田 太郎", user_id=101)
    ((_, [who]),) = reminders.due_reminders(catalog, TODAY)
    assert reminders.claim(catalog, who, NOW) is True
    assert reminders.claim(catalog, who, NOW) is False
    reminders.mark(catalog, who, "sent", NOW)
    reopened = make_catalog(tmp_path / "cyder.db")  # a restart
    assert reminders.due_reminders(reopened, TODAY) == []
    assert reminders.claim(reopened, who, NOW) is False
    assert reminders.notification_results(reopened, SESSION) == {who.registration_id: "sent"}


def test_reregistering_after_a_reminder_does_not_remind_again(catalog):
    r = reg(catalog, "山田 太郎", user_id=101)
    ((_, [who]),) = reminders.due_reminders(catalog, TODAY)
    reminders.claim(catalog, who, NOW)
    cancel(catalog, r.id, today=EARLY, now=EARLY_NOW, user_id=101)
    reg(catalog, "山田 太郎", user_id=101)
    assert reminders.due_reminders(catalog, TODAY) == []


def test_blocked_chats_are_skipped_until_unblocked(catalog):
    reg(catalog, "山田 太郎", user_id=101)
    reg(catalog, "鈴木 一郎", user_id=102)
    reminders.block_chat(catalog.store, 101, NOW)
    reminders.block_chat(catalog.store, 101, NOW)  # idempotent
    assert reminders.blocked_chats(catalog.store) == {101}
    assert reminders.is_blocked(catalog.store, 101)
    assert [r.user_id for r in reminders.recipients(catalog, SESSION)] == [102]
    assert reminders.unblock_chat(catalog.store, 101) is True
    assert reminders.unblock_chat(catalog.store, 101) is False
    assert [r.user_id for r in reminders.recipients(catalog, SESSION)] == [101, 102]


def test_a_representative_with_colleagues_gets_one_message(catalog):
    team = [person(n, "川崎市") for n in ("甲", "乙", "丙")]
    register(catalog, SESSION, team, today=EARLY, now=EARLY_NOW, user_id=300)
    assert [r.user_id for r in reminders.recipients(catalog, SESSION)] == [300]
