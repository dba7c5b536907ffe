"""Teams of four for a session's registrants: pure grouping plus the stored teams.

The rules (issue 5 §2), in order of priority:

1. Only registrants (not the waitlist) are grouped; staff moves (``pinned``) always win.
2. Sizes: every team has four people when the count divides by four; otherwise as few
   teams of three as are needed to absorb the remainder (7 = 4+3, 6 = 3+3, 9 = 3+3+3,
   13 = 4+3+3+3). Five people cannot be split into threes and fours without a team of
   one or two, so five people form ONE team of five. One or two people form one team.
3. Four people of one organisation who applied together (the same ``team_key``) stay
   together as one team, while there is a team of four (or five) to hold them. Sizes
   come first: nine people are 3+3+3, so four colleagues among them are split up
   (still spread, at most two per team).
4. Otherwise people of one organisation are spread over the teams as evenly as
   possible: nobody shares a team with a colleague unless the organisation has more
   people than there are teams (then at most ``ceil(people / teams)`` per team).
5. Organisation types, then prefectures, are spread as evenly as the above allows.
6. Deterministic: the result depends only on the members (not their order), the
   existing assignment and the pins. Re-forming keeps everyone in their existing team
   unless that breaks rules 2-4: team numbers above the new count are dissolved, the
   larger sizes go to the teams that can keep the most people, and everyone displaced
   or new is seated along a shortest augmenting path (each step moves one person into
   a team where their organisation may go), so as few people move as the rules allow.
   Only when no placement within the rules exists around the kept teams are the teams
   formed afresh. A staff move into a higher number keeps that number (gaps possible).
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from catalog.errors import InvalidInput, NotFound
from catalog.service import Catalog

TEAM_SIZE = 4


def _fold(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().replace(" ", "").strip()


@dataclass(frozen=True)
class Member:
    """One registrant as the team rules see them."""

    registration_id: int
    name: str
    organisation: str
    org_type: str = ""
    prefecture: str = ""
    team_key: str | None = None

    @cached_property
    def org_key(self) -> str:
        """The organisation compared loosely (width, case, spaces); unique when empty."""
        return _fold(self.organisation) or f"#{self.registration_id}"

    def as_dict(self) -> dict[str, Any]:
        return {"registration_id": self.registration_id, "name": self.name,
                "organisation": self.organisation, "org_type": self.org_type,
                "prefecture": self.prefecture}


@dataclass(frozen=True)
class Team:
    number: int
    members: tuple[Member, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `cyder-bot teams --format json`."""
        return {"team": self.number,
                "members": [{k: v for k, v in m.as_dict().items() if k != "registration_id"}
                            for m in self.members]}


def team_sizes(n: int) -> list[int]:
    """The team sizes for `n` people, largest first (see the module docstring)."""
    if n <= 0:
        return []
    if n < 3 or n == 5:
        return [n]
    threes = (TEAM_SIZE - n % TEAM_SIZE) % TEAM_SIZE
    return [TEAM_SIZE] * ((n - 3 * threes) // TEAM_SIZE) + [3] * threes


def team_blocks(members: Iterable[Member]) -> list[tuple[Member, ...]]:
    """Groups that must stay together: the first four people sharing a team key, when
    all four are of one organisation. Ordered by their first registration id."""
    by_key: dict[str, list[Member]] = defaultdict(list)
    for m in sorted(members, key=lambda m: m.registration_id):
        if m.team_key:
            by_key[m.team_key].append(m)
    blocks = []
    for group in by_key.values():
        four = group[:TEAM_SIZE]
        if len(four) == TEAM_SIZE and len({m.org_key for m in four}) == 1:
            blocks.append(tuple(four))
    return sorted(blocks, key=lambda b: b[0].registration_id)


def group_into_teams(
    members: Sequence[Member],
    existing: Mapping[int, int] | None = None,
    pinned: Mapping[int, int] | None = None,
) -> list[Team]:
    """Group `members` into teams (pure and deterministic).

    `existing` maps registration id -> team number of a previous forming: people keep
    their team as far as the rules allow. `pinned` (staff moves) is always honoured.
    """
    unique = {m.registration_id: m for m in members}
    people = [unique[k] for k in sorted(unique)]
    if not people:
        return []
    pins = {r: int(t) for r, t in (pinned or {}).items() if r in unique and int(t) >= 1}
    keep = {r: int(t) for r, t in (existing or {}).items()
            if r in unique and r not in pins and int(t) >= 1}
    if keep:
        # Keep what the rules allow and move the fewest people to restore them; only
        # when no placement within the rules exists around the kept teams, form afresh.
        kept = _Forming(people, pins, keep).run()
        if kept.follows_rules():
            return kept.teams()
        fresh = _Forming(people, pins, {}).run()
        return (fresh if fresh.follows_rules() else kept).teams()
    return _Forming(people, pins, {}).run().teams()


class _Forming:
    """One attempt at forming teams; `follows_rules()` checks the org spread."""

    def __init__(self, people: list[Member], pins: dict[int, int], keep: dict[int, int]) -> None:
        self.people = people
        self.pins = pins
        self.keep = keep
        self.sizes = team_sizes(len(people))
        self.assigned: dict[int, int] = {}
        self.block_teams: set[int] = set()
        self.free_members: list[Member] = []
        self.free_teams = 0

    def run(self) -> _Forming:
        count = len(self.sizes)
        numbers = range(1, max([count, *self.pins.values()]) + 1)
        pinned_in: Counter[int] = Counter(self.pins.values())
        blocks = team_blocks(m for m in self.people if m.registration_id not in self.pins)

        # Which team numbers get the larger sizes: those holding a kept block first,
        # then those keeping the most people, so that shrinking disturbs the fewest.
        kept_block_team: dict[int, int] = {}
        for i, block in enumerate(blocks):
            olds = {self.keep.get(m.registration_id) for m in block}
            if len(olds) == 1 and (t := olds.pop()) is not None and t <= count \
                    and t not in kept_block_team.values():
                kept_block_team[i] = t
        # People a team can keep: those kept there, at most ceil(colleagues / teams) of
        # an organisation (people over that must move anyway), and the pinned.
        by_id = {m.registration_id: m for m in self.people}
        kept_orgs = Counter((t, by_id[r].org_key) for r, t in self.keep.items() if t <= count)
        org_all = Counter(m.org_key for m in self.people if m.registration_id not in self.pins)
        held: Counter[int] = Counter()
        for (t, o), c in kept_orgs.items():
            held[t] += min(c, math.ceil(org_all[o] / count))
        held.update(t for t in self.pins.values() if t <= count)
        with_block = set(kept_block_team.values())
        order = sorted(range(1, count + 1), key=lambda t: (t not in with_block, -held[t], t))
        capacity = dict.fromkeys(numbers, 0)
        for t, size in zip(order, sorted(self.sizes, reverse=True), strict=True):
            capacity[t] = size
        left = {t: max(0, capacity[t] - pinned_in[t]) for t in numbers}
        self.assigned.update(self.pins)

        # Blocks: their kept team first, else the free team of four where gathering the
        # block moves the fewest people (its members elsewhere plus the others kept there).
        loose: list[Member] = []
        for i, block in enumerate(blocks):
            t = kept_block_team.get(i)
            if t is None or left[t] < TEAM_SIZE or t in self.block_teams:
                choices = [u for u in numbers if left[u] >= TEAM_SIZE and u not in self.block_teams]
                inside = Counter(self.keep.get(m.registration_id) for m in block)
                t = min(choices, key=lambda u: (TEAM_SIZE + held[u] - 2 * inside[u], held[u], u),
                        default=None)
            if t is None:
                loose.extend(block)
                continue
            self.block_teams.add(t)
            left[t] -= TEAM_SIZE
            for m in block:
                self.assigned[m.registration_id] = t
        free = [m for m in self.people if m.registration_id not in self.assigned]
        self.free_members = free
        self.free_teams = sum(1 for t in numbers if left[t] > 0) or 1
        org_total = Counter(m.org_key for m in free)
        type_total = Counter(m.org_type for m in free)
        pref_total = Counter(m.prefecture for m in free)
        bound = {o: math.ceil(c / self.free_teams) for o, c in org_total.items()}

        orgs: dict[int, Counter[str]] = {t: Counter() for t in numbers}
        types: dict[int, Counter[str]] = {t: Counter() for t in numbers}
        prefs: dict[int, Counter[str]] = {t: Counter() for t in numbers}
        for r, t in self.pins.items():
            m = by_id[r]
            types[t][m.org_type] += 1
            prefs[t][m.prefecture] += 1

        def put(m: Member, t: int) -> None:
            self.assigned[m.registration_id] = t
            left[t] -= 1
            orgs[t][m.org_key] += 1
            types[t][m.org_type] += 1
            prefs[t][m.prefecture] += 1

        # Keep existing places where capacity and the organisation spread allow.
        rest = []
        for m in sorted(free, key=lambda m: (self.keep.get(m.registration_id, 0),
                                             m.registration_id)):
            t = self.keep.get(m.registration_id)
            if t is not None and t in left and left[t] > 0 and orgs[t][m.org_key] < bound[m.org_key]:
                put(m, t)
            else:
                rest.append(m)

        # Everyone else is dealt like cards into the free seats, row by row (first seat
        # of every team, then second seats...): the largest organisations first, each
        # as one run, so that a run of m people lands in m different teams (or at most
        # ceil(m / teams) per team); then people without colleagues grouped by org type
        # and prefecture, so that those spread evenly too.
        rest_orgs = Counter(m.org_key for m in rest)

        def order_key(m: Member) -> tuple[Any, ...]:
            if rest_orgs[m.org_key] > 1:
                return (0, -rest_orgs[m.org_key], m.org_key, m.org_type, m.prefecture,
                        m.registration_id)
            return (1, -type_total[m.org_type], m.org_type, -pref_total[m.prefecture],
                    m.prefecture, m.registration_id)

        if self.keep:
            # Re-forming: everyone displaced (their team dissolved or shrank, or their
            # organisation is over its spread there) or new is placed along a shortest
            # augmenting path, moving as few of the kept people as possible.
            self._orgs, self._bound, self._left = orgs, bound, left
            self._types, self._prefs = types, prefs
            self._where: dict[int, list[Member]] = defaultdict(list)
            for m in free:
                if m.registration_id in self.assigned:
                    self._where[self.assigned[m.registration_id]].append(m)
            for m in sorted(rest, key=order_key):
                self._insert(m, numbers)
            return self
        ordered = sorted((t for t in numbers if left[t] > 0), key=lambda t: (-left[t], t))
        seats = [t for row in range(max((left[t] for t in ordered), default=0))
                 for t in ordered if left[t] > row]
        assert len(seats) >= len(rest), "the sizes always seat everyone"
        for m, t in zip(sorted(rest, key=order_key), seats, strict=False):
            put(m, t)
        self._orgs = orgs
        self._bound = bound
        return self

    def follows_rules(self) -> bool:
        return all(c <= self._bound[o] for counter in self._orgs.values() for o, c in counter.items())

    def _insert(self, new: Member, numbers: range) -> None:
        """Seat `new` by the cheapest augmenting path in the flow network organisations ->
        teams (at most `bound[org]` per team) -> free seats: `new` enters a team u where
        their organisation may still go; if u is full, one movable person p of another
        organisation leaves u for a team where p's organisation may go, and so on until
        a team with a free seat. Each step moves one person; the cost counts the people
        taken out of their existing team (moving someone already displaced is free), then
        the steps. Shortest augmenting paths find a placement within the rules whenever
        one exists around the people fixed so far (max-flow); when none does, `new` takes
        the free seat with the fewest colleagues and `follows_rules()` reports it."""
        orgs, bound, left, where = self._orgs, self._bound, self._left, self._where

        def at_home(m: Member, t: int) -> bool:
            return self.keep.get(m.registration_id) == t

        def enter_order(m: Member) -> list[int]:
            return sorted((t for t in numbers if orgs[t][m.org_key] < bound[m.org_key]),
                          key=lambda t: (orgs[t][m.org_key], self._types[t][m.org_type],
                                         self._prefs[t][m.prefecture], -left[t], t))

        # Dijkstra over teams: state = (cost, steps, tie, team, path), where path is the
        # list of (person, team entered); the person moving next is chosen per team.
        tie = 0
        heap: list[tuple[int, int, int, int, tuple[tuple[Member, int], ...]]] = []
        for t in enter_order(new):
            heap.append((0, 1, tie, t, ((new, t),)))
            tie += 1
        heapq.heapify(heap)
        done: set[int] = set()
        used_orgs = {new.org_key}
        found = None
        while heap:
            cost, steps, _, u, path = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if left[u] > 0:
                found = path
                break
            on_path = {m.org_key for m, _ in path} | used_orgs
            incoming = path[-1][0].org_key
            movable = sorted((m for m in where[u] if m.org_key not in on_path
                              and m.org_key != incoming),
                             key=lambda m: (at_home(m, u), m.org_key, -m.registration_id))
            seen_orgs: set[str] = set()
            for p in movable:
                if p.org_key in seen_orgs:
                    continue
                seen_orgs.add(p.org_key)
                step_cost = cost + at_home(p, u)
                for v in enter_order(p):
                    if v not in done and v != u:
                        heapq.heappush(heap, (step_cost, steps + 1, tie, v, (*path, (p, v))))
                        tie += 1
        if found is None:
            t = min((t for t in numbers if left[t] > 0),
                    key=lambda t: (orgs[t][new.org_key], -left[t], t))
            found = ((new, t),)
        for m, v in found:
            if (was := self.assigned.get(m.registration_id)) is not None:
                where[was].remove(m)
                orgs[was][m.org_key] -= 1
                self._types[was][m.org_type] -= 1
                self._prefs[was][m.prefecture] -= 1
            self.assigned[m.registration_id] = v
            where[v].append(m)
            orgs[v][m.org_key] += 1
            self._types[v][m.org_type] += 1
            self._prefs[v][m.prefecture] += 1
        left[found[-1][1]] -= 1

    def teams(self) -> list[Team]:
        by_team: dict[int, list[Member]] = defaultdict(list)
        for m in self.people:
            by_team[self.assigned[m.registration_id]].append(m)
        return [Team(t, tuple(by_team[t])) for t in sorted(by_team)]


# -- stored teams -----------------------------------------------------------------------------

_MEMBERS_SQL = (
    "select r.id, r.name, r.organisation, r.org_type, r.prefecture, r.team_key, "
    "t.team, t.pinned from registrations r "
    "left join teams t on t.registration_id = r.id and t.session_id = r.session_id "
    "where r.session_id = ? and r.status = 'registered' order by r.id"
)


def _member(row: Mapping[str, Any]) -> Member:
    return Member(row["id"], row["name"], row["organisation"] or "", row["org_type"] or "",
                  row["prefecture"] or "", row["team_key"] or None)


def _session_id(catalog: Catalog, session_id: str) -> str:
    """The session's id, checked with one indexed read (no catalog snapshot rebuild)."""
    sid = (session_id or "").strip()
    if catalog.store.one("select id from sessions where id = ?", [sid]) is None:
        catalog.session(sid)  # raises NotFound with the usual message
    return sid


def form_teams(catalog: Catalog, session_id: str, *, now: dt.datetime) -> list[Team]:
    """Form (or re-form) a session's teams from its registrants and store them.

    Existing teams are kept as far as the rules allow and staff moves are kept.
    """
    sid = _session_id(catalog, session_id)
    with catalog.store.write() as db:
        rows = list(db.query(_MEMBERS_SQL, [sid]))
        members = [_member(r) for r in rows]
        existing = {r["id"]: r["team"] for r in rows if r["team"] is not None}
        pinned = {r["id"]: r["team"] for r in rows if r["team"] is not None and r["pinned"]}
        teams = group_into_teams(members, existing, pinned)
        db.execute("delete from teams where session_id = ?", [sid])
        db.conn.executemany(
            "insert into teams (session_id, registration_id, team, pinned) values (?, ?, ?, ?)",
            [(sid, m.registration_id, t.number, int(m.registration_id in pinned))
             for t in teams for m in t.members])
    return teams


def current_teams(catalog: Catalog, session_id: str) -> list[Team]:
    """The stored teams of a session, as they are (registrants not yet placed are left out)."""
    sid = _session_id(catalog, session_id)
    by_team: dict[int, list[Member]] = defaultdict(list)
    for row in catalog.store.query(_MEMBERS_SQL, [sid]):
        if row["team"] is not None:
            by_team[row["team"]].append(_member(row))
    return [Team(t, tuple(by_team[t])) for t in sorted(by_team)]


def team_of(catalog: Catalog, registration_id: int) -> int | None:
    """The stored team number of one registration, if any."""
    row = catalog.store.one("select team from teams where registration_id = ?", [registration_id])
    return None if row is None else int(row["team"])


def move_member(
    catalog: Catalog, session_id: str, registration_id: int, team: int, *, now: dt.datetime
) -> list[Team]:
    """Staff move: put one registrant into `team` (an existing team or the next new
    number) and pin them there, so that re-forming keeps the move."""
    session = catalog.session(session_id)
    row = catalog.store.one(
        "select id, status from registrations where id = ? and session_id = ?",
        [registration_id, session.id])
    if row is None:
        raise NotFound(f"registration {registration_id} is not in session {session.id}",
                       f"申込 {registration_id} はこの開催回 {session.id} にありません。")
    if row["status"] != "registered":
        raise InvalidInput(f"registration {registration_id} is {row['status']}, not registered; "
                           "only registrants are put into teams",
                           f"申込 {registration_id} は登録済みではありません（{row['status']}）。"
                           "チームに入れるのは登録済みの方だけです。")
    if not current_teams(catalog, session.id):
        form_teams(catalog, session.id, now=now)
    numbers = [t.number for t in current_teams(catalog, session.id)]
    highest = max(numbers, default=0) + 1
    if isinstance(team, bool) or not isinstance(team, int) or not 1 <= team <= highest:
        raise InvalidInput(f"team {team!r} does not exist; choose 1-{highest}",
                           f"チーム {team!r} はありません。1〜{highest} から選んでください。")
    with catalog.store.write() as db:
        db.execute(
            "insert into teams (session_id, registration_id, team, pinned) values (?, ?, ?, 1) "
            "on conflict (registration_id) do update set session_id = excluded.session_id, "
            "team = excluded.team, pinned = 1", [session.id, registration_id, team])
    return current_teams(catalog, session.id)


def check_team_key(
    catalog: Catalog, session_id: str, team_key: str, organisation: str, *, adding: int = 1
) -> None:
    """A team key (`--as-team KEY`) names up to four people of ONE organisation in a
    session: InvalidInput when `adding` more people of `organisation` would break that."""
    rows = catalog.store.query(
        "select organisation from registrations where session_id = ? and team_key = ? "
        "and status in ('registered', 'waitlisted')", [session_id, team_key])
    orgs = {_fold(r["organisation"]) for r in rows}
    if orgs and orgs != {_fold(organisation)}:
        raise InvalidInput(f"team {team_key!r} is another organisation's; a team key joins "
                           "people of one organisation",
                           f"チーム {team_key!r} は別の組織のものです"
                           "（同じ組織の方だけが同じキーを使えます）。")
    if len(rows) + adding > TEAM_SIZE:
        raise InvalidInput(f"team {team_key!r} already has {len(rows)} people; a team is "
                           f"at most {TEAM_SIZE}",
                           f"チーム {team_key!r} はすでに{len(rows)}名です（1チーム{TEAM_SIZE}名まで）。")
