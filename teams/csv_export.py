"""CSV as every export of the portal writes it: cells a spreadsheet would run as a formula are defused.

A team or cost-center name such as `=HYPERLINK(...)` or `+cmd|...` would otherwise open as a live formula in
the finance team's spreadsheet (OWASP "CSV Injection"). Text that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading single quote, which spreadsheets show as text; numbers stay numbers.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, negative or with an exponent, as the reports write them: no spreadsheet runs it.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: object) -> object:
    """The value as a cell: None becomes empty, formula-like text gets a leading quote, the rest is unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """A header of `columns`, then one line per row (CRLF, as RFC 4180), every cell through `neutralise_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise_cell(column) for column in columns])
    for row in rows:
        writer.writerow([neutralise_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def stream_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> Iterator[str]:
    """The same lines as `write_csv`, one at a time: an export too large to hold is written as it is read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise_cell(column) for column in columns])
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise_cell(row.get(column)) for column in columns])
        yield buffer.getvalue()
