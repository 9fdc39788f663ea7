"""The screening machine (商筛选): from a rep's draft to a signed agreement, or rejected.

draft → submitted → reviewing ⇄ needs_info → (recommended →) approved → contracted;
rejected from reviewing or recommended. ``needs_info`` pauses the clock: the
case waits on the applicant side. An ordinary case is approved by a manager
straight from ``reviewing``; a case in a key region (重点区域) is *recommended* by
the manager and then approved by a director — a second, different person.

Every event is hidden from the generic button route (``workflow.fire``): each
decision also records who took it and hands the case to whoever acts next
(``submitted_by``, which the four-eyes gate reads; ``recommended_by``, which the
director's gate reads), so the case page fires them through
``crm.screening.services.fire``. ``approve`` creates the distributor and its draft
agreement (``crm.screening.services.approve_case``); signing the agreement fires
``contract``. The gates of approval are guards; their checks live in
``crm.screening.gates`` so that the case page can show each one passed or failed.
"""

from __future__ import annotations

from crm.access.roles import Role
from crm.i18n import lazy_gettext as _l
from crm.leads.workflow import WORKING_DAY
from crm.workflow import Event, Guard, Machine, Sla, State

APPLICANT_SIDE = frozenset({Role.REP, Role.MANAGER, Role.ADMIN})
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})


def _gate(name: str):
    """A guard check that runs gate ``name`` of ``crm.screening.gates`` (imported late: gates read the models)."""

    def check(case, actor) -> bool:
        from crm.screening import gates

        return getattr(gates, name)(case, actor).passed

    check.__name__ = name
    return check


HAS_LINES = Guard(_gate("has_lines"), _l("Add at least one product and territory the applicant asks for."))
APPROVAL_GATES = (
    Guard(
        _gate("licences_valid"),
        _l("The business licence and a drug-trading licence valid for the required days must be on file."),
    ),
    Guard(_gate("score_passes"), _l("The scorecard is incomplete or below the pass mark.")),
    Guard(_gate("no_exclusive_clash"), _l("A product and territory asked for clashes with an exclusive agreement.")),
    Guard(_gate("not_submitter"), _l("The person who submitted the case cannot approve it.")),
    Guard(_gate("lines_in_reach"), _l("A territory asked for lies outside your territories.")),
)
KEY_REGION_FIRST = Guard(
    _gate("manager_may_decide"),
    _l("A key-region case needs the manager's recommendation first, then a director's approval."),
)
DIRECTOR_SECOND = Guard(
    _gate("director_second_approval"),
    _l("A key-region case needs a director's approval, by someone other than the recommending manager."),
)

SCREENING_MACHINE = Machine(
    name="screening",
    label=_l("Screening case"),
    initial="draft",
    states=(
        State("draft", _l("Draft")),
        State("submitted", _l("Submitted")),
        State("reviewing", _l("Under review")),
        State("needs_info", _l("Waiting for information"), paused=True),
        State("recommended", _l("Recommended")),
        State("approved", _l("Approved")),
        State("rejected", _l("Rejected"), final=True),
        State("contracted", _l("Contracted"), final=True),
    ),
    events=(
        Event(
            "submit",
            _l("Submit for screening"),
            ("draft",),
            "submitted",
            APPLICANT_SIDE,
            guards=(HAS_LINES,),
            hidden=True,
        ),
        Event("pick_up", _l("Start the review"), ("submitted",), "reviewing", MANAGERS, hidden=True),
        Event(
            "request_info",
            _l("Ask for information"),
            ("reviewing",),
            "needs_info",
            MANAGERS,
            comment_required=True,
            hidden=True,
        ),
        Event("provide_info", _l("Information provided"), ("needs_info",), "reviewing", APPLICANT_SIDE, hidden=True),
        Event(
            "recommend",
            _l("Recommend for approval"),
            ("reviewing",),
            "recommended",
            MANAGERS,
            guards=APPROVAL_GATES,
            hidden=True,
        ),
        Event(
            "approve",
            _l("Approve"),
            ("reviewing", "recommended"),
            "approved",
            MANAGERS,
            guards=(*APPROVAL_GATES, KEY_REGION_FIRST, DIRECTOR_SECOND),
            hidden=True,
        ),
        Event(
            "reject",
            _l("Reject"),
            ("reviewing", "recommended"),
            "rejected",
            MANAGERS,
            comment_required=True,
            hidden=True,
        ),
        Event("contract", _l("Agreement signed"), ("approved",), "contracted", MANAGERS, hidden=True),
    ),
    sla={
        "submitted": Sla(1 * WORKING_DAY),  # picked up within a working day
        "reviewing": Sla(3 * WORKING_DAY),  # reviewed within three
        "recommended": Sla(2 * WORKING_DAY),  # decided within two
        "approved": Sla(10 * WORKING_DAY),  # the agreement signed within two weeks
    },
)
