"""Small builders of agreements for tests outside this folder (the access matrix)."""

from __future__ import annotations

from crm.distributors.agreements import territory_range
from crm.distributors.models import Agreement, AgreementContact, AgreementLine
from crm.extensions import db


def gen_draft_agreement(app, distributor_id: int, product_id: int, territory_code: str, number: str) -> dict:
    """A draft agreement of one non-exclusive line and one contact.

    Returns the sample values of the agreement routes: ``agreement_id``, ``agreement_line_id``,
    ``agreement_contact_id``.
    """
    with app.app_context():
        lo, hi = territory_range(territory_code)
        agreement = Agreement(number=number, distributor_id=distributor_id)
        line = AgreementLine(product_id=product_id, territory_code=territory_code, code_lo=lo, code_hi=hi)
        contact = AgreementContact(name="矩阵联系人", phone="+8613800138000")
        agreement.lines.append(line)
        agreement.contacts.append(contact)
        db.session.add(agreement)
        db.session.commit()
        return {"agreement_id": agreement.id, "agreement_line_id": line.id, "agreement_contact_id": contact.id}
