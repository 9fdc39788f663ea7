"""Lots and stock, orders, shipments with lots and trace codes, invoices and payments.

Stock lives on the lot (``quantity_left``), and the database refuses a negative
value (CHECK): ``crm.orders.stock.take`` is a conditional UPDATE, so two
shipments racing for a lot's last units cannot both win. A trace code (药品追溯码)
is out at most once: the partial unique index ``uq_shipped_codes_out_once``
covers the codes not returned, so the second shipment of a code fails in the
database whatever the application checked before.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.orders.workflow import ORDER_MACHINE
from crm.workflow.models import WorkflowRecord
from crm.workflow.registry import register


class OrderPolicy(db.Model):
    """The installation's order rules, one row (id 1), edited by an admin."""

    __tablename__ = "order_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    near_expiry_months: Mapped[int] = mapped_column(Integer, default=6, server_default="6")
    auto_delivery_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class Credit(db.Model):
    """A distributor's credit terms: limit (元) and payment terms (账期, days after the invoice).

    No row, or no limit, means no credit was granted: every order waits for a
    manager's release.
    """

    __tablename__ = "distributor_credit"

    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="CASCADE"), primary_key=True)
    credit_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    payment_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (CheckConstraint("credit_limit IS NULL OR credit_limit >= 0", name="credit_not_negative"),)


class Lot(db.Model):
    """A finished-goods lot (批号) of a product, and how much of it is left to ship."""

    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    produced_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    quantity_released: Mapped[int] = mapped_column(Integer)
    quantity_left: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    product = relationship("Product", lazy="joined")

    __table_args__ = (
        UniqueConstraint("product_id", "number", name="uq_lots_product_number"),
        CheckConstraint("quantity_left >= 0", name="stock_not_negative"),
        CheckConstraint("quantity_left <= quantity_released", name="stock_within_release"),
        CheckConstraint("expires_on > produced_on", name="expires_after_production"),
        Index("ix_lots_product_expiry", "product_id", "expires_on"),
    )


@register
class Order(WorkflowRecord, db.Model):
    """A distributor's order. ``assignee`` is the order desk person working it."""

    __tablename__ = "orders"
    __title_column__ = "number"
    __machine__ = ORDER_MACHINE
    __territory_column__ = "ship_to_code"
    __company_column__ = "distributor_id"
    __detail_endpoint__ = "orders.detail"
    __detail_arg__ = "order_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), index=True)
    ship_to_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    ship_to_address: Mapped[str] = mapped_column(String(255))
    receiver_name: Mapped[str] = mapped_column(String(64))
    receiver_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    note: Mapped[str | None] = mapped_column(Text)
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who put the order on hold (a manager other than them releases it), and why.
    held_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # Who asked for the release (a rep for their distributor): four eyes, they cannot release it themselves.
    release_asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    distributor = relationship("Distributor", lazy="joined")
    agreement = relationship("Agreement")
    ship_to = relationship("Territory", lazy="joined")
    placed_by = relationship("User", foreign_keys=[placed_by_id])
    held_by = relationship("User", foreign_keys=[held_by_id])
    release_asked_by = relationship("User", foreign_keys=[release_asked_by_id])
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    shipments: Mapped[list[Shipment]] = relationship(back_populates="order", order_by="Shipment.id")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="order", order_by="Invoice.id")

    __table_args__ = (
        Index("ix_orders_distributor_created", "distributor_id", "created_at"),
        # The order list: the page's ids come from these alone (views.index), sorted by deadline.
        Index("ix_orders_state_due", "state", "sla_due_at"),
        Index("ix_orders_distributor_state_due", "distributor_id", "state", "sla_due_at"),
    )

    def __repr__(self) -> str:
        return f"<Order {self.id} {self.number} {self.state}>"


class OrderLine(db.Model):
    """A product ordered, at the agreement line's price; ``shipped`` counts what has left so far."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    agreement_line_id: Mapped[int] = mapped_column(ForeignKey("agreement_lines.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    accepts_near_expiry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    shipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received: Mapped[int | None] = mapped_column(Integer)
    receipt_problem: Mapped[str | None] = mapped_column(Text)  # shortage or damage reported on receipt

    order: Mapped[Order] = relationship(back_populates="lines")
    product = relationship("Product", lazy="joined")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("shipped >= 0 AND shipped <= quantity", name="shipped_within_quantity"),
    )

    @property
    def left(self) -> int:
        return self.quantity - self.shipped


class Shipment(db.Model):
    """One dispatch of goods for an order (an order may ship in several)."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(64))
    waybill: Mapped[str] = mapped_column(String(64))
    shipped_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="shipments")
    items: Mapped[list[ShipmentItem]] = relationship(
        back_populates="shipment", cascade="all, delete-orphan", order_by="ShipmentItem.id"
    )


class ShipmentItem(db.Model):
    """A quantity of one lot shipped for one order line."""

    __tablename__ = "shipment_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # Units of this item in open return requests or returned (crm.returns): never more than ``quantity``.
    return_claimed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    shipment: Mapped[Shipment] = relationship(back_populates="items")
    line = relationship(OrderLine)
    lot = relationship(Lot, lazy="joined")

    __table_args__ = (CheckConstraint("quantity > 0", name="item_quantity_positive"),)


class ShippedCode(db.Model):
    """A drug trace code (药品追溯码) that left in a shipment, with where it went.

    ``distributor_id`` and ``territory_code`` are copied from the order so that a
    code found in the market answers "whose, where" from one index lookup.
    """

    __tablename__ = "shipped_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    shipment_item_id: Mapped[int] = mapped_column(ForeignKey("shipment_items.id", ondelete="CASCADE"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"))
    territory_code: Mapped[str] = mapped_column(String(6))
    shipped_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Destroyed after a return (不合格销毁): the code stays "out" for good, so it can never ship again.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_shipped_codes_code", "code"),
        Index(
            "uq_shipped_codes_out_once",
            "code",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
    )


class Invoice(db.Model):
    """The invoice of an order (发票); 数电票 numbers have 20 digits."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="invoices")

    __table_args__ = (CheckConstraint("amount > 0", name="invoice_positive"),)


class PaymentMethod(LabelledEnum):
    TRANSFER = "transfer"
    ACCEPTANCE = "acceptance"
    CHEQUE = "cheque"
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {
            cls.TRANSFER: _l("Bank transfer"),
            cls.ACCEPTANCE: _l("Bank acceptance bill"),
            cls.CHEQUE: _l("Cheque"),
            cls.OTHER: _l("Other"),
        }


class Payment(db.Model):
    """Money received from a distributor (回款), against its account rather than one invoice."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod))
    reference: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (CheckConstraint("amount > 0", name="payment_positive"),)


class DiscountStatus(LabelledEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @classmethod
    def _labels(cls):
        return {
            cls.PENDING: _l("Awaiting a manager"),
            cls.APPROVED: _l("Approved"),
            cls.REJECTED: _l("Rejected"),
        }


class OrderDiscount(db.Model):
    """A request to sell one order line below the agreement's price, and a manager's decision (four eyes).

    ``list_price`` is the agreement price the line was ordered at; ``unit_price`` the price
    asked for, below it. The reasons are internal: the portal shows only the line's final
    price. At most one request per line waits at a time (partial unique index); ``version``
    makes a decision on a request someone else has decided meanwhile a 409.
    """

    __tablename__ = "order_discounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    list_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[DiscountStatus] = mapped_column(enum_column(DiscountStatus), default=DiscountStatus.PENDING)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    order = relationship(Order)
    line = relationship(OrderLine, lazy="joined")
    requested_by = relationship("User", foreign_keys=[requested_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("unit_price > 0 AND unit_price < list_price", name="discount_below_list"),
        Index(
            "uq_order_discounts_one_pending",
            "order_line_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    @property
    def percent_off(self) -> Decimal:
        return ((self.list_price - self.unit_price) / self.list_price * 100).quantize(Decimal("0.1"))
