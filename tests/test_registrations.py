import datetime as dt
import threading

import pytest

from bot.telegram.i18n import say
from catalog import registrations as regs
from catalog.errors import InvalidInput, NotFound
from catalog.registrations import Applicant, RegistrationError
from schedules import loader
from tests.util_catalog import NOW, edited_schedule, make_catalog

TODAY = NOW.date()
HIROSHIMA_A = "2024-A-34-1025"


def person(i=0, org="広島市", org_type="local", **kw):
    kw.setdefault("email", f"user{i}@city.example.lg.jp")
    return Applicant(name=f"利用者{i}", organisation=org, org_type=org_type, **kw)


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


def small(catalog, tmp_path, capacity):
    fixed = edited_schedule(
        tmp_path,
        'city = "広島", first = 2024-10-25 }',
        f'city = "広島", first = 2024-10-25, capacity = {capacity} }}',
    )
    loader.load(catalog.store, fixed, NOW)


def test_register_then_seat_counts_and_status(catalog):
    out = regs.register(catalog, HIROSHIMA_A, [person()], today=TODAY, now=NOW, user_id=7)
    assert not out.waitlisted and out.registrations[0].status == "registered"
    s = catalog.session(HIROSHIMA_A)
    assert (s.registered, s.seats_left, s.seat_mark) == (1, 29, "○")
    assert [r.session_id for r in regs.for_user(catalog, 7)] == [HIROSHIMA_A]


def test_refusals_carry_reasons_and_change_nothing(catalog):
    with pytest.raises(RegistrationError) as e:
        regs.register(catalog, "2024-B-1-34-1029", [person(org_type="private")], today=TODAY, now=NOW)
    assert e.value.code == "not_eligible" and "地方公共団体" in say(e.value, "ja")
    regs.register(catalog, HIROSHIMA_A, [person()], today=TODAY, now=NOW, user_id=7)
    with pytest.raises(RegistrationError) as e:
        regs.register(catalog, HIROSHIMA_A, [person(1)], today=TODAY, now=NOW, user_id=7)
    assert e.value.code == "duplicate"
    with pytest.raises(RegistrationError) as e:  # same e-mail, different account
        regs.register(
            catalog,
            HIROSHIMA_A,
            [Applicant("別人", "広島市", "local", email="USER0@city.example.lg.jp")],
            today=TODAY,
            now=NOW,
            user_id=8,
        )
    assert e.value.code == "duplicate"
    with pytest.raises(RegistrationError) as e:
        regs.register(catalog, HIROSHIMA_A, [person(2)], today=dt.date(2024, 10, 19), now=NOW)
    assert e.value.code == "closed" and "10月18日" in say(e.value, "ja")
    with pytest.raises(InvalidInput):
        regs.register(catalog, HIROSHIMA_A, [person(3, email="not-an-address")], today=TODAY, now=NOW)
    with pytest.raises(InvalidInput, match="too long"):
        regs.register(catalog, HIROSHIMA_A, [Applicant("x" * 101, "広島市", "local")], today=TODAY, now=NOW)
    with pytest.raises(NotFound):
        regs.register(catalog, "2024-Z-00-0000", [person(4)], today=TODAY, now=NOW)
    assert catalog.session(HIROSHIMA_A).registered == 1


def test_deadline_day_itself_is_open(catalog):
    out = regs.register(catalog, HIROSHIMA_A, [person()], today=dt.date(2024, 10, 18), now=NOW)
    assert out.registrations[0].status == "registered"


def test_colleagues_only_up_to_seats_left_then_waitlist(catalog, tmp_path):
    small(catalog, tmp_path, 3)
    group = [person(i) for i in range(4)]
    with pytest.raises(RegistrationError) as e:
        regs.register(catalog, HIROSHIMA_A, group, today=TODAY, now=NOW, user_id=1)
    assert e.value.code == "full" and "残り3席" in say(e.value, "ja")
    assert catalog.session(HIROSHIMA_A).registered == 0
    out = regs.register(catalog, HIROSHIMA_A, group[:3], today=TODAY, now=NOW, user_id=1)
    assert [r.user_id for r in out.registrations] == [1, None, None]
    assert len({r.application_id for r in out.registrations}) == 1
    assert catalog.session(HIROSHIMA_A).seat_mark == "×"
    w = regs.register(catalog, HIROSHIMA_A, [person(9)], today=TODAY, now=NOW, user_id=2, waitlist=True)
    assert w.waitlisted and w.registrations[0].position == 1


def test_team_of_four_needs_one_organisation(catalog):
    with pytest.raises(RegistrationError) as e:
        regs.register(
            catalog,
            HIROSHIMA_A,
            [person(i, org=f"組織{i}") for i in range(4)],
            today=TODAY,
            now=NOW,
            as_team=True,
        )
    assert e.value.code == "team"
    out = regs.register(
        catalog, HIROSHIMA_A, [person(i) for i in range(4)], today=TODAY, now=NOW, as_team=True
    )
    assert len({r.team_key for r in out.registrations}) == 1 and out.registrations[0].team_key


def test_cancel_promotes_the_waitlist_in_order(catalog, tmp_path):
    small(catalog, tmp_path, 1)
    first = regs.register(catalog, HIROSHIMA_A, [person(0)], today=TODAY, now=NOW, user_id=1).registrations[0]
    w1 = regs.register(catalog, HIROSHIMA_A, [person(1)], today=TODAY, now=NOW, user_id=2, waitlist=True)
    w2 = regs.register(catalog, HIROSHIMA_A, [person(2)], today=TODAY, now=NOW, user_id=3, waitlist=True)
    assert [w1.registrations[0].position, w2.registrations[0].position] == [1, 2]
    with pytest.raises(NotFound):  # not yours
        regs.cancel(catalog, first.id, today=TODAY, now=NOW, user_id=99)
    out = regs.cancel(catalog, first.id, today=TODAY, now=NOW, user_id=1)
    assert out.cancelled.status == "cancelled" and out.cancelled.sequence == 1
    assert [p.user_id for p in out.promoted] == [2]
    assert regs.get_registration(catalog, w2.registrations[0].id).position == 1
    with pytest.raises(RegistrationError):
        regs.cancel(catalog, first.id, today=TODAY, now=NOW, user_id=1)


def test_no_promotion_after_the_deadline(catalog, tmp_path):
    small(catalog, tmp_path, 1)
    first = regs.register(catalog, HIROSHIMA_A, [person(0)], today=TODAY, now=NOW, user_id=1).registrations[0]
    regs.register(catalog, HIROSHIMA_A, [person(1)], today=TODAY, now=NOW, user_id=2, waitlist=True)
    out = regs.cancel(catalog, first.id, today=dt.date(2024, 10, 21), now=NOW)
    assert out.promoted == []


def test_forget_removes_person_and_colleagues_and_promotes(catalog, tmp_path):
    small(catalog, tmp_path, 2)
    regs.register(catalog, HIROSHIMA_A, [person(0), person(1)], today=TODAY, now=NOW, user_id=1)
    regs.register(catalog, HIROSHIMA_A, [person(2)], today=TODAY, now=NOW, user_id=2, waitlist=True)
    from catalog.users import get_user, save_user

    save_user(catalog.store, 1, NOW, org_type="local")
    promoted = regs.forget_user(catalog, 1, today=TODAY, now=NOW)
    assert [p.user_id for p in promoted] == [2]
    names = [r.name for r in regs.for_session(catalog, HIROSHIMA_A)]
    assert names == ["利用者2"]
    assert (
        catalog.store.one("select count(*) n from registrations where name in ('利用者0','利用者1')")["n"]
        == 0
    )
    assert get_user(catalog.store, 1) is None


def test_race_for_the_last_seat_never_overbooks(catalog, tmp_path):
    small(catalog, tmp_path, 1)
    n = 24
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def attempt(i):
        barrier.wait()
        try:
            out = regs.register(catalog, HIROSHIMA_A, [person(i)], today=TODAY, now=NOW, user_id=i + 1)
            r = out.registrations[0].status
        except RegistrationError as e:
            r = e.code
        finally:
            catalog.store.close()
        with lock:
            results.append(r)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count("registered") == 1
    assert results.count("full") == n - 1
    assert catalog.session(HIROSHIMA_A).registered == 1


def test_race_with_waitlist_keeps_order_and_capacity(catalog, tmp_path):
    small(catalog, tmp_path, 3)
    n = 16
    barrier = threading.Barrier(n)

    def attempt(i):
        barrier.wait()
        regs.register(catalog, HIROSHIMA_A, [person(i)], today=TODAY, now=NOW, user_id=i + 1, waitlist=True)
        catalog.store.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = regs.for_session(catalog, HIROSHIMA_A)
    assert [r.status for r in rows].count("registered") == 3
    assert [r.position for r in rows if r.status == "waitlisted"] == list(range(1, n - 2))
