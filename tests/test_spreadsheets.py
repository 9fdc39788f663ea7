"""crm.common.spreadsheets: what the application writes to XLSX keeps user text as text."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook

from crm.common.spreadsheets import XlsxExport

ROOT = Path(__file__).resolve().parent.parent


def test_text_that_starts_like_a_formula_is_written_as_text_and_numbers_stay_numbers():
    texts = ["=1+1", '=HYPERLINK("http://x.example","click")', "+86 138", "-5", "@SUM(A1)", "\t=1+1", "\r=1+1"]
    export = XlsxExport()
    sheet = export.sheet("名单:2026/12", ["text", "n"])
    for text in texts:
        sheet.append([text, 42])
    sheet.append(["控制\x01字符", 3.5])
    sheet.append([date(2026, 12, 7), datetime(2026, 12, 7, 9, 30)])
    book = load_workbook(export.to_bytes())
    rows = list(book.active.iter_rows(min_row=2))
    assert book.sheetnames == ["名单202612"]  # Excel refuses : and / in a sheet's title
    assert [cell.coordinate for row in rows for cell in row if cell.data_type == "f"] == []
    # XML reads a carriage return back as a line feed; the text is otherwise what was written.
    assert [row[0].value for row in rows[: len(texts)]] == [*texts[:-1], "\n=1+1"]
    assert all(row[0].quotePrefix for row in rows[: len(texts)])  # Excel keeps them text when edited
    assert [(row[1].value, row[1].data_type) for row in rows[: len(texts)]] == [(42, "n")] * len(texts)
    assert (rows[-2][0].value, rows[-2][1].value) == ("控制字符", 3.5)
    assert rows[-1][0].is_date
    assert rows[-1][1].value == datetime(2026, 12, 7, 9, 30)


def test_every_workbook_is_built_by_the_one_helper():
    """An export that made its own openpyxl Workbook would write formulas again."""
    helper = ROOT / "crm" / "common" / "spreadsheets.py"
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "crm").rglob("*.py")
        if path != helper and re.search(r"\bWorkbook\b", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
