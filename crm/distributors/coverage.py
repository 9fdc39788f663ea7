"""Coverage (渠道覆盖): per product, where an active distributor holds a signed grant, and which key regions have none.

Three queries whatever the size: the products, the grants in force within the
user's reach, the key regions within it. A key region counts as uncovered for a
product when no grant of that product overlaps it at all — neither a grant of the
region itself or of a place above it, nor one of a place inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.orm import contains_eager

from crm.access.roles import Role
from crm.distributors.models import Agreement, AgreementLine, AgreementStatus, Distributor
from crm.extensions import db
from crm.products.models import Product
from crm.territories.models import Territory


@dataclass
class ProductCoverage:
    product: Product
    grants: list[AgreementLine] = field(default_factory=list)
    uncovered: list[Territory] = field(default_factory=list)


def _ranges(user) -> list[tuple[str, str]] | None:
    """The code ranges the user may see; None for everywhere."""
    if user.role == Role.ADMIN:
        return None
    if user.role != Role.MANAGER:
        return []
    return [t.code_range for t in user.territories]


def _overlaps(lo_column, hi_column, ranges):
    if ranges is None:
        return true()
    if not ranges:
        return false()
    return or_(*(and_(lo_column <= hi, hi_column >= lo) for lo, hi in ranges))


def _within(code_column, ranges):
    if ranges is None:
        return true()
    if not ranges:
        return false()
    return or_(*(code_column.between(lo, hi) for lo, hi in ranges))


def coverage_for(user) -> list[ProductCoverage]:
    """One row per active product with its grants in force and its uncovered key regions, in the user's reach."""
    ranges = _ranges(user)
    products = list(db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)))
    grants = db.session.scalars(
        select(AgreementLine)
        .join(AgreementLine.agreement)
        .join(Agreement.distributor)
        .options(contains_eager(AgreementLine.agreement).contains_eager(Agreement.distributor))
        .where(
            Agreement.status == AgreementStatus.SIGNED,
            Distributor._state == "active",
            _overlaps(AgreementLine.code_lo, AgreementLine.code_hi, ranges),
        )
        .order_by(AgreementLine.territory_code, Distributor.name, AgreementLine.id)
    ).unique()
    by_product: dict[int, list[AgreementLine]] = {}
    for line in grants:
        by_product.setdefault(line.product_id, []).append(line)
    key_regions = list(
        db.session.scalars(
            select(Territory)
            .where(Territory.is_key_region.is_(True), _within(Territory.code, ranges))
            .order_by(Territory.code)
        )
    )
    rows = []
    for product in products:
        lines = by_product.get(product.id, [])
        uncovered = []
        for region in key_regions:
            lo, hi = region.code_range
            if not any(line.code_lo <= hi and line.code_hi >= lo for line in lines):
                uncovered.append(region)
        rows.append(ProductCoverage(product, lines, uncovered))
    return rows
