"""User administration: accounts, roles, territories, companies, deactivation."""

from __future__ import annotations

import re

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from crm.access.roles import TERRITORY_ROLES, Role
from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.auth.services import check_password_strength, end_all_sessions, normalize_username, record_audit
from crm.common.errors import BusinessError, check_version
from crm.common.phones import normalize_phone
from crm.common.time import utcnow
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.territories.services import territories_by_codes


def _assignments(role: Role, territory_codes: list[str], company_id) -> tuple[list, Distributor | None]:
    """Territories for reps and managers, a company for distributors, nothing for others."""
    territories, company = [], None
    if role in TERRITORY_ROLES:
        codes = sorted({c for c in territory_codes if c})
        territories = territories_by_codes(codes)
        if len(territories) != len(codes):
            raise BusinessError(_("One of the territories does not exist. Pick them from the list."))
        if not territories:
            raise BusinessError(_("Reps and managers need at least one territory."))
    if role == Role.DISTRIBUTOR:
        company = db.session.get(Distributor, int(company_id)) if str(company_id or "").isdigit() else None
        if company is None:
            raise BusinessError(_("Distributor accounts must belong to a company."))
    return territories, company


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def clean_email(raw: str | None) -> str | None:
    """The address email notifications go to (crm.notify reads ``User.email``), or None when blank."""
    email = (raw or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise BusinessError(_("The email address %(email)s is not valid.", email=email))
    return email


def clean_mobile(raw: str | None) -> str | None:
    """A mobile number in E.164 (+8613800138000), or None when blank; a landline is refused."""
    text = (raw or "").strip()
    if not text:
        return None
    number = normalize_phone(text)
    mobile_types = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if number is None or phonenumbers.number_type(phonenumbers.parse(number)) not in mobile_types:
        raise BusinessError(_("%(phone)s is not a valid mobile number.", phone=text))
    return number


def create_user(
    *,
    actor: User,
    username: str,
    display_name: str,
    role: str,
    password: str,
    territory_codes: list[str] = (),
    company_id=None,
    is_director: bool = False,
    email: str | None = None,
    mobile: str | None = None,
) -> User:
    """An admin creates an account with its role and its territories or company."""
    username = normalize_username(username)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise BusinessError(_("The username %(name)s is taken.", name=username))
    role = Role(role)
    territories, company = _assignments(role, list(territory_codes), company_id)
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        password_hash="",
        email=clean_email(email),
        mobile=clean_mobile(mobile),
    )
    check_password_strength(user, password or "")
    user.password_hash = hash_password(password)
    # The admin chose this password: the user replaces it at the first sign-in.
    user.must_change_password = True
    user.territories, user.company = territories, company
    user.is_director = bool(is_director) and role == Role.MANAGER  # only a manager can be a director
    db.session.add(user)
    db.session.flush()
    record_audit("user_created", user=actor, target=user.username, role=role.value)
    return user


def update_user(
    user: User,
    *,
    actor: User,
    seen_version,
    display_name: str,
    role: str,
    territory_codes: list[str] = (),
    company_id=None,
    is_director: bool = False,
    email: str | None = None,
    mobile: str | None = None,
) -> None:
    """An admin changes a user's name, role and assignments; a stale form answers a conflict."""
    check_version(user, seen_version)
    role = Role(role)
    if user.id == actor.id and role != Role.ADMIN:
        raise BusinessError(_("You cannot take the administrator role away from yourself."))
    territories, company = _assignments(role, list(territory_codes), company_id)
    changed_role = user.role != role
    user.display_name, user.role = display_name.strip(), role
    user.email, user.mobile = clean_email(email), clean_mobile(mobile)
    user.territories, user.company = territories, company
    user.is_director = bool(is_director) and role == Role.MANAGER  # only a manager can be a director
    # Territories live in user_territories, and the ORM bumps the version only when
    # the users row itself is updated: without this, a territory-only change would
    # leave the version alone and an older form could silently overwrite it.
    flag_modified(user, "display_name")
    if changed_role:
        # A new role must not ride on sessions opened under the old one.
        end_all_sessions(user)
        record_audit("role_changed", user=actor, target=user.username, role=role.value)
    record_audit("user_updated", user=actor, target=user.username)
    db.session.flush()


def reset_password(user: User, *, actor: User, password: str) -> None:
    """An admin sets a new password; every sign-in of that user ends."""
    check_password_strength(user, password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = True  # the admin knows it: the user picks their own at the next sign-in
    end_all_sessions(user)
    record_audit("password_reset", user=actor, target=user.username)
    db.session.flush()


def set_active(user: User, *, actor: User, active: bool) -> None:
    """Deactivate (ending every sign-in at once) or reactivate an account."""
    if user.id == actor.id and not active:
        raise BusinessError(_("You cannot deactivate your own account."))
    user.active = active
    if not active:
        end_all_sessions(user)
    record_audit("user_activated" if active else "user_deactivated", user=actor, target=user.username)
    db.session.flush()
