"""A list's rows as a file: the columns a row model gives and the CSV or XLSX that holds them
(issue 14, item 8; the HTTP side is api/exports.py, the rules docs/exports.md).

Columns are the row model's fields in the order the model declares them, named as the JSON
names them (by alias). A nested object is flattened into `parent.child` columns; a list is
one cell, its items joined with "; " (objects among them as JSON); a free-form mapping is one
cell of JSON. The values are the API's own JSON values: the file carries what the list
answers, nothing recomputed.

- CSV: UTF-8 with a byte-order mark (so Excel reads it as UTF-8), a header row, `true`/`false`
  and numbers as the JSON writes them, times as the API's ISO 8601 text. A text cell that
  starts with = + - @, a tab or a carriage return is prefixed with a single quote (OWASP, "CSV
  Injection"): a spreadsheet then shows it as text and never runs it as a formula.
- XLSX (openpyxl): numbers as numbers (decimal amounts the JSON sends as text too), booleans
  as booleans, times as spreadsheet date-times in UTC (a spreadsheet cell holds no zone),
  dates as dates. Text is always a text cell; one that starts like a formula is marked
  quote-prefixed, so Excel keeps it text even when someone edits it. Control characters XLSX
  cannot hold are shown as U+FFFD.
"""
from __future__ import annotations

import csv
import io
import json
import types
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from pydantic import BaseModel

# OWASP CSV injection: the characters a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A model inside a model inside …: deeper than this, an object is one JSON cell.
MAX_DEPTH = 4


class Kind(str, Enum):
    """How a column's JSON values become spreadsheet cells (this module's docstring)."""

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATETIME = "datetime"
    DATE = "date"
    LIST = "list"
    JSON = "json"
    ANY = "any"


@dataclass(frozen=True)
class Column:
    path: tuple[str, ...]
    kind: Kind

    @property
    def name(self) -> str:
        return ".".join(self.path)


def columns_of(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Column]:
    """The columns of a row model: its fields (then computed fields) in declared order, by
    their JSON names, nested models flattened as parent.child."""
    found: list[Column] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        found += _columns(field.annotation, (*prefix, field.serialization_alias or field.alias or name))
    for name, computed in model.model_computed_fields.items():
        found += _columns(computed.return_type, (*prefix, computed.alias or name))
    return found


def _columns(annotation: Any, path: tuple[str, ...]) -> list[Column]:
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return columns_of(inner, path) if len(path) < MAX_DEPTH else [Column(path, Kind.JSON)]
    return [Column(path, kind_of(inner))]


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated[…] and Optional[…]; a union of several types stays a union."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(present[0]) if len(present) == 1 else annotation
    return annotation


def kind_of(annotation: Any) -> Kind:
    """The Kind of a (non-model) field type."""
    inner = _unwrap(annotation)
    origin = get_origin(inner)
    if origin in (list, tuple, set, frozenset):
        return Kind.LIST
    if origin is dict or inner is dict:
        return Kind.JSON
    if origin is Literal:
        return Kind.TEXT
    if not isinstance(inner, type):
        return Kind.ANY  # a union of several types, Any: the JSON value decides
    if issubclass(inner, bool):  # before int: a bool is an int to Python
        return Kind.BOOL
    if issubclass(inner, (int, float, Decimal)):
        return Kind.NUMBER
    if issubclass(inner, datetime):  # before date: a datetime is a date to Python
        return Kind.DATETIME
    if issubclass(inner, date):
        return Kind.DATE
    if issubclass(inner, (str, Enum)):
        return Kind.TEXT
    if issubclass(inner, (list, tuple, set, frozenset)):
        return Kind.LIST
    return Kind.ANY


def columns_from_rows(rows: list[Any]) -> list[Column]:
    """Columns for rows without a model (free-form objects): every key, in the order first
    seen; rows that are not objects make one column, `value`."""
    if rows and not all(isinstance(row, dict) for row in rows):
        return [Column(("value",), Kind.ANY)]
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [Column((key,), Kind.ANY) for key in keys]


def value_at(row: Any, column: Column) -> Any:
    """The JSON value of `column` in one row (None where an object or key is missing)."""
    if column.path == ("value",) and not isinstance(row, dict):
        return row
    for key in column.path:
        if not isinstance(row, dict):
            return None
        row = row.get(key)
    return row


# --- CSV ------------------------------------------------------------------------------------

def neutralise(text: str) -> str:
    """Text a spreadsheet will not run as a formula (OWASP CSV injection): a leading quote
    before = + - @, a tab or a carriage return."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _plain(value: Any) -> str:
    """A JSON value as the text of a cell (before neutralising)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_plain(item) if not isinstance(item, (dict, list)) else _json(item) for item in value)
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def csv_cell(value: Any) -> str:
    """One CSV cell: numbers and booleans as the JSON writes them, everything else as text
    neutralised against formula injection."""
    text = _plain(value)
    return text if value is None or isinstance(value, (bool, int, float)) else neutralise(text)


def to_csv(columns: list[Column], rows: list[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180's line ends, as Excel writes them
    writer.writerow([neutralise(c.name) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(value_at(row, c)) for c in columns])
    return out.getvalue().encode("utf-8-sig")


# --- XLSX -----------------------------------------------------------------------------------

def xlsx_value(value: Any, kind: Kind) -> Any:
    """One JSON value as the Python value openpyxl stores: typed where the column says so,
    else as the JSON gave it; lists and objects as the CSV's text."""
    if value is None:
        return None
    if isinstance(value, str):
        if kind is Kind.DATETIME:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return value
            # Spreadsheets keep no zone: every time in the file is UTC (a naive time from the API is UTC too).
            return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
        if kind is Kind.DATE:
            try:
                return date.fromisoformat(value)
            except ValueError:
                return value
        if kind is Kind.NUMBER:  # a Decimal, which the JSON writes as text to keep every digit
            try:
                return Decimal(value)
            except InvalidOperation:
                return value
        return value
    if isinstance(value, (bool, int, float)):
        return value
    return _plain(value) or None  # an empty list is an empty cell, as in the CSV


def _text_cell(sheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", text))
    # openpyxl takes any text starting with "=" for a formula: force a text cell, and mark
    # formula-like text quote-prefixed so Excel keeps it text when it is edited.
    cell.data_type = "s"
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return cell


def to_xlsx(columns: list[Column], rows: list[Any], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = _text_cell(sheet, column.name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for column in columns:
            value = xlsx_value(value_at(row, column), column.kind)
            # A cell object only where plain text would not do (a third of the time otherwise).
            if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or ILLEGAL_CHARACTERS_RE.search(value)):
                value = _text_cell(sheet, value)
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    """A worksheet name Excel takes: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join("-" if ch in "[]:*?/\\" else ch for ch in title)[:31]
    return cleaned or "export"
