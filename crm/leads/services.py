"""Lead operations: creation with duplicate checks and owner assignment, touches, loss, merges.

Services take plain values and the acting user, enforce every rule, flush, and
return; the caller (a view, the importer, the CLI) commits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select

from crm.access.roles import Role
from crm.auth.models import User, user_territories
from crm.common.errors import BusinessError
from crm.common.phones import format_phone, normalize_phone
from crm.common.time import utcnow
from crm.common.validators import normalize_uscc
from crm.extensions import db
from crm.leads.models import Campaign, ContactPhone, DistributorKind, Lead, LeadContact
from crm.products.models import Product
from crm.territories.models import Territory
from crm.workflow import engine

# Legal-form words that do not tell two companies apart (longest first).
_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团公司", "公司", "集团", "分公司")
_NOT_NAME = re.compile(r"[\W_]+", re.UNICODE)


def company_name_key(name: str) -> str:
    """What two spellings of one company have in common: no blanks, punctuation or legal form.

    "北京同仁堂医药有限公司", "北京同仁堂医药（有限公司）" and " 北京 同仁堂医药 " share a key.
    """
    text = _NOT_NAME.sub("", unicodedata.normalize("NFKC", name or "")).lower()
    for form in _LEGAL_FORMS:
        if text.endswith(form) and len(text) > len(form):
            text = text[: -len(form)]
            break
    return text


def pinyin_initials(name: str) -> str:
    """Initials of the pinyin of a name (北京同仁堂 → bjtrt); other letters and digits kept as typed."""
    text = unicodedata.normalize("NFKC", name or "")
    initials = lazy_pinyin(text, style=Style.FIRST_LETTER, errors=lambda chars: list(chars))
    return "".join(ch for ch in "".join(initials).lower() if ch.isascii() and ch.isalnum())


@dataclass
class ContactInput:
    name: str
    title: str | None = None
    phones: list[str] = field(default_factory=list)


@dataclass
class Duplicate:
    lead_id: int
    company_name: str
    state: str
    reasons: list[str]


def clean_phones(raw_phones: list[str]) -> list[str]:
    """E.164 numbers, each once; a number that is not valid is refused with the number in the message."""
    cleaned: list[str] = []
    for raw in raw_phones:
        if raw is None or not str(raw).strip():
            continue
        e164 = normalize_phone(raw)
        if e164 is None:
            raise BusinessError(
                _(
                    "“%(phone)s” is not a valid phone number: give a mobile, or a landline with its area code.",
                    phone=raw,
                )
            )
        if e164 not in cleaned:
            cleaned.append(e164)
    return cleaned


def find_duplicates(
    *, company_name: str | None = None, uscc: str | None = None, phones: list[str] = (), exclude_id: int | None = None
) -> list[Duplicate]:
    """Existing leads that look like the same company: same USCC, same phone, or same name key."""
    found: dict[int, Duplicate] = {}

    def add(rows, reason):
        for lead_id, name, state in rows:
            if lead_id == exclude_id:
                continue
            entry = found.setdefault(lead_id, Duplicate(lead_id, name, state, []))
            if reason not in entry.reasons:
                entry.reasons.append(reason)

    columns = (Lead.id, Lead.company_name, Lead._state)
    not_merged = Lead._state != "merged"
    if uscc:
        add(db.session.execute(select(*columns).where(Lead.uscc == uscc, not_merged)).all(), _("same credit code"))
    if phones:
        rows = db.session.execute(
            select(*columns)
            .join(ContactPhone, ContactPhone.lead_id == Lead.id)
            .where(ContactPhone.e164.in_(list(phones)), not_merged)
        ).all()
        add(rows, _("same phone number"))
    key = company_name_key(company_name or "")
    if key:
        add(db.session.execute(select(*columns).where(Lead.name_key == key, not_merged)).all(), _("same company name"))
    return sorted(found.values(), key=lambda d: d.lead_id)


class DuplicateLead(BusinessError):
    """The new lead looks like existing ones; the user may look at them or create it anyway."""

    def __init__(self, duplicates: list[Duplicate]):
        super().__init__(
            _("This lead looks like %(n)d existing lead(s). Check them before creating it.", n=len(duplicates))
        )
        self.duplicates = duplicates


def _coverers(territory_code: str, role: Role) -> list[tuple[int, int]]:
    """(user id, level of the covering territory) of active users of ``role`` whose territories cover the code."""
    rows = db.session.execute(
        select(User.id, Territory.code, Territory.level)
        .join(user_territories, user_territories.c.user_id == User.id)
        .join(Territory, Territory.code == user_territories.c.territory_code)
        .where(User.role == role, User.active.is_(True))
    ).all()
    result = []
    for user_id, code, level in rows:
        probe = Territory(code=code, level=level)
        low, high = probe.code_range
        if low <= territory_code <= high:
            result.append((user_id, level))
    return result


def pick_owner(territory_code: str) -> int | None:
    """The rep of the lead's county (round-robin among several), else a manager of the region, else nobody.

    The closest territory wins (a county rep before a city rep); among equals, the
    one who was given a lead least recently.
    """
    for role in (Role.REP, Role.MANAGER):
        candidates = _coverers(territory_code, role)
        if not candidates:
            continue
        deepest = max(level for _uid, level in candidates)
        ids = sorted({uid for uid, level in candidates if level == deepest})
        last_given = dict(
            db.session.execute(
                select(Lead.assignee_id, func.max(Lead.id)).where(Lead.assignee_id.in_(ids)).group_by(Lead.assignee_id)
            ).all()
        )
        return min(ids, key=lambda uid: (last_given.get(uid, 0), uid))
    return None


def _territory_in_reach(actor, territory_code: str) -> Territory:
    territory = db.session.get(Territory, territory_code or "")
    if territory is None:
        raise BusinessError(_("Choose the lead's province, city or county from the list."))
    if actor.role in (Role.REP, Role.MANAGER) and not any(
        low <= territory.code <= high for low, high in (t.code_range for t in actor.territories)
    ):
        raise BusinessError(_("%(place)s is outside your territories.", place=territory.full_name))
    return territory


def create_lead(
    actor,
    *,
    company_name: str,
    territory_code: str,
    campaign_id: int,
    contacts: list[ContactInput] = (),
    uscc: str | None = None,
    address: str | None = None,
    distributor_kind: str | None = None,
    product_lines: str | None = None,
    terminal_coverage: str | None = None,
    estimated_capital: int | None = None,
    logistics: str | None = None,
    product_ids: list[int] = (),
    next_touch_on: date | None = None,
    allow_duplicate: bool = False,
    owner_id: int | None = None,
) -> Lead:
    """Create a lead and start its workflow; refuse bad input with a message and change nothing.

    A rep who enters a lead owns it; otherwise the owner is picked by territory
    (``pick_owner``) unless ``owner_id`` is given. Raises ``DuplicateLead`` when it
    looks like an existing lead, unless ``allow_duplicate``.
    """
    name = (company_name or "").strip()
    if not name:
        raise BusinessError(_("Enter the company name."))
    territory = _territory_in_reach(actor, territory_code)
    campaign = db.session.get(Campaign, campaign_id) if campaign_id else None
    if campaign is None:
        raise BusinessError(_("Choose the campaign the lead came from."))
    code = None
    if uscc and str(uscc).strip():
        code = normalize_uscc(uscc)
        if code is None:
            raise BusinessError(_("The unified social credit code %(code)s is not valid.", code=uscc))
    kind = DistributorKind(distributor_kind) if distributor_kind else None
    cleaned = [
        ContactInput((c.name or "").strip(), (c.title or "").strip() or None, clean_phones(c.phones))
        for c in contacts
        if (c.name or "").strip() or any(str(p or "").strip() for p in c.phones)
    ]
    for contact in cleaned:
        if not contact.name:
            raise BusinessError(
                _("Give the name of the contact with phone %(phone)s.", phone=format_phone(contact.phones[0]))
            )
    products = list(db.session.scalars(select(Product).where(Product.id.in_(list(product_ids))))) if product_ids else []
    if not allow_duplicate:
        duplicates = find_duplicates(company_name=name, uscc=code, phones=[p for c in cleaned for p in c.phones])
        if duplicates:
            raise DuplicateLead(duplicates)

    if owner_id is None:
        owner_id = actor.id if actor.role == Role.REP else pick_owner(territory.code)
    lead = Lead(
        company_name=name,
        name_key=company_name_key(name),
        name_initials=pinyin_initials(name),
        uscc=code,
        territory_code=territory.code,
        address=(address or "").strip() or None,
        campaign_id=campaign.id,
        distributor_kind=kind,
        product_lines=product_lines or None,
        terminal_coverage=terminal_coverage or None,
        estimated_capital=estimated_capital,
        logistics=logistics or None,
        next_touch_on=next_touch_on,
        created_by_id=actor.id,
        in_pool=owner_id is None,
        pooled_at=utcnow() if owner_id is None else None,
    )
    lead.assignee_id = owner_id
    lead.products = products
    for contact in cleaned:
        row = LeadContact(name=contact.name, title=contact.title)
        lead.contacts.append(row)
    engine.start(lead, actor)
    for row, contact in zip(lead.contacts, cleaned, strict=True):
        for e164 in contact.phones:
            row.phones.append(ContactPhone(lead_id=lead.id, e164=e164))
    db.session.flush()
    return lead


def search_condition(query: str):
    """Leads whose name, pinyin initials or phone match what a rep typed (bjtr, 同仁, 138 0013)."""
    query = (query or "").strip()
    if not query:
        return None
    conditions = [Lead.company_name.contains(query)]
    letters = re.sub(r"[^a-z0-9]", "", query.lower())
    if letters and letters == query.lower().replace(" ", ""):
        conditions.append(Lead.name_initials.startswith(letters))
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", query))
    if len(digits) >= 4:
        phone_like = f"%{digits}%"
        conditions.append(Lead.id.in_(select(ContactPhone.lead_id).where(ContactPhone.e164.like(phone_like))))
    return or_(*conditions)
