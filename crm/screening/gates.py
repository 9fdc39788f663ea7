"""The gates a screening case passes before approval, each with the reason a user reads.

The machine's guards call these (pass or fail); the case page calls ``report``
to show every gate with its own detailed reason. Each gate is a function
``(case, actor) -> GateResult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _

from crm.access.roles import Role
from crm.access.scoping import covers
from crm.common.time import local_today
from crm.distributors.agreements import Grant, find_clashes
from crm.distributors.models import DocumentKind, QualificationDocument
from crm.extensions import db
from crm.screening.models import Criterion, ScreeningCase, ScreeningPolicy


@dataclass(frozen=True)
class GateResult:
    name: str
    label: str
    passed: bool
    reason: str  # why it passed or failed, in the user's language
    applies: bool = True  # False when the gate does not concern this case (e.g. no key region)


def policy(*, for_update: bool = False) -> ScreeningPolicy:
    """The single screening-policy row; until an admin first saves it, its defaults.

    Reading never writes (pages read in read-only transactions): the defaults are
    an unsaved row, stored when ``for_update`` asks for the row to change it.
    """
    row = db.session.get(ScreeningPolicy, 1, with_for_update=for_update)
    if row is None:
        defaults = {column.key: column.default.arg for column in ScreeningPolicy.__table__.c if column.default}
        row = ScreeningPolicy(id=1, **defaults)
        if for_update:
            db.session.add(row)
            db.session.flush()
    return row


def current_documents(case: ScreeningCase) -> dict[DocumentKind, QualificationDocument]:
    """The newest document of each kind on the case (superseded ones ignored)."""
    found: dict[DocumentKind, QualificationDocument] = {}
    for document in case.documents:
        if document.superseded_at is None:
            found[document.kind] = document
    return found


def weighted_score(case: ScreeningCase) -> float | None:
    """The weighted average (0–100) of the case's scores; None while any criterion is unscored."""
    rules = policy()
    scores = {s.criterion: s.score for s in case.scores}
    if set(scores) != set(Criterion):
        return None
    total_weight = sum(rules.weight(c) for c in Criterion)
    if total_weight <= 0:
        return None
    return sum(scores[c] * rules.weight(c) for c in Criterion) / total_weight


def is_key_region(case: ScreeningCase) -> bool:
    """A case is key-region when its territory, or any territory it asks for, or one above them, is flagged."""
    from crm.territories.models import Territory

    codes = {case.territory_code, *(line.territory_code for line in case.lines)}
    candidates = set()
    for code in codes:
        candidates |= {code, code[:2] + "0000", code[:4] + "00"}
    flagged = db.session.scalars(
        db.select(Territory.code).where(Territory.code.in_(candidates), Territory.is_key_region.is_(True))
    ).first()
    return flagged is not None


def has_lines(case, actor) -> GateResult:
    label = _("Products and territories")
    if case.lines:
        return GateResult("has_lines", label, True, _("%(count)d asked for.", count=len(case.lines)))
    return GateResult("has_lines", label, False, _("Add at least one product and territory the applicant asks for."))


def licences_valid(case, actor, *, today: date | None = None) -> GateResult:
    label = _("Licences")
    today = today or local_today()
    min_days = policy().licence_min_days
    documents = current_documents(case)
    problems = []
    if DocumentKind.BUSINESS_LICENCE not in documents:
        problems.append(_("no business licence uploaded"))
    if not case.uscc:
        problems.append(_("no unified social credit code on the case"))
    trading = documents.get(DocumentKind.DRUG_TRADING_LICENCE)
    if trading is None:
        problems.append(_("no drug-trading licence uploaded"))
    elif trading.expires_on is None:
        problems.append(_("the drug-trading licence has no expiry date"))
    elif trading.expires_on < today + timedelta(days=min_days):
        problems.append(
            _(
                "the drug-trading licence expires on %(date)s, less than %(days)d days from today",
                date=trading.expires_on.isoformat(),
                days=min_days,
            )
        )
    gsp = documents.get(DocumentKind.GSP_CERTIFICATE)
    if gsp is not None and gsp.expires_on is not None and gsp.expires_on < today + timedelta(days=min_days):
        problems.append(
            _(
                "the GSP certificate expires on %(date)s, less than %(days)d days from today",
                date=gsp.expires_on.isoformat(),
                days=min_days,
            )
        )
    if problems:
        return GateResult("licences_valid", label, False, _("Not yet: %(problems)s.", problems="; ".join(problems)))
    return GateResult(
        "licences_valid",
        label,
        True,
        _("Valid for at least %(days)d more days.", days=min_days),
    )


def score_passes(case, actor) -> GateResult:
    label = _("Scorecard")
    threshold = policy().pass_threshold
    score = weighted_score(case)
    if score is None:
        missing = sorted(set(Criterion) - {s.criterion for s in case.scores}, key=list(Criterion).index)
        return GateResult(
            "score_passes",
            label,
            False,
            _("Not scored yet: %(criteria)s.", criteria=", ".join(c.label for c in missing)),
        )
    if score + 1e-9 < threshold:
        return GateResult(
            "score_passes",
            label,
            False,
            _("Weighted score %(score).1f is below the pass mark %(threshold)d.", score=score, threshold=threshold),
        )
    return GateResult(
        "score_passes",
        label,
        True,
        _("Weighted score %(score).1f, pass mark %(threshold)d.", score=score, threshold=threshold),
    )


def no_exclusive_clash(case, actor) -> GateResult:
    label = _("Exclusive territories")
    grants = [Grant(line.product_id, line.territory_code, line.exclusive) for line in case.lines]
    own = case.distributor_id
    clashes = [c for c in find_clashes(grants) if own is None or c.distributor.id != own]
    if not clashes:
        return GateResult("no_exclusive_clash", label, True, _("No clash with an exclusive agreement."))
    first = clashes[0]
    return GateResult(
        "no_exclusive_clash",
        label,
        False,
        _(
            "%(product)s in %(territory)s clashes with %(distributor)s (%(kind)s grant in %(their)s).",
            product=first.line.product.name,
            territory=_territory_name(first.grant.territory_code),
            distributor=first.distributor.name,
            kind=_("exclusive") if first.line.exclusive else _("non-exclusive"),
            their=first.line.territory.full_name,
        ),
    )


def not_submitter(case, actor) -> GateResult:
    label = _("Four eyes")
    if case.submitted_by_id is not None and case.submitted_by_id == actor.id:
        return GateResult("not_submitter", label, False, _("You submitted this case: someone else must approve it."))
    return GateResult("not_submitter", label, True, _("The approver is not the submitter."))


def manager_may_decide(case, actor) -> GateResult:
    """A key-region case cannot be approved straight from review: it is recommended first."""
    label = _("Key region")
    if case.state == "reviewing" and is_key_region(case):
        return GateResult(
            "manager_may_decide",
            label,
            False,
            _("A key-region case needs the manager's recommendation first, then a director's approval."),
        )
    return GateResult("manager_may_decide", label, True, _("No second approval needed."), applies=is_key_region(case))


def director_second_approval(case, actor) -> GateResult:
    """After a recommendation, the approval comes from a director who did not recommend."""
    label = _("Director's approval")
    if case.state != "recommended":
        return GateResult("director_second_approval", label, True, "", applies=False)
    if not (actor.role == Role.ADMIN or (actor.role == Role.MANAGER and actor.is_director)):
        return GateResult("director_second_approval", label, False, _("Only a director can give the second approval."))
    if case.recommended_by_id == actor.id:
        return GateResult(
            "director_second_approval",
            label,
            False,
            _("You recommended this case: a different director must approve it."),
        )
    return GateResult("director_second_approval", label, True, _("Second approval by a director."))


def lines_in_reach(case, actor) -> GateResult:
    """The approver grants only what they cover: a case may hold places an administrator added."""
    label = _("Your territories")
    outside = [line.territory.full_name for line in case.lines if not covers(actor, line.territory_code)]
    if outside:
        return GateResult(
            "lines_in_reach",
            label,
            False,
            _(
                "%(places)s lie outside your territories: a manager who covers them, or an administrator, approves.",
                places="、".join(outside),
            ),
        )
    return GateResult("lines_in_reach", label, True, _("Every territory asked for lies inside yours."))


APPROVAL = (licences_valid, score_passes, no_exclusive_clash, not_submitter, lines_in_reach)


def report(case, actor) -> list[GateResult]:
    """Every approval gate for ``actor`` now, passed or failed, for the case page."""
    results = [gate(case, actor) for gate in APPROVAL]
    if is_key_region(case):
        results.append(
            manager_may_decide(case, actor) if case.state == "reviewing" else director_second_approval(case, actor)
        )
    return results


def _territory_name(code: str) -> str:
    from crm.territories.models import Territory

    territory = db.session.get(Territory, code)
    return territory.full_name if territory else code
