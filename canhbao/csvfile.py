"""The one capped CSV reader: uploaded CSV (feeds ingest, contacts import) read row by row with a
cap on each cell, on the columns of a row and on the rows, refused with the line that broke it.

Python's csv module raises a bare `_csv.Error` for a field over its process-wide limit
(131,072 characters), a NUL byte or a stray quote; that reached clients as a 500. Here every
such case is a CsvRefused naming the line, and each domain answers it as its own 4xx.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from canhbao.errors import CanhbaoError

MAX_FIELD = 4_096  # characters in one cell: a name, an address, a number
MAX_COLUMNS = 64


class CsvRefused(CanhbaoError):
    """A CSV file that cannot be read within the caps; `line` is 1-based (0: the whole file)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


class CsvTooLong(CsvRefused):
    """More records than the caller allows."""


def read_rows(
    text: str,
    *,
    delimiter: str = ",",
    max_rows: int,
    max_field: int = MAX_FIELD,
    max_columns: int = MAX_COLUMNS,
) -> Iterator[list[str]]:
    """Each record of `text` (the header first; a blank line is []), within the caps;
    `max_rows` counts the header, not blank lines.

    A record that spans lines (a quoted newline) is reported at the line it ends on.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    count = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # reader.line_num is the line the parser had reached when it gave up.
            reason = str(err)
            if "field larger than field limit" in reason:
                reason = f"a cell over {max_field:,} characters"
            raise CsvRefused(reader.line_num, reason) from None
        if not record:  # a blank line: yielded (callers number lines), not counted
            yield record
            continue
        count += 1
        if count > max_rows:
            raise CsvTooLong(reader.line_num, f"more than {max_rows:,} rows in one file")
        if len(record) > max_columns:
            raise CsvRefused(reader.line_num, f"more than {max_columns} columns")
        for cell in record:
            if len(cell) > max_field:
                raise CsvRefused(reader.line_num, f"a cell over {max_field:,} characters")
        yield record
