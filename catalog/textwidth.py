"""Plain-text tables that line up in a terminal with Japanese (double-width) characters."""

from __future__ import annotations

from collections.abc import Sequence

from wcwidth import wcswidth, wcwidth


def width(text: str) -> int:
    """The columns `text` takes in a terminal: 2 for each wide (CJK, full-width) character,
    0 for combining marks and joiners, 1 otherwise; control characters count as nothing."""
    columns = wcswidth(text)
    if columns >= 0:
        return int(columns)
    return sum(max(int(wcwidth(ch)), 0) for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """`rows` under `headers`, columns padded to the widest cell, two spaces apart;
    None shows as an empty cell."""
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(vals, widths, strict=True)).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
