"""Forming teams for 10,000 registrants across 100 sessions.

Prints the seconds for (1) the pure `group_into_teams` over every session, (2) the
same again re-forming with the previous teams kept (after light and after heavy
changes, with how many people stayed in their team), and (3) the stored path
`form_teams` (read registrants, group, write `teams`) for all 100 sessions of a
real SQLite file, each beside a baseline measured in the same run: a plain
`sorted()` of the same members by organisation, type and prefecture. Target: the
stored path under 1 s.

    .venv/bin/python -m benchmarks.bench_teams
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from catalog.clock import Clock
from catalog.service import Catalog
from catalog.store import Store
from catalog.teams import Member, form_teams, group_into_teams
from schedules.loader import ensure_loaded

ORG_TYPES = ["local", "national", "iaa", "designated", "infra", "private", "school"]
PREFS = ["北海道", "宮城県", "東京都", "愛知県", "大阪府", "広島県", "香川県", "福岡県", "沖縄県"]


def make_members(rng: random.Random, sessions: int, per_session: int) -> list[list[Member]]:
    """Per session: a few big organisations, many small ones, some whole teams."""
    out = []
    rid = 1
    for s in range(sessions):
        members: list[Member] = []
        while len(members) < per_session:
            if per_session - len(members) >= 4 and rng.random() < 0.05:
                org, key = f"s{s}-team{rid}", f"k{rid}"
                t, p = rng.choice(ORG_TYPES), rng.choice(PREFS)
                members.extend(Member(rid + i, f"n{rid + i}", org, t, p, key) for i in range(4))
                rid += 4
                continue
            org = f"org{int(rng.paretovariate(1.2)) % 40}"
            members.append(Member(rid, f"n{rid}", org, rng.choice(ORG_TYPES), rng.choice(PREFS)))
            rid += 1
        out.append(members)
    return out


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(sessions: int = 100, per_session: int = 100) -> None:
    rng = random.Random(2024)
    groups = make_members(rng, sessions, per_session)
    total = sum(len(g) for g in groups)

    def baseline() -> None:
        for g in groups:
            sorted(g, key=lambda m: (m.organisation, m.org_type, m.prefecture, m.registration_id))

    def pure() -> None:
        for g in groups:
            group_into_teams(g)

    formed = [group_into_teams(g) for g in groups]
    existing = [{m.registration_id: t.number for t in teams for m in t.members} for teams in formed]
    late = [
        g[5:] + [Member(10**6 + i, "late", "new-org", "local", "東京都")] for i, g in enumerate(groups)
    ]  # five cancellations and one late registration per session

    def reform() -> None:
        for g, old in zip(late, existing, strict=True):
            group_into_teams(g, old)

    # Heavy changes: about 30 cancellations and 10 late registrations per session, so
    # that many teams are left short and their sizes must be planned again.
    heavy = [
        [m for m in g if rng.random() > 0.3]
        + [
            Member(2 * 10**6 + 100 * i + j, "late", f"org{rng.randrange(40)}", "local", "東京都")
            for j in range(10)
        ]
        for i, g in enumerate(groups)
    ]

    def reform_heavy() -> None:
        for g, old in zip(heavy, existing, strict=True):
            group_into_teams(g, old)

    def kept(changed: list[list[Member]]) -> tuple[int, int]:
        stayed = moved = 0
        for g, old in zip(changed, existing, strict=True):
            for t in group_into_teams(g, old):
                for m in t.members:
                    if m.registration_id in old:
                        stayed += old[m.registration_id] == t.number
                        moved += old[m.registration_id] != t.number
        return stayed, moved

    stayed, moved = kept(late)
    heavy_stayed, heavy_moved = kept(heavy)

    base = best(baseline)
    t_pure = best(pure)
    t_reform = best(reform)
    t_heavy = best(reform_heavy)

    tmp = Path(tempfile.mkdtemp())
    store = Store.open(tmp / "bench.db")
    clock = Clock()
    ensure_loaded(store, clock.now())
    catalog = Catalog(store)
    ids = [s.id for s in catalog.all_sessions()][:sessions]
    stamp = clock.now().isoformat(timespec="seconds")
    with store.write() as db:
        db.table("registrations").insert_all(
            (
                {
                    "id": m.registration_id,
                    "session_id": sid,
                    "name": m.name,
                    "organisation": m.organisation,
                    "org_type": m.org_type,
                    "prefecture": m.prefecture,
                    "team_key": m.team_key,
                    "status": "registered",
                    "source": "bench",
                    "created_at": stamp,
                    "sequence": 0,
                }
                for sid, g in zip(ids, groups, strict=True)
                for m in g
            ),
            batch_size=1000,
        )
    now = clock.now()

    def stored() -> None:
        for sid in ids:
            form_teams(catalog, sid, now=now)

    t_first = best(stored, repeat=1)  # the first forming (nothing stored yet)
    t_stored = best(stored)  # re-forming with every team stored
    teams = sum(
        len(catalog.store.query("select distinct team from teams where session_id = ?", [sid])) for sid in ids
    )

    print(f"{total} registrants in {sessions} sessions, {teams} teams stored")
    print(f"baseline: sorted() of the same members  {base * 1000:8.1f} ms")
    print(
        f"group_into_teams, every session          {t_pure * 1000:8.1f} ms  ({t_pure / base:5.1f}x baseline)"
    )
    print(
        f"re-forming after changes (kept teams)    {t_reform * 1000:8.1f} ms"
        f"  ({t_reform / base:5.1f}x baseline)"
    )
    print(f"  (people kept in their team when re-forming: {stayed}/{stayed + moved})")
    print(
        f"re-forming after heavy changes           {t_heavy * 1000:8.1f} ms"
        f"  ({t_heavy / base:5.1f}x baseline)"
    )
    print(f"  (people kept: {heavy_stayed}/{heavy_stayed + heavy_moved})")
    print(
        f"form_teams stored, first forming         {t_first * 1000:8.1f} ms"
        f"  ({t_first / base:5.1f}x baseline)"
    )
    print(
        f"form_teams stored, re-forming            {t_stored * 1000:8.1f} ms"
        f"  ({t_stored / base:5.1f}x baseline)"
    )
    worst = max(t_first, t_stored)
    print(f"target: stored path under 1 s -> {'OK' if worst < 1.0 else 'MISSED'} ({worst:.3f} s)")


if __name__ == "__main__":
    main()
