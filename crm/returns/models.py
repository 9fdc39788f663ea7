"""Return requests, their lines per shipment item and lot, returned trace codes, credit notes, policies.

A return line is always one shipment item (a lot shipped for one order line to this
distributor). How much of an item may still be returned is kept on the item itself
(``ShipmentItem.return_claimed``, the units in open requests plus those returned):
``crm.returns.services.claim`` raises it with one conditional UPDATE, so two
requests racing for the last units cannot both win. A shipped trace code is in
at most one live return (the partial unique index ``uq_returned_codes_live``).
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
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.returns.workflow import RETURN_MACHINE
from crm.workflow.models import WorkflowRecord
from crm.workflow.registry import register


class ReturnKind(LabelledEnum):
    RETURN = "return"
    EXCHANGE = "exchange"

    @classmethod
    def _labels(cls):
        return {cls.RETURN: _l("Return for a refund"), cls.EXCHANGE: _l("Exchange")}


class ReturnReason(LabelledEnum):
    DAMAGED = "damaged"
    NEAR_EXPIRY = "near_expiry"
    WRONG_ITEM = "wrong_item"
    QUALITY = "quality"
    SHORT = "short"

    @classmethod
    def _labels(cls):
        return {
            cls.DAMAGED: _l("Damaged"),
            cls.NEAR_EXPIRY: _l("Near expiry"),
            cls.WRONG_ITEM: _l("Wrong item"),
            cls.QUALITY: _l("Quality problem"),
            cls.SHORT: _l("Short shipment"),
        }


class InspectionOutcome(LabelledEnum):
    RESTOCK = "restock"
    QUARANTINE = "quarantine"
    DESTROY = "destroy"

    @classmethod
    def _labels(cls):
        return {
            cls.RESTOCK: _l("Restock (passed)"),
            cls.QUARANTINE: _l("Quarantine (held)"),
            cls.DESTROY: _l("Destroy (failed)"),
        }


class ReturnPolicy(db.Model):
    """How an agreement takes goods back: the window after delivery, near-expiry returns, who decides.

    No row means the defaults below. ``manager_reasons`` lists the reason codes that only a
    territory manager may decide (comma-separated); the others the order desk may decide too.
    """

    __tablename__ = "return_policies"

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True)
    window_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    accepts_near_expiry: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    near_expiry_months: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    manager_reasons: Mapped[str] = mapped_column(String(128), default="quality", server_default="quality")
    # Quality returns of one lot from this many requests on notify the managers and admins (once).
    quality_threshold: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("window_days > 0", name="window_positive"),
        CheckConstraint("near_expiry_months >= 0", name="months_not_negative"),
    )

    @property
    def reasons_for_managers(self) -> set[str]:
        return {code.strip() for code in (self.manager_reasons or "").split(",") if code.strip()}


@register
class ReturnRequest(WorkflowRecord, db.Model):
    """A distributor's return or exchange of goods shipped to it, from request to credit note or replacement."""

    __tablename__ = "return_requests"
    __title_column__ = "number"
    __machine__ = RETURN_MACHINE
    __territory_column__ = "territory_code"
    __company_column__ = "distributor_id"
    __detail_endpoint__ = "returns.detail"
    __detail_arg__ = "return_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[ReturnKind] = mapped_column(enum_column(ReturnKind))
    reason: Mapped[ReturnReason] = mapped_column(enum_column(ReturnReason))
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)  # the order the goods came with
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    # The county the goods were shipped to (the order's): what managers' territories scope.
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    # Cold-chain goods: the temperature logger's record, without which the request is not approved.
    temperature_record: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    replacement_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    distributor = relationship("Distributor", lazy="joined")
    order = relationship("Order", foreign_keys=[order_id])
    shipment = relationship("Shipment")
    territory = relationship("Territory", lazy="joined")
    requested_by = relationship("User", foreign_keys=[requested_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    replacement_order = relationship("Order", foreign_keys=[replacement_order_id])
    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="ReturnLine.id"
    )
    credit_note: Mapped[CreditNote | None] = relationship(back_populates="request", uselist=False)

    __table_args__ = (Index("ix_return_requests_state_due", "state", "sla_due_at"),)

    @property
    def needs_cold_chain_record(self) -> bool:
        return any(line.product.cold_chain for line in self.lines)

    def __repr__(self) -> str:
        return f"<ReturnRequest {self.id} {self.number} {self.state}>"


class ReturnLine(db.Model):
    """A quantity of one shipped lot (one shipment item) asked back, what arrived, and how it was judged."""

    __tablename__ = "return_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_requests.id", ondelete="CASCADE"), index=True)
    shipment_item_id: Mapped[int] = mapped_column(ForeignKey("shipment_items.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    requested: Mapped[int] = mapped_column(Integer)
    received: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[InspectionOutcome | None] = mapped_column(enum_column(InspectionOutcome))
    witness: Mapped[str | None] = mapped_column(String(64))  # who saw the goods destroyed
    inspected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    inspected_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When the units went back on the lot: set once, by the UPDATE that restocks them.
    restocked_at: Mapped[datetime | None] = mapped_column(DateTime)

    request: Mapped[ReturnRequest] = relationship(back_populates="lines")
    item = relationship("ShipmentItem")
    lot = relationship("Lot", lazy="joined")
    product = relationship("Product", lazy="joined")
    codes: Mapped[list[ReturnedCode]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="ReturnedCode.id"
    )

    __table_args__ = (
        CheckConstraint("requested > 0", name="requested_positive"),
        CheckConstraint("received IS NULL OR (received >= 0 AND received <= requested)", name="received_within"),
        CheckConstraint("outcome <> 'destroy' OR witness IS NOT NULL", name="destroy_witnessed"),
    )


class ReturnedCode(db.Model):
    """A shipped trace code named on a return line; ``withdrawn`` once the request no longer holds it."""

    __tablename__ = "returned_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_line_id: Mapped[int] = mapped_column(ForeignKey("return_lines.id", ondelete="CASCADE"), index=True)
    shipped_code_id: Mapped[int] = mapped_column(ForeignKey("shipped_codes.id"))
    code: Mapped[str] = mapped_column(String(20))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    line: Mapped[ReturnLine] = relationship(back_populates="codes")

    __table_args__ = (
        Index(
            "uq_returned_codes_live",
            "shipped_code_id",
            unique=True,
            sqlite_where=text("withdrawn = 0"),
            postgresql_where=text("withdrawn = false"),
        ),
    )


class CreditNote(db.Model):
    """The red-letter credit note (红字) of a refunded return: it reduces the distributor's balance."""

    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_requests.id"), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    request: Mapped[ReturnRequest] = relationship(back_populates="credit_note")

    __table_args__ = (CheckConstraint("amount > 0", name="credit_note_positive"),)


class QualitySignal(db.Model):
    """A lot whose quality returns passed the threshold: recorded once, so managers are told once."""

    __tablename__ = "return_quality_signals"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), primary_key=True)
    returns_counted: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
