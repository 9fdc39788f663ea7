"""Distributor companies (经销商), their agreements and their qualification documents.

A distributor is born from an approved screening case (``crm.screening``) in
``onboarding`` with a draft agreement; signing the agreement activates it. An
agreement grants products × territories, each exclusive or not; exclusive
grants must never overlap for one product (see ``crm.distributors.agreements``).
Qualification documents (首营资料) are uploaded on the screening case and stay
with the company afterwards; the licence watch reads their expiry dates.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.distributors.workflow import DISTRIBUTOR_MACHINE
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.workflow.models import WorkflowRecord
from crm.workflow.registry import register


@register
class Distributor(WorkflowRecord, db.Model):
    """A distributor company. ``assignee`` is the rep who looks after it."""

    __tablename__ = "distributors"
    __title_column__ = "name"  # what a notification calls the record
    __machine__ = DISTRIBUTOR_MACHINE
    __territory_column__ = "territory_code"
    __company_column__ = "id"
    __detail_endpoint__ = "distributors.detail"
    __detail_arg__ = "distributor_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    territory: Mapped[Territory] = relationship(lazy="joined")  # noqa: F821
    lead = relationship("Lead")
    agreements: Mapped[list[Agreement]] = relationship(back_populates="distributor", order_by="Agreement.id")

    def __repr__(self) -> str:
        return f"<Distributor {self.id} {self.name} {self.state}>"


class AgreementStatus(LabelledEnum):
    DRAFT = "draft"
    SIGNED = "signed"
    ENDED = "ended"

    @classmethod
    def _labels(cls):
        return {cls.DRAFT: _l("Draft"), cls.SIGNED: _l("Signed"), cls.ENDED: _l("Ended")}


class Agreement(db.Model):
    """A distribution agreement (经销协议): what the distributor may sell where, on which terms.

    Drafted on approval, then edited and signed by a manager. Not a workflow of its
    own: its life is draft → signed → ended, and each step is a service call that
    also moves the distributor (signing activates it, terminating ends it).
    """

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("screening_cases.id"), index=True)
    status: Mapped[AgreementStatus] = mapped_column(enum_column(AgreementStatus), default=AgreementStatus.DRAFT)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    annual_target: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # yuan (元) per year
    deposit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # 市场保证金, yuan
    price_policy: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    distributor: Mapped[Distributor] = relationship(back_populates="agreements")
    lines: Mapped[list[AgreementLine]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementLine.id"
    )
    contacts: Mapped[list[AgreementContact]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementContact.id"
    )
    signed_by = relationship("User", foreign_keys=[signed_by_id])

    __mapper_args__ = {"version_id_col": version}


class AgreementLine(db.Model):
    """One grant: a product in a territory (province, city or county), exclusive or not.

    ``code_lo``/``code_hi`` are the territory's code range (GB/T 2260 nests by
    prefix), so "overlaps another grant" is two range comparisons on an index.
    """

    __tablename__ = "agreement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    code_lo: Mapped[str] = mapped_column(String(6))
    code_hi: Mapped[str] = mapped_column(String(6))
    # The distributor's price (元 per sales unit); orders take it, never a price the user sends.
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))

    agreement: Mapped[Agreement] = relationship(back_populates="lines")
    product = relationship("Product", lazy="joined")
    territory = relationship("Territory", lazy="joined")

    __table_args__ = (
        UniqueConstraint("agreement_id", "product_id", "territory_code", name="uq_agreement_lines_grant"),
        Index("ix_agreement_lines_product_range", "product_id", "code_lo", "code_hi"),
    )


class AgreementContact(db.Model):
    """A person at the distributor named in the agreement; signing gives them a portal account."""

    __tablename__ = "agreement_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    agreement: Mapped[Agreement] = relationship(back_populates="contacts")
    user = relationship("User")


class DocumentKind(LabelledEnum):
    BUSINESS_LICENCE = "business_licence"
    DRUG_TRADING_LICENCE = "drug_trading_licence"
    GSP_CERTIFICATE = "gsp_certificate"
    AUTHORIZATION_LETTER = "authorization_letter"
    QUALITY_AGREEMENT = "quality_agreement"

    @classmethod
    def _labels(cls):
        return {
            cls.BUSINESS_LICENCE: _l("Business licence"),
            cls.DRUG_TRADING_LICENCE: _l("Drug-trading licence"),
            cls.GSP_CERTIFICATE: _l("GSP certificate"),
            cls.AUTHORIZATION_LETTER: _l("Authorization letter"),
            cls.QUALITY_AGREEMENT: _l("Quality-assurance agreement"),
        }


# Documents whose expiry date matters (the licence watch and the approval gate read them).
EXPIRING_KINDS = (DocumentKind.DRUG_TRADING_LICENCE, DocumentKind.GSP_CERTIFICATE)


class ExpiryAlert(LabelledEnum):
    """How close to expiry a licence was when last flagged: each level is notified once."""

    WITHIN_90 = "within_90"
    WITHIN_30 = "within_30"
    EXPIRED = "expired"

    @classmethod
    def _labels(cls):
        return {
            cls.WITHIN_90: _l("Expires within 90 days"),
            cls.WITHIN_30: _l("Expires within 30 days"),
            cls.EXPIRED: _l("Expired"),
        }


class QualificationDocument(db.Model):
    """One uploaded qualification document (首营资料) of an applicant, later of the distributor.

    The file lives under the instance folder (``crm.common.uploads``, area
    ``documents``) with a server-made name; it is served only to users who may
    see the case or the distributor. A newer upload of the same kind supersedes
    an older one (``superseded_at``) rather than deleting it.
    """

    __tablename__ = "qualification_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("screening_cases.id"), index=True)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind))
    number: Mapped[str | None] = mapped_column(String(64))  # licence or certificate number
    scope: Mapped[str | None] = mapped_column(Text)  # 经营范围
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    stored_name: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime)
    expiry_alert: Mapped[ExpiryAlert | None] = mapped_column(enum_column(ExpiryAlert))

    uploaded_by = relationship("User", foreign_keys=[uploaded_by_id])
    distributor = relationship(Distributor)
