"""The return machine (退换货): requested → approved | rejected → in_transit → received → inspected →
refunded | replaced → closed.

A manager of the territory or the order desk decides (the agreement's return
policy names the reasons only a manager decides: quality by default); whoever
asked for the return never decides it. Cold-chain goods need the temperature
record before approval. Deciding to reject, receiving, inspecting, refunding and
replacing each record something besides the state, so they are hidden from the
generic button and fired by ``crm.returns.services``.
"""

from __future__ import annotations

from crm.access.roles import Role
from crm.i18n import lazy_gettext as _l
from crm.leads.workflow import WORKING_DAY
from crm.workflow import Event, Guard, Machine, Sla, State

DESK = frozenset({Role.SERVICE, Role.ADMIN})
DECIDERS = frozenset({Role.MANAGER, Role.SERVICE, Role.ADMIN})
SENDERS = frozenset({Role.DISTRIBUTOR, Role.SERVICE, Role.ADMIN})
OPEN_STATES = ("requested", "approved", "in_transit", "received", "inspected")
# What waits on the order desk, in the order it works them (its queue, and the order desk's count).
DESK_QUEUE = ("requested", "in_transit", "received", "inspected")


def _not_the_requester(request, actor) -> bool:
    return actor.id is None or request.requested_by_id != actor.id


def _decider_for_reason(request, actor) -> bool:
    """A reason the policy keeps for managers (quality by default) is decided by a manager or an admin."""
    from crm.returns.services import policy_for

    if request.reason.value in policy_for(request).reasons_for_managers:
        return actor.role in (Role.MANAGER, Role.ADMIN)
    return True


def _temperature_recorded(request, actor) -> bool:
    return not request.needs_cold_chain_record or bool((request.temperature_record or "").strip())


def _is_return(request, actor) -> bool:
    return request.kind.value == "return"


def _is_exchange(request, actor) -> bool:
    return request.kind.value == "exchange"


NOT_THE_REQUESTER = Guard(
    _not_the_requester, _l("Whoever asked for the return cannot decide it: a manager or the order desk must.")
)
DECIDER_FOR_REASON = Guard(
    _decider_for_reason, _l("Returns for this reason are decided by a manager of the territory.")
)
TEMPERATURE_RECORDED = Guard(
    _temperature_recorded, _l("Cold-chain goods: add the temperature record before approving the return.")
)
IS_RETURN = Guard(_is_return, _l("Only a return is refunded: an exchange gets a replacement order."))
IS_EXCHANGE = Guard(_is_exchange, _l("Only an exchange gets a replacement order: a return is refunded."))

RETURN_MACHINE = Machine(
    name="returns",
    label=_l("Return"),
    initial="requested",
    states=(
        State("requested", _l("Requested")),
        State("approved", _l("Approved to return")),
        State("rejected", _l("Rejected"), final=True),
        State("in_transit", _l("On its way back")),
        State("received", _l("Goods received")),
        State("inspected", _l("Inspected")),
        State("refunded", _l("Refunded")),
        State("replaced", _l("Replacement ordered")),
        State("closed", _l("Closed"), final=True),
    ),
    events=(
        Event(
            "approve",
            _l("Approve the return"),
            ("requested",),
            "approved",
            DECIDERS,
            guards=(NOT_THE_REQUESTER, DECIDER_FOR_REASON, TEMPERATURE_RECORDED),
        ),
        Event(
            "reject",
            _l("Reject the return"),
            ("requested",),
            "rejected",
            DECIDERS,
            guards=(NOT_THE_REQUESTER, DECIDER_FOR_REASON),
            comment_required=True,
            hidden=True,
        ),
        Event("send_back", _l("Goods sent back"), ("approved",), "in_transit", SENDERS),
        Event("receive", _l("Record the receipt"), ("in_transit",), "received", DESK, hidden=True),
        Event("inspect", _l("Record the inspection"), ("received",), "inspected", DESK, hidden=True),
        Event(
            "refund", _l("Issue the credit note"), ("inspected",), "refunded", DESK, guards=(IS_RETURN,), hidden=True
        ),
        Event(
            "replace",
            _l("Create the replacement order"),
            ("inspected",),
            "replaced",
            DESK,
            guards=(IS_EXCHANGE,),
            hidden=True,
        ),
        Event("close", _l("Close"), ("refunded", "replaced"), "closed", DESK),
    ),
    sla={
        "requested": Sla(2 * WORKING_DAY, escalate_to=Role.MANAGER),  # decided within 2 working days
        "received": Sla(3 * WORKING_DAY),  # inspected within 3 of receipt
        "inspected": Sla(5 * WORKING_DAY),  # refunded (or replaced) within 5
    },
)
