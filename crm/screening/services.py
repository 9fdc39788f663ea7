"""Screening operations: opening a case, its coverage lines, documents and scores, and its decisions.

Services take plain values and the acting user, enforce every rule, flush, and
return; the caller (a view, the CLI) commits. Workflow states move only through
``crm.workflow.engine``; the approval gates are the machine's guards
(``crm.screening.gates``), so a refused approval changes nothing.
"""

from __future__ import annotations

import posixpath
import unicodedata
from datetime import date, datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from crm.access.roles import Role
from crm.access.scoping import covers, territory_in_reach
from crm.auth.models import User
from crm.auth.services import record_audit
from crm.common import uploads
from crm.common.errors import BusinessError, check_version
from crm.common.phones import normalize_phone
from crm.common.time import local_today, utcnow
from crm.common.validators import normalize_uscc
from crm.distributors.models import DocumentKind, QualificationDocument
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.services import coverers
from crm.notify import queue
from crm.notify.models import NotificationKind
from crm.products.models import Product
from crm.screening.models import CaseLine, CaseScore, Criterion, ScreeningCase
from crm.territories.models import Territory
from crm.workflow import engine

DOCUMENT_AREA = "documents"  # instance/uploads/documents/
DEFAULT_DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
OPEN_STATES = ("draft", "submitted", "reviewing", "needs_info", "recommended", "approved")
EDITABLE_STATES = ("draft", "needs_info")  # the applicant side may change what is asked for
DOCUMENT_STATES = ("draft", "submitted", "reviewing", "needs_info")
# Scores are the reviewing manager's; once the case is recommended they are what the director decides on,
# so they are locked: the director says what they think in the approval comment or the rejection reason.
SCORING_STATES = ("reviewing",)
LICENCES = (DocumentKind.BUSINESS_LICENCE, DocumentKind.DRUG_TRADING_LICENCE)
# Events the case page fires through ``fire``; approve and contract have services of their own.
BUTTON_EVENTS = ("submit", "pick_up", "request_info", "provide_info", "recommend", "reject")


def button_events(case: ScreeningCase, actor) -> list:
    """The case page's buttons for ``actor`` now, in table order.

    Every screening event is hidden from the generic route (``engine.available_events``
    lists none): the buttons post to the screening page, which records who decided.
    """
    machine = case.__machine__
    return [
        e
        for e in machine.events_from(case.state)
        if e.name in BUTTON_EVENTS and engine.refusal(case, e.name, actor) is None
    ]


# -- reach and helpers -------------------------------------------------------------


def _territory(actor, code: str | None, *, what: str) -> Territory:
    unknown = _("Choose the %(what)s from the list of provinces, cities and counties.", what=what)
    return territory_in_reach(actor, code, unknown=unknown)


def _clean_profile(company_name, uscc, contact_phone) -> tuple[str, str | None, str | None]:
    name = (company_name or "").strip()
    if not name:
        raise BusinessError(_("Enter the company name."))
    code = None
    if uscc and str(uscc).strip():
        code = normalize_uscc(uscc)
        if code is None:
            raise BusinessError(_("The unified social credit code %(code)s is not valid.", code=uscc))
    phone = None
    if contact_phone and str(contact_phone).strip():
        phone = normalize_phone(contact_phone)
        if phone is None:
            raise BusinessError(
                _(
                    "“%(phone)s” is not a valid phone number: give a mobile, or a landline with its area code.",
                    phone=contact_phone,
                )
            )
    return name, code, phone


def _require_state(case: ScreeningCase, states, message: str) -> None:
    if case.state not in states:
        raise BusinessError(message)


def _lines_frozen() -> str:
    return _("Products and territories can be changed only as a draft or while information is asked for.")


def open_case_of(lead: Lead) -> ScreeningCase | None:
    """The lead's case that is still open (not rejected or contracted), if any."""
    return db.session.scalar(
        select(ScreeningCase)
        .where(ScreeningCase.lead_id == lead.id, ScreeningCase._state.in_(OPEN_STATES))
        .order_by(ScreeningCase.id)
        .limit(1)
    )


def may_open_from(lead: Lead, actor) -> bool:
    """Whether the lead page offers "Start screening" to ``actor``."""
    return (
        actor.role in (Role.REP, Role.MANAGER, Role.ADMIN)
        and lead.state == "applied"
        and covers(actor, lead.territory_code)
        and open_case_of(lead) is None
    )


# -- opening and editing -------------------------------------------------------------


def open_case(
    actor,
    *,
    lead: Lead | None = None,
    company_name: str | None = None,
    uscc: str | None = None,
    territory_code: str | None = None,
    address: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    summary: str | None = None,
) -> ScreeningCase:
    """Open a screening case in ``draft``, from a lead that reached ``applied`` or for a company named by hand.

    From a lead, what is left blank is copied from it: company, credit code,
    territory, address, the first contact and phone. A lead that is not
    ``applied``, or already has an open case, is refused. Reps open cases only in
    their territories; the rep who opens it drafts it.
    """
    if actor.role not in (Role.REP, Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Your role cannot open a screening case."))
    if lead is not None:
        engine.ensure_visible(lead, actor)
        if lead.state != "applied":
            raise BusinessError(
                _(
                    "Only a lead that has applied to become a distributor can be screened; this one is “%(state)s”.",
                    state=lead.state_def.label,
                )
            )
        existing = open_case_of(lead)
        if existing is not None:
            raise BusinessError(_("This lead already has an open screening case (#%(id)s).", id=existing.id))
        contact = lead.contacts[0] if lead.contacts else None
        company_name = company_name or lead.company_name
        uscc = uscc or lead.uscc
        territory_code = territory_code or lead.territory_code
        address = address or lead.address
        contact_name = contact_name or (contact.name if contact else None)
        if not contact_phone and contact is not None and contact.phones:
            contact_phone = contact.phones[0].e164
    territory = _territory(actor, territory_code, what=_("applicant's territory"))
    name, code, phone = _clean_profile(company_name, uscc, contact_phone)
    case = ScreeningCase(
        lead_id=lead.id if lead is not None else None,
        company_name=name,
        uscc=code,
        territory_code=territory.code,
        address=(address or "").strip() or None,
        contact_name=(contact_name or "").strip() or None,
        contact_phone=phone,
        summary=(summary or "").strip() or None,
        created_by_id=actor.id,
        assignee_id=actor.id,
    )
    engine.start(case, actor)
    return case


def update_case(
    case: ScreeningCase,
    actor,
    *,
    seen_version,
    company_name: str | None,
    uscc: str | None,
    territory_code: str | None,
    address: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    summary: str | None = None,
) -> None:
    """Edit the applicant's profile while the case is a draft or waits for information."""
    engine.ensure_visible(case, actor)
    check_version(case, seen_version)
    _require_state(
        case, EDITABLE_STATES, _("The case can be edited only as a draft or while information is asked for.")
    )
    territory = _territory(actor, territory_code, what=_("applicant's territory"))
    name, code, phone = _clean_profile(company_name, uscc, contact_phone)
    case.company_name, case.uscc, case.territory_code = name, code, territory.code
    case.address = (address or "").strip() or None
    case.contact_name = (contact_name or "").strip() or None
    case.contact_phone = phone
    case.summary = (summary or "").strip() or None
    db.session.flush()


def add_line(case: ScreeningCase, actor, *, product_id, territory_code: str, exclusive: bool = False) -> CaseLine:
    """Ask for a product in a territory (exclusive or not), while the case is a draft or waits for information."""
    engine.ensure_visible(case, actor)
    _require_state(case, EDITABLE_STATES, _lines_frozen())
    try:
        product = db.session.get(Product, int(product_id))
    except (TypeError, ValueError):
        product = None
    if product is None or not product.active:
        raise BusinessError(_("Choose a product that is on sale."))
    territory = _territory(actor, territory_code, what=_("territory asked for"))
    if any(line.product_id == product.id and line.territory_code == territory.code for line in case.lines):
        raise BusinessError(
            _("%(product)s in %(place)s is already asked for.", product=product.name, place=territory.full_name)
        )
    line = CaseLine(product_id=product.id, territory_code=territory.code, exclusive=bool(exclusive))
    case.lines.append(line)
    db.session.flush()
    return line


def remove_line(case: ScreeningCase, actor, *, line_id) -> None:
    """Drop a product and territory from what the applicant asks for."""
    engine.ensure_visible(case, actor)
    _require_state(case, EDITABLE_STATES, _lines_frozen())
    line = next((item for item in case.lines if str(item.id) == str(line_id)), None)
    if line is None:
        raise BusinessError(_("That line is no longer on the case."))
    territory_in_reach(actor, line.territory_code)
    case.lines.remove(line)
    db.session.flush()


# -- documents -------------------------------------------------------------------------


def display_name(file_name: str | None) -> str:
    """The client's file name reduced to a name to show: no directories, no control characters.

    ``../../etc/passwd`` becomes ``passwd``, ``C:\\scans\\licence.pdf`` becomes ``licence.pdf``.
    It is only ever shown; the file is stored under a name the server makes.
    """
    text = unicodedata.normalize("NFC", file_name or "").replace("\\", "/")
    text = posixpath.basename(text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return text[:255] or _("document")


def document_limit() -> int:
    return current_app.config.get("DOCUMENT_MAX_BYTES", DEFAULT_DOCUMENT_MAX_BYTES)


def check_document(data: bytes | None) -> uploads.FileKind:
    """The document's kind when its content is a PDF, JPEG or PNG within the size cap; else refused."""
    if not data:
        raise BusinessError(_("Choose the file to upload."))
    limit = document_limit()
    if len(data) > limit:
        raise BusinessError(
            _(
                "The file is too large (%(size)s MB); the limit is %(limit)s MB.",
                size=uploads.megabytes(len(data)),
                limit=uploads.megabytes(limit),
            )
        )
    kind = uploads.sniff(data, uploads.DOCUMENTS)
    if kind is None:
        raise BusinessError(_("The file must be a PDF, JPEG or PNG scan; its content is neither."))
    return kind


def add_document(
    case: ScreeningCase,
    actor,
    *,
    kind: str,
    upload,
    number: str | None = None,
    scope: str | None = None,
    issued_on: date | None = None,
    expires_on: date | None = None,
) -> QualificationDocument:
    """Upload a qualification document (首营资料) to the case; a newer one of the same kind supersedes the older.

    ``upload`` is the request's file (read no further than one byte past the cap).
    The type is decided by content, the file stored under a server-made name; the
    client's name is kept only as a display string. An already expired licence is refused.
    """
    engine.ensure_visible(case, actor)
    if actor.role not in (Role.REP, Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Your role cannot add documents to a screening case."))
    _require_state(case, DOCUMENT_STATES, _("Documents can no longer be added to this case."))
    try:
        document_kind = DocumentKind(kind)
    except ValueError:
        raise BusinessError(_("Choose which document this is.")) from None
    if issued_on and expires_on and expires_on < issued_on:
        raise BusinessError(_("The expiry date is before the issue date."))
    if document_kind in LICENCES and expires_on is not None and expires_on < local_today():
        raise BusinessError(
            _("This %(kind)s expired on %(date)s: upload the current one.", kind=document_kind.label, date=expires_on)
        )
    data = uploads.read_limited(upload, document_limit())
    file_kind = check_document(data)
    now = utcnow()
    for previous in case.documents:
        if previous.kind == document_kind and previous.superseded_at is None:
            previous.superseded_at = now
    document = QualificationDocument(
        case_id=case.id,
        distributor_id=case.distributor_id,
        kind=document_kind,
        number=(number or "").strip() or None,
        scope=(scope or "").strip() or None,
        issued_on=issued_on,
        expires_on=expires_on,
        stored_name=uploads.store(data, file_kind, DOCUMENT_AREA),
        original_name=display_name(getattr(upload, "filename", None)),
        content_type=file_kind.mimetype,
        size=len(data),
        uploaded_by_id=actor.id,
        uploaded_at=now,
    )
    db.session.add(document)
    engine.record_note(
        case,
        actor,
        "document",
        comment=_("%(kind)s uploaded: %(name)s", kind=document_kind.label, name=document.original_name),
    )
    db.session.flush()
    db.session.expire(case, ["documents"])
    return document


# -- scorecard -------------------------------------------------------------------------


def score(case: ScreeningCase, actor, *, criterion: str, score, note: str | None) -> CaseScore:
    """A manager scores one criterion (0–100) with the note that justifies it; a new score replaces the old."""
    engine.ensure_visible(case, actor)
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only a manager scores a screening case."))
    if case.state == "recommended":
        raise BusinessError(
            _("The scores are locked once the case is recommended. Comment on the decision instead of rescoring.")
        )
    _require_state(case, SCORING_STATES, _("The case is scored while it is under review."))
    try:
        which = Criterion(criterion)
    except ValueError:
        raise BusinessError(_("Choose the criterion to score.")) from None
    try:
        value = int(score)
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= 100:
        raise BusinessError(_("A score is a whole number from 0 to 100."))
    note = (note or "").strip()
    if not note:
        raise BusinessError(_("Say why: each score needs a note."))
    row = next((s for s in case.scores if s.criterion == which), None)
    if row is None:
        row = CaseScore(criterion=which)
        case.scores.append(row)
    row.score, row.note, row.scored_by_id, row.scored_at = value, note, actor.id, utcnow()
    db.session.flush()
    return row


# -- decisions -------------------------------------------------------------------------


def _users_covering(territory_code: str, role: Role, *, directors: bool = False) -> list[int]:
    """Active users of ``role`` whose territories cover the code, the closest territory first."""
    candidates = coverers(territory_code, role)
    if directors and candidates:
        ids = {uid for uid, _level in candidates}
        keep = set(db.session.scalars(select(User.id).where(User.id.in_(ids), User.is_director.is_(True))))
        candidates = [(uid, level) for uid, level in candidates if uid in keep]
    return [uid for uid, _level in sorted(candidates, key=lambda c: (-c[1], c[0]))]


def _any_user(role: Role, *, directors: bool = False, exclude: int | None = None) -> int | None:
    stmt = select(User.id).where(User.role == role, User.active.is_(True))
    if directors:
        stmt = stmt.where(User.is_director.is_(True))
    if exclude is not None:
        stmt = stmt.where(User.id != exclude)
    return db.session.scalar(stmt.order_by(User.id).limit(1))


def reviewer_for(case: ScreeningCase, *, exclude: int | None = None) -> int | None:
    """The manager of the case's territory (closest first), else any manager, else an admin; never ``exclude``."""
    for uid in _users_covering(case.territory_code, Role.MANAGER):
        if uid != exclude:
            return uid
    return _any_user(Role.MANAGER, exclude=exclude) or _any_user(Role.ADMIN, exclude=exclude)


def director_for(case: ScreeningCase, *, exclude: int | None = None) -> int | None:
    """A director covering the case's territory, else any director, else an admin."""
    for uid in _users_covering(case.territory_code, Role.MANAGER, directors=True):
        if uid != exclude:
            return uid
    return _any_user(Role.MANAGER, directors=True, exclude=exclude) or _any_user(Role.ADMIN, exclude=exclude)


def _last_actor(case: ScreeningCase, event: str) -> int | None:
    from crm.workflow.models import WorkflowHistory

    return db.session.scalar(
        select(WorkflowHistory.actor_id)
        .where(
            WorkflowHistory.workflow == case.__machine__.name,
            WorkflowHistory.record_id == case.id,
            WorkflowHistory.event == event,
        )
        .order_by(WorkflowHistory.id.desc())
        .limit(1)
    )


def fire(
    case: ScreeningCase, event: str, actor, *, seen_version, comment: str | None = None, now: datetime | None = None
) -> None:
    """Fire one of the case page's buttons and hand the case to whoever acts next.

    submit → a manager of the territory; pick_up → the manager who picked it up;
    request_info → the submitter; provide_info → the manager who asked;
    recommend → a director; reject → nobody.
    """
    if event not in BUTTON_EVENTS:
        raise BusinessError(_("Unknown action."))
    # Everything the handover needs is read before the state moves (a query later would autoflush half of it).
    if event == "submit":
        next_owner = reviewer_for(case, exclude=actor.id)  # a submitting manager does not review their own case
    elif event == "pick_up":
        next_owner = actor.id
    elif event == "request_info":
        next_owner = case.submitted_by_id or case.created_by_id
    elif event == "provide_info":
        next_owner = _last_actor(case, "request_info") or reviewer_for(case, exclude=case.submitted_by_id)
    elif event == "recommend":
        next_owner = director_for(case, exclude=actor.id)
    else:
        next_owner = None
    engine.apply_event(case, event, actor, seen_version=seen_version, comment=comment, now=now)
    if event == "submit":
        case.submitted_by_id = actor.id
    elif event == "recommend":
        case.recommended_by_id = actor.id
    _hand_over(case, next_owner, actor, comment)
    db.session.flush()


def _hand_over(case: ScreeningCase, owner_id: int | None, actor, comment: str | None) -> None:
    """Make ``owner_id`` the one who acts next; they hear "is now yours", and the previous holder
    "no longer yours", unless they acted themselves."""
    previous = case.assignee_id
    changed = owner_id != previous
    case.assignee_id = owner_id
    comment = (comment or "").strip() or None
    if changed and owner_id is not None and owner_id != actor.id:
        queue(
            owner_id,
            NotificationKind.ASSIGNED,
            workflow=case.__machine__.name,
            record_id=case.id,
            state=case.state,
            message=comment,
        )
    if changed and previous is not None and previous != actor.id:  # the one who loses it hears so
        queue(
            previous,
            NotificationKind.UNASSIGNED,
            workflow=case.__machine__.name,
            record_id=case.id,
            state=case.state,
            message=comment,
        )


def approve_case(case: ScreeningCase, actor, *, seen_version, comment: str | None = None, now: datetime | None = None):
    """Approve the case (every gate is a guard of the event) and create the onboarding distributor.

    Returns ``(distributor, agreement)``: the distributor in ``onboarding`` with its
    draft agreement built from the case's lines.
    """
    from crm.distributors.onboarding import create_from_case

    engine.apply_event(case, "approve", actor, seen_version=seen_version, comment=comment, now=now)
    case.approved_by_id = actor.id
    _hand_over(case, case.created_by_id, actor, comment)  # the rep prepares the agreement's signing
    db.session.flush()
    return create_from_case(case, actor)


# -- the admin's policy --------------------------------------------------------------------


def update_policy(
    actor,
    *,
    seen_version,
    weights: dict[str, int | None],
    pass_threshold: int | None,
    licence_min_days: int | None,
) -> None:
    """The admin sets the scorecard weights (0–100 each, not all zero), the pass mark and the licence days."""
    from crm.screening.gates import policy

    if actor.role != Role.ADMIN:
        raise BusinessError(_("Only an administrator changes the screening policy."))
    rules = policy(for_update=True)
    check_version(rules, seen_version)
    values = {}
    for criterion in Criterion:
        value = _whole(weights.get(criterion.value))
        if value is None or not 0 <= value <= 100:
            raise BusinessError(_("Each weight is a whole number from 0 to 100: %(name)s.", name=criterion.label))
        values[criterion] = value
    if not any(values.values()):
        raise BusinessError(_("At least one weight must be above 0, or no score could be weighted."))
    threshold, days = _whole(pass_threshold), _whole(licence_min_days)
    if threshold is None or not 0 <= threshold <= 100:
        raise BusinessError(_("The pass mark is a whole number from 0 to 100."))
    if days is None or not 1 <= days <= 365:
        raise BusinessError(_("Licences must still run for 1 to 365 days."))
    for criterion, value in values.items():
        setattr(rules, f"weight_{criterion.value}", value)
    rules.pass_threshold, rules.licence_min_days = threshold, days
    record_audit(
        "screening_policy_changed",
        user=actor,
        weights={c.value: v for c, v in values.items()},
        pass_threshold=threshold,
        licence_min_days=days,
    )
    db.session.flush()


def _whole(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
