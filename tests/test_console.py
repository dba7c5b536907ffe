"""The staff console in catalog/: search, cancel with a reason, move, promote by hand, edit,
and the audit entries each writes in its own transaction."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from icalendar import Calendar

from bot.telegram.i18n import say
from catalog import audit, console
from catalog import calendar as ics
from catalog.audit import Actor
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.imports import HEADER
from catalog.registrations import Applicant, RegistrationError, get_registration, register
from tests.util_catalog import NOW

TOKYO = "2024-A-13-0709"
HIROSHIMA = "2024-A-34-1025"
B1 = "2024-B-1-13-1009"
B2 = "2024-B-2-13-0115"
TODAY = NOW.date()
STAFF = Actor.admin_web("ab12cd34")


def person(name, org="広島市", kind="local", email="", **kw):
    return Applicant(name, org, kind, email=email, **kw)


def add(catalog, session, *people, waitlist=False, user_id=None):
    out = register(catalog, session, list(people), today=TODAY, now=NOW, waitlist=waitlist, user_id=user_id)
    return out.registrations


def set_capacity(catalog, session, n):
    catalog.store.db.execute("update sessions set capacity = ? where id = ?", [n, session])
    catalog.store.db.conn.commit()


def entries(catalog):
    return [audit.Entry.from_row(r) for r in catalog.store.query("select * from audit_log order by id")]


def ics_event(file):
    cal = Calendar.from_ical(file.data)
    return cal, next(c for c in cal.walk("VEVENT"))


# -- search ----------------------------------------------------------------------------------


def test_search_by_name_organisation_or_email_across_sessions(catalog):
    (a,) = add(catalog, TOKYO, person("山田 太郎", "横浜市", email="Taro.Yamada@city.yokohama.lg.jp"))
    (b,) = add(catalog, HIROSHIMA, person("山田 花子", "広島市", email="hanako@city.hiroshima.lg.jp"))
    (c,) = add(catalog, HIROSHIMA, person("佐藤 一郎", "呉市", email="ichiro@city.kure.lg.jp"))
    ids = lambda found: [r.id for r in found]  # noqa: E731
    assert ids(console.search(catalog, "山田")) == [a.id, b.id]  # name, both sessions
    assert ids(console.search(catalog, "山田太郎")) == [a.id]  # spaces in names ignored
    assert ids(console.search(catalog, "呉市")) == [c.id]  # organisation
    assert ids(console.search(catalog, "TARO.yamada")) == [a.id]  # e-mail, any case
    assert ids(console.search(catalog, "ｙａｍａｄａ")) == [a.id]  # full-width folded
    assert ids(console.search(catalog, "山田 広島")) == [b.id]  # every word must match
    assert ids(console.search(catalog, f"#{c.id}")) == [c.id]
    assert ids(console.search(catalog, "", session_id=HIROSHIMA)) == [b.id, c.id]
    assert ids(console.search(catalog, "100%_")) == []  # LIKE wildcards are text
    with pytest.raises(NotFound):
        console.search(catalog, "山田", session_id="2024-X-99")


# -- cancel with a reason -------------------------------------------------------------------


def test_cancel_with_reason_frees_the_seat_for_the_waitlist_and_logs_both(catalog):
    set_capacity(catalog, HIROSHIMA, 2)
    first, second = add(catalog, HIROSHIMA, person("甲"), person("乙"))
    (waiting,) = add(catalog, HIROSHIMA, person("丙", "呉市"), waitlist=True)
    assert waiting.status == "waitlisted"

    change = console.staff_cancel(
        catalog, first.id, reason="本人から電話で辞退の連絡", actor=STAFF, today=TODAY, now=NOW
    )
    assert change.after.status == "cancelled" and change.before.status == "registered"
    assert [p.id for p in change.promoted] == [waiting.id]
    assert get_registration(catalog, waiting.id).status == "registered"
    assert catalog.session(HIROSHIMA).registered == 2
    assert [(n.kind, n.registration.id) for n in change.notices] == [
        ("cancelled", first.id),
        ("promoted", waiting.id),
    ]
    assert change.notices[0].reason == "本人から電話で辞退の連絡"

    log = entries(catalog)
    cancelled = [e for e in log if e.action == "cancelled"]
    promoted = [e for e in log if e.action == "promoted"]
    assert len(cancelled) == 1 and cancelled[0].registration_id == first.id
    assert cancelled[0].details == {"reason": "本人から電話で辞退の連絡", "was": "registered"}
    assert (cancelled[0].who, cancelled[0].via, cancelled[0].staff) == (
        "admin-web:ab12cd34",
        "admin-web",
        True,
    )
    assert promoted[0].registration_id == waiting.id and promoted[0].details["auto"] is True
    assert "理由: 本人から電話で辞退の連絡" in say(cancelled[0].summary(), "ja")
    assert [e.action for e in audit.for_registration(catalog.store, first.id)] == ["cancelled"]
    assert {e.registration_id for e in audit.for_session(catalog.store, HIROSHIMA)} == {first.id, waiting.id}


def test_cancel_needs_a_reason_and_a_live_registration(catalog):
    (reg,) = add(catalog, TOKYO, person("甲"))
    for reason in ("", "   ", "x" * 501, "a\x00b"):
        with pytest.raises(InvalidInput):
            console.staff_cancel(catalog, reg.id, reason=reason, actor=STAFF, today=TODAY, now=NOW)
    assert get_registration(catalog, reg.id).status == "registered"
    console.staff_cancel(catalog, reg.id, reason="重複", actor=STAFF, today=TODAY, now=NOW)
    with pytest.raises(RegistrationError) as e:
        console.staff_cancel(catalog, reg.id, reason="重複", actor=STAFF, today=TODAY, now=NOW)
    assert e.value.code == "cancelled"
    with pytest.raises(NotFound):
        console.staff_cancel(catalog, 999, reason="x", actor=STAFF, today=TODAY, now=NOW)
    assert [e.action for e in entries(catalog)] == ["cancelled"]  # refusals leave no entry


def test_a_colleague_is_told_through_the_representative(catalog):
    rep, colleague = add(catalog, TOKYO, person("代表"), person("同行"), user_id=555)
    change = console.staff_cancel(catalog, colleague.id, reason="所属変更", actor=STAFF, today=TODAY, now=NOW)
    notice = change.notices[0]
    assert notice.chat_id == 555 and notice.for_colleague
    assert get_registration(catalog, rep.id).status == "registered"


# -- move ------------------------------------------------------------------------------------


def test_move_keeps_the_id_and_issues_cancel_and_invite_with_their_own_uids(catalog):
    (reg,) = add(catalog, TOKYO, person("山田 太郎", email="taro@example.lg.jp"), user_id=77)
    request_seq = ics.registration_sequence(catalog.session(TOKYO), reg)
    change = console.move(catalog, reg.id, HIROSHIMA, actor=Actor.cli(), today=TODAY, now=NOW)
    after = change.after
    assert after.id == reg.id and after.session_id == HIROSHIMA and after.status == "registered"
    assert catalog.session(TOKYO).registered == 0 and catalog.session(HIROSHIMA).registered == 1

    # the person's old copy is cancelled: old UID, SEQUENCE above the REQUEST they had
    (notice,) = change.notices
    cal, old = ics_event(ics.cancel_file(catalog, notice.old_copy, organizer="o@example.org"))
    assert cal["method"] == "CANCEL" and old["status"] == "CANCELLED"
    assert str(old["uid"]) == ics.registration_uid(TOKYO, reg.id)
    assert int(old["sequence"]) > request_seq
    # ... and the new one invited under the new session's registration UID
    cal, new = ics_event(ics.invite_file(catalog, after, organizer="o@example.org"))
    assert cal["method"] == "REQUEST"
    assert str(new["uid"]) == ics.registration_uid(HIROSHIMA, reg.id)
    # the public event of the session stays a different event from the person's copy
    _, public = ics_event(ics.event_file(catalog, catalog.session(HIROSHIMA)))
    assert str(public["uid"]) == ics.session_uid(HIROSHIMA) != str(new["uid"])
    assert str(new["uid"]) != str(old["uid"])

    assert [(n.kind, n.before.session_id, n.registration.session_id, n.chat_id) for n in change.notices] == [
        ("moved", TOKYO, HIROSHIMA, 77)
    ]
    moved = [e for e in entries(catalog) if e.action == "moved"]
    assert moved[0].details["from"] == TOKYO and moved[0].details["to"] == HIROSHIMA
    assert moved[0].who == "cli" and moved[0].via == "cli"
    for sid in (TOKYO, HIROSHIMA):  # in both sessions' history
        assert [e.action for e in audit.for_session(catalog.store, sid)] == ["moved"]


def test_move_frees_the_old_seat_for_its_waitlist_and_drops_the_team(catalog):
    set_capacity(catalog, TOKYO, 1)
    (reg,) = add(catalog, TOKYO, person("甲"))
    (waiting,) = add(catalog, TOKYO, person("乙", "呉市"), waitlist=True)
    catalog.store.db.execute(
        "insert into teams (session_id, registration_id, team, pinned) values (?, ?, 1, 1)", [TOKYO, reg.id]
    )
    catalog.store.db.conn.commit()
    change = console.move(catalog, reg.id, HIROSHIMA, actor=STAFF, today=TODAY, now=NOW)
    assert [p.id for p in change.promoted] == [waiting.id]
    assert catalog.store.query("select * from teams where registration_id = ?", [reg.id]) == []
    assert [n.kind for n in change.notices] == ["moved", "promoted"]


def test_move_follows_the_rules_of_registering(catalog):
    (local,) = add(catalog, TOKYO, person("地方 職員", "横浜市"))
    (infra,) = add(catalog, TOKYO, person("電力 社員", "東京電力", "infra"))
    refuse = lambda rid, sid, **kw: console.move(  # noqa: E731
        catalog, rid, sid, actor=STAFF, today=kw.pop("today", TODAY), now=NOW, **kw
    )

    with pytest.raises(RegistrationError) as e:  # B-2 is for everyone but local governments
        refuse(local.id, B2)
    assert e.value.code == "not_eligible"
    with pytest.raises(RegistrationError) as e:  # B-1 only for local governments
        refuse(infra.id, B1)
    assert e.value.code == "not_eligible"
    with pytest.raises(RegistrationError) as e:  # past the new session's deadline
        refuse(local.id, HIROSHIMA, today=dt.date(2024, 10, 21))
    assert e.value.code == "closed"
    with pytest.raises(InvalidInput):
        refuse(local.id, TOKYO)
    with pytest.raises(NotFound):
        refuse(local.id, "2024-Z-00-0000")
    add(catalog, HIROSHIMA, person("地方 職員", "横浜市"))  # already there
    with pytest.raises(RegistrationError) as e:
        refuse(local.id, HIROSHIMA)
    assert e.value.code == "duplicate"

    set_capacity(catalog, B1, 1)
    add(catalog, B1, person("満席", "千葉市"))
    with pytest.raises(RegistrationError) as e:
        refuse(local.id, B1)
    assert e.value.code == "full" and "waitlist" in e.value.en
    assert get_registration(catalog, local.id).session_id == TOKYO
    change = refuse(local.id, B1, waitlist=True)
    assert change.after.status == "waitlisted" and change.after.position == 1
    assert [e.action for e in entries(catalog)] == ["moved"]  # the refusals left nothing

    console.staff_cancel(catalog, infra.id, reason="x", actor=STAFF, today=TODAY, now=NOW)
    with pytest.raises(RegistrationError) as e:
        refuse(infra.id, HIROSHIMA)
    assert e.value.code == "cancelled"


def test_moving_back_outranks_the_earlier_cancel(catalog):
    (reg,) = add(catalog, TOKYO, person("甲"), user_id=9)
    first = console.move(catalog, reg.id, HIROSHIMA, actor=STAFF, today=TODAY, now=NOW)
    _, cancelled = ics_event(ics.cancel_file(catalog, first.notices[0].old_copy, organizer="o@x.org"))
    back = console.move(catalog, reg.id, TOKYO, actor=STAFF, today=TODAY, now=NOW)
    _, again = ics_event(ics.invite_file(catalog, back.after, organizer="o@x.org"))
    assert str(again["uid"]) == str(cancelled["uid"])
    assert int(again["sequence"]) > int(cancelled["sequence"])


# -- promote by hand -------------------------------------------------------------------------


def test_promote_by_hand_needs_a_free_seat_and_may_skip_the_queue(catalog):
    set_capacity(catalog, TOKYO, 1)
    add(catalog, TOKYO, person("甲"))
    (w1,) = add(catalog, TOKYO, person("乙", "呉市"), waitlist=True)
    (w2,) = add(catalog, TOKYO, person("丙", "尾道市"), waitlist=True, user_id=31)
    with pytest.raises(RegistrationError) as e:
        console.promote(catalog, w2.id, actor=STAFF, today=TODAY, now=NOW)
    assert e.value.code == "full"
    set_capacity(catalog, TOKYO, 2)
    change = console.promote(catalog, w2.id, actor=Actor.chat_staff(42), today=TODAY, now=NOW)
    assert change.after.status == "registered" and change.before.position == 2
    assert get_registration(catalog, w1.id).position == 1
    assert [(n.kind, n.chat_id) for n in change.notices] == [("promoted", 31)]
    entry = entries(catalog)[-1]
    assert (entry.action, entry.who, entry.via, entry.details) == (
        "promoted",
        "42",
        "chat",
        {"auto": False, "position": 2},
    )
    assert say(entry.who_text(), "en") == "staff 42 (chat)"
    with pytest.raises(RegistrationError) as e:
        console.promote(catalog, w2.id, actor=STAFF, today=TODAY, now=NOW)
    assert e.value.code == "not_waitlisted"


# -- edit ------------------------------------------------------------------------------------


def test_edit_validates_as_registering_does_and_logs_before_and_after(catalog):
    (reg,) = add(catalog, TOKYO, person("山田 太郎", email="taro@example.lg.jp"))
    (other,) = add(catalog, TOKYO, person("佐藤 花子", email="hanako@example.lg.jp"))
    for bad in ({"email": "not-an-address"}, {"name": "  "}, {"organisation": ""}, {"department": "x" * 201}):
        with pytest.raises(InvalidInput):
            console.edit(catalog, reg.id, actor=STAFF, now=NOW, **bad)
    with pytest.raises(InvalidInput):
        console.edit(catalog, reg.id, actor=STAFF, now=NOW)  # nothing to change
    with pytest.raises(RegistrationError) as e:  # would be the same person as another
        console.edit(catalog, reg.id, actor=STAFF, now=NOW, email="HANAKO@example.lg.jp")
    assert e.value.code == "duplicate" and f"#{other.id}" in e.value.en
    assert entries(catalog) == []

    change = console.edit(
        catalog,
        reg.id,
        actor=STAFF,
        now=NOW,
        name="山田　太郎",
        organisation="ＹＯＫＯＨＡＭＡ市",
        department="情報政策課",
        email="Taro@Example.LG.JP",
    )
    assert change.changed == {
        "organisation": ("広島市", "YOKOHAMA市"),
        "department": ("", "情報政策課"),
        "email": ("taro@example.lg.jp", "Taro@example.lg.jp"),
    }
    after = get_registration(catalog, reg.id)
    assert (after.name, after.organisation, after.email) == ("山田 太郎", "YOKOHAMA市", "Taro@example.lg.jp")
    assert after.sequence == reg.sequence + 1  # the invite's attendee changed
    (entry,) = entries(catalog)
    assert entry.action == "edited" and entry.details == {
        "before": {"organisation": "広島市", "department": "", "email": "taro@example.lg.jp"},
        "after": {"organisation": "YOKOHAMA市", "department": "情報政策課", "email": "Taro@example.lg.jp"},
    }
    assert "所属: '広島市' → 'YOKOHAMA市'" in say(entry.summary(), "ja")
    same = console.edit(catalog, reg.id, actor=STAFF, now=NOW, name="山田 太郎")
    assert same.changed == {} and len(entries(catalog)) == 1


def test_editing_the_organisation_of_a_declared_team_renames_it_for_the_whole_team(catalog):
    people = [person(f"呉{i}", "呉市") for i in range(4)]
    regs = register(catalog, HIROSHIMA, people, today=TODAY, now=NOW, team_key="kure").registrations
    change = console.edit(catalog, regs[0].id, actor=STAFF, now=NOW, organisation="呉市役所")
    assert change.team == [r.id for r in regs[1:]]
    assert {get_registration(catalog, r.id).organisation for r in regs} == {"呉市役所"}
    log = entries(catalog)
    assert [e.registration_id for e in log] == [r.id for r in regs]
    assert log[1].details["with"] == regs[0].id and log[1].details["team_key"] == "kure"
    console.edit(catalog, regs[1].id, actor=STAFF, now=NOW, name="呉 一")  # names are their own
    assert get_registration(catalog, regs[2].id).name == "呉2"


# -- everyone's changes are logged -----------------------------------------------------------


def test_chat_registration_own_cancel_and_forget_are_logged(catalog):
    set_capacity(catalog, TOKYO, 1)
    out = console.register(
        catalog,
        TOKYO,
        [person("本人", email="me@example.lg.jp")],
        actor=Actor.chat_user(1001),
        today=TODAY,
        now=NOW,
        user_id=1001,
    )
    mine = out.registrations[0]
    waiting = console.register(
        catalog,
        TOKYO,
        [person("待ち", "呉市")],
        actor=Actor.cli(),
        today=TODAY,
        now=NOW,
        waitlist=True,
        source="cli",
    )
    log = entries(catalog)
    assert [(e.action, e.who, e.staff) for e in log] == [
        ("registered", "1001", False),
        ("waitlisted", "cli", True),
    ]
    assert log[0].details["source"] == "chat"

    console.cancel_own(catalog, mine.id, user_id=1001, today=TODAY, now=NOW)
    assert [(e.action, e.registration_id) for e in entries(catalog)[2:]] == [
        ("cancelled", mine.id),
        ("promoted", waiting.registrations[0].id),
    ]

    console.forget_user(catalog, 1001, today=TODAY, now=NOW)
    rows = catalog.store.query("select * from audit_log where registration_id = ?", [mine.id])
    assert rows and all(json.loads(r["details"]) == {"redacted": True} for r in rows)
    assert all(r["who"] == audit.DELETED_USER for r in rows)
    assert "me@example.lg.jp" not in json.dumps(catalog.store.query("select * from audit_log"))
    assert "1001" not in {r["who"] for r in catalog.store.query("select who from audit_log")}
    assert entries(catalog)[-1].action == "forgotten"


def test_an_import_logs_every_person_or_nothing(catalog, tmp_path):
    good = tmp_path / "good.csv"
    head = ",".join(HEADER) + "\n"
    good.write_text(
        head + f"{TOKYO},甲,横浜市,local,,,,,,\n{HIROSHIMA},乙,広島市,local,,,,,,\n", encoding="utf-8"
    )
    report = console.import_file(catalog, good, actor=Actor.cli(), today=TODAY, now=NOW)
    assert report.added == 2
    log = entries(catalog)
    assert [(e.action, e.session_id, e.details["file"]) for e in log] == [
        ("imported", TOKYO, "good.csv"),
        ("imported", HIROSHIMA, "good.csv"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(head + f"{TOKYO},丙,横浜市,local,,,,,,\n{TOKYO},丁,x,city,,,,,,\n", encoding="utf-8")
    with pytest.raises(CatalogError):
        console.import_file(catalog, bad, actor=Actor.cli(), today=TODAY, now=NOW)
    assert len(entries(catalog)) == 2


def test_an_entry_is_only_written_inside_the_change_transaction(catalog):
    with pytest.raises(RuntimeError):
        audit.record(catalog.store.db, STAFF, "cancelled", now=NOW)
    (reg,) = add(catalog, TOKYO, person("甲"))
    with pytest.raises(ZeroDivisionError), catalog.store.write() as db:
        audit.record(db, STAFF, "cancelled", now=NOW, registration_id=reg.id)
        db.execute("update registrations set status = 'cancelled' where id = ?", [reg.id])
        1 / 0  # noqa: B018
    assert entries(catalog) == [] and get_registration(catalog, reg.id).status == "registered"


def test_teams_formed_and_moved_are_logged(catalog):
    for i in range(5):
        add(catalog, TOKYO, person(f"人{i}", f"組織{i}"))
    formed = console.form_teams(catalog, TOKYO, actor=Actor.cli(), now=NOW)
    member = formed[0].members[0].registration_id
    console.move_team_member(catalog, TOKYO, member, 2, actor=STAFF, now=NOW)
    log = entries(catalog)
    assert [e.action for e in log] == ["teams_formed", "team_moved"]
    assert log[0].details["sizes"] == [len(t.members) for t in formed]
    assert log[1].registration_id == member and say(log[1].summary(), "en") == "to team 2"
