"""From an approved screening case to an active distributor: the draft agreement, its signing, termination.

``create_from_case`` runs inside the approval (same transaction): it starts the
distributor in ``onboarding`` with a draft agreement copied from the case. A
manager edits the draft (terms, lines, contacts) and signs it; signing is the
one step that activates the distributor, contracts the case, wins the lead and
opens the portal accounts — all or nothing. Every function flushes and lets the
request commit.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from crm.access.roles import Role
from crm.access.scoping import require_covered, scoped, territory_in_reach
from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.auth.services import end_all_sessions, record_audit
from crm.common.errors import BusinessError, check_version
from crm.common.phones import normalize_phone
from crm.common.time import local_today, utcnow
from crm.common.validators import parse_amount
from crm.distributors.agreements import Clash, Grant, find_clashes, territory_range
from crm.distributors.models import (
    Agreement,
    AgreementContact,
    AgreementLine,
    AgreementStatus,
    Distributor,
    QualificationDocument,
)
from crm.extensions import db
from crm.products.models import Product
from crm.territories.models import Territory
from crm.workflow import engine

SIGNERS = frozenset({Role.MANAGER, Role.ADMIN})
NUMBER_PREFIX = "ZS"
# The largest amount a Numeric(14, 2) column holds.
MAX_MONEY = Decimal("999999999999.99")
# Portal passwords: no 0/O, 1/l/I, so that a password read off the screen is typed right.
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # noqa: S105 (an alphabet)
PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class PortalCredential:
    """A portal account opened by signing, with the initial password shown to the signer once."""

    name: str
    username: str
    password: str


# -- creation from the approved case ---------------------------------------------


def create_from_case(case, actor) -> tuple[Distributor, Agreement]:
    """Start the distributor of an approved case with its draft agreement; called by the approval.

    The distributor is looked after by the case's rep; the agreement copies the
    products and territories asked for, names the case's contact, and runs for a
    year from today until the manager edits it.
    """
    if case.uscc:
        same = db.session.scalar(select(Distributor).where(Distributor.uscc == case.uscc))
        if same is not None:
            raise BusinessError(
                _(
                    "%(name)s is already a distributor with this credit code (%(state)s): "
                    "work with its record instead of approving a second one.",
                    name=same.name,
                    state=same.state_def.label,
                )
            )
    distributor = Distributor(
        name=case.company_name,
        uscc=case.uscc,
        territory_code=case.territory_code,
        contact_name=case.contact_name,
        address=case.address,
        lead_id=case.lead_id,
    )
    distributor.assignee_id = case.created_by_id or case.submitted_by_id
    engine.start(distributor, actor, comment=_("Approved in screening case #%(id)d.", id=case.id))
    starts_on = local_today()
    agreement = Agreement(
        distributor_id=distributor.id,
        case_id=case.id,
        status=AgreementStatus.DRAFT,
        starts_on=starts_on,
        ends_on=_one_year_after(starts_on),
    )
    for line in case.lines:
        lo, hi = territory_range(line.territory_code)
        agreement.lines.append(
            AgreementLine(
                product_id=line.product_id,
                territory_code=line.territory_code,
                exclusive=line.exclusive,
                code_lo=lo,
                code_hi=hi,
            )
        )
    if case.contact_name:
        agreement.contacts.append(AgreementContact(name=case.contact_name, phone=case.contact_phone))
    _insert_numbered(agreement)
    case.distributor_id = distributor.id
    documents = db.session.scalars(
        select(QualificationDocument).where(
            QualificationDocument.case_id == case.id, QualificationDocument.superseded_at.is_(None)
        )
    )
    for document in documents:
        document.distributor_id = distributor.id
    db.session.flush()
    return distributor, agreement


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1) - timedelta(days=1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _last_number(prefix: str) -> str | None:
    return db.session.scalar(select(func.max(Agreement.number)).where(Agreement.number.like(prefix + "%")))


def _insert_numbered(agreement: Agreement, attempts: int = 5) -> None:
    """Give the agreement the next number of the year (ZS-2026-0001) and insert it.

    The number is max()+1 of the year's numbers, inserted in a savepoint. SQLite
    has one writer at a time (write transactions begin IMMEDIATE), so nobody can
    take the number between the read and the insert. On PostgreSQL two approvals
    may read the same max(); the unique constraint refuses the second insert, its
    savepoint rolls back and it reads the max again.
    """
    prefix = f"{NUMBER_PREFIX}-{local_today().year}-"
    db.session.flush()  # only the agreement's own INSERT may fail inside the savepoint
    for _attempt in range(attempts):
        last = _last_number(prefix)
        sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        agreement.number = f"{prefix}{sequence:04d}"
        try:
            with db.session.begin_nested():
                db.session.add(agreement)
                db.session.flush()
            return
        except IntegrityError:
            continue
    raise BusinessError(_("Several agreements were numbered at the same time. Try again."))


# -- editing the draft -----------------------------------------------------------


def parse_money(raw, label: str) -> Decimal | None:
    """A yuan amount typed by a user ("1000000", "1,000,000.50"); empty is None; anything else is refused."""
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        value = raw
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if not text:
            return None
        if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
            raise BusinessError(
                _(
                    "%(field)s: enter an amount in yuan as plain digits, e.g. 1000000 or 1,000,000.00.",
                    field=label,
                )
            )
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise BusinessError(_("%(field)s: enter an amount in yuan.", field=label)) from None
    if value < 0:
        raise BusinessError(_("%(field)s cannot be negative.", field=label))
    if value > MAX_MONEY:
        raise BusinessError(_("%(field)s is too large.", field=label))
    return value


def _require_draft(agreement: Agreement) -> None:
    if agreement.status != AgreementStatus.DRAFT:
        raise BusinessError(
            _(
                "Agreement %(number)s is %(status)s: only a draft can be changed.",
                number=agreement.number,
                status=agreement.status.label,
            )
        )


def _require_signer(actor) -> None:
    if actor.role not in SIGNERS:
        raise BusinessError(_("Only managers and administrators change agreements."))


def _touch(agreement: Agreement) -> None:
    # Lines and contacts are rows of their own: mark the agreement changed so that
    # its version moves and a page showing the older set answers a conflict.
    flag_modified(agreement, "price_policy")


def update_agreement(
    agreement: Agreement,
    actor,
    seen_version,
    starts_on: date | None,
    ends_on: date | None,
    annual_target,
    deposit,
    price_policy: str | None,
) -> None:
    """Change the terms of a draft agreement: term, annual target, market deposit (市场保证金), price policy."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    if starts_on is None or ends_on is None:
        raise BusinessError(_("Enter the first and the last day of the agreement."))
    if ends_on <= starts_on:
        raise BusinessError(_("The agreement must end after it starts."))
    target = parse_money(annual_target, _("Annual target"))
    money = parse_money(deposit, _("Market deposit"))
    agreement.starts_on, agreement.ends_on = starts_on, ends_on
    agreement.annual_target, agreement.deposit = target, money
    agreement.price_policy = (price_policy or "").strip() or None
    db.session.flush()


def clash_message(clash: Clash) -> str:
    """What a user reads about one clash: whose grant, of what, where."""
    asked = db.session.get(Territory, clash.grant.territory_code)
    return _(
        "%(product)s in %(territory)s clashes with %(distributor)s "
        "(%(kind)s grant in %(their)s, agreement %(number)s).",
        product=clash.line.product.name,
        territory=asked.full_name if asked else clash.grant.territory_code,
        distributor=clash.distributor.name,
        kind=_("exclusive") if clash.line.exclusive else _("non-exclusive"),
        their=clash.line.territory.full_name,
        number=clash.line.agreement.number,
    )


def _lock_products(product_ids) -> None:
    # Two signings (or additions) of the same product wait for each other on
    # PostgreSQL, so each re-check sees the other's result; SQLite has one writer anyway.
    db.session.execute(select(Product.id).where(Product.id.in_(sorted(set(product_ids)))).with_for_update())


def _price(raw) -> Decimal | None:
    """The unit price a signer typed (blank: not agreed yet)."""
    if not str(raw or "").strip():
        return None
    price = parse_amount(raw, places=Decimal("0.0001"))
    if price is None:
        raise BusinessError(_("The unit price is an amount in yuan, more than zero."))
    return price


def add_line(
    agreement: Agreement,
    actor,
    seen_version,
    product_id,
    territory_code: str,
    exclusive: bool,
    unit_price=None,
) -> AgreementLine:
    """Add a product in a territory to a draft agreement; refused when it clashes with another grant."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    price = _price(unit_price)
    product = db.session.get(Product, int(product_id)) if str(product_id or "").isdigit() else None
    if product is None or not product.active:
        raise BusinessError(_("Choose a product from the list."))
    territory = territory_in_reach(actor, territory_code, unknown=_("Choose a territory from the list."))
    if any(line.product_id == product.id and line.territory_code == territory.code for line in agreement.lines):
        raise BusinessError(
            _(
                "%(product)s in %(territory)s is already in this agreement.",
                product=product.name,
                territory=territory.full_name,
            )
        )
    _lock_products([product.id])
    clashes = find_clashes([Grant(product.id, territory.code, bool(exclusive))], exclude_agreement_id=agreement.id)
    if clashes:
        raise BusinessError(clash_message(clashes[0]))
    lo, hi = territory.code_range
    line = AgreementLine(
        product_id=product.id,
        territory_code=territory.code,
        exclusive=bool(exclusive),
        code_lo=lo,
        code_hi=hi,
        unit_price=price,
    )
    agreement.lines.append(line)
    _touch(agreement)
    db.session.flush()
    return line


def set_line_price(agreement: Agreement, actor, seen_version, line_id, unit_price) -> AgreementLine:
    """Agree (or change) the price of one grant, on a draft or a signed agreement; orders placed keep theirs."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    if agreement.status == AgreementStatus.ENDED:
        raise BusinessError(_("This agreement has ended."))
    line = next((li for li in agreement.lines if str(li.id) == str(line_id)), None)
    if line is None:
        raise BusinessError(_("That line is no longer in the agreement."))
    require_covered(actor, [line.territory_code], what=_("This agreement"))
    old, line.unit_price = line.unit_price, _price(unit_price)
    record_audit(
        "agreement_price",
        user=actor,
        agreement=agreement.number,
        product=line.product.name,
        territory=line.territory_code,
        old=str(old) if old is not None else None,
        new=str(line.unit_price) if line.unit_price is not None else None,
    )
    _touch(agreement)
    db.session.flush()
    return line


def remove_line(agreement: Agreement, actor, seen_version, line_id) -> None:
    """Take a product and territory out of a draft agreement."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    line = next((li for li in agreement.lines if str(li.id) == str(line_id)), None)
    if line is None:
        raise BusinessError(_("That line is no longer in the agreement."))
    territory_in_reach(actor, line.territory_code)
    agreement.lines.remove(line)
    _touch(agreement)
    db.session.flush()


def add_contact(agreement: Agreement, actor, seen_version, name: str, phone: str | None, email: str | None):
    """Name a person at the distributor in a draft agreement; signing opens a portal account for them."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    name = (name or "").strip()
    if not name:
        raise BusinessError(_("Enter the contact's name."))
    if len(name) > 64:
        raise BusinessError(_("The name is too long (at most 64 characters)."))
    number = None
    if phone and phone.strip():
        number = normalize_phone(phone)
        if number is None:
            raise BusinessError(_("The phone number %(phone)s is not valid.", phone=phone.strip()))
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
        raise BusinessError(_("The email address %(email)s is not valid.", email=email))
    contact = AgreementContact(name=name, phone=number, email=email)
    agreement.contacts.append(contact)
    _touch(agreement)
    db.session.flush()
    return contact


def remove_contact(agreement: Agreement, actor, seen_version, contact_id) -> None:
    """Take a person out of a draft agreement."""
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    contact = next((c for c in agreement.contacts if str(c.id) == str(contact_id)), None)
    if contact is None:
        raise BusinessError(_("That contact is no longer in the agreement."))
    agreement.contacts.remove(contact)
    _touch(agreement)
    db.session.flush()


# -- signing -----------------------------------------------------------------------


def sign_agreement(agreement: Agreement, actor, seen_version) -> list[PortalCredential]:
    """Sign a draft agreement: the distributor becomes active, the case contracted, the lead won.

    Every contact named gets a portal account (role distributor) bound to the
    company, with a random initial password returned here and shown to the signer
    once; only its hash is stored. A clash with another grant in force refuses
    the signing and changes nothing.
    """
    check_version(agreement, seen_version)
    _require_signer(actor)
    _require_draft(agreement)
    distributor = agreement.distributor
    if distributor.state == "terminated":
        raise BusinessError(_("%(name)s is terminated: its agreements cannot be signed.", name=distributor.name))
    if not agreement.lines:
        raise BusinessError(_("Add at least one product and territory before signing."))
    if not agreement.contacts:
        raise BusinessError(_("Name at least one contact person before signing: they get the portal accounts."))
    if agreement.starts_on is None or agreement.ends_on is None:
        raise BusinessError(_("Enter the first and the last day of the agreement."))
    # The signer grants only what they cover (an administrator may have added lines elsewhere).
    require_covered(actor, [line.territory_code for line in agreement.lines], what=_("This agreement"))
    _lock_products(line.product_id for line in agreement.lines)
    grants = [Grant(line.product_id, line.territory_code, line.exclusive) for line in agreement.lines]
    clashes = find_clashes(grants, exclude_agreement_id=agreement.id)
    if clashes:
        raise BusinessError(_("Not signed: %(clash)s", clash=clash_message(clashes[0])))

    # Read everything before the first change (a query in between autoflushes).
    case = _case_of(agreement)
    lead = distributor.lead
    # The lead is won by the signer when they may see it; otherwise it keeps a note.
    win_lead = lead is not None and lead.state == "applied" and _visible(lead, actor)
    comment = _("Agreement %(number)s signed.", number=agreement.number)
    taken = _taken_usernames(agreement.contacts)

    agreement.status = AgreementStatus.SIGNED
    agreement.signed_at, agreement.signed_by_id = utcnow(), actor.id
    if distributor.state == "onboarding":
        engine.apply_event(distributor, "activate", actor, seen_version=distributor.version, comment=comment)
    else:
        engine.record_note(distributor, actor, "agreement_signed", comment=comment)
    if case is not None and case.state == "approved":
        engine.apply_event(case, "contract", actor, seen_version=case.version, comment=comment)
    if lead is not None:
        if win_lead:
            engine.apply_event(lead, "win", actor, seen_version=lead.version, comment=comment)
        else:
            engine.record_note(lead, actor, "agreement_signed", comment=comment)
    credentials = [_open_portal_account(contact, distributor, actor, taken) for contact in agreement.contacts]
    db.session.flush()
    return [c for c in credentials if c is not None]


def _visible(record, actor) -> bool:
    model = type(record)
    return db.session.scalar(scoped(model, actor).with_only_columns(model.id).where(model.id == record.id)) is not None


def _case_of(agreement: Agreement):
    if agreement.case_id is None:
        return None
    from crm.screening.models import ScreeningCase  # screening imports this package

    return db.session.get(ScreeningCase, agreement.case_id)


def _taken_usernames(contacts) -> set[str]:
    wanted = {_username_from_phone(c.phone) for c in contacts} - {None}
    if not wanted:
        return set()
    return set(db.session.scalars(select(User.username).where(User.username.in_(wanted))))


def _username_from_phone(phone: str | None) -> str | None:
    """A Chinese mobile's 11 national digits: what a contact remembers most easily."""
    if not phone or not phone.startswith("+86"):
        return None
    return phone[3:]


def _generated_username(taken: set[str]) -> str:
    while True:
        candidate = f"dist-{secrets.token_hex(3)}"
        if candidate not in taken and db.session.scalar(select(User.id).where(User.username == candidate)) is None:
            return candidate


def _open_portal_account(contact: AgreementContact, distributor: Distributor, actor, taken: set[str]):
    if contact.user_id is not None:
        return None  # named in an earlier agreement that already opened their account
    username = _username_from_phone(contact.phone)
    if username is None or username in taken:
        username = _generated_username(taken)
    taken.add(username)
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _i in range(PASSWORD_LENGTH))
    user = User(
        username=username,
        display_name=contact.name,
        email=contact.email,
        role=Role.DISTRIBUTOR,
        password_hash=hash_password(password),
        company_id=distributor.id,
    )
    db.session.add(user)
    db.session.flush()
    contact.user_id = user.id
    record_audit("user_created", user=actor, target=username, role=Role.DISTRIBUTOR.value)
    return PortalCredential(contact.name, username, password)


# -- termination -------------------------------------------------------------------


def terminate_distributor(distributor: Distributor, actor, seen_version, comment: str | None) -> None:
    """End the relationship: every draft or signed agreement ends, and the portal accounts are deactivated."""
    check_version(distributor, seen_version)
    _require_signer(actor)
    reason = (comment or "").strip()
    if not reason:
        raise BusinessError(_("Say why the distributor is terminated."))
    users = list(db.session.scalars(select(User).where(User.company_id == distributor.id, User.active.is_(True))))
    engine.apply_event(distributor, "terminate", actor, seen_version=distributor.version, comment=reason)
    now = utcnow()
    for agreement in distributor.agreements:
        if agreement.status in (AgreementStatus.DRAFT, AgreementStatus.SIGNED):
            agreement.status, agreement.ended_at = AgreementStatus.ENDED, now
    for user in users:
        user.active = False
        end_all_sessions(user)
        record_audit("user_deactivated", user=actor, target=user.username)
    db.session.flush()
