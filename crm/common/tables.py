"""Reading uploaded lists (CSV or XLSX) as tables: what every import shares.

An uploaded file is hostile until read: it may be UTF-8 with or without a BOM, GBK/GB18030
as Chinese Excel saves it, UTF-16 ("Unicode text"), or an XLSX that unpacks to a million
rows. ``read_table`` decodes it, finds its row of column names (the first row, or one below a
title line or two), and hands out the data rows one by one, refusing with a message the first
row beyond the ``TableLimits``. An XLSX is measured before openpyxl parses any of it.

Each import names its columns with a ``Columns`` (field → header words in Chinese and
English); ``Columns.guess`` maps a header row to field → column index, in any order. The cell
helpers turn what Excel and WPS write (numbers as floats, date cells, ``2026/5/1``,
``20260501``, full-width digits) into values.

Used by the lead import (crm/leads/importer.py) and the lot import (crm/orders/lot_import.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from crm.common.errors import BusinessError

ENCODINGS = ("utf-8-sig", "gb18030")  # UTF-8 (with or without BOM), then what Chinese Excel writes
DELIMITERS = (",", "\t", ";")
HEADER_SEARCH_ROWS = 10  # title lines a list may have above its column names


class ImportFileError(BusinessError):
    """The file cannot be taken or read as a table; ``message`` says why, for the user."""


@dataclass(frozen=True)
class TableLimits:
    """How far an uploaded list may expand: a 500 KB XLSX can unpack to a million rows.

    ``from_config(prefix)`` reads ``<prefix>_MAX_ROWS`` and the like (config.py); a file
    beyond any of them is refused with a message that says which, before its rows are checked.
    """

    rows: int = 100_000  # data rows, blank ones included
    columns: int = 100
    cell_chars: int = 5_000
    uncompressed_bytes: int = 100 * 2**20  # what an XLSX's parts declare they unpack to
    parts: int = 1_000  # files inside an XLSX

    @classmethod
    def from_config(cls, prefix: str = "LEAD_IMPORT") -> TableLimits:
        config = current_app.config
        return cls(
            rows=config.get(f"{prefix}_MAX_ROWS", cls.rows),
            columns=config.get(f"{prefix}_MAX_COLUMNS", cls.columns),
            cell_chars=config.get(f"{prefix}_MAX_CELL_CHARS", cls.cell_chars),
            uncompressed_bytes=config.get(f"{prefix}_MAX_UNCOMPRESSED_BYTES", cls.uncompressed_bytes),
        )

    def too_many_rows(self) -> ImportFileError:
        return ImportFileError(
            _(
                "The file has more than %(n)d rows. Split it into files of at most that many and import each.",
                n=self.rows,
            )
        )


# --- columns -----------------------------------------------------------------------------------


def header_key(text: str) -> str:
    """A header word as compared: NFKC, no blanks, underscores, colons, asterisks or brackets, lower case."""
    return re.sub(r"[\s_:：*（）()]+", "", unicodedata.normalize("NFKC", text or "")).lower()


def labels(row) -> list[str]:
    return ["" if h is None else str(h).strip() for h in row]


@dataclass(frozen=True)
class Columns:
    """The columns an import knows: field → header words that name it, most specific first.

    ``key`` is the field without which a row is not of this list (the lead's company, the
    lot's number): a row is taken for the header when it names it and at least one more.
    """

    headers: dict[str, tuple[str, ...]]
    key: str

    def guess(self, headers: list[str]) -> dict[str, int]:
        """field → column index, guessed from the header words; each column used once, exact names first."""
        keys = [header_key(h) for h in headers]
        mapping: dict[str, int] = {}
        used: set[int] = set()
        for exact in (True, False):
            for name, words in self.headers.items():
                if name in mapping:
                    continue
                for word in words:
                    word = header_key(word)
                    hit = next(
                        (i for i, k in enumerate(keys) if i not in used and k and (k == word if exact else word in k)),
                        None,
                    )
                    if hit is not None:
                        mapping[name] = hit
                        used.add(hit)
                        break
        return mapping

    def looks_like_header(self, row) -> bool:
        found = self.guess(labels(row))
        return self.key in found and len(found) >= 2

    def names_columns(self, row) -> bool:
        """Whether a row below the first is the column names: two cells or more are exactly a known column
        name, one of them the key field's (a data row may contain such words, hardly be them)."""
        keys = {header_key(label) for label in labels(row)}
        exact = {name for name, words in self.headers.items() if keys & {header_key(word) for word in words}}
        return self.key in exact and len(exact) >= 2


# --- reading -----------------------------------------------------------------------------------


def read_table(path: str | Path, limits: TableLimits, columns: Columns) -> tuple[list[str], TableRows]:
    """The header row and an iterator over the data rows of a CSV or XLSX file.

    XLSX is read in streaming mode. The iterator stops with an ``ImportFileError`` at
    the first row beyond ``limits`` (rows, columns, characters in a cell), so that a
    file that expands to millions of rows is refused instead of read to its end.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        header, rows = _read_xlsx(path, limits)
    else:
        header, rows = _read_csv(path)
    check_width(header, 1, limits)
    header, rows, header_number = _find_header(header, rows, columns)
    check_width(header, header_number, limits)
    return labels(header), TableRows(rows, limits, header_number)


def _find_header(first, rows: Iterator, columns: Columns) -> tuple[list, Iterator, int]:
    """(header, the rows after it, its row number): the first row, unless it names fewer than two
    known columns and one of the next rows names them exactly (a title line or two above them)."""
    if columns.looks_like_header(first):
        return first, rows, 1
    ahead = []
    try:
        for _n in range(HEADER_SEARCH_ROWS - 1):
            row = next(rows, None)
            if row is None:
                break
            ahead.append(row)
            if columns.names_columns(row):
                return row, rows, len(ahead) + 1
    except csv.Error:  # as in TableRows
        raise ImportFileError(_("Row %(row)d cannot be read: check the quotes in it.", row=len(ahead) + 2)) from None
    return first, itertools.chain(ahead, rows), 1


def _read_csv(path: Path) -> tuple[list, Iterator[list]]:
    text = decode(path.read_bytes())
    # A NUL (what a UTF-16 file looks like read as bytes, or a broken export's padding) is never
    # part of a name or a number, and PostgreSQL cannot store one.
    text = text.replace("\x00", "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    if not header:
        raise ImportFileError(_("The file is empty."))
    return header, reader


def check_width(row, number: int, limits: TableLimits) -> None:
    if len(row) > limits.columns:
        used = len(row)
        while used and row[used - 1] in (None, ""):
            used -= 1  # a sheet whose declared width is wider than what it holds
        if used > limits.columns:
            raise ImportFileError(
                _(
                    "Row %(row)d has more than %(n)d columns. Keep only the list's columns.",
                    row=number,
                    n=limits.columns,
                ),
            )
    for value in row:
        if value.__class__ is str and len(value) > limits.cell_chars:
            raise ImportFileError(
                _(
                    "Row %(row)d holds a cell of more than %(n)d characters. Shorten it and import the file again.",
                    row=number,
                    n=limits.cell_chars,
                )
            )


class TableRows:
    """The data rows of a list, each checked against the limits; ``first_number`` is the first one's
    row number in the spreadsheet (2, or more below title lines)."""

    def __init__(self, rows: Iterator, limits: TableLimits, header_number: int = 1):
        self._rows = rows
        self._limits = limits
        self.first_number = header_number + 1
        self._number = header_number
        self._count = 0

    def __iter__(self):
        return self

    def __next__(self) -> list:
        try:
            row = next(self._rows)
        except csv.Error:  # a quoted cell that never ends, or one beyond the csv module's own limit
            raise ImportFileError(
                _("Row %(row)d cannot be read: check the quotes in it.", row=self._number + 1)
            ) from None
        self._number += 1
        self._count += 1
        if self._count > self._limits.rows:
            raise self._limits.too_many_rows()
        check_width(row, self._number, self._limits)
        return list(row)


def decode(raw: bytes) -> str:
    """The text of an uploaded CSV: UTF-16 with its byte-order mark, else UTF-8 (BOM or not), else GB18030."""
    # Excel's "Unicode text" is UTF-16 (a tab-separated file) and starts with its byte-order mark.
    encodings = ("utf-16",) if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ENCODINGS
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("The file is neither UTF-8 nor GBK text. Save it as CSV or XLSX and try again."))


def _delimiter(text: str) -> str:
    """Comma, tab or semicolon: whichever the first lines hold most of (Excel writes all three; a
    title line above the column names may hold none)."""
    head = "\n".join(text.lstrip("\ufeff").split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS])
    counts = {delimiter: head.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _unreadable_workbook() -> ImportFileError:
    return ImportFileError(_("The file is not a readable XLSX workbook."))


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


def check_archive(path: Path, limits: TableLimits) -> None:
    """Refuse an XLSX that unpacks beyond the limits, before openpyxl reads any of it.

    First the parts' declared sizes: Python's zipfile never unpacks more than a part
    declares (it stops there, and a part that held more fails its checksum), so they
    bound the work. Then the rows each sheet holds, counted in its XML without parsing
    it (a fraction of a second for a million rows): openpyxl parses a whole sheet when
    it has no declared dimension just to open the workbook, and the rows are only
    bounded while they are read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            if len(parts) > limits.parts or sum(part.file_size for part in parts) > limits.uncompressed_bytes:
                raise ImportFileError(
                    _(
                        "The workbook unpacks to more than %(mb)d MB. Split it into smaller files and import each.",
                        mb=max(1, limits.uncompressed_bytes // 2**20),
                    )
                )
            for part in parts:
                # Rows are in the worksheets; which part is one, only the workbook's relations say.
                if part.filename.endswith(".xml") and _row_tags(archive, part, limits.rows + 1) > limits.rows + 1:
                    raise limits.too_many_rows()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unreadable_workbook() from None


def _row_tags(archive: zipfile.ZipFile, part: zipfile.ZipInfo, stop_after: int) -> int:
    """The <row> elements in one part of the archive, counted up to just past ``stop_after``."""
    found = 0
    carry = b""
    with archive.open(part) as xml:
        while chunk := xml.read(1 << 20):
            data = carry + chunk
            cut = data.rfind(b"<")  # a tag cut by the chunk's end is counted with the next chunk
            cut = len(data) if cut < 0 else cut
            found += len(_ROW_TAG.findall(data, 0, cut))
            carry = data[cut:]
            if found > stop_after:
                return found
    return found + len(_ROW_TAG.findall(carry))


def _read_xlsx(path: Path, limits: TableLimits) -> tuple[list, Iterator[list]]:
    from openpyxl import load_workbook

    check_archive(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise _unreadable_workbook() from None
    declared = sheet.max_row  # from the sheet's <dimension>, when it has one: refused without reading a row
    if declared is not None and declared - 1 > limits.rows:
        raise limits.too_many_rows()
    rows = sheet.iter_rows(values_only=True)
    try:
        header = next(rows, None)
    except Exception:
        raise _unreadable_workbook() from None
    if not header:
        raise ImportFileError(_("The file is empty."))
    return list(header), rows


def check_table(path: str | Path, limits: TableLimits, columns: Columns) -> list[str]:
    """The header of an uploaded list, once its size is known to be within ``limits``; else ``ImportFileError``.

    An XLSX is checked by ``check_archive`` (its parts' sizes and rows, without parsing
    them); a CSV is at most the upload cap, and its rows are read to the end.
    """
    path = Path(path)
    headers, rows = read_table(path, limits, columns)
    if path.suffix.lower() != ".xlsx":
        for _row in rows:
            pass  # the bound raises
    return headers


# --- cells -------------------------------------------------------------------------------------


def cell_text(value) -> str:
    """A cell as text: NFKC (full-width digits and letters become ASCII), stripped; a whole float as an integer."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps phone numbers and quantities as numbers
    if isinstance(value, datetime):
        value = value.date() if value.time() == datetime.min.time() else value
    return unicodedata.normalize("NFKC", str(value)).strip()


class CellError(ValueError):
    """A cell's value is not of the kind its column holds."""


_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug included)
_DATE_SHAPES = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),  # 2026-05-01, 2026/5/1, 2026.5.1
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),  # 2026年5月1日
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),  # 20260501
)
_TIME_PART = re.compile(r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")


def cell_date(value) -> date | None:
    """The date a cell holds, or None when it is empty; ``CellError`` when it holds something else.

    Accepted: an Excel date cell, an Excel day number (a date column saved as General),
    2026-05-01, 2026/5/1, 2026.5.1, 2026年5月1日, 20260501, each with or without a time
    00:00[:00] after it. Day-month orders (01/05/2026) are refused: which is the month is a guess.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            value = int(value)  # a date with a time of day: the day
        number = int(value)
        if 19_000_101 <= number <= 29_991_231:
            value = str(number)  # 20260501 typed into a number cell
        elif 1 <= number <= 2_958_465:  # Excel's days, up to 9999-12-31
            return _EXCEL_EPOCH + timedelta(days=number)
        else:
            raise CellError(str(value))
    text = _TIME_PART.sub("", cell_text(value))
    if not text:
        return None
    for shape in _DATE_SHAPES:
        match = shape.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                raise CellError(text) from None
    raise CellError(text)


_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


def cell_whole(value) -> int | None:
    """The whole number a cell holds, or None when it is empty; ``CellError`` for anything else
    (a fraction, a negative sign is kept: the caller checks the range). 1,000 and 1000.0 are 1000."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CellError(str(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError(str(value))
    text = cell_text(value).replace(" ", "")
    if not text:
        return None
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    text = re.sub(r"\.0+$", "", text)
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    raise CellError(text)
