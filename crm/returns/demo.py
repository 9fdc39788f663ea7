"""Demo data for returns, built with the real services on the orders demo's delivered goods.

The signed demo distributor (portal user ``13800138032``) has a return waiting
for a decision, one on its way back, one inspected (a lot restocked, a lot
destroyed before a witness) awaiting its credit note, one refunded whose credit
note shows on the statement, and an exchange with its replacement order waiting
on the order desk. Called by ``crm.demo.load_demo`` after the orders demo.
"""

from __future__ import annotations

from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.orders.models import Order, ShippedCode
from crm.returns import services


def _items(order: Order) -> dict[str, object]:
    """The order's first shipment's items by product name."""
    return {item.lot.product.name: item for item in order.shipments[0].items}


def _codes(item, count: int) -> str:
    taken = db.session.scalars(
        select(ShippedCode.code).where(ShippedCode.shipment_item_id == item.id).order_by(ShippedCode.id).limit(count)
    )
    return "\n".join(taken)


def load_returns_demo() -> None:
    users = {u.username: u for u in db.session.scalars(select(User))}
    desk, manager_zj, portal = users["service"], users["manager_zj"], users["13800138032"]
    orders = {
        order.state: order
        for order in db.session.scalars(
            select(Order).where(
                Order.distributor_id == portal.company_id, Order._state.in_(("delivered", "invoiced", "closed"))
            )
        )
    }

    def ask(order, kind, reason, wanted, description):
        items = _items(order)
        lines = [
            services.WantedReturn(items[name].id, quantity, _codes(items[name], quantity) if codes else "")
            for name, quantity, codes in wanted
        ]
        return services.request_return(
            portal, shipment_id=order.shipments[0].id, kind=kind, reason=reason, lines=lines, description=description
        )

    def bring(request, to: str, decider=desk, verdicts=None):
        steps = ("approved", "in_transit", "received", "inspected")
        for step in steps[: steps.index(to) + 1]:
            if step == "approved":
                services.approve(request, decider, seen_version=request.version)
            elif step == "in_transit":
                services.fire(request, "send_back", portal, seen_version=request.version, comment="顺丰 SF2612000001")
            elif step == "received":
                services.record_receipt(request, desk, seen_version=request.version, received={})
            else:
                chosen = verdicts or {}
                services.record_inspection(
                    request,
                    desk,
                    seen_version=request.version,
                    verdicts={
                        line.id: chosen.get(line.product.name, services.Verdict("restock")) for line in request.lines
                    },
                )

    delivered, invoiced, closed = orders["delivered"], orders["invoiced"], orders["closed"]
    ask(delivered, "return", "damaged", [("清热解毒口服液", 2, False)], "两盒外箱压损，内瓶渗漏")  # waits on a decision
    bring(ask(invoiced, "return", "wrong_item", [("清热解毒口服液", 3, False)], "错发规格"), "in_transit")
    bring(
        ask(closed, "return", "quality", [("复方丹参滴丸", 2, True), ("清热解毒口服液", 1, False)], "药液浑浊"),
        "inspected",
        decider=manager_zj,  # quality returns are decided by a manager
        verdicts={"清热解毒口服液": services.Verdict("destroy", "质量部 周见证")},
    )
    refunded = ask(closed, "return", "damaged", [("清热解毒口服液", 2, False)], "运输破损")
    bring(refunded, "inspected")
    services.refund(refunded, desk, seen_version=refunded.version)
    exchange = ask(invoiced, "exchange", "damaged", [("复方丹参滴丸", 2, True)], "铝箔破损，申请换货")
    bring(exchange, "inspected")
    services.replace(exchange, desk, seen_version=exchange.version)
    db.session.flush()
