"""Lead operations: creation with duplicate checks and owner assignment, touches, loss, merges.

Services take plain values and the acting user, enforce every rule, flush, and
return; the caller (a view, the importer, the CLI) commits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select

from crm.access.roles import Role
from crm.access.scoping import scoped, territory_in_reach
from crm.auth.models import User, user_territories
from crm.common.errors import BusinessError
from crm.common.phones import format_phone, normalize_phone
from crm.common.time import utcnow
from crm.common.validators import normalize_uscc
from crm.db import insert_ignoring_duplicates
from crm.extensions import db
from crm.leads.models import Campaign, ContactPhone, DistributorKind, DuplicateAlert, Lead, LeadContact
from crm.products.models import Product
from crm.territories.models import Territory, code_range
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
    reasons: list[str]  # in the current language, for the page
    fields: list[str] = field(default_factory=list)  # "uscc", "phone", "company_name": for the notification


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

    def add(rows, matched, reason):
        for lead_id, name, state in rows:
            if lead_id == exclude_id:
                continue
            entry = found.setdefault(lead_id, Duplicate(lead_id, name, state, []))
            if matched not in entry.fields:
                entry.fields.append(matched)
                entry.reasons.append(reason)

    columns = (Lead.id, Lead.company_name, Lead._state)
    not_merged = Lead._state != "merged"
    if uscc:
        add(
            db.session.execute(select(*columns).where(Lead.uscc == uscc, not_merged)).all(),
            "uscc",
            _("same credit code"),
        )
    if phones:
        rows = db.session.execute(
            select(*columns)
            .join(ContactPhone, ContactPhone.lead_id == Lead.id)
            .where(ContactPhone.e164.in_(list(phones)), not_merged)
        ).all()
        add(rows, "phone", _("same phone number"))
    key = company_name_key(company_name or "")
    if key:
        rows = db.session.execute(select(*columns, Lead.uscc).where(Lead.name_key == key, not_merged)).all()
        # The import's rule: two valid credit codes that differ are two companies, whatever their names.
        add(
            [(i, n, s) for i, n, s, code in rows if not different_companies(uscc, code)],
            "company_name",
            _("same company name"),
        )
    return sorted(found.values(), key=lambda d: d.lead_id)


def different_companies(uscc: str | None, other: str | None) -> bool:
    """Two valid credit codes that differ are two companies, whatever their names (branches and
    namesakes in other cities share names). Codes reaching here are valid: ``normalize_uscc`` checked them."""
    return bool(uscc and other and uscc != other)


class DuplicateLead(BusinessError):
    """The new lead looks like existing ones; the user may look at them or create it anyway."""

    def __init__(self, duplicates: list[Duplicate]):
        super().__init__(_("This lead looks like a lead that already exists. Check before creating it."))
        self.duplicates = duplicates


@dataclass(frozen=True)
class DuplicateWarning:
    """What the user is shown of the look-alikes of what they typed."""

    visible: list[Duplicate]  # leads the user may open: named, with state and matching fields
    elsewhere: bool  # some lie outside the user's territories: said, nothing more


def warn_of_duplicates(duplicates: list[Duplicate], actor) -> DuplicateWarning:
    """Split look-alikes by the user's reach, and tell the managers of the others.

    Out of reach the user learns only that a look-alike exists: an id, a state or
    which field matched would let a rep probe other territories' phone numbers.
    The managers who cover each such lead (the administrators where nobody does)
    are told who entered it, once per (lead, user) pair. Flushes; the caller commits.
    """
    ids = [d.lead_id for d in duplicates]
    visible_ids = set(db.session.scalars(scoped(Lead, actor).with_only_columns(Lead.id).where(Lead.id.in_(ids))))
    hidden = [d for d in duplicates if d.lead_id not in visible_ids]
    if hidden:
        _tell_managers(hidden, actor)
    return DuplicateWarning([d for d in duplicates if d.lead_id in visible_ids], bool(hidden))


def _tell_managers(hidden: list[Duplicate], actor) -> None:
    from crm.notify.models import NotificationKind
    from crm.notify.services import queue_many

    already = set(
        db.session.scalars(
            select(DuplicateAlert.lead_id).where(
                DuplicateAlert.user_id == actor.id, DuplicateAlert.lead_id.in_([d.lead_id for d in hidden])
            )
        )
    )
    fresh = [d for d in hidden if d.lead_id not in already]
    if not fresh:
        return
    table = DuplicateAlert.__table__
    now = utcnow()
    rows = []
    for duplicate in fresh:
        taken = db.session.execute(
            insert_ignoring_duplicates(table, keys=["lead_id", "user_id"])
            .values(lead_id=duplicate.lead_id, user_id=actor.id, at=now)
            .returning(table.c.lead_id)
        ).first()
        if taken is None:  # another request told them a moment ago
            continue
        territory = db.session.scalar(select(Lead.territory_code).where(Lead.id == duplicate.lead_id))
        managers = {uid for uid, _level in coverers(territory, Role.MANAGER)} or set(
            db.session.scalars(select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)))
        )
        facts = json.dumps({"user": actor.display_name, "fields": duplicate.fields}, ensure_ascii=False)
        rows += [
            {
                "user_id": manager_id,
                "kind": NotificationKind.DUPLICATE_ELSEWHERE,
                "workflow": "lead",
                "record_id": duplicate.lead_id,
                "state": duplicate.state,
                "message": facts,
            }
            for manager_id in sorted(managers)
            if manager_id != actor.id
        ]
    queue_many(rows)


def coverers(territory_code: str, role: Role) -> list[tuple[int, int]]:
    """(user id, level of the covering territory) of active users of ``role`` whose territories cover the code."""
    rows = db.session.execute(
        select(User.id, Territory.code, Territory.level)
        .join(user_territories, user_territories.c.user_id == User.id)
        .join(Territory, Territory.code == user_territories.c.territory_code)
        .where(User.role == role, User.active.is_(True))
    ).all()
    result = []
    for user_id, code, level in rows:
        low, high = code_range(code, level)
        if low <= territory_code <= high:
            result.append((user_id, level))
    return result


def pick_owner(territory_code: str) -> int | None:
    """The rep of the lead's county (round-robin among several), else a manager of the region, else nobody.

    The closest territory wins (a county rep before a city rep); among equals, the
    one who was given a lead least recently.
    """
    for role in (Role.REP, Role.MANAGER):
        candidates = coverers(territory_code, role)
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


def _company_name(company_name) -> str:
    name = (company_name or "").strip()
    if not name:
        raise BusinessError(_("Enter the company name."))
    return name


def _uscc_or_none(uscc) -> str | None:
    """The normalised credit code, None when left blank; an invalid one is refused with its text."""
    if not (uscc and str(uscc).strip()):
        return None
    code = normalize_uscc(uscc)
    if code is None:
        raise BusinessError(_("The unified social credit code %(code)s is not valid.", code=uscc))
    return code


def _campaign(campaign_id) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id) if campaign_id else None
    if campaign is None:
        raise BusinessError(_("Choose the campaign the lead came from."))
    return campaign


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
    name = _company_name(company_name)
    unknown = _("Choose the lead's province, city or county from the list.")
    territory = territory_in_reach(actor, territory_code, unknown=unknown)
    campaign = _campaign(campaign_id)
    code = _uscc_or_none(uscc)
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
        owned_since=utcnow() if owner_id is not None else None,
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


# -- one lead's life: touches, loss, reassignment, merges ---------------------


from flask import current_app  # noqa: E402

from crm.common import uploads  # noqa: E402
from crm.common.errors import check_version  # noqa: E402
from crm.leads.models import LostReason, Touch, TouchKind, TouchMethod  # noqa: E402
from crm.notify import queue  # noqa: E402
from crm.notify.models import NotificationKind  # noqa: E402

TOUCH_PHOTO_AREA = "touches"  # instance/uploads/touches/
DEFAULT_TOUCH_PHOTO_MAX_BYTES = 8 * 1024 * 1024


def check_touch_photo(data: bytes) -> uploads.FileKind:
    """The photo's kind when its content is a JPEG, PNG or WebP within the size limit; else refused."""
    limit = current_app.config.get("TOUCH_PHOTO_MAX_BYTES", DEFAULT_TOUCH_PHOTO_MAX_BYTES)
    if len(data) > limit:
        raise BusinessError(
            _(
                "The photo is too large (%(size)s MB); the limit is %(limit)s MB.",
                size=uploads.megabytes(len(data)),
                limit=uploads.megabytes(limit),
            )
        )
    kind = uploads.sniff(data, uploads.IMAGES)
    if kind is None:
        raise BusinessError(_("The photo must be a JPEG, PNG or WebP image."))
    return kind


def _not_merged(lead: Lead) -> None:
    if lead.state == "merged":
        raise BusinessError(
            _("This lead was merged into lead #%(id)s; work on that one.", id=lead.merged_into_id or "?")
        )


def log_touch(
    lead: Lead,
    actor,
    *,
    seen_version,
    kind: str,
    method: str,
    summary: str,
    outcome: str | None = None,
    next_step: str | None = None,
    next_touch_on: date | None = None,
    photo: bytes | None = None,
) -> Touch:
    """Record a visit, call, conference or online contact, and let it count for the lead's SLA.

    A touch on a new lead marks it contacted; one on a lead being followed up
    restarts its five-working-day clock (``log_touch``). In other states the touch
    is only recorded. Refuses a stale page (409) and a lead the actor cannot see (404).
    """
    summary = (summary or "").strip()
    if not summary:
        raise BusinessError(_("Write what was said or seen: the summary is required."))
    try:
        kind_value, method_value = TouchKind(kind), TouchMethod(method)
    except ValueError:
        raise BusinessError(_("Choose the kind of touch and its method from the lists.")) from None
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    _not_merged(lead)
    # Check the photo before anything moves: a refused file must leave the lead as it was.
    photo_kind = check_touch_photo(photo) if photo else None
    event = {"new": "contact", "following": "log_touch"}.get(lead.state)
    if event:
        engine.apply_event(lead, event, actor, seen_version=seen_version)
    photo_name = uploads.store(photo, photo_kind, TOUCH_PHOTO_AREA) if photo else None
    now = utcnow()
    touch = Touch(
        lead_id=lead.id,
        user_id=actor.id,
        kind=kind_value,
        method=method_value,
        summary=summary,
        outcome=(outcome or "").strip() or None,
        next_step=(next_step or "").strip() or None,
        next_touch_on=next_touch_on,
        photo_name=photo_name,
        at=now,
    )
    db.session.add(touch)
    lead.last_touch_at = now
    lead.next_touch_on = next_touch_on
    lead.pool_warned_at = None  # a touched lead is no longer about to return to the pool
    db.session.flush()
    return touch


def mark_lost(lead: Lead, actor, *, seen_version, reason: str, comment: str) -> None:
    """Close an open lead as lost, with a reason from the list and a comment saying what happened."""
    try:
        lost_reason = LostReason(reason) if reason else None
    except ValueError:
        lost_reason = None
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    if lost_reason is None:
        raise BusinessError(_("Choose why the lead was lost."))
    engine.apply_event(
        lead, "lose", actor, seen_version=seen_version, comment=comment, data={"reason": lost_reason.value}
    )
    lead.lost_reason = lost_reason
    db.session.flush()


def possible_owners(lead: Lead) -> list[User]:
    """Active reps and managers whose territories cover the lead's, reps first, then by name."""
    ids = {uid for role in (Role.REP, Role.MANAGER) for uid, _level in coverers(lead.territory_code, role)}
    if not ids:
        return []
    users = db.session.scalars(select(User).where(User.id.in_(sorted(ids)))).all()
    return sorted(users, key=lambda u: (u.role != Role.REP, u.display_name, u.id))


def reassign_lead(lead: Lead, actor, *, seen_version, owner_id, comment: str | None = None) -> None:
    """Give the lead to another rep or manager whose territories cover it; the new owner is notified.

    Only managers and administrators reassign. A lead in the pool leaves it.
    """
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only managers can reassign leads."))
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    _not_merged(lead)
    try:
        new_id = int(owner_id)
    except (TypeError, ValueError):
        raise BusinessError(_("Choose the new owner.")) from None
    owner = next((u for u in possible_owners(lead) if u.id == new_id), None)
    if owner is None:
        raise BusinessError(
            _(
                "That person cannot own this lead: choose a rep or manager whose territories cover %(place)s.",
                place=lead.territory.full_name,
            )
        )
    old_id = lead.assignee_id
    if old_id == owner.id:
        raise BusinessError(_("%(name)s already owns this lead.", name=owner.display_name))
    comment = (comment or "").strip() or None
    engine.record_note(lead, actor, "reassign", comment=comment, data={"from": old_id, "to": owner.id})
    lead.assignee_id = owner.id
    lead.owned_since = utcnow()  # the new owner's idle clock starts now
    lead.in_pool = False
    lead.pooled_at = None
    lead.pool_warned_at = None
    db.session.flush()
    if owner.id != actor.id:
        queue(
            owner.id,
            NotificationKind.ASSIGNED,
            workflow="leads",
            record_id=lead.id,
            state=lead.state,
            message=comment,
        )
    if old_id is not None and old_id != actor.id:  # the one who loses it hears so, not only the new owner
        queue(
            old_id,
            NotificationKind.UNASSIGNED,
            workflow="leads",
            record_id=lead.id,
            state=lead.state,
            message=comment,
        )


def merge_leads(keep: Lead, drop: Lead, actor, *, seen_version) -> None:
    """Fold ``drop`` into ``keep``: its contacts, phones and products move, both histories stay.

    The dropped lead goes to "merged" through the engine and points at the kept one;
    phones the kept lead already has are not copied twice. ``seen_version`` is the
    dropped lead's, as shown on the merge page.
    """
    engine.ensure_visible(drop, actor)
    engine.ensure_visible(keep, actor)
    check_version(drop, seen_version)
    if keep.id == drop.id:
        raise BusinessError(_("A lead cannot be merged into itself."))
    if keep.state == "merged":
        raise BusinessError(
            _(
                "Lead #%(id)s was itself merged into lead #%(into)s: merge into that one.",
                id=keep.id,
                into=keep.merged_into_id or "?",
            )
        )
    _not_merged(drop)
    # Read what the kept lead has before the engine changes anything.
    kept_phones = {p.e164 for c in keep.contacts for p in c.phones}
    kept_names = {c.name for c in keep.contacts}
    kept_products = {p.id for p in keep.products}
    moved_contacts = list(drop.contacts)
    new_products = [p for p in drop.products if p.id not in kept_products]

    engine.apply_event(drop, "merge", actor, seen_version=seen_version, data={"into": keep.id})
    for contact in moved_contacts:
        had_phones = bool(contact.phones)
        for phone in list(contact.phones):
            if phone.e164 in kept_phones:
                contact.phones.remove(phone)
            else:
                phone.lead_id = keep.id
                kept_phones.add(phone.e164)
        if had_phones and not contact.phones and contact.name in kept_names:
            drop.contacts.remove(contact)  # the same person, already on the kept lead
        else:
            contact.lead = keep  # the backref moves it from one collection to the other
    keep.products.extend(new_products)
    drop.merged_into_id = keep.id
    engine.record_note(keep, actor, "merge_in", data={"from": drop.id})
    db.session.flush()


# -- editing a lead after it is created -------------------------------------------

# The profile fields a rep learns on visits, in the order of the edit page.
EDITABLE_FIELDS = (
    "company_name",
    "uscc",
    "address",
    "campaign_id",
    "distributor_kind",
    "product_lines",
    "terminal_coverage",
    "estimated_capital",
    "logistics",
    "next_touch_on",
    "products",
)


def _history_text(value) -> str | None:
    """A value as the history keeps it: text, an enum's value, a date in ISO form, or None."""
    if value is None or value == "":
        return None
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _touch_row(lead: Lead) -> None:
    """Make the lead's row part of the flush, so its version moves for a change of its contacts."""
    from sqlalchemy.orm.attributes import flag_modified

    flag_modified(lead, "company_name")


def update_lead(
    lead: Lead,
    actor,
    *,
    seen_version,
    company_name: str,
    campaign_id: int,
    uscc: str | None = None,
    address: str | None = None,
    distributor_kind: str | None = None,
    product_lines: str | None = None,
    terminal_coverage: str | None = None,
    estimated_capital: int | None = None,
    logistics: str | None = None,
    next_touch_on: date | None = None,
    product_ids: list[int] | None = None,
    allow_duplicate: bool = False,
) -> list[dict]:
    """Change a lead's profile; each changed field goes to its history as (field, old → new).

    A stale page is refused (409) before anything else. A new company name or credit
    code is checked for duplicates as at creation (``DuplicateLead`` unless
    ``allow_duplicate``). Returns the changes, empty when nothing changed.
    """
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    _not_merged(lead)
    name = _company_name(company_name)
    code = _uscc_or_none(uscc)
    campaign = _campaign(campaign_id)
    try:
        kind = DistributorKind(distributor_kind) if distributor_kind else None
    except ValueError:
        raise BusinessError(_("Choose the kind of distributor from the list.")) from None
    wanted = {
        "company_name": name,
        "uscc": code,
        "address": (address or "").strip() or None,
        "campaign_id": campaign.id,
        "distributor_kind": kind,
        "product_lines": (product_lines or "").strip() or None,
        "terminal_coverage": (terminal_coverage or "").strip() or None,
        "estimated_capital": estimated_capital,
        "logistics": (logistics or "").strip() or None,
        "next_touch_on": next_touch_on,
    }
    changes = []
    for name_of_field, new in wanted.items():
        old = getattr(lead, name_of_field)
        if old != new:
            if name_of_field == "campaign_id":  # the history names the campaigns, not their ids
                old, new = lead.campaign.name if lead.campaign else None, campaign.name
            changes.append({"field": name_of_field, "old": _history_text(old), "new": _history_text(new)})
    products = None
    if product_ids is not None:
        products = list(
            db.session.scalars(select(Product).where(Product.id.in_(list(product_ids))).order_by(Product.name))
        )
        old_names = [p.name for p in lead.products]
        if sorted(p.id for p in products) != sorted(p.id for p in lead.products):
            changes.append(
                {
                    "field": "products",
                    "old": "、".join(old_names) or None,
                    "new": "、".join(p.name for p in products) or None,
                }
            )
    if not changes:
        return []
    changed = {c["field"] for c in changes}
    if not allow_duplicate and changed & {"company_name", "uscc"}:
        duplicates = find_duplicates(company_name=name, uscc=code, exclude_id=lead.id)
        if duplicates:
            raise DuplicateLead(duplicates)
    for name_of_field, new in wanted.items():
        setattr(lead, name_of_field, new)
    lead.name_key = company_name_key(name)
    lead.name_initials = pinyin_initials(name)
    if products is not None:
        lead.products = products
    engine.record_note(lead, actor, "edit", data={"changes": changes})
    db.session.flush()
    return changes


def add_contact(
    lead: Lead, actor, *, seen_version, name: str, title: str | None = None, phones=(), allow_duplicate: bool = False
) -> LeadContact:
    """Add a contact person to an existing lead; a phone another lead has is a duplicate, as at creation."""
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    _not_merged(lead)
    person = (name or "").strip()
    cleaned = clean_phones(list(phones))
    if not person:
        raise BusinessError(_("Give the contact's name."))
    if len(person) > 64 or len((title or "").strip()) > 64:
        raise BusinessError(_("A name or position is at most 64 characters."))
    own = {p.e164 for c in lead.contacts for p in c.phones}
    if not allow_duplicate and cleaned:
        duplicates = find_duplicates(phones=[p for p in cleaned if p not in own], exclude_id=lead.id)
        if duplicates:
            raise DuplicateLead(duplicates)
    contact = LeadContact(name=person, title=(title or "").strip() or None)
    lead.contacts.append(contact)
    for e164 in cleaned:
        contact.phones.append(ContactPhone(lead_id=lead.id, e164=e164))
    _touch_row(lead)
    engine.record_note(lead, actor, "contact_added", data={"name": person, "title": contact.title, "phones": cleaned})
    db.session.flush()
    return contact


def remove_contact(lead: Lead, actor, *, seen_version, contact_id) -> None:
    """Remove one contact of the lead (and its phones); the history keeps who it was."""
    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    _not_merged(lead)
    contact = next((c for c in lead.contacts if str(c.id) == str(contact_id)), None)
    if contact is None:
        raise BusinessError(_("That contact is not one of this lead's."))
    data = {"name": contact.name, "title": contact.title, "phones": [p.e164 for p in contact.phones]}
    lead.contacts.remove(contact)
    _touch_row(lead)
    engine.record_note(lead, actor, "contact_removed", data=data)
    db.session.flush()
