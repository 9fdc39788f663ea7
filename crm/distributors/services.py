"""Creating and editing distributor companies."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from crm.common.errors import BusinessError, check_version
from crm.common.validators import normalize_uscc
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.territories.models import Territory
from crm.workflow import engine


def _clean(name: str, uscc: str | None, territory_code: str, exclude_id: int | None = None) -> tuple[str, str | None]:
    name = (name or "").strip()
    if not name:
        raise BusinessError(_("Enter the company name."))
    if db.session.get(Territory, territory_code or "") is None:
        raise BusinessError(_("Choose a territory from the list."))
    code = None
    if uscc and uscc.strip():
        code = normalize_uscc(uscc)
        if code is None:
            raise BusinessError(
                _("The unified social credit code is not valid: check the 18 characters and the check character.")
            )
        clash = db.session.scalar(
            select(Distributor).where(Distributor.uscc == code, Distributor.id != (exclude_id or 0))
        )
        if clash:
            raise BusinessError(_("Another distributor already has this credit code: %(name)s.", name=clash.name))
    return name, code


def create_distributor(
    *, name: str, uscc: str | None, territory_code: str, contact_name: str | None, actor
) -> Distributor:
    """Register a distributor the company already works with (data taken over from before the CRM).

    New distributors come from approved screening cases; one entered by hand is
    an existing partner, so it is started and activated at once, and its history
    says who registered it.
    """
    name, code = _clean(name, uscc, territory_code)
    distributor = Distributor(name=name, uscc=code, territory_code=territory_code, contact_name=contact_name or None)
    engine.start(distributor, actor)
    engine.apply_event(
        distributor,
        "activate",
        actor,
        seen_version=distributor.version,
        comment=_("Registered as an existing distributor."),
    )
    return distributor


def update_distributor(
    distributor: Distributor,
    *,
    seen_version,
    name: str,
    uscc: str | None,
    territory_code: str,
    contact_name: str | None,
) -> None:
    """Edit a distributor company; a stale form answers a conflict."""
    check_version(distributor, seen_version)
    name, code = _clean(name, uscc, territory_code, exclude_id=distributor.id)
    distributor.name, distributor.uscc = name, code
    distributor.territory_code, distributor.contact_name = territory_code, contact_name or None
    db.session.flush()
