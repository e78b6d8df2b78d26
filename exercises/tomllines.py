"""Where a key stands in a TOML text: tomllib gives values without lines, and a refused scenario
must name its line. A small line scanner, good for the files people write by hand: table
headers, arrays of tables, `key = value` lines (dotted and quoted keys), values spanning lines."""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = Sequence[str | int]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


def _parts(dotted: str) -> tuple[str, ...]:
    parts: list[str] = []
    for match in _PART.finditer(dotted):
        parts.append(next(group for group in match.groups()[1:] if group is not None))
    return tuple(parts)


def key_line(text: str, path: Path) -> int | None:
    """The 1-based line where `path` (table names, array indexes, keys) is written, or that of
    its longest written prefix (an inline table's key names its line); None if nothing matches."""
    wanted = tuple(path)
    counts: dict[tuple[str, ...], int] = {}
    table: tuple[str | int, ...] = ()
    best: tuple[int, int] | None = None  # (matched length, line)
    depth = 0  # brackets open in a value spanning lines
    for number, line in enumerate(text.splitlines(), start=1):
        if depth > 0:
            depth = max(depth + _balance(line), 0)
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = _parts(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(names, 0)
                counts[names] = index + 1
                table = (*names, index)
            else:
                table = names
            here: tuple[str | int, ...] = table
        else:
            key = _KEY.match(line)
            if key is None:
                continue
            here = (*table, *_parts(key.group(1)))
            depth = max(_balance(line[key.end() :]), 0)
        matched = _common(here, wanted)
        if matched == len(here) and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _common(here: Sequence[str | int], wanted: Sequence[str | int]) -> int:
    count = 0
    for a, b in zip(here, wanted, strict=False):
        if a != b:
            break
        count += 1
    return count


def _balance(value: str) -> int:
    """Brackets a line opens less those it closes (strings and comments skipped)."""
    depth, quote = 0, ""
    for char in value:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth
