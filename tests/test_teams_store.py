"""Stored teams: forming, re-forming after changes, staff moves."""

import pytest

from catalog import registrations as regs
from catalog.errors import InvalidInput, NotFound
from catalog.registrations import Applicant
from catalog.teams import current_teams, form_teams, move_member, team_of
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


def add(catalog, i, org=None, org_type="local", **kw):
    out = regs.register(catalog, A, [Applicant(f"人{i}", org or f"組織{i}", org_type, **kw)],
                        today=TODAY, now=NOW, waitlist=True)
    return out.registrations[0].id


def layout(teams):
    return {m.registration_id: t.number for t in teams for m in t.members}


def test_form_stores_and_current_reads_back(catalog):
    ids = [add(catalog, i, org=f"市{i % 3}") for i in range(10)]
    assert current_teams(catalog, A) == []
    teams = form_teams(catalog, A, now=NOW)
    assert sorted(len(t.members) for t in teams) == [3, 3, 4]
    assert current_teams(catalog, A) == teams
    assert sorted(layout(teams)) == ids
    assert team_of(catalog, ids[0]) == layout(teams)[ids[0]]
    # forming again with nothing changed changes nothing
    assert form_teams(catalog, A, now=NOW) == teams


def test_waitlist_is_not_grouped(catalog, tmp_path):
    from schedules import loader
    from tests.util_catalog import edited_schedule
    fixed = edited_schedule(tmp_path, 'city = "広島", first = 2024-10-25 }',
                            'city = "広島", first = 2024-10-25, capacity = 4 }')
    loader.load(catalog.store, fixed, NOW)
    ids = [add(catalog, i) for i in range(6)]
    teams = form_teams(catalog, A, now=NOW)
    assert sorted(layout(teams)) == ids[:4]


def test_reforming_after_cancellations_and_late_registrations_keeps_teams(catalog):
    ids = [add(catalog, i, org=f"市{i % 5}", org_type=("local", "infra")[i % 2]) for i in range(16)]
    first = layout(form_teams(catalog, A, now=NOW))
    regs.cancel(catalog, ids[3], today=TODAY, now=NOW)
    second = layout(form_teams(catalog, A, now=NOW))  # 15 = 4+4+4+3
    assert sorted(second) == sorted(set(ids) - {ids[3]})
    assert all(second[r] == first[r] for r in second)
    late = add(catalog, 99, org="遅れ市")
    third = layout(form_teams(catalog, A, now=NOW))  # 16 again
    assert third[late] == first[ids[3]]  # takes the freed place
    assert all(third[r] == second[r] for r in second)


def test_staff_move_is_kept_when_reforming(catalog):
    ids = [add(catalog, i) for i in range(8)]
    teams = form_teams(catalog, A, now=NOW)
    who = teams[0].members[0].registration_id
    moved = move_member(catalog, A, who, 2, now=NOW)
    assert layout(moved)[who] == 2 and len(moved[1].members) == 5
    add(catalog, 50)
    add(catalog, 51)
    again = layout(form_teams(catalog, A, now=NOW))
    assert again[who] == 2
    assert sorted(again) == sorted([*ids, ids[-1] + 1, ids[-1] + 2])


def test_move_into_a_new_team_and_errors(catalog):
    ids = [add(catalog, i) for i in range(4)]
    # moving before any forming forms first
    teams = move_member(catalog, A, ids[0], 2, now=NOW)
    assert [len(t.members) for t in teams] == [3, 1]
    with pytest.raises(InvalidInput, match="choose 1-3"):
        move_member(catalog, A, ids[1], 4, now=NOW)
    with pytest.raises(InvalidInput):
        move_member(catalog, A, ids[1], 0, now=NOW)
    with pytest.raises(NotFound):
        move_member(catalog, A, 999999, 1, now=NOW)
    with pytest.raises(NotFound):
        move_member(catalog, "2024-A-13-0709", ids[1], 1, now=NOW)
    regs.cancel(catalog, ids[2], today=TODAY, now=NOW)
    with pytest.raises(InvalidInput, match="cancelled"):
        move_member(catalog, A, ids[2], 1, now=NOW)


def test_cancelled_people_leave_their_team(catalog):
    ids = [add(catalog, i) for i in range(8)]
    form_teams(catalog, A, now=NOW)
    regs.cancel(catalog, ids[0], today=TODAY, now=NOW)
    assert ids[0] not in layout(current_teams(catalog, A))


def test_whole_team_applied_together(catalog):
    people = [Applicant(f"職員{i}", "広島市", "local") for i in range(4)]
    regs.register(catalog, A, people, today=TODAY, now=NOW, as_team=True)
    for i in range(4):
        add(catalog, i, org="広島市" if i < 1 else None)
    teams = form_teams(catalog, A, now=NOW)  # 8 = 4 + 4
    whole = [t for t in teams if {m.name for m in t.members} == {f"職員{i}" for i in range(4)}]
    assert len(whole) == 1
    others = [t for t in teams if t is not whole[0]]
    for t in others:
        assert sum(m.organisation == "広島市" for m in t.members) <= 1


def test_unknown_session(catalog):
    with pytest.raises(NotFound):
        form_teams(catalog, "nope", now=NOW)
    with pytest.raises(NotFound):
        current_teams(catalog, "nope")


def test_nine_people_split_three_ways_even_with_a_whole_team(catalog):
    """Sizes come first: nine people are 3+3+3, so no team of four can hold the four
    who applied together (documented in catalog.teams)."""
    people = [Applicant(f"職員{i}", "広島市", "local") for i in range(4)]
    regs.register(catalog, A, people, today=TODAY, now=NOW, as_team=True)
    for i in range(5):
        add(catalog, i)
    teams = form_teams(catalog, A, now=NOW)
    assert [len(t.members) for t in teams] == [3, 3, 3]
    assert all(sum(m.organisation == "広島市" for m in t.members) <= 2 for t in teams)
