"""Teams of four for a session's registrants: pure grouping plus the stored teams.

The rules (issue 5 §2, issue 13 §1), in order of priority:

1. Only registrants (not the waitlist) are grouped; staff moves (``pinned``) always win.
2. A declared team — the first four people sharing a ``team_key``, all of one
   organisation (``--as-team``, the import's ``team_key`` column, "one team of four" in
   chat) — is always one team of its own, untouched by re-forming. When staff move one
   of them elsewhere, the others still stay together.
3. Everyone else ("the others") is put in teams of three and four: fours when the count
   divides by four, otherwise as few threes as needed (7 = 4+3, 6 = 3+3, 9 = 3+3+3).
   When the others cannot all be put in threes and fours (one, two or five of them),
   they take the nearest shape with one exception: one team of five, or of one or two.
4. People of one organisation are spread over the other teams as evenly as possible:
   nobody shares a team with a colleague unless the organisation has more people than
   there are teams (then at most ``ceil(people / teams)`` per team).
5. Organisation types, then prefectures, are spread as evenly as the above allows.
6. Deterministic: the result depends only on the members (not their order), the
   existing assignment and the pins.
7. Re-forming moves nobody whose team is still valid. Teams keep their numbers and
   their people; newcomers fill teams short of four, then form new teams (numbered with
   the lowest free numbers). People move only where a team cannot stay within rules
   3-4 (left with one or two people after cancellations, an organisation over its
   spread once there are more teams), and then as few as the rules allow: the sizes are
   planned to keep the most people in place and then to use the fewest teams, and
   everyone displaced or new is seated along a shortest augmenting path (each step
   moves one person into a team where their organisation may go).

A team that breaks a rule — a size other than three or four, an organisation over its
spread, a declared team split — carries the reasons in ``Team.exceptions``, for staff to
accept or change. A staff move that makes a team of more than four, puts an
organisation over its spread or splits a declared team is refused with
`TeamRuleError`, unless staff confirm it (``force=True``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.i18n import ByLang, Joined, Lazy, Say, english
from catalog.i18n import gettext_lazy as _l
from catalog.service import Catalog

TEAM_SIZE = 4
SIZES = (3, 4)  # the sizes a team keeps to; anything else is an exception
MAX_PLANS = 4  # size plans tried per forming, the most promising first
_SQLITE_MAX_INT = 2**63 - 1


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
        return {
            "registration_id": self.registration_id,
            "name": self.name,
            "organisation": self.organisation,
            "org_type": self.org_type,
            "prefecture": self.prefecture,
        }


@dataclass(frozen=True)
class TeamException:
    """One rule a team breaks, for staff to accept or change: `message` is a gettext
    message (`catalog.i18n`), said in the staff member's language where it is shown.

    `code` is "size" (not three or four people), "organisation" (one organisation over
    its spread) or "declared" (a declared team split); `subject` is the folded
    organisation or the team key it is about."""

    code: str
    message: Lazy
    subject: str = ""

    @property
    def en(self) -> str:
        """The English (what the command line prints)."""
        return str(self.message)

    def as_dict(self, say: Say = english) -> dict[str, str]:
        """`code` and the message in English and Japanese (`say` translates: pass
        `bot.telegram.i18n.say`; the default says both in English)."""
        return {"code": self.code, "en": say(self.message, "en"), "ja": say(self.message, "ja")}


@dataclass(frozen=True)
class Team:
    number: int
    members: tuple[Member, ...]
    exceptions: tuple[TeamException, ...] = ()

    @property
    def is_exception(self) -> bool:
        """True when the team breaks a rule (staff accept it or change it)."""
        return bool(self.exceptions)

    @property
    def exceptions_said(self) -> Joined:
        """The reasons in one line, to be said in a language ("" when the team keeps every
        rule): `say(team.exceptions_said, lang)`."""
        return Joined(ByLang("。", "; "), [e.message for e in self.exceptions])

    def as_dict(self, say: Say = english) -> dict[str, Any]:
        """The JSON shape of `cyder-bot teams --format json` (`say` as for
        `TeamException.as_dict`)."""
        return {
            "team": self.number,
            "members": [
                {k: v for k, v in m.as_dict().items() if k != "registration_id"} for m in self.members
            ],
            "exceptions": [e.as_dict(say) for e in self.exceptions],
        }


class TeamRuleError(CatalogError):
    """A staff move that breaks the team rules; made only when staff confirm (force)."""

    code = "team_rules"


def team_sizes(n: int) -> list[int]:
    """The team sizes for `n` people, largest first (rule 3 of the module docstring)."""
    if n <= 0:
        return []
    if n < 3 or n == 5:
        return [n]
    threes = (TEAM_SIZE - n % TEAM_SIZE) % TEAM_SIZE
    return [TEAM_SIZE] * ((n - 3 * threes) // TEAM_SIZE) + [3] * threes


def team_blocks(members: Iterable[Member]) -> list[tuple[Member, ...]]:
    """The declared teams: the first four people sharing a team key, when all four are
    of one organisation. Ordered by their first registration id."""
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


# -- the exceptions staff see -------------------------------------------------------------


def flag_exceptions(teams: Iterable[Team]) -> list[Team]:
    """The same teams, in number order, each carrying the rules it breaks."""
    by_team = {t.number: t.members for t in teams}
    found = _exceptions(by_team)
    return [Team(n, by_team[n], found.get(n, ())) for n in sorted(by_team)]


def _exceptions(by_team: Mapping[int, Sequence[Member]]) -> dict[int, tuple[TeamException, ...]]:
    """The rules each team breaks, judged on the teams as they are (however they came
    about): its size, each organisation over its spread, a declared team split."""
    where = {m.registration_id: t for t, ms in by_team.items() for m in ms}
    split: dict[int, list[TeamException]] = defaultdict(list)
    declared_at: set[int] = set()
    exempt: set[int] = set()  # declared members in their declared team: not spread
    for block in team_blocks(m for ms in by_team.values() for m in ms):
        spots = Counter(where[m.registration_id] for m in block)
        home = min(spots, key=lambda t: (-spots[t], t))
        declared_at.add(home)
        exempt.update(m.registration_id for m in block if where[m.registration_id] == home)
        if len(spots) > 1:
            key = block[0].team_key or ""
            numbers = ", ".join(str(t) for t in sorted(spots))
            e = TeamException(
                "declared",
                _l("the declared team {key!r} is split over teams {numbers}", key=key, numbers=numbers),
                key,
            )
            for t in spots:
                split[t].append(e)
    loose_teams = sum(1 for t in by_team if t not in declared_at) or 1
    totals = Counter(m.org_key for ms in by_team.values() for m in ms if m.registration_id not in exempt)
    out: dict[int, tuple[TeamException, ...]] = {}
    for t, ms in by_team.items():
        found = []
        if len(ms) not in SIZES:
            found.append(TeamException("size", _l("a team of {n} (teams are of three or four)", n=len(ms))))
        counts = Counter(m.org_key for m in ms if m.registration_id not in exempt)
        names = {m.org_key: m.organisation for m in reversed(ms)}
        for org, c in counts.items():
            allowed = math.ceil(totals[org] / loose_teams)
            if c > allowed:
                found.append(
                    TeamException(
                        "organisation",
                        _l(
                            "{n} people of {organisation} (spread, at most {allowed} per team)",
                            n=c,
                            organisation=names[org],
                            allowed=allowed,
                        ),
                        org,
                    )
                )
        found.extend(split.get(t, ()))
        if found:
            out[t] = tuple(found)
    return out


# -- forming -------------------------------------------------------------------------------


def group_into_teams(
    members: Sequence[Member],
    existing: Mapping[int, int] | None = None,
    pinned: Mapping[int, int] | None = None,
) -> list[Team]:
    """Group `members` into teams (pure and deterministic), exceptions flagged.

    `existing` maps registration id -> team number of a previous forming: people keep
    their team as far as the rules allow. `pinned` (staff moves) is always honoured.
    """
    unique = {m.registration_id: m for m in members}
    people = [unique[k] for k in sorted(unique)]
    if not people:
        return []
    pins = {r: int(t) for r, t in (pinned or {}).items() if r in unique and int(t) >= 1}
    keep = {r: int(t) for r, t in (existing or {}).items() if r in unique and r not in pins and int(t) >= 1}
    best = _best_forming(_Layout(people, pins, keep))
    if keep and best.score()[0] > 0:
        # Kept teams that cannot be made to follow the rules: form afresh when that does.
        fresh = _best_forming(_Layout(people, pins, {}))
        if fresh.score()[0] < best.score()[0]:
            best = fresh
    return best.teams()


def _best_forming(layout: _Layout) -> _Forming:
    """Try the size plans, most promising first, until no later plan can do better."""
    best: _Forming | None = None
    for plan in layout.plans()[:MAX_PLANS]:
        if best is not None and best.score() <= plan.bound:
            break
        attempt = _Forming(layout, plan).run()
        if best is None or attempt.score() < best.score():
            best = attempt
    assert best is not None, "there is always a plan"
    return best


@dataclass(frozen=True)
class _Plan:
    """Team sizes to form: `sizes` gives the final size of each kept team number
    (0 dissolves it), `new` the sizes of the new teams. `bound` is the best
    score (see `_Forming.score`) any forming by this plan can reach."""

    sizes: tuple[tuple[int, int], ...]
    new: tuple[int, ...]
    bound: tuple[int, int, int, int]
    order: tuple[int, ...] = ()


class _Layout:
    """What every forming attempt shares: the declared teams and where they go, who is
    kept in which team, and the size plans worth trying."""

    def __init__(self, people: list[Member], pins: dict[int, int], keep: dict[int, int]) -> None:
        self.people = people
        self.pins = pins
        self.keep = keep
        self.by_id = {m.registration_id: m for m in people}
        # The unpinned members of each declared team stay together.
        self.declared = [
            rest
            for block in team_blocks(people)
            if (rest := [m for m in block if m.registration_id not in pins])
        ]
        in_declared = {m.registration_id for rest in self.declared for m in rest}
        self.others = [
            m for m in people if m.registration_id not in pins and m.registration_id not in in_declared
        ]
        self.declared_numbers = self._declared_numbers()
        self.taken = {t for t in self.declared_numbers if t is not None}
        self.held: Counter[int] = Counter(
            t for m in self.others if (t := keep.get(m.registration_id)) is not None and t not in self.taken
        )
        self.pinned_in: Counter[int] = Counter(t for t in pins.values() if t not in self.taken)
        self.kept_numbers = sorted(set(self.held) | set(self.pinned_in))
        # The organisations as the spread rule counts them, kept or pinned per team.
        self.org_totals = Counter(m.org_key for m in self.others)
        self.org_totals.update(self.by_id[r].org_key for r, t in pins.items() if t not in self.taken)
        self.home_orgs: Counter[tuple[int, str]] = Counter(
            (self.keep[m.registration_id], m.org_key)
            for m in self.others
            if self.keep.get(m.registration_id) in self.held
        )
        self.pinned_orgs: Counter[tuple[int, str]] = Counter(
            (t, self.by_id[r].org_key) for r, t in pins.items() if t not in self.taken
        )

    def _declared_numbers(self) -> list[int | None]:
        """Each declared team's number: where most of it already is, unless gathering
        it there moves more people (its members elsewhere plus the others kept there)
        than giving it a new number; None for a new number."""
        kept_at = Counter(t for r, t in self.keep.items())
        pinned_at = Counter(self.pins.values())
        taken: set[int] = set()
        out: list[int | None] = []
        for rest in self.declared:
            inside = Counter(t for m in rest if (t := self.keep.get(m.registration_id)) is not None)
            kept = sum(inside.values())
            costs = [
                ((kept - inside[t]) + (kept_at[t] - inside[t]) + pinned_at[t], -inside[t], t)
                for t in inside
                if t not in taken
            ]
            choice = min(costs, default=None)
            if choice is not None and choice[0] <= kept:
                taken.add(choice[2])
                out.append(choice[2])
            else:
                out.append(None)
        return out

    # -- size plans

    def plans(self) -> list[_Plan]:
        """The size plans to try, the most promising first: those that keep everyone in
        their team (fewest teams first), else the best of planning every team's size."""
        n = len(self.others)
        kept = [(t, self.held[t], self.pinned_in[t]) for t in self.kept_numbers]
        plans = list(self._plans_keeping_everyone(kept, n))
        if not plans:
            plans = self._plans_by_size(kept, n)
        return sorted(plans, key=lambda p: (p.bound, p.order))

    def _plans_keeping_everyone(self, kept: list[tuple[int, int, int]], n: int) -> Iterator[_Plan]:
        """Plans where every kept team stays (three or four people) and newcomers fill
        them, then form new teams: one plan per way of splitting the newcomers."""
        if any(h + p > TEAM_SIZE for _, h, p in kept):
            return
        low = {t: max(3, h + p) for t, h, p in kept}
        least = sum(low[t] - p for t, _, p in kept)
        most = sum(TEAM_SIZE - p for _, _, p in kept)
        fill_order = sorted(kept, key=lambda k: (-(k[1] + k[2]), k[0]))
        for seated in range(min(most, n), least - 1, -1):
            if n - seated in (1, 2, 5):
                continue
            sizes = dict(low)
            extra = seated - least
            for t, _, _ in fill_order:
                if extra and sizes[t] < TEAM_SIZE:
                    sizes[t] += 1
                    extra -= 1
            yield self._plan(sizes, tuple(team_sizes(n - seated)), seated)

    def _plans_by_size(self, kept: list[tuple[int, int, int]], n: int) -> list[_Plan]:
        """Plan every kept team's size (dissolve, three, four, or only its pinned people)
        by dynamic programming over the number of others seated in kept teams: fewest
        exceptions, then fewest moves, then fewest teams."""
        best: dict[int, tuple[int, int, int, int]] = {0: (0, 0, 0, 0)}
        steps: list[dict[int, tuple[int, int]]] = []
        for _t, h, p in kept:
            nxt: dict[int, tuple[int, int, int, int]] = {}
            back: dict[int, tuple[int, int]] = {}
            for seated, key in best.items():
                for size in _size_options(p):
                    c = size - p
                    if seated + c > n:
                        continue
                    k = (
                        key[0] + (size > 0 and size not in SIZES),
                        key[1] + (0 < size < 3),
                        key[2] + max(0, h - c),
                        key[3] + (size > 0),
                    )
                    cur = nxt.get(seated + c)
                    if cur is None or k < cur:
                        nxt[seated + c] = k
                        back[seated + c] = (seated, size)
            best = nxt
            steps.append(back)
        finals = []
        for seated, key in best.items():
            new = tuple(team_sizes(n - seated))
            finals.append(
                (
                    (
                        key[0] + sum(s not in SIZES for s in new),
                        key[1] + sum(s < 3 for s in new),
                        key[2],
                        key[3] + len(new),
                        -seated,
                    ),
                    seated,
                    new,
                )
            )
        plans = []
        for _key, seated, new in sorted(finals)[:MAX_PLANS]:
            sizes: dict[int, int] = {}
            at = seated
            for (t, _, _), back in zip(reversed(kept), reversed(steps), strict=True):
                at, sizes[t] = back[at]
            plans.append(self._plan(sizes, new, seated))
        return plans

    def _plan(self, sizes: dict[int, int], new: tuple[int, ...], seated: int) -> _Plan:
        teams = sum(1 for s in sizes.values() if s > 0) + len(new)
        exceptions = sum(1 for s in [*sizes.values(), *new] if s > 0 and s not in SIZES)
        small = sum(1 for s in [*sizes.values(), *new] if 0 < s < min(SIZES))
        # People who must leave a kept team: those over its size, or over their
        # organisation's spread there (whichever is more).
        spread_over: Counter[int] = Counter()
        for (t, org), home in self.home_orgs.items():
            allowed = math.ceil(self.org_totals[org] / max(1, teams))
            spread_over[t] += min(home, max(0, home + self.pinned_orgs[(t, org)] - allowed))
        # A dissolved team's number may go to a new team (the lowest free numbers go to
        # new declared teams, then to new teams, as `_Forming._number_the_teams` does):
        # its people may then stay, up to that team's size.
        used = self.taken | {t for t, s in sizes.items() if s > 0}
        free = (t for t in itertools.count(1) if t not in used)
        for number in self.declared_numbers:
            if number is None:
                next(free)
        reused = {next(free): size for size in new}
        moves = 0
        for t, size in sizes.items():
            c = max(0, size - self.pinned_in[t])
            moves += (
                max(0, self.held[t] - reused.get(t, 0))
                if size == 0
                else max(self.held[t] - c, spread_over[t])
            )
        moves += sum(1 for m in self.others if self.keep.get(m.registration_id) in self.taken)
        for rest, number in zip(self.declared, self.declared_numbers, strict=True):
            moves += sum(
                1 for m in rest if (k := self.keep.get(m.registration_id)) is not None and k != number
            )
        bound = (exceptions, small, moves, teams + len(self.declared))
        return _Plan(tuple(sorted(sizes.items())), new, bound, (-seated, *new))


def _size_options(pinned: int) -> tuple[int, ...]:
    """A kept team's possible final sizes: four, three, dissolved; a team holding pinned
    people keeps them (alone, when nobody else can join)."""
    if pinned == 0:
        return (4, 3, 0)
    return tuple(sorted({s for s in SIZES if s >= pinned} | {pinned}, reverse=True))


class _Forming:
    """One attempt at forming teams by one size plan, in named phases (see `run`)."""

    def __init__(self, layout: _Layout, plan: _Plan) -> None:
        self.layout = layout
        self.plan = plan
        self.assigned: dict[int, int] = {}
        self.declared_teams: list[int] = []
        self.left: dict[int, int] = {}  # seats for the others, per team
        self.extra: dict[int, int] = {}  # 1: a team of three that may take a fourth from the pool
        self.pool = 0  # fourth seats shared by the teams of three (who gets one is open)
        self.bound: dict[str, int] = {}
        self.orgs: dict[int, Counter[str]] = defaultdict(Counter)
        self.types: dict[int, Counter[str]] = defaultdict(Counter)
        self.prefs: dict[int, Counter[str]] = defaultdict(Counter)
        self.where: dict[int, list[Member]] = defaultdict(list)  # movable people per team
        self._score: tuple[int, int, int, int] | None = None

    def run(self) -> _Forming:
        self._number_the_teams()
        self._seat_pinned_people()
        self._seat_declared_teams()
        self._set_spread_limits()
        rest = self._keep_people_in_their_teams()
        if self.layout.keep or self.layout.pins:
            self._seat_by_fewest_moves(rest)
        else:
            self._deal_into_seats(rest)
        return self

    # -- phases

    def _number_the_teams(self) -> None:
        """Kept teams keep their numbers; new declared teams, then new teams, take the
        lowest free numbers. Seats: a kept team's planned size less its pinned people.
        Teams of three or four that nobody must leave share the fourth seats as a pool,
        so that newcomers fill whichever suits their organisation."""
        layout = self.layout
        sizes = dict(self.plan.sizes)
        used = layout.taken | {t for t, s in sizes.items() if s > 0}
        free = (t for t in itertools.count(1) if t not in used)
        self.declared_teams = [t if t is not None else next(free) for t in layout.declared_numbers]
        for size in self.plan.new:
            sizes[next(free)] = size
        for t, size in sorted(sizes.items()):
            if size == 0:
                continue
            pinned = layout.pinned_in[t]
            seats = size - pinned
            if size in SIZES and layout.held[t] + pinned <= 3:
                self.extra[t] = 1
                if size == TEAM_SIZE:
                    seats -= 1
                    self.pool += 1
            self.left[t] = seats

    def _seat_pinned_people(self) -> None:
        for r, t in self.layout.pins.items():
            self.assigned[r] = t
            if t in self.left:
                self._count(self.layout.by_id[r], t, 1)

    def _seat_declared_teams(self) -> None:
        for rest, t in zip(self.layout.declared, self.declared_teams, strict=True):
            for m in rest:
                self.assigned[m.registration_id] = t

    def _set_spread_limits(self) -> None:
        """At most ceil(people / teams) of an organisation per team, over the teams
        that are not declared teams."""
        teams = len(self.left) or 1
        self.bound = {o: math.ceil(c / teams) for o, c in self.layout.org_totals.items()}

    def _keep_people_in_their_teams(self) -> list[Member]:
        """Everyone stays where their team still has a seat and their organisation is
        within its spread there; the rest (displaced or new) is returned."""
        keep = self.layout.keep
        rest = []
        for m in sorted(
            self.layout.others, key=lambda m: (keep.get(m.registration_id, 0), m.registration_id)
        ):
            t = keep.get(m.registration_id)
            if t is not None and self.left.get(t, 0) > 0 and self.orgs[t][m.org_key] < self.bound[m.org_key]:
                self._put(m, t)
            else:
                rest.append(m)
        return rest

    def _order_key(self, rest: list[Member]) -> Any:
        """Largest organisations first, each as one run; then people without colleagues
        grouped by org type and prefecture, so that those spread evenly too."""
        rest_orgs = Counter(m.org_key for m in rest)
        type_total = Counter(m.org_type for m in self.layout.others)
        pref_total = Counter(m.prefecture for m in self.layout.others)

        def key(m: Member) -> tuple[Any, ...]:
            if rest_orgs[m.org_key] > 1:
                return (0, -rest_orgs[m.org_key], m.org_key, m.org_type, m.prefecture, m.registration_id)
            return (
                1,
                -type_total[m.org_type],
                m.org_type,
                -pref_total[m.prefecture],
                m.prefecture,
                m.registration_id,
            )

        return key

    def _deal_into_seats(self, rest: list[Member]) -> None:
        """A first forming: people are dealt like cards into the seats, row by row
        (first seat of every team, then second seats...), so that a run of m colleagues
        lands in m different teams (or at most ceil(m / teams) per team)."""
        for t in sorted(self.extra):  # the pool's fourth seats go to the lowest numbers
            if self.pool and self.extra[t]:
                self.left[t] += 1
                self.extra[t] = 0
                self.pool -= 1
        ordered = sorted((t for t in self.left if self.left[t] > 0), key=lambda t: (-self.left[t], t))
        seats = [
            t
            for row in range(max((self.left[t] for t in ordered), default=0))
            for t in ordered
            if self.left[t] > row
        ]
        assert len(seats) == len(rest), "the plan seats everyone"
        for m, t in zip(sorted(rest, key=self._order_key(rest)), seats, strict=True):
            self._put(m, t)

    def _seat_by_fewest_moves(self, rest: list[Member]) -> None:
        """Re-forming (or forming around staff moves): everyone displaced or new is seated
        along a shortest augmenting path, moving as few of the kept people as possible."""
        for m in sorted(rest, key=self._order_key(rest)):
            self._insert(m)

    # -- seats and counts

    def _has_seat(self, t: int) -> bool:
        return self.left.get(t, 0) > 0 or (self.pool > 0 and self.extra.get(t, 0) > 0)

    def _take_seat(self, t: int) -> None:
        if self.left[t] > 0:
            self.left[t] -= 1
        else:
            self.extra[t] -= 1
            self.pool -= 1

    def _count(self, m: Member, t: int, d: int) -> None:
        self.orgs[t][m.org_key] += d
        self.types[t][m.org_type] += d
        self.prefs[t][m.prefecture] += d

    def _put(self, m: Member, t: int) -> None:
        self.assigned[m.registration_id] = t
        self.where[t].append(m)
        self._count(m, t, 1)
        self._take_seat(t)

    def _insert(self, new: Member) -> None:
        """Seat `new` by the cheapest augmenting path in the flow network organisations ->
        teams (at most `bound[org]` per team) -> free seats: `new` enters a team u where
        their organisation may still go; if u is full, one movable person p of another
        organisation leaves u for a team where p's organisation may go, and so on until
        a team with a free seat. Each step moves one person; the cost counts the people
        taken out of their existing team (moving someone already displaced is free), then
        the steps. When no such path exists, `new` takes the free seat with the fewest
        colleagues (in their own team when it is one of those) and the team is flagged."""
        orgs, bound, where, keep = self.orgs, self.bound, self.where, self.layout.keep
        numbers = list(self.left)

        def enter_order(m: Member) -> list[int]:
            return sorted(
                (t for t in numbers if orgs[t][m.org_key] < bound[m.org_key]),
                key=lambda t: (
                    orgs[t][m.org_key],
                    self.types[t][m.org_type],
                    self.prefs[t][m.prefecture],
                    -self.left[t],
                    t,
                ),
            )

        # Dijkstra over teams: state = (cost, steps, tie, team, path), where path is the
        # list of (person, team entered); the person moving next is chosen per team.
        tie = itertools.count()
        heap: list[tuple[int, int, int, int, tuple[tuple[Member, int], ...]]] = [
            (0, 1, next(tie), t, ((new, t),)) for t in enter_order(new)
        ]
        heapq.heapify(heap)
        done: set[int] = set()
        found = None
        while heap:
            cost, steps, _, u, path = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if self._has_seat(u):
                found = path
                break
            on_path = {m.org_key for m, _ in path}
            movable = sorted(
                (m for m in where[u] if m.org_key not in on_path),
                key=lambda m: (keep.get(m.registration_id) == u, m.org_key, -m.registration_id),
            )
            seen_orgs: set[str] = set()
            for p in movable:
                if p.org_key in seen_orgs:
                    continue
                seen_orgs.add(p.org_key)
                step_cost = cost + (keep.get(p.registration_id) == u)
                for v in enter_order(p):
                    if v not in done and v != u:
                        heapq.heappush(heap, (step_cost, steps + 1, next(tie), v, (*path, (p, v))))
        if found is None:
            # among the teams with the fewest colleagues, their own team first (so that
            # re-forming what was formed moves nobody)
            t = min(
                (t for t in numbers if self._has_seat(t)),
                key=lambda t: (orgs[t][new.org_key], keep.get(new.registration_id) != t, -self.left[t], t),
            )
            found = ((new, t),)
        for m, v in found:
            if (was := self.assigned.get(m.registration_id)) is not None:
                where[was].remove(m)
                self._count(m, was, -1)
            self.assigned[m.registration_id] = v
            where[v].append(m)
            self._count(m, v, 1)
        self._take_seat(found[-1][1])

    # -- the result

    def _by_team(self) -> dict[int, list[Member]]:
        by_team: dict[int, list[Member]] = defaultdict(list)
        for m in self.layout.people:
            by_team[self.assigned[m.registration_id]].append(m)
        return by_team

    def score(self) -> tuple[int, int, int, int]:
        """(rules broken, teams under three, people moved from their existing team,
        teams): lower is better, so a team of five beats a three and a two."""
        if self._score is None:
            by_team = self._by_team()
            broken = sum(len(e) for e in _exceptions(by_team).values())
            small = sum(1 for ms in by_team.values() if len(ms) < min(SIZES))
            moved = sum(1 for r, t in self.layout.keep.items() if self.assigned[r] != t)
            self._score = (broken, small, moved, len(by_team))
        return self._score

    def teams(self) -> list[Team]:
        by_team = self._by_team()
        found = _exceptions(by_team)
        return [Team(t, tuple(by_team[t]), found.get(t, ())) for t in sorted(by_team)]


# -- stored teams -----------------------------------------------------------------------------

_MEMBERS_SQL = (
    "select r.id, r.name, r.organisation, r.org_type, r.prefecture, r.team_key, "
    "t.team, t.pinned from registrations r "
    "left join teams t on t.registration_id = r.id and t.session_id = r.session_id "
    "where r.session_id = ? and r.status = 'registered' order by r.id"
)


def _member(row: Mapping[str, Any]) -> Member:
    return Member(
        row["id"],
        row["name"],
        row["organisation"] or "",
        row["org_type"] or "",
        row["prefecture"] or "",
        row["team_key"] or None,
    )


def _session_id(catalog: Catalog, session_id: str) -> str:
    """The session's id, checked with one indexed read (no catalog snapshot rebuild)."""
    sid = (session_id or "").strip()
    if catalog.store.one("select id from sessions where id = ?", [sid]) is None:
        catalog.session(sid)  # raises NotFound with the usual message
    return sid


def form_teams(catalog: Catalog, session_id: str, *, now: dt.datetime) -> list[Team]:
    """Form (or re-form) a session's teams from its registrants and store them.

    Existing teams are kept as far as the rules allow and staff moves are kept; the
    teams come back with their exceptions flagged.
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
            [
                (sid, m.registration_id, t.number, int(m.registration_id in pinned))
                for t in teams
                for m in t.members
            ],
        )
    return teams


def current_teams(catalog: Catalog, session_id: str) -> list[Team]:
    """The stored teams of a session, as they are, exceptions flagged (registrants not
    yet placed are left out)."""
    sid = _session_id(catalog, session_id)
    by_team: dict[int, list[Member]] = defaultdict(list)
    for row in catalog.store.query(_MEMBERS_SQL, [sid]):
        if row["team"] is not None:
            by_team[row["team"]].append(_member(row))
    return flag_exceptions(Team(t, tuple(ms)) for t, ms in by_team.items())


def team_of(catalog: Catalog, registration_id: int) -> int | None:
    """The stored team number of one registration, if any."""
    row = catalog.store.one("select team from teams where registration_id = ?", [registration_id])
    return None if row is None else int(row["team"])


def move_problems(teams: Sequence[Team], mover: Member, target: int) -> list[Lazy]:
    """The rules moving `mover` into team `target` would break, as gettext reasons: a
    team of more than four, their organisation over its spread in `target`, their
    declared team split. Teams of one or two left behind are not refused (staff build
    teams one move at a time); they are flagged like any exception."""
    before = {t.number: [m for m in t.members if m.registration_id != mover.registration_id] for t in teams}
    source = next(
        (t.number for t in teams if any(m.registration_id == mover.registration_id for m in t.members)), None
    )
    if source == target:
        return []
    after = {t: ms for t, ms in before.items() if ms}
    after[target] = [*after.get(target, []), mover]
    problems = []
    size = len(after[target])
    if size > TEAM_SIZE:
        problems.append(_l("team {team} would have {n} people (a team is at most four)", team=target, n=size))
    for e in _exceptions(after).get(target, ()):
        if e.code == "organisation" and e.subject == mover.org_key:
            problems.append(_l("in team {team}: {reason}", team=target, reason=e.message))
    beside = {m.registration_id for m in before.get(source, [])} if source is not None else set()
    for block in team_blocks(m for ms in after.values() for m in ms):
        if mover in block and any(m.registration_id in beside for m in block):
            key = block[0].team_key
            problems.append(
                _l(
                    "{name} belongs to the declared team {key!r}; moving them splits it",
                    name=mover.name,
                    key=key,
                )
            )
    return problems


def move_member(
    catalog: Catalog,
    session_id: str,
    registration_id: int,
    team: int,
    *,
    now: dt.datetime,
    force: bool = False,
) -> list[Team]:
    """Staff move: put one registrant into `team` (an existing team or the next new
    number) and pin them there, so that re-forming keeps the move.

    A move that breaks the team rules (`move_problems`) raises `TeamRuleError` with the
    reasons, unless `force` (staff confirmed it); the teams then show the exception."""
    session = catalog.session(session_id)
    missing = NotFound(
        _l(
            "registration {registration} is not in session {session}",
            registration=registration_id,
            session=session.id,
        )
    )
    if (
        isinstance(registration_id, bool)
        or not isinstance(registration_id, int)
        or not 1 <= registration_id <= _SQLITE_MAX_INT
    ):
        raise missing
    row = catalog.store.one(
        "select id, status from registrations where id = ? and session_id = ?", [registration_id, session.id]
    )
    if row is None:
        raise missing
    if row["status"] != "registered":
        raise InvalidInput(
            _l(
                "registration {registration} is {status}, not registered; only "
                "registrants are put into teams",
                registration=registration_id,
                status=row["status"],
            )
        )
    teams = current_teams(catalog, session.id)
    if not teams:
        teams = form_teams(catalog, session.id, now=now)
    highest = max((t.number for t in teams), default=0) + 1
    if isinstance(team, bool) or not isinstance(team, int) or not 1 <= team <= highest:
        raise InvalidInput(_l("team {team!r} does not exist; choose 1-{highest}", team=team, highest=highest))
    if not force:
        mover = next(
            _member(r) for r in catalog.store.query(_MEMBERS_SQL, [session.id]) if r["id"] == registration_id
        )
        problems = move_problems(teams, mover, team)
        if problems:
            raise TeamRuleError(
                _l(
                    "moving #{registration} {name} into team {team} breaks the team rules: {problems}",
                    registration=registration_id,
                    name=mover.name,
                    team=team,
                    problems=Joined(ByLang("。", "; "), problems),
                )
            )
    with catalog.store.write() as db:
        db.execute(
            "insert into teams (session_id, registration_id, team, pinned) values (?, ?, ?, 1) "
            "on conflict (registration_id) do update set session_id = excluded.session_id, "
            "team = excluded.team, pinned = 1",
            [session.id, registration_id, team],
        )
    return current_teams(catalog, session.id)


def check_team_key(
    catalog: Catalog, session_id: str, team_key: str, organisation: str, *, adding: int = 1
) -> None:
    """A team key (`--as-team KEY`) names up to four people of ONE organisation in a
    session: InvalidInput when `adding` more people of `organisation` would break that."""
    rows = catalog.store.query(
        "select organisation from registrations where session_id = ? and team_key = ? "
        "and status in ('registered', 'waitlisted')",
        [session_id, team_key],
    )
    orgs = {_fold(r["organisation"]) for r in rows}
    if orgs and orgs != {_fold(organisation)}:
        raise InvalidInput(
            _l(
                "team {team!r} is another organisation's; a team key joins people of one organisation",
                team=team_key,
            )
        )
    if len(rows) + adding > TEAM_SIZE:
        raise InvalidInput(
            _l(
                "team {team!r} already has {n} people; a team is at most {size}",
                team=team_key,
                n=len(rows),
                size=TEAM_SIZE,
            )
        )
