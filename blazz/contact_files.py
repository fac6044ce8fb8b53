"""Contact files: reading an uploaded CSV or Excel table row by row, and writing cells a spreadsheet will not run.

CSV files of any common encoding are read line by line (a file mixing UTF-8 and Windows-1252 lines, two exports pasted
together, still reads right), with the delimiter guessed from the header line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from blazz.errors import Invalid

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .]*$")


def safe_cell(value: Any) -> str:
    """A value as a CSV cell that a spreadsheet will not run: text that starts like a formula gets a quote first.

    Phone numbers and other plain numbers (`+6281…`, `-12`) are left as they are.
    """
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def sniff(head: bytes) -> str:
    """"csv" or "xlsx" from a file's first bytes; `Invalid("file", ...)` for anything that is not a table of text."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Invalid("file", "This is an old Excel (.xls) file. Save it as .xlsx or CSV and upload that.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "csv"  # UTF-16 text, as Excel's "Unicode text" export writes it
    if not head.strip():
        raise Invalid("file", "The file is empty.")
    if b"\x00" in head:
        raise Invalid("file", "This file is not a CSV or Excel file (it holds binary data).")
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 13)) + head.count(0x7F)
    if control > len(head) * 0.01:
        raise Invalid("file", "This file is not a CSV or Excel file (it holds binary data).")
    return "csv"


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            return line.decode("latin-1")


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines as text, each decoded on its own (UTF-8, else Windows-1252), BOM and NULs dropped."""
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = f.read().decode("utf-16", errors="replace")
            yield from io.StringIO(text.replace("\x00", ""), newline="")
            return
        sample = f.read(65536)
        f.seek(0)
        # Classic Mac files end lines with a lone CR; everything else has LF somewhere.
        mac = b"\n" not in sample and b"\r" in sample
        lines: Iterable[bytes] = (part + b"\n" for part in f.read().split(b"\r")) if mac else f
        first = True
        for raw in lines:
            if first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                first = False
            text = _decode(raw)
            yield text.replace("\x00", "") if "\x00" in text else text


def _delimiter(header_line: str) -> str:
    counts = {d: 0 for d in (",", ";", "\t", "|")}
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def csv_rows(path: Path) -> tuple[str, Iterator[list[str]]]:
    """The delimiter guessed from the first non-empty line, and the rows."""
    lines = _text_lines(path)
    first = ""
    buffered: list[str] = []
    for line in lines:
        buffered.append(line)
        if line.strip():
            first = line
            break
    delimiter = _delimiter(first)

    def all_lines() -> Iterator[str]:
        yield from buffered
        yield from lines

    csv.field_size_limit(1 << 24)
    reader = csv.reader(all_lines(), delimiter=delimiter, strict=False)
    return delimiter, reader


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    try:
        import openpyxl
    except ImportError as exc:  # the optional dependency is missing: say so instead of failing later
        raise Invalid("file", "Excel files need the openpyxl package; upload a CSV instead.") from exc
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise Invalid("file", "This Excel file could not be opened; save it again or upload a CSV.") from exc

    def rows() -> Iterator[list[str]]:
        try:
            for values in book.active.iter_rows(values_only=True):
                yield [_xlsx_cell(v) for v in values]
        finally:
            book.close()

    return rows()


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed into Excel come back as floats
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def read_rows(path: Path, kind: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells) for every record of the file, blank ones included."""
    rows = _xlsx_rows(path) if kind == "xlsx" else csv_rows(path)[1]
    number = 0
    try:
        for number, cells in enumerate(rows, start=1):
            yield number, cells
    except csv.Error as exc:
        raise Invalid("file", "The file could not be read past row %(row)s: %(error)s.", row=str(number),
                      error=str(exc)) from exc
