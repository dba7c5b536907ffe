"""Nearby-session search speed and cold start.

Prints queries/s and p99 latency for a mix of point, prefecture and region
queries, beside a baseline measured in the same run (a primary-key lookup in
the same SQLite file), and the cold start of a new process to its first answer
beside a bare `python -c pass`. Targets: p99 < 1 ms; cold start < 1 s.

    .venv/bin/python -m benchmarks.bench_catalog
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catalog import places
from catalog.clock import Clock
from catalog.eligibility import Profile
from catalog.service import Catalog
from catalog.store import Store
from schedules.loader import ensure_loaded

COLD = """
import time; t0 = time.perf_counter()
from catalog.service import Catalog; from catalog.store import Store
from schedules.loader import ensure_loaded; from catalog.clock import Clock
import sys
store = Store.open(sys.argv[1]); ensure_loaded(store, Clock().now())
hits = Catalog(store).find(near_prefecture=34, limit=5)
assert hits
print(time.perf_counter() - t0)
"""


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def timed(fn, args_list) -> list[float]:
    out = []
    for args in args_list:
        t = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - t)
    return out


def main(n: int = 20000) -> None:
    tmp = Path(tempfile.mkdtemp())
    store = Store.open(tmp / "bench.db")
    ensure_loaded(store, Clock().now())
    catalog = Catalog(store)
    rng = random.Random(7)
    prefs = [p.code for p in places.PREFECTURES]
    regions = [r.name for r in places.REGIONS]
    profiles = [None, Profile("local"), Profile("private")]

    def query(kind: int, i: int) -> None:
        prof = profiles[i % 3]
        if kind == 0:
            catalog.find(near=(rng.uniform(31, 44), rng.uniform(129, 145)), eligible_for=prof, limit=10)
        elif kind == 1:
            catalog.find(near_prefecture=prefs[i % 47], eligible_for=prof, limit=10)
        else:
            catalog.find(regions=[regions[i % 11]], eligible_for=prof)

    ids = [s.id for s in catalog.all_sessions()]

    def baseline(i: int) -> None:
        store.db.execute("select * from sessions where id = ?", [ids[i % len(ids)]]).fetchone()

    query(0, 0)  # warm the snapshot
    base = timed(baseline, [(i,) for i in range(n)])
    mix = timed(query, [(i % 3, i) for i in range(n)])
    base_rate, mix_rate = n / sum(base), n / sum(mix)
    print(f"baseline (PK lookup): {base_rate:,.0f}/s  p99 {p99(base) * 1e3:.3f} ms")
    print(f"nearby mix          : {mix_rate:,.0f}/s  p99 {p99(mix) * 1e3:.3f} ms  (target p99 < 1 ms)")
    print(f"ratio mix/baseline  : rate {mix_rate / base_rate:.3f}  p99 {p99(mix) / p99(base):.1f}x")

    bare = []
    cold = []
    for k in range(3):
        db = tmp / f"cold{k}.db"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", COLD, str(db)], check=True, capture_output=True)
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", COLD, str(db)], check=True, capture_output=True)
        cold.append(time.perf_counter() - t)
    print(
        f"cold start to first answer: {min(cold):.3f} s best, {max(cold):.3f} s worst "
        f"(new DB and existing DB; target < 1 s); bare interpreter {min(bare):.3f} s; "
        f"ratio {min(cold) / min(bare):.1f}x"
    )


if __name__ == "__main__":
    main()
