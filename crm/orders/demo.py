"""Demo data for orders, built with the real services: the signed demo distributor orders and is supplied.

The distributor of the signed agreement (杭州钱塘海达医药, portal user
``13800138032``) gets prices, a GSP certificate and credit terms; the maker has
lots, one of them near expiry; and orders stand in every state the order desk
and the portal act on: to confirm, to pick, to ship, a shipment to sign for, a
delivery to invoice, an invoice partly paid, an order on credit hold, one closed;
the order to confirm has a discount request waiting for a manager (four eyes).
Called by ``crm.demo.load_demo`` after the onboarding demo.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crm.auth.models import User
from crm.common import uploads
from crm.common.time import local_today
from crm.distributors.agreements import territory_range
from crm.distributors.models import Agreement, AgreementLine, AgreementStatus, DocumentKind, QualificationDocument
from crm.extensions import db
from crm.orders import discounts, services
from crm.orders.lots import add_lot
from crm.orders.models import Credit, Payment, PaymentMethod
from crm.products.models import Product

DRUG_CODES = {"复方丹参滴丸": "8612345", "清热解毒口服液": "8612346"}
PRICES = {"复方丹参滴丸": Decimal("28.5"), "清热解毒口服液": Decimal("16.8")}
_PDF = b"%PDF-1.4\n% demo GSP certificate\n" + b"0" * 64 + b"\n%%EOF\n"


def _codes(prefix: str, start: int, count: int) -> str:
    return "\n".join(f"{prefix}{n:013d}" for n in range(start, start + count))


def load_orders_demo() -> None:
    users = {u.username: u for u in db.session.scalars(select(User))}
    desk, manager_zj = users["service"], users["manager_zj"]
    portal = users["13800138032"]
    products = {p.name: p for p in db.session.scalars(select(Product))}
    agreement = db.session.scalar(
        select(Agreement).where(
            Agreement.distributor_id == portal.company_id, Agreement.status == AgreementStatus.SIGNED
        )
    )
    today = local_today()

    # Prices per grant, and a second product for the same county (non-exclusive).
    for name, code in DRUG_CODES.items():
        products[name].drug_code, products[name].requires_trace_codes = code, name == "复方丹参滴丸"
    for line in agreement.lines:
        line.unit_price = PRICES.get(line.product.name, Decimal("20"))
    if not any(line.product.name == "清热解毒口服液" for line in agreement.lines):
        lo, hi = territory_range("330114")
        agreement.lines.append(
            AgreementLine(
                product_id=products["清热解毒口服液"].id,
                territory_code="330114",
                code_lo=lo,
                code_hi=hi,
                unit_price=PRICES["清热解毒口服液"],
            )
        )
    db.session.add(
        QualificationDocument(
            distributor_id=portal.company_id,
            kind=DocumentKind.GSP_CERTIFICATE,
            number="A-ZJ-26-0114",
            issued_on=today - timedelta(days=300),
            expires_on=today + timedelta(days=1500),
            stored_name=uploads.store(_PDF, uploads.PDF, "documents"),
            original_name="GSP证书.pdf",
            content_type="application/pdf",
            size=len(_PDF),
            uploaded_by_id=manager_zj.id,
        )
    )
    db.session.add(Credit(distributor_id=portal.company_id, credit_limit=Decimal("30000"), payment_days=30))
    db.session.flush()

    dan, qingre = products["复方丹参滴丸"], products["清热解毒口服液"]
    lots = {  # lot objects by role in the demo
        "dan": add_lot(
            desk,
            product_id=dan.id,
            number="DS2611A01",
            produced_on=today - timedelta(days=30),
            expires_on=today + timedelta(days=720),
            quantity=5000,
        ),
        "dan_near": add_lot(
            desk,
            product_id=dan.id,
            number="DS2606B02",
            produced_on=today - timedelta(days=600),
            expires_on=today + timedelta(days=120),
            quantity=300,
        ),
        "qingre": add_lot(
            desk,
            product_id=qingre.id,
            number="QR2610C01",
            produced_on=today - timedelta(days=60),
            expires_on=today + timedelta(days=540),
            quantity=3000,
        ),
    }
    next_code = [1]  # the demo's trace codes are numbered from 1, per product

    def order(dan_units: int, qingre_units: int, note: str | None = None):
        return services.place_order(
            portal,
            ship_to_code="330114",
            ship_to_address="杭州市钱塘区下沙街道海达路 8 号仓库",
            receiver_name="韩海达",
            receiver_phone="13800138032",
            lines=[services.WantedLine(dan.id, dan_units), services.WantedLine(qingre.id, qingre_units)],
            note=note,
        )

    def ship(o):
        items = []
        for line in o.lines:
            if line.product_id == dan.id:
                start, next_code[0] = next_code[0], next_code[0] + line.left
                items.append(
                    services.ShipmentLine(line.id, lots["dan"].id, line.left, _codes(dan.drug_code, start, line.left))
                )
            else:
                items.append(services.ShipmentLine(line.id, lots["qingre"].id, line.left))
        services.record_shipment(
            o,
            desk,
            seen_version=o.version,
            carrier="顺丰速运",
            waybill=f"SF{1400000000 + o.id}",
            shipped_on=None,
            items=items,
        )

    def advance(o, to: str):
        steps = ("confirmed", "picking", "shipped", "delivered", "invoiced", "closed")
        for step in steps[: steps.index(to) + 1]:
            if step == "confirmed":
                services.confirm(o, desk, seen_version=o.version)
            elif step == "picking":
                services.fire(o, "start_picking", desk, seen_version=o.version)
            elif step == "shipped":
                ship(o)
            elif step == "delivered":
                services.confirm_receipt(o, portal, seen_version=o.version)
            elif step == "invoiced":
                services.record_invoice(
                    o, desk, seen_version=o.version, number=f"2633{o.id:016d}", issued_on=today, amount=o.total
                )
            elif step == "closed":
                services.fire(o, "close", desk, seen_version=o.version)

    closed = order(40, 20)
    advance(closed, "closed")
    invoiced = order(60, 30)
    advance(invoiced, "invoiced")
    delivered = order(20, 10)
    advance(delivered, "delivered")
    shipped = order(24, 12, "请随货附检验报告")
    advance(shipped, "shipped")
    picking = order(30, 0)
    advance(picking, "picking")
    confirmed = order(10, 10)
    advance(confirmed, "confirmed")
    waiting = order(12, 6, "月底前到货即可")  # waits on the order desk: to confirm …
    line = waiting.lines[0]
    discounts.request_discount(  # … once a manager other than the desk decides the discount asked for it
        waiting,
        desk,
        seen_version=waiting.version,
        line_id=line.id,
        unit_price=(line.unit_price * Decimal("0.95")).quantize(Decimal("0.01")),
        reason="客户反映同区域竞品到货价低约 5%，申请本单让利以保住首批终端铺货",
    )
    big = order(1500, 0, "旺季备货")  # ¥42,750: over the ¥30,000 credit limit, so it waits on hold
    services.confirm(big, desk, seen_version=big.version)
    db.session.add(
        Payment(
            distributor_id=portal.company_id,
            received_on=today,
            amount=closed.total + Decimal("500"),
            method=PaymentMethod.TRANSFER,
            reference="网银回单 20261201",
            created_by_id=desk.id,
        )
    )
    db.session.flush()
