"""The registration decision on its own: no store, only a session, people and what is taken."""

import dataclasses
import datetime as dt

import pytest

from catalog.eligibility import Verdict
from catalog.errors import InvalidInput
from catalog.i18n import ByLang
from catalog.registrations import Applicant, Application, RegistrationError, Taken
from tests.util_catalog import make_catalog

TODAY = dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    catalog = make_catalog(tmp_path_factory.mktemp("check") / "c.db")
    return dataclasses.replace(catalog.session("2024-A-34-1025"), capacity=4)


def person(i, org="広島市"):
    return Applicant(f"利用者{i}", org, "local", email=f"u{i}@city.example.lg.jp")


def allowed(course="A"):
    return Verdict(course, True, "free", 0, "")


def refusal(err):
    return err.value.code


def test_people_of_counts_and_cleans():
    with pytest.raises(InvalidInput):
        Application.people_of([])
    with pytest.raises(RegistrationError) as err:
        Application.people_of([person(i) for i in range(17)])
    assert refusal(err) == "too_many"
    (p,) = Application.people_of([Applicant("  広島　太郎 ", "広島市", " LOCAL ")])
    assert (p.name, p.org_type) == ("広島 太郎", "local")


def test_open_until_the_deadline_and_not_when_cancelled(session):
    app = Application(session, (person(0),))
    app.check_open(session.deadline)
    with pytest.raises(RegistrationError) as err:
        app.check_open(session.deadline + dt.timedelta(days=1))
    assert refusal(err) == "closed" and session.deadline.isoformat() in err.value.en
    cancelled = Application(dataclasses.replace(session, status="cancelled"), (person(0),))
    with pytest.raises(RegistrationError) as err:
        cancelled.check_open(TODAY)
    assert refusal(err) == "cancelled"


def test_people_must_be_eligible_one_team_and_each_once(session):
    two = Application(session, (person(0), person(1)))
    two.check_people([allowed(), allowed()])
    no = Verdict("A", False, "paid", None, ByLang("受講できません。", "Cannot attend."))
    with pytest.raises(RegistrationError) as err:
        two.check_people([allowed(), no])
    assert refusal(err) == "not_eligible" and err.value.en == "利用者1: Cannot attend."

    def refuse_then_fail():
        yield no
        raise AssertionError("the second verdict is never asked for")

    with pytest.raises(RegistrationError):
        two.check_people(refuse_then_fail())
    with pytest.raises(RegistrationError) as err:
        Application(session, (person(0), person(1)), as_team=True).check_people([allowed()] * 2)
    assert refusal(err) == "team"
    mixed = (person(0), person(1), person(2), person(3, org="呉市"))
    with pytest.raises(RegistrationError) as err:
        Application(session, mixed, as_team=True).check_people([allowed()] * 4)
    assert refusal(err) == "team"
    twice = Application(session, (person(0), dataclasses.replace(person(1), email="U0@city.example.lg.jp")))
    with pytest.raises(RegistrationError) as err:
        twice.check_people([allowed()] * 2)
    assert refusal(err) == "duplicate"


def test_decide_seats_waitlist_and_queue(session):
    two = Application(session, (person(0), person(1)))
    assert two.decide(Taken(registered=2, waiting=0)) == "registered"
    with pytest.raises(RegistrationError) as err:
        two.decide(Taken(registered=3, waiting=0))
    assert refusal(err) == "full" and "1 left for 2 people" in err.value.en
    waiting = dataclasses.replace(two, waitlist=True)
    assert waiting.decide(Taken(registered=3, waiting=0)) == "waitlisted"
    assert waiting.decide(Taken(registered=0, waiting=1)) == "waitlisted"  # nobody jumps the queue
    with pytest.raises(RegistrationError) as err:
        two.decide(Taken(registered=0, waiting=1))
    assert refusal(err) == "full"


@pytest.mark.parametrize(
    "row",
    [
        {"user_id": 7, "name": "別人", "organisation": "呉市", "email": ""},
        {"user_id": None, "name": "別人", "organisation": "呉市", "email": "U1@CITY.example.lg.jp"},
        {"user_id": None, "name": "利用者0", "organisation": "広島市 ", "email": None},
    ],
)
def test_decide_refuses_someone_already_there(session, row):
    app = Application(session, (person(0), person(1)), user_id=7)
    with pytest.raises(RegistrationError) as err:
        app.decide(Taken(registered=1, waiting=0, people=(row,)))
    assert refusal(err) == "duplicate"
    other = {"user_id": 8, "name": "別人", "organisation": "呉市", "email": "x@kure.example.lg.jp"}
    assert app.decide(Taken(registered=1, waiting=0, people=(other,))) == "registered"
