"""The home page's figures, scoped to what the user may see."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.access.roles import Role
from crm.access.scoping import scoped
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.products.models import Product


def home_summary(user) -> dict:
    """Counts shown on the home page for ``user``."""
    distributors = db.session.scalar(select(func.count()).select_from(scoped(Distributor, user).subquery()))
    summary = {"distributors": distributors}
    if user.role != Role.DISTRIBUTOR:
        summary["products"] = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.active.is_(True))
        )
        summary["territories"] = list(user.territories)
    return summary
