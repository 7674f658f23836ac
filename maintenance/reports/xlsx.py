"""A report's tables as a workbook (openpyxl): one sheet per section, a header row, the raw
values with a number format (a share stays 0.75 shown as 75.0 %), so a reader can compute
with them and a test reads back the stored figures."""
from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font

from maintenance.reports import layout
from maintenance.reports.layout import Fmt

_NUMBER_FORMATS = {Fmt.INT: "#,##0", Fmt.HOURS: "0.00", Fmt.SHARE: "0.0%", Fmt.MONEY: "#,##0.00",
                   Fmt.NUMBER: "0.00"}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("_", name)[:31] or "Sheet"
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{base[:28]}~{n}"
    taken.add(candidate.lower())
    return candidate


def render(title: str, tables: list[layout.Table]) -> bytes:
    """The workbook of `tables`; the first row of each sheet is its headers, a note (if any)
    two rows below the last row."""
    book = Workbook()
    book.remove(book.active)
    book.properties.title = title
    taken: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(_sheet_name(table.sheet, taken))
        sheet.append(table.headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([c.value for c in row])
            for cell, source in zip(sheet[sheet.max_row], row):
                if source.fmt in _NUMBER_FORMATS:
                    cell.number_format = _NUMBER_FORMATS[source.fmt]
        if table.note:
            sheet.cell(row=sheet.max_row + 2, column=1, value=table.note)
        for i, header in enumerate(table.headers):
            sheet.column_dimensions[sheet.cell(row=1, column=i + 1).column_letter].width = max(12, len(header) + 2)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
