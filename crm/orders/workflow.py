"""The order machine (订单): submitted → confirmed → picking → shipped → delivered → invoiced → closed.

``on_hold`` ⇄ ``confirmed`` for credit or supply problems; ``cancelled`` from
``submitted``, ``confirmed`` or ``on_hold``. Every event but ``start_picking``,
``cancel`` and ``close`` is hidden from the generic button: each one also records something
(the credit decision, the lots and trace codes shipped, the receipt, the
invoice), so the order pages fire them through ``crm.orders.services``.

The gates of supply are guards: confirming, releasing and shipping need an
active distributor with a valid drug-trading licence and GSP certificate and an
agreement in force whose grants cover the ship-to county for every line. The
checks live in ``crm.orders.gates`` so the order page can show each one. A discount
request waiting for a manager (``crm.orders.discounts``) holds back confirming and picking.
"""

from __future__ import annotations

from datetime import timedelta

from crm.access.roles import Role
from crm.i18n import lazy_gettext as _l
from crm.leads.workflow import WORKING_DAY
from crm.workflow import Event, Guard, Machine, Sla, State

DESK = frozenset({Role.SERVICE, Role.ADMIN})
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
ORDERING = frozenset({Role.DISTRIBUTOR, Role.SERVICE, Role.ADMIN})
OPEN_STATES = ("submitted", "confirmed", "on_hold", "picking")


def _gate(name: str):
    """A guard check that runs gate ``name`` of ``crm.orders.gates`` (imported late: gates read the models)."""

    def check(order, actor) -> bool:
        from crm.orders import gates

        return getattr(gates, name)(order, actor).passed

    check.__name__ = name
    return check


SUPPLY_GATES = (
    Guard(_gate("distributor_active"), _l("The distributor is not active: it cannot be supplied.")),
    Guard(
        _gate("licences_valid"),
        _l("The distributor's drug-trading licence and GSP certificate must be on file and valid today."),
    ),
    Guard(_gate("agreement_in_force"), _l("The distributor has no agreement in force today.")),
    Guard(
        _gate("ships_inside_the_grants"),
        _l("The ship-to county lies outside the agreement's territory for a product ordered."),
    ),
)
CREDIT_OK = Guard(
    _gate("credit_ok"),
    _l("The order would exceed the distributor's credit limit, or an invoice is overdue: put it on hold."),
)
NOT_THE_ASKER = Guard(
    _gate("not_the_asker"),
    _l("Whoever placed the order, put it on hold or asked for its release cannot release it: another manager must."),
)
PRICES_SETTLED = Guard(
    _gate("no_pending_discount"),
    _l("A discount request on this order awaits a manager's decision: decide it first."),
)
FULLY_SHIPPED = Guard(_gate("fully_shipped"), _l("Every line must be shipped in full first."))
CANCELLABLE_BY_ACTOR = Guard(
    _gate("actor_may_cancel"),
    _l("A distributor can cancel its order only before the order desk confirms it."),
)

ORDER_MACHINE = Machine(
    name="orders",
    label=_l("Order"),
    initial="submitted",
    states=(
        State("submitted", _l("Submitted")),
        State("confirmed", _l("Confirmed")),
        State("on_hold", _l("On hold")),
        State("picking", _l("Picking")),
        State("shipped", _l("Shipped")),
        State("delivered", _l("Delivered")),
        State("invoiced", _l("Invoiced")),
        State("closed", _l("Closed"), final=True),
        State("cancelled", _l("Cancelled"), final=True),
    ),
    events=(
        Event(
            "confirm",
            _l("Confirm the order"),
            ("submitted",),
            "confirmed",
            DESK,
            guards=(*SUPPLY_GATES, PRICES_SETTLED, CREDIT_OK),
            hidden=True,
        ),
        Event(
            "hold",
            _l("Put on hold"),
            ("submitted", "confirmed"),
            "on_hold",
            frozenset({Role.SERVICE, Role.MANAGER, Role.ADMIN}),
            comment_required=True,
            hidden=True,
            # "release" is open to managers, but never to the one who put the hold on (NOT_THE_ASKER):
            # whoever holds an order cannot take it back, so the button asks first.
            confirm=True,
        ),
        Event(
            "release",
            _l("Release the hold"),
            ("on_hold",),
            "confirmed",
            MANAGERS,
            guards=(*SUPPLY_GATES, NOT_THE_ASKER),
            comment_required=True,
            hidden=True,
        ),
        Event(
            "start_picking",
            _l("Start picking"),
            ("confirmed",),
            "picking",
            DESK,
            guards=(*SUPPLY_GATES, PRICES_SETTLED),
        ),
        Event(
            "ship",
            _l("Shipped"),
            ("picking",),
            "shipped",
            DESK,
            guards=(*SUPPLY_GATES, FULLY_SHIPPED),
            hidden=True,
        ),
        Event(
            "confirm_receipt",
            _l("Confirm receipt"),
            ("shipped",),
            "delivered",
            frozenset({Role.DISTRIBUTOR, Role.SERVICE, Role.ADMIN}),
            hidden=True,
        ),
        Event("invoice", _l("Record the invoice"), ("delivered",), "invoiced", DESK, hidden=True),
        Event("close", _l("Close"), ("invoiced",), "closed", DESK),
        Event(
            "cancel",
            _l("Cancel the order"),
            ("submitted", "confirmed", "on_hold"),
            "cancelled",
            frozenset({Role.DISTRIBUTOR, Role.SERVICE, Role.MANAGER, Role.ADMIN}),
            guards=(CANCELLABLE_BY_ACTOR,),
            comment_required=True,
        ),
    ),
    sla={
        "submitted": Sla(timedelta(hours=4), escalate_to=Role.MANAGER),  # confirmed within 4 working hours
        "confirmed": Sla(1 * WORKING_DAY),  # picking starts within a day …
        "picking": Sla(1 * WORKING_DAY),  # … and the goods leave within the next: shipped within 2
        "on_hold": Sla(1 * WORKING_DAY),  # a manager decides a hold within a day
        "delivered": Sla(3 * WORKING_DAY),  # invoiced within 3 working days of delivery
    },
)
