"""A representative and their colleagues (同行者) in the catalog: who registered whom,
cancelling one, all, or the representative with or without them, editing before the
deadline; another user's registration is never theirs (issue 13 §2)."""

import datetime as dt

import pytest

from bot.telegram.i18n import say
from catalog import colleagues as mates
from catalog import registrations as regs
from catalog.errors import InvalidInput, NotFound
from catalog.registrations import Applicant, RegistrationError
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"
REP = 7


def person(name, email, org="広島県庁"):
    return Applicant(name, org, "local", email=email)


@pytest.fixture
def catalog(tmp_path):
    c = make_catalog(tmp_path / "c.db")
    fixed = edited_schedule(
        tmp_path, 'city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = 4 }'
    )
    loader.load(c.store, fixed, NOW)
    return c


@pytest.fixture
def group(catalog):
    """The representative and two colleagues (3 of 4 seats), then two people waiting."""
    out = regs.register(
        catalog,
        A,
        [
            person("代表 一郎", "rep@pref.hiroshima.lg.jp"),
            person("同行 二郎", "jiro@pref.hiroshima.lg.jp"),
            person("同行 三郎", "saburo@pref.hiroshima.lg.jp"),
        ],
        today=TODAY,
        now=NOW,
        user_id=REP,
    )
    regs.register(catalog, A, [person("他 一", "x1@example.lg.jp", "呉市")], today=TODAY, now=NOW, user_id=8)
    regs.register(
        catalog,
        A,
        [person("待ち 一", "w1@example.lg.jp", "三原市")],
        today=TODAY,
        now=NOW,
        user_id=9,
        waitlist=True,
    )
    regs.register(
        catalog,
        A,
        [person("待ち 二", "w2@example.lg.jp", "尾道市")],
        today=TODAY,
        now=NOW,
        user_id=10,
        waitlist=True,
    )
    return out.registrations


def test_the_representatives_application_holds_own_seat_and_colleagues(catalog, group):
    [app] = mates.applications_of(catalog, REP)
    assert app.own.id == group[0].id and app.own_active
    assert [m.name for m in app.colleagues] == ["同行 二郎", "同行 三郎"]
    assert [m.status for m in app.colleagues] == ["registered", "registered"]
    assert mates.applications_of(catalog, 8)[0].colleagues == ()
    assert mates.applications_of(catalog, 999) == []


def test_cancel_one_colleague_promotes_the_first_waiting(catalog, group):
    out = mates.cancel_colleague(catalog, group[1].id, user_id=REP, today=TODAY, now=NOW)
    assert [r.name for r in out.cancelled] == ["同行 二郎"]
    assert [r.name for r in out.promoted] == ["待ち 一"]
    [app] = mates.applications_of(catalog, REP)
    assert [m.name for m in app.colleagues] == ["同行 三郎"]
    assert catalog.session(A).registered == 4 and catalog.session(A).waitlisted == 1


def test_cancel_all_colleagues_keeps_the_representative(catalog, group):
    out = mates.cancel_colleagues(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW)
    assert [r.name for r in out.cancelled] == ["同行 二郎", "同行 三郎"]
    assert [r.name for r in out.promoted] == ["待ち 一", "待ち 二"]
    [app] = mates.applications_of(catalog, REP)
    assert app.own_active and app.colleagues == ()
    with pytest.raises(RegistrationError):
        mates.cancel_colleagues(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW)


def test_cancel_own_seat_with_the_colleagues_frees_every_seat(catalog, group):
    out = mates.cancel_own(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW, with_colleagues=True)
    assert len(out.cancelled) == 3
    assert [r.name for r in out.promoted] == ["待ち 一", "待ち 二"]  # every seat freed
    assert mates.applications_of(catalog, REP) == []
    s = catalog.session(A)
    assert (s.registered, s.waitlisted) == (3, 0)


def test_cancel_own_seat_only_leaves_the_colleagues_in_my(catalog, group):
    out = mates.cancel_own(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW, with_colleagues=False)
    assert [r.name for r in out.cancelled] == ["代表 一郎"]
    [app] = mates.applications_of(catalog, REP)  # still theirs to manage
    assert not app.own_active and [m.name for m in app.colleagues] == ["同行 二郎", "同行 三郎"]
    assert [r.id for r in app.active] == [group[1].id, group[2].id]
    mates.cancel_colleague(catalog, group[2].id, user_id=REP, today=TODAY, now=NOW)
    assert [m.name for m in mates.applications_of(catalog, REP)[0].colleagues] == ["同行 二郎"]


def test_a_seat_freed_by_the_representative_never_goes_to_their_own_colleague(catalog):
    """Cancelling a group whose representative holds a seat and whose colleagues still wait:
    the freed seat must go to the next person outside the group (not to a colleague who is
    cancelled in the same breath and would be told they were promoted)."""
    seated = [
        regs.register(
            catalog, A, [person(f"満 {i}", f"f{i}@x.lg.jp", f"市{i}")], today=TODAY, now=NOW, user_id=100 + i
        ).registrations[0]
        for i in range(4)
    ]
    group = regs.register(
        catalog,
        A,
        [person("代表", "rep@x.lg.jp"), person("同行 一", "m1@x.lg.jp"), person("同行 二", "m2@x.lg.jp")],
        today=TODAY,
        now=NOW,
        user_id=REP,
        waitlist=True,
    ).registrations
    other = regs.register(
        catalog, A, [person("他", "o@x.lg.jp", "呉市")], today=TODAY, now=NOW, user_id=11, waitlist=True
    ).registrations[0]
    regs.cancel(catalog, seated[0].id, today=TODAY, now=NOW)  # the representative moves up
    assert [regs.get_registration(catalog, r.id).status for r in group] == [
        "registered",
        "waitlisted",
        "waitlisted",
    ]
    out = mates.cancel_own(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW, with_colleagues=True)
    assert [r.id for r in out.cancelled] == [r.id for r in group]
    assert [r.id for r in out.promoted] == [other.id]
    assert regs.get_registration(catalog, other.id).status == "registered"
    # never promoted on the way out: their calendar sequence rose once, for the cancel
    assert [r.sequence for r in out.cancelled] == [2, 1, 1]


def test_another_users_registration_is_refused(catalog, group):
    other = mates.applications_of(catalog, 8)[0].own
    for call in (
        lambda: mates.cancel_colleague(catalog, group[1].id, user_id=8, today=TODAY, now=NOW),
        lambda: mates.cancel_colleague(catalog, other.id, user_id=REP, today=TODAY, now=NOW),
        lambda: mates.cancel_colleague(catalog, group[0].id, user_id=REP, today=TODAY, now=NOW),
        lambda: mates.cancel_colleague(catalog, 999999, user_id=REP, today=TODAY, now=NOW),
        lambda: mates.cancel_colleagues(catalog, group[0].id, user_id=8, today=TODAY, now=NOW),
        lambda: mates.cancel_own(catalog, other.id, user_id=REP, today=TODAY, now=NOW, with_colleagues=True),
        lambda: mates.edit_colleague(
            catalog, group[1].id, user_id=8, today=TODAY, now=NOW, field_name="name", value="乗っ取り"
        ),
    ):
        with pytest.raises(NotFound):
            call()
    assert catalog.session(A).registered == 4


def test_edit_a_colleague_before_the_deadline(catalog, group):
    before = group[1]
    after = mates.edit_colleague(
        catalog, before.id, user_id=REP, today=TODAY, now=NOW, field_name="name", value="  同行　次郎 "
    )
    assert after.name == "同行 次郎" and after.sequence == before.sequence + 1
    after = mates.edit_colleague(
        catalog,
        before.id,
        user_id=REP,
        today=TODAY,
        now=NOW,
        field_name="email",
        value="Jiro2@Pref.Hiroshima.LG.JP",
    )
    assert after.email == "Jiro2@pref.hiroshima.lg.jp"
    with pytest.raises(InvalidInput):
        mates.edit_colleague(
            catalog, before.id, user_id=REP, today=TODAY, now=NOW, field_name="email", value="not-an-address"
        )
    with pytest.raises(RegistrationError) as e:  # the same as the other colleague
        mates.edit_colleague(
            catalog,
            before.id,
            user_id=REP,
            today=TODAY,
            now=NOW,
            field_name="email",
            value="saburo@pref.hiroshima.lg.jp",
        )
    assert e.value.code == "duplicate"
    with pytest.raises(InvalidInput):
        mates.edit_colleague(
            catalog, before.id, user_id=REP, today=TODAY, now=NOW, field_name="organisation", value="別の組織"
        )
    deadline = catalog.session(A).deadline
    mates.edit_colleague(
        catalog, before.id, user_id=REP, today=deadline, now=NOW, field_name="name", value="締切 当日"
    )  # the deadline day itself is open
    with pytest.raises(RegistrationError) as e:
        mates.edit_colleague(
            catalog,
            before.id,
            user_id=REP,
            today=deadline + dt.timedelta(days=1),
            now=NOW,
            field_name="name",
            value="遅すぎ",
        )
    assert e.value.code == "closed" and "締切" in say(e.value, "ja")
    assert regs.get_registration(catalog, before.id).name == "締切 当日"


def test_a_colleague_twice_is_caught_when_typed(catalog, group):
    people = [person("代表", "rep@x.lg.jp"), person("同行 花子", "hanako@x.lg.jp")]
    check = mates.check_new_colleague
    check(catalog, A, people, organisation="広島県庁", name="同行 月子")  # someone new
    with pytest.raises(RegistrationError, match="already in this application"):
        check(catalog, A, people, organisation="広島県庁", name="同行　花子")
    with pytest.raises(RegistrationError, match="representative"):
        check(catalog, A, people, organisation="広島県庁", email="REP@x.lg.jp")
    with pytest.raises(RegistrationError, match="already registered for this session"):
        check(catalog, A, people, organisation="広島県庁", name="同行 二郎")  # in `group`
    with pytest.raises(RegistrationError, match="already registered"):
        check(catalog, A, people, organisation="広島県庁", email="w1@example.lg.jp")
    check(catalog, A, people, organisation="広島県庁", email="new@x.lg.jp")
