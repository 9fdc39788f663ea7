"""Spreadsheets the application writes (exports, reports): user text is always written as text.

A lead called ``=HYPERLINK("http://…","click")`` or a contact called ``=1+1`` would
otherwise be a live formula in the file a manager opens in Excel or WPS (CSV/formula
injection, OWASP). openpyxl makes any string that starts with ``=`` a formula; Excel
and WPS also read ``+``, ``-`` and ``@`` as the start of one when a cell is edited, and
a leading tab or carriage return hides such a start. So every string is written as a
string cell, and the ones with such a start also carry Excel's "quote prefix" style
(the apostrophe a user types before text), which keeps them text when someone edits
the cell. Numbers and dates are written as they are.

Every export builds its workbook here (``XlsxExport``); tests/test_spreadsheets.py
checks that no other module creates an openpyxl ``Workbook``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from io import BytesIO

from flask import current_app, flash, redirect, send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import func, select

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell


class XlsxSheet:
    """One worksheet of an ``XlsxExport``; ``append`` writes a row."""

    def __init__(self, sheet):
        self._sheet = sheet

    def append(self, values: Iterable) -> None:
        self._sheet.append([self._cell(value) for value in values])

    def _cell(self, value):
        if value is None or not isinstance(value, str):
            return value  # numbers, dates, booleans stay what they are
        # Control characters are not allowed in the file's XML (openpyxl would refuse the whole export).
        text = ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_CHARS]
        cell = WriteOnlyCell(self._sheet, value=text)
        cell.data_type = "s"  # never "f", whatever the text starts with
        if text.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
        return cell


class XlsxExport:
    """A workbook written row by row (openpyxl's write-only mode: memory stays flat for large lists)."""

    def __init__(self):
        self._workbook = Workbook(write_only=True)

    def sheet(self, title: str, header: Iterable | None = None) -> XlsxSheet:
        # Excel refuses sheet titles over 31 characters or with []:*?/\ in them.
        title = "".join(ch for ch in str(title) if ch not in "[]:*?/\\")[:31] or "Sheet"
        sheet = XlsxSheet(self._workbook.create_sheet(title))
        if header is not None:
            sheet.append(header)
        return sheet

    def to_bytes(self) -> BytesIO:
        buffer = BytesIO()
        self._workbook.save(buffer)
        buffer.seek(0)
        return buffer

    def send(self, download_name: str):
        """The workbook as a file download."""
        return send_file(self.to_bytes(), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=download_name)


def refuse_large_export(stmt, too_many: Callable[[int, int], str], back_url: str):
    """None when the rows of ``stmt`` fit in one export (config EXPORT_MAX_ROWS); otherwise a
    redirect back to the list, with ``too_many(total, limit)`` as the warning that says to narrow it.

    Every list's export asks this first, so the cap and its message work the same everywhere.
    """
    from crm.extensions import db

    limit = current_app.config["EXPORT_MAX_ROWS"]
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if total <= limit:
        return None
    flash(too_many(total, limit), "warning")
    return redirect(back_url, code=303)
