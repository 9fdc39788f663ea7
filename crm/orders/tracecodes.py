"""Drug trace codes (药品追溯码): reading what a scanner wrote, checking it, recording it.

A code is 20 digits; its first 7 are the product's 药品标识码. A scanner's file
is one code per line (or per CSV cell); a relation file maps case codes (箱码)
to the unit codes packed in them, one ``case,unit`` pair per line, so that a
scanned case stands for its units. A code is out at most once (一物一码): the
check here names the codes already out, and the partial unique index on
``shipped_codes`` refuses the one that slips past it in a race.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.common.errors import BusinessError
from crm.common.time import utcnow
from crm.extensions import db
from crm.orders.models import Order, ShipmentItem, ShippedCode
from crm.workflow.engine import bulk_insert

CODE_LENGTH = 20
MAX_CODES = 500_000  # per shipment line: a 40-foot container of unit boxes, with room to spare
_SEPARATORS = re.compile(r"[\s,;，；]+")
_CHUNK = 500  # codes per IN list: well under SQLite's parameter limit


class CodesRefused(BusinessError):
    """The codes of a shipment cannot be recorded; ``problems`` lists each bad one with its line."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class ReadCodes:
    codes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _cells(text: str) -> Iterable[tuple[int, list[str]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        cells = [cell.strip().strip('"').strip("'") for cell in _SEPARATORS.split(line.strip()) if cell.strip()]
        if cells:
            yield number, cells


def _is_header(cells: list[str]) -> bool:
    return not any(cell.isdigit() for cell in cells)


def read_codes(text: str) -> ReadCodes:
    """Codes from pasted text or a scanner's text/CSV file, in order, with a problem per bad line.

    A first line without digits is a header and skipped; blank lines are skipped.
    """
    result = ReadCodes()
    for number, cells in _cells(text or ""):
        if number == 1 and _is_header(cells):
            continue
        for cell in cells:
            if len(cell) == CODE_LENGTH and cell.isascii() and cell.isdigit():
                result.codes.append(cell)
            else:
                result.problems.append(
                    _("Line %(line)s: “%(code)s” is not a 20-digit trace code.", line=number, code=cell[:40])
                )
        if len(result.codes) > MAX_CODES:
            raise CodesRefused(_("More than %(count)s codes in one line of a shipment.", count=f"{MAX_CODES:,}"))
    return result


def read_relations(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Case code → its unit codes, from a relation file of ``case,unit`` lines; and the problems."""
    relations: dict[str, list[str]] = {}
    problems: list[str] = []
    for number, cells in _cells(text or ""):
        if number == 1 and _is_header(cells):
            continue
        good = [c for c in cells if len(c) == CODE_LENGTH and c.isascii() and c.isdigit()]
        if len(cells) != 2 or len(good) != 2:
            problems.append(_("Line %(line)s of the relation file: expected a case code and a unit code.", line=number))
            continue
        relations.setdefault(good[0], []).append(good[1])
    return relations, problems


def expand(codes: list[str], relations: dict[str, list[str]]) -> list[str]:
    """The unit codes ``codes`` stand for: a case code becomes its units, a unit stays itself."""
    units: list[str] = []
    for code in codes:
        units.extend(relations.get(code, (code,)))
    return units


def check(units: list[str], *, drug_code: str | None, expected: int | None, product_name: str) -> list[str]:
    """What is wrong with the unit codes of one shipment line (empty when they may be recorded)."""
    problems: list[str] = []
    seen: set[str] = set()
    repeated = sorted({code for code in units if code in seen or seen.add(code)})
    if repeated:
        problems.append(_("Scanned twice: %(codes)s.", codes=", ".join(repeated[:20])))
    if drug_code:
        foreign = [code for code in units if not code.startswith(drug_code)]
        if foreign:
            problems.append(
                _(
                    "Not codes of %(product)s (药品标识码 %(prefix)s): %(codes)s.",
                    product=product_name,
                    prefix=drug_code,
                    codes=", ".join(foreign[:20]),
                )
            )
    if expected is not None and len(seen) != expected:
        problems.append(
            _(
                "%(product)s: %(count)s codes for %(quantity)s units.",
                product=product_name,
                count=len(seen),
                quantity=expected,
            )
        )
    out = already_out(seen)
    if out:
        problems.append(_("Already shipped and not returned: %(codes)s.", codes=", ".join(sorted(out)[:20])))
    return problems


def already_out(codes: Iterable[str]) -> set[str]:
    """Those of ``codes`` that are out in a shipment and have not come back."""
    codes = list(codes)
    out: set[str] = set()
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start : start + _CHUNK]
        out.update(
            db.session.scalars(
                select(ShippedCode.code).where(ShippedCode.code.in_(chunk), ShippedCode.returned_at.is_(None))
            )
        )
    return out


def record(item: ShipmentItem, order: Order, units: list[str], now: datetime | None = None) -> None:
    """Insert the unit codes of one shipment item; a code another shipment took meanwhile refuses them all."""
    if not units:
        return
    now = now or utcnow()
    rows = [
        {
            "code": code,
            "shipment_item_id": item.id,
            "distributor_id": order.distributor_id,
            "territory_code": order.ship_to_code,
            "shipped_at": now,
            "returned_at": None,
        }
        for code in units
    ]
    # bulk_insert talks to the driver (COPY, executemany), so its errors are the driver's own.
    driver_integrity = db.session.connection().dialect.dbapi.IntegrityError
    try:
        with db.session.begin_nested():
            bulk_insert(ShippedCode.__table__, rows)
    except (IntegrityError, driver_integrity):
        raise CodesRefused(
            _("Another shipment recorded some of these codes a moment ago: check them and try again.")
        ) from None


@dataclass(frozen=True)
class Whereabouts:
    code: str
    order_id: int
    order_number: str
    distributor_id: int
    distributor_name: str
    territory_code: str
    shipped_at: datetime
    returned: bool


def whereabouts(code: str) -> Whereabouts | None:
    """Where a trace code went: the shipment, order, distributor and county (the latest shipment of it)."""
    from crm.distributors.models import Distributor
    from crm.orders.models import Shipment

    row = db.session.execute(
        select(
            ShippedCode.code,
            Order.id,
            Order.number,
            ShippedCode.distributor_id,
            Distributor.name,
            ShippedCode.territory_code,
            ShippedCode.shipped_at,
            ShippedCode.returned_at,
        )
        .join(ShipmentItem, ShipmentItem.id == ShippedCode.shipment_item_id)
        .join(Shipment, Shipment.id == ShipmentItem.shipment_id)
        .join(Order, Order.id == Shipment.order_id)
        .join(Distributor, Distributor.id == ShippedCode.distributor_id)
        .where(ShippedCode.code == code)
        .order_by(ShippedCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Whereabouts(*row[:7], returned=row[7] is not None)
