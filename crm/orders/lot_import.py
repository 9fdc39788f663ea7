"""Importing lots (批号) from a CSV or XLSX list: a dry run that lists every problem, then all or nothing.

The same conventions as the lead import (crm/leads/importer.py), through the same reader
(crm/common/tables.py): UTF-8 with or without BOM, GBK/GB18030, XLSX; column names in
Chinese or English, in any order, below a title line or two; the same bounds on size, rows,
columns and XLSX expansion. Unlike leads, a lot list is all or nothing: a release list with
one wrong expiry date is corrected and imported again, never half-entered, so the import is
possible only when no row has an error, and it creates every lot in one transaction.

- ``receive`` keeps the upload under a server-made name tied to the uploader and checks it.
- ``plan`` is the dry run: reads and checks every row, writes nothing.
- ``create`` checks the file again (the database may have changed since the preview) and
  creates every lot, or raises and creates none; the caller commits.

Row numbers are the spreadsheet's: the header is row 1, or the row of column names below
the title lines.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from crm.access.roles import Role
from crm.common import tables
from crm.common.errors import BusinessError
from crm.db import read_transaction
from crm.extensions import db
from crm.orders import lots
from crm.orders.models import Lot
from crm.products.models import Product

ImportFileError = tables.ImportFileError
IMPORTERS = (Role.SERVICE, Role.ADMIN)
ALLOWED_SUFFIXES = (".csv", ".xlsx")
KEEP_SECONDS = 24 * 3600  # an upload never confirmed is deleted after a day

# field → header words (Chinese and English), most specific first.
COLUMNS = tables.Columns(
    {
        "number": ("批号", "生产批号", "产品批号", "批次号", "lot number", "lot no", "batch number", "lot", "batch"),
        "drug_code": ("药品标识码", "标识码", "drug code", "drugcode"),
        "approval_number": ("批准文号", "approval number", "approval no"),
        "product": ("产品名称", "药品名称", "通用名称", "品名", "品种", "产品", "product name", "product"),
        "produced_on": ("生产日期", "production date", "date of manufacture", "manufactured", "produced"),
        "expires_on": ("有效期至", "有效期", "失效日期", "expiry date", "expiration date", "expires", "expiry"),
        "quantity": ("放行数量", "入库数量", "数量", "quantity released", "quantity", "qty"),
    },
    key="number",
)
PRODUCT_FIELDS = ("drug_code", "approval_number", "product")
REQUIRED = ("number", "produced_on", "expires_on", "quantity")


def column_labels() -> dict[str, str]:
    return {
        "number": _("Lot number"),
        "drug_code": _("Drug identification code"),
        "approval_number": _("Approval number"),
        "product": _("Product"),
        "produced_on": _("Production date"),
        "expires_on": _("Expiry date"),
        "quantity": _("Quantity released"),
    }


def limits() -> tables.TableLimits:
    return tables.TableLimits.from_config("LOT_IMPORT")


def max_upload_bytes() -> int:
    return current_app.config.get("LOT_IMPORT_MAX_BYTES", 5 * 1024 * 1024)


def too_large_message() -> str:
    return _(
        "The file is larger than %(mb)d MB. Split it and import the parts.", mb=max(1, max_upload_bytes() // 2**20)
    )


# --- the stored upload ---------------------------------------------------------------------------

_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _directory() -> Path:
    path = Path(current_app.instance_path) / "imports" / "lots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(token: str, actor) -> Path | None:
    """The upload ``token`` of ``actor``, or None: another user's token, a made-up one, or one already used."""
    if not _TOKEN.match(token or ""):
        return None
    for suffix in ALLOWED_SUFFIXES:
        path = _directory() / f"{actor.id}-{token}{suffix}"
        if path.is_file():
            return path
    return None


def _sweep(now: float | None = None) -> None:
    """Delete uploads older than a day that nobody confirmed (each upload call does this first)."""
    cutoff = (now or time.time()) - KEEP_SECONDS
    for path in _directory().iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def receive(upload, actor) -> str:
    """Keep an uploaded lot list under a server-made name tied to ``actor``; return its token.

    Refuses with the user's message a missing file, a type other than CSV/XLSX, a file over
    the size cap or one beyond the table limits, and one without the columns a lot needs
    (the stored copy is removed then).
    """
    if actor.role not in IMPORTERS:
        raise BusinessError(_("Only the order desk enters lots."))
    if upload is None or not getattr(upload, "filename", None):
        raise ImportFileError(_("Choose a CSV or XLSX file."))
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ImportFileError(_("Only CSV and XLSX files can be imported."))
    _sweep()
    token = secrets.token_hex(16)
    path = _directory() / f"{actor.id}-{token}{suffix}"
    data = upload.stream.read(max_upload_bytes() + 1)
    if len(data) > max_upload_bytes():
        raise ImportFileError(too_large_message())
    path.write_bytes(data)
    try:
        with read_transaction(db.session):
            headers = tables.check_table(path, limits(), COLUMNS)
        missing_columns(headers)
    except ImportFileError:
        discard(path)
        raise
    return token


def missing_columns(headers: list[str]) -> dict[str, int]:
    """The mapping of the file's columns; ``ImportFileError`` naming the columns a lot needs that it lacks."""
    mapping = COLUMNS.guess(headers)
    names = column_labels()
    missing = [names[f] for f in REQUIRED if f not in mapping]
    if not any(f in mapping for f in PRODUCT_FIELDS):
        missing.insert(0, _("Product (药品标识码, approval number or name)"))
    if missing:
        raise ImportFileError(
            _(
                "The file has no column for: %(columns)s. Name the columns as in the example above.",
                columns="、".join(missing),
            )
        )
    return mapping


# --- the dry run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def text(self) -> str:
        return _("Row %(row)d, %(column)s: %(message)s", row=self.row, column=self.column, message=self.message)


@dataclass(frozen=True)
class LotRow:
    row: int
    product: Product
    number: str
    produced_on: date
    expires_on: date
    quantity: int


@dataclass
class LotPlan:
    rows: list[LotRow] = field(default_factory=list)  # the rows without errors, in file order
    errors: list[RowError] = field(default_factory=list)
    error_rows: int = 0
    blank_rows: int = 0

    @property
    def ok(self) -> bool:
        """Whether the whole file may be imported: rows to create, and not one error."""
        return bool(self.rows) and not self.errors

    @property
    def units(self) -> int:
        return sum(row.quantity for row in self.rows)


class ProductFinder:
    """Finds the product a row names: by 药品标识码, by approval number (批准文号), or by a name only one
    active product has. Loaded once per file."""

    def __init__(self):
        products = list(db.session.scalars(select(Product).where(Product.active.is_(True))))
        self.by_code = {p.drug_code: p for p in products if p.drug_code}
        self.by_approval = {_compact(p.approval_number): p for p in products}
        self.by_name: dict[str, list[Product]] = {}
        for product in products:
            self.by_name.setdefault(_compact(product.name), []).append(product)

    def find(self, cells: dict[str, str]) -> tuple[Product | None, str, str | None]:
        """(product, the column it was read from, the problem): the most specific column given wins, and a
        name given beside a code must be that code's product's."""
        product, column, problem = None, "product", None
        if cells.get("drug_code"):
            column, code = "drug_code", cells["drug_code"]
            product = self.by_code.get(code)
            if product is None:
                problem = _("No active product has the drug identification code %(code)s.", code=code)
        elif cells.get("approval_number"):
            column, number = "approval_number", cells["approval_number"]
            product = self.by_approval.get(_compact(number))
            if product is None:
                problem = _("No active product has the approval number %(number)s.", number=number)
        elif cells.get("product"):
            name = cells["product"]
            named = self.by_name.get(_compact(name), [])
            if not named:
                problem = _("No active product is called “%(name)s”.", name=name)
            elif len(named) > 1:
                problem = _(
                    "%(count)d products are called “%(name)s”: give the drug identification code or the "
                    "approval number instead.",
                    count=len(named),
                    name=name,
                )
            else:
                product = named[0]
        else:
            problem = _("Give the product's drug identification code, approval number or name.")
        named_otherwise = (
            product is not None and bool(cells.get("product")) and _compact(cells["product"]) != _compact(product.name)
        )
        if column != "product" and named_otherwise:
            problem = _(
                "%(column)s %(value)s is %(product)s, not “%(name)s”.",
                column=column_labels()[column],
                value=cells[column],
                product=product.name,
                name=cells["product"],
            )
            product = None
        return product, column, problem


def _compact(text: str | None) -> str:
    return "".join(tables.cell_text(text).split()).upper()


def plan(path: Path) -> LotPlan:
    """Read and check every row of the file; write nothing."""
    headers, rows = tables.read_table(path, limits(), COLUMNS)
    mapping = missing_columns(headers)
    names = column_labels()
    column = {name: (headers[i] or names[name]) for name, i in mapping.items()}
    finder = ProductFinder()
    result = LotPlan()
    seen: dict[tuple[int, str], int] = {}  # (product, lot number) → first row

    for number, values in enumerate(rows, start=rows.first_number):
        raw = {name: (values[i] if i < len(values) else None) for name, i in mapping.items()}
        if not any(tables.cell_text(v) for v in values):
            result.blank_rows += 1
            continue
        cells = {name: tables.cell_text(value) for name, value in raw.items()}
        errors: list[RowError] = []

        def error(name, message, _row=number, _errors=errors):
            _errors.append(RowError(_row, column.get(name, names.get(name, name)), message))

        product, product_column, problem = finder.find(cells)
        if problem:
            error(product_column, problem)
        lot_number = lots.clean_number(cells.get("number"))
        problem = lots.number_problem(lot_number)
        if problem:
            error("number", problem)
        dates = {}
        for name in ("produced_on", "expires_on"):
            try:
                dates[name] = tables.cell_date(raw.get(name))
            except tables.CellError as bad:
                dates[name] = None
                error(
                    name,
                    _("“%(value)s” is not a date: write it as 2026-05-01, 2026/5/1 or 20260501.", value=str(bad)),
                )
                continue
            if dates[name] is None:
                error(name, _("Enter the date."))
        if dates["produced_on"] and dates["expires_on"] and dates["expires_on"] <= dates["produced_on"]:
            error("expires_on", _("The expiry date must come after the production date."))
        try:
            quantity = tables.cell_whole(raw.get("quantity"))
        except tables.CellError:
            quantity = None
        problem = lots.quantity_problem(quantity)
        if problem:
            error("quantity", problem)
        if product is not None and not lots.number_problem(lot_number):
            first = seen.setdefault((product.id, lot_number), number)
            if first != number:
                error(
                    "number",
                    _(
                        "Lot %(number)s of %(product)s is also on row %(row)d.",
                        number=lot_number,
                        product=product.name,
                        row=first,
                    ),
                )
        if errors:
            result.errors += errors
            result.error_rows += 1
            continue
        result.rows.append(LotRow(number, product, lot_number, dates["produced_on"], dates["expires_on"], quantity))

    _flag_existing(result, column.get("number", names["number"]))
    result.errors.sort(key=lambda e: e.row)
    return result


def _flag_existing(result: LotPlan, number_column: str) -> None:
    """Rows whose lot is already entered for that product become errors: one query per 500 rows."""
    wanted = [(row.product.id, row.number) for row in result.rows]
    existing: set[tuple[int, str]] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        existing.update(
            db.session.execute(
                select(Lot.product_id, Lot.number).where(tuple_(Lot.product_id, Lot.number).in_(chunk))
            ).all()
        )
    if not existing:
        return
    keep = []
    for row in result.rows:
        if (row.product.id, row.number) in existing:
            result.errors.append(RowError(row.row, number_column, lots.already_entered(row.product, row.number)))
            result.error_rows += 1
        else:
            keep.append(row)
    result.rows = keep


# --- creating ------------------------------------------------------------------------------------


class ImportRefused(BusinessError):
    """The file has errors now (``plan`` says which); nothing was created."""

    def __init__(self, message: str, result: LotPlan):
        super().__init__(message)
        self.plan = result


def create(path: Path, actor) -> list[Lot]:
    """Check the file again and create every lot of it, or none; flush, the caller commits.

    Raises ``ImportRefused`` (with the plan, to show its errors) when any row has an error,
    the file has no row, or another user entered one of its lots meanwhile.
    """
    if actor.role not in IMPORTERS:
        raise BusinessError(_("Only the order desk enters lots."))
    result = plan(path)
    if not result.rows and not result.errors:
        raise ImportRefused(_("The file has no lots to import."), result)
    if not result.ok:
        raise ImportRefused(
            _(
                "Nothing was imported: %(n)d rows have errors. Correct them and upload the file again.",
                n=result.error_rows,
            ),
            result,
        )
    made = [
        Lot(
            product_id=row.product.id,
            number=row.number,
            produced_on=row.produced_on,
            expires_on=row.expires_on,
            quantity_released=row.quantity,
            quantity_left=row.quantity,
            created_by_id=actor.id,
        )
        for row in result.rows
    ]
    db.session.add_all(made)
    try:
        db.session.flush()
    except IntegrityError:
        # Another user entered one of these lots between the check and the insert (uq_lots_product_number).
        db.session.rollback()
        raise ImportRefused(
            _("Another user entered one of these lots meanwhile: nothing was imported. Check the file again."),
            result,
        ) from None
    return made
