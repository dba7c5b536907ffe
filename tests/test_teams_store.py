"""Stored teams: forming, re-forming after changes, staff moves."""

from collections import Counter

import pytest

from bot.telegram.i18n import say
from catalog import registrations as regs
from catalog import rosters
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.registrations import Applicant
from catalog.teams import TeamRuleError, current_teams, form_teams, move_member, team_of
from tests.util_catalog import NOW, make_catalog

TODAY = NOW.date()
A = "2024-A-34-1025"


@pytest.fixture
def catalog(tmp_path):
    return make_catalog(tmp_path / "c.db")


def add(catalog, i, org=None, org_type="local", **kw):
    out = regs.register(
        catalog,
        A,
        [Applicant(f"人{i}", org or f"組織{i}", org_type, **kw)],
        today=TODAY,
        now=NOW,
        waitlist=True,
    )
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

    fixed = edited_schedule(
        tmp_path, 'city = "広島", first = 2024-10-25 }', 'city = "広島", first = 2024-10-25, capacity = 4 }'
    )
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
    moved = move_member(catalog, A, who, 2, now=NOW, force=True)  # a team of five, confirmed
    assert layout(moved)[who] == 2 and len(moved[1].members) == 5
    assert moved[1].is_exception and not moved[0].is_exception
    add(catalog, 50)
    add(catalog, 51)
    again = layout(form_teams(catalog, A, now=NOW))
    assert again[who] == 2
    assert sorted(again) == sorted([*ids, ids[-1] + 1, ids[-1] + 2])


def test_move_that_makes_a_team_of_five_is_refused_with_the_reason(catalog):
    """`teams --move 8:1` made a team of five without a word: refused unless forced."""
    ids = [add(catalog, i) for i in range(8)]
    before = form_teams(catalog, A, now=NOW)  # 4 + 4
    assert [len(t.members) for t in before] == [4, 4]
    eight = ids[7]
    assert layout(before)[eight] == 2
    with pytest.raises(TeamRuleError) as e:
        move_member(catalog, A, eight, 1, now=NOW)
    assert isinstance(e.value, CatalogError) and e.value.code == "team_rules"
    assert "team 1 would have 5 people" in e.value.en and "5名" in say(e.value, "ja")
    assert "\n" not in e.value.en
    assert current_teams(catalog, A) == before  # nothing changed
    after = move_member(catalog, A, eight, 1, now=NOW, force=True)
    assert [len(t.members) for t in after] == [5, 3]
    assert [t.is_exception for t in after] == [True, False]
    assert current_teams(catalog, A) == after  # stored, and shown as an exception
    rows = {r["name"]: r for r in rosters.roster_rows(catalog, A)}
    assert rows["人7"]["team"] == 1 and "5" in rows["人7"]["team exception"]
    assert rows["人1"]["team exception"] == ""  # team 2 keeps the rules


def test_move_that_puts_an_organisation_twice_is_refused(catalog):
    ids = [add(catalog, i, org="広島市" if i < 2 else None) for i in range(7)]  # 4 + 3
    teams = form_teams(catalog, A, now=NOW)
    where = layout(teams)
    a, b = ids[0], ids[1]
    assert where[a] != where[b]  # spread
    small = next(t for t in teams if len(t.members) == 3).number
    mover = a if where[a] != small else b
    with pytest.raises(TeamRuleError, match="2 people of 広島市"):
        move_member(catalog, A, mover, small, now=NOW)
    # a move within the rules goes through without force
    other = next(
        m.registration_id
        for t in teams
        if t.number != small
        for m in t.members
        if m.registration_id not in (a, b)
    )
    assert layout(move_member(catalog, A, other, small, now=NOW))[other] == small


def test_moving_one_of_a_declared_team_away_is_refused(catalog):
    people = [Applicant(f"呉 職員{i}", "呉市役所", "local") for i in range(4)]
    regs.register(catalog, A, people, today=TODAY, now=NOW, team_key="kure")
    for i in range(4):
        add(catalog, i)
    teams = form_teams(catalog, A, now=NOW)
    kure = next(t for t in teams if {m.team_key for m in t.members} == {"kure"})
    who = kure.members[0].registration_id
    away = next(t.number for t in teams if t is not kure)
    with pytest.raises(TeamRuleError, match="declared team 'kure'"):
        move_member(catalog, A, who, away, now=NOW)
    forced = move_member(catalog, A, who, away, now=NOW, force=True)
    assert {e.code for t in forced for e in t.exceptions} >= {"declared", "size"}


def test_a_registration_id_too_large_for_sqlite_is_not_found(catalog):
    add(catalog, 1)
    with pytest.raises(NotFound):
        move_member(catalog, A, 99999999999999999999, 1, now=NOW)


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


def test_declared_team_of_four_plus_five_singles_stays_whole(catalog):
    """Four 呉市役所 people with key `kure` plus five singles came out 3+3+3, the four in
    teams 1, 2 and 3. Now the four are one team and the five others one team of five,
    flagged as an exception for staff to accept or change."""
    people = [Applicant(f"呉 職員{i}", "呉市役所", "local") for i in range(4)]
    regs.register(catalog, A, people, today=TODAY, now=NOW, team_key="kure")
    for i in range(5):
        add(catalog, i)
    teams = form_teams(catalog, A, now=NOW)
    assert [len(t.members) for t in teams] != [3, 3, 3]
    kure = [t for t in teams if any(m.organisation == "呉市役所" for m in t.members)]
    assert len(kure) == 1 and len(kure[0].members) == 4 and not kure[0].is_exception
    rest = [t for t in teams if t is not kure[0]]
    assert [len(t.members) for t in rest] == [5] and rest[0].is_exception
    assert current_teams(catalog, A) == teams
    assert form_teams(catalog, A, now=NOW) == teams  # re-forming leaves it as it is


def test_three_late_registrations_move_nobody(catalog):
    """Re-forming after three late registrations moved a person from team 1 to team 2,
    though their team was still valid: now nobody moves, the newcomers form team 4."""
    orgs = ["府中市", "三原市", "尾道市", "呉市", "福山市", "三原市", "呉市", "広島市", "尾道市"]
    ids = [add(catalog, i, org=o) for i, o in enumerate(orgs)]
    first = layout(form_teams(catalog, A, now=NOW))  # 3 + 3 + 3
    assert sorted(Counter(first.values()).values()) == [3, 3, 3]
    late = [add(catalog, 50 + i, org=o) for i, o in enumerate(["福山市", "三原市", "尾道市"])]
    after = layout(form_teams(catalog, A, now=NOW))
    assert {r: after[r] for r in ids} == first
    assert {after[r] for r in late} == {4}
    # three more newcomers of new organisations fill the teams short of four
    more = [add(catalog, 60 + i, org=f"新市{i}") for i in range(3)]
    filled = layout(form_teams(catalog, A, now=NOW))
    assert {r: filled[r] for r in after} == after
    assert {filled[r] for r in more} == {1, 2, 3}
    assert sorted(Counter(filled.values()).values()) == [3, 4, 4, 4]
