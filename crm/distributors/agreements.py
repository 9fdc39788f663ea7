"""Exclusive territories: which grants of a product overlap which.

A grant is a product in a territory (province, city or county), exclusive or
not. Two grants of the same product clash when their territories overlap — one
lies under the other, as GB/T 2260 code ranges — and at least one of them is
exclusive. Agreements that are drafted (approved, waiting to be signed) or signed
count; ended ones do not. Both the approval gate and the signing service ask
this, so two cases approved at the same time cannot both sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, select

from crm.distributors.models import Agreement, AgreementLine, AgreementStatus, Distributor
from crm.extensions import db
from crm.territories.models import Territory, code_range

IN_FORCE = (AgreementStatus.DRAFT, AgreementStatus.SIGNED)


@dataclass(frozen=True)
class Grant:
    """What is asked for or granted: a product in a territory, exclusive or not."""

    product_id: int
    territory_code: str
    exclusive: bool


@dataclass(frozen=True)
class Clash:
    grant: Grant  # the grant asked for
    line: AgreementLine  # the existing grant it collides with
    distributor: Distributor


def territory_range(code: str) -> tuple[str, str]:
    """The code range of a territory, read from the tree (its level decides the range)."""
    territory = db.session.get(Territory, code)
    if territory is None:
        raise ValueError(f"unknown territory {code!r}")
    return code_range(territory.code, territory.level)


def find_clashes(grants: Iterable[Grant], *, exclude_agreement_id: int | None = None) -> list[Clash]:
    """Existing grants in force that collide with any of ``grants``; one query per asked-for grant."""
    clashes = []
    for grant in grants:
        lo, hi = territory_range(grant.territory_code)
        overlap = and_(AgreementLine.code_lo <= hi, AgreementLine.code_hi >= lo)
        stmt = (
            select(AgreementLine, Distributor)
            .join(Agreement, Agreement.id == AgreementLine.agreement_id)
            .join(Distributor, Distributor.id == Agreement.distributor_id)
            .where(
                AgreementLine.product_id == grant.product_id,
                overlap,
                Agreement.status.in_(IN_FORCE),
                Distributor._state != "terminated",
            )
            .order_by(AgreementLine.id)
        )
        if not grant.exclusive:
            stmt = stmt.where(AgreementLine.exclusive.is_(True))
        if exclude_agreement_id is not None:
            stmt = stmt.where(Agreement.id != exclude_agreement_id)
        for line, distributor in db.session.execute(stmt):
            clashes.append(Clash(grant, line, distributor))
    return clashes
