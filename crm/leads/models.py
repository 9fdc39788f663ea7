"""Campaigns, leads with their contacts and phones, touches, and standard scripts (标准话术)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.leads.workflow import LEAD_MACHINE
from crm.territories.models import MarketTier
from crm.workflow.models import WorkflowRecord
from crm.workflow.registry import register


class Channel(LabelledEnum):
    ADVERTISING = "advertising"
    TRADE_SHOW = "trade_show"
    PHONE_LIST = "phone_list"
    OUTPOST = "outpost"
    CONFERENCE = "conference"
    REFERRAL = "referral"
    WEB = "web"

    @classmethod
    def _labels(cls):
        return {
            cls.ADVERTISING: _l("Advertising"),
            cls.TRADE_SHOW: _l("Trade show"),
            cls.PHONE_LIST: _l("Phone or data list"),
            cls.OUTPOST: _l("Regional outpost"),
            cls.CONFERENCE: _l("Recruitment conference"),
            cls.REFERRAL: _l("Referral"),
            cls.WEB: _l("Web"),
        }


class DistributorKind(LabelledEnum):
    EXPLICIT = "explicit"  # 显性: already a pharma distributor
    IMPLICIT = "implicit"  # 隐性: has the network, not yet in pharma

    @classmethod
    def _labels(cls):
        return {
            cls.EXPLICIT: _l("Established pharma distributor (显性)"),
            cls.IMPLICIT: _l("Potential distributor from another trade (隐性)"),
        }


class LostReason(LabelledEnum):
    PRICE = "price"
    TERRITORY_TAKEN = "territory_taken"
    CAPITAL = "capital"
    NO_INTEREST = "no_interest"
    UNREACHABLE = "unreachable"
    COMPETITOR = "competitor"
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {
            cls.PRICE: _l("Price or margin not acceptable"),
            cls.TERRITORY_TAKEN: _l("Territory already covered"),
            cls.CAPITAL: _l("Not enough capital"),
            cls.NO_INTEREST: _l("Not interested"),
            cls.UNREACHABLE: _l("Cannot be reached"),
            cls.COMPETITOR: _l("Signed with a competitor"),
            cls.OTHER: _l("Other"),
        }


class TouchKind(LabelledEnum):
    VISIT = "visit"
    CALL = "call"
    CONFERENCE = "conference"
    ONLINE = "online"

    @classmethod
    def _labels(cls):
        return {
            cls.VISIT: _l("Visit"),
            cls.CALL: _l("Phone call"),
            cls.CONFERENCE: _l("Conference contact"),
            cls.ONLINE: _l("Online contact"),
        }


class TouchMethod(LabelledEnum):
    RANDOM_VISIT = "random_visit"  # 随机走访
    REVERSE_SURVEY = "reverse_survey"  # 逆向调查
    WEB_INFO = "web_info"  # 网络信息
    REFERRAL = "referral"  # 相互介绍
    INVESTMENT = "investment"  # 招商引资
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {
            cls.RANDOM_VISIT: _l("Random visit"),
            cls.REVERSE_SURVEY: _l("Reverse survey (from terminals back to the distributor)"),
            cls.WEB_INFO: _l("Information from the web"),
            cls.REFERRAL: _l("Mutual referral"),
            cls.INVESTMENT: _l("Investment promotion event"),
            cls.OTHER: _l("Other"),
        }


campaign_territories = Table(
    "campaign_territories",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("territory_code", ForeignKey("territories.code"), primary_key=True),
)
campaign_products = Table(
    "campaign_products",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("products.id"), primary_key=True),
)
lead_products = Table(
    "lead_products",
    db.metadata,
    Column("lead_id", ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("products.id"), primary_key=True),
)


class Campaign(db.Model):
    """A recruitment campaign (商机传播): one channel, one medium or event, a period and its cost."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))  # the medium or event, e.g. 2026 成都药交会
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), index=True)
    market_tier: Mapped[MarketTier | None] = mapped_column(enum_column(MarketTier))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    budget: Mapped[float | None] = mapped_column(Numeric(14, 2))
    actual_cost: Mapped[float | None] = mapped_column(Numeric(14, 2))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    territories = relationship("Territory", secondary=campaign_territories, order_by="Territory.code")
    products = relationship("Product", secondary=campaign_products, order_by="Product.name")

    __mapper_args__ = {"version_id_col": version}


@register
class Lead(WorkflowRecord, db.Model):
    """A prospective distributor company, owned by a rep (``assignee``) or waiting in its territory's pool."""

    __tablename__ = "leads"
    __title_column__ = "company_name"  # what a notification calls the record
    __machine__ = LEAD_MACHINE
    __territory_column__ = "territory_code"
    __detail_endpoint__ = "leads.detail"
    __detail_arg__ = "lead_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(128))
    # For duplicate detection and search: the name without legal-form words, blanks and punctuation.
    name_key: Mapped[str] = mapped_column(String(128), index=True)
    # Pinyin initials of the company name (北京同仁堂 → bjtrt), so a rep can type a few letters.
    name_initials: Mapped[str] = mapped_column(String(128), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)

    distributor_kind: Mapped[DistributorKind | None] = mapped_column(enum_column(DistributorKind))
    product_lines: Mapped[str | None] = mapped_column(Text)  # what they carry today
    terminal_coverage: Mapped[str | None] = mapped_column(Text)  # hospitals, pharmacies, clinics they reach
    estimated_capital: Mapped[int | None] = mapped_column(Integer)  # in 10,000 yuan (万元)
    logistics: Mapped[str | None] = mapped_column(Text)

    in_pool: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    pooled_at: Mapped[datetime | None] = mapped_column(DateTime)
    pool_warned_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_touch_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When the current owner got the lead (created, claimed or reassigned): the pool's
    # idle clock starts no earlier than this. NULL on old rows means created_at.
    owned_since: Mapped[datetime | None] = mapped_column(DateTime)
    next_touch_on: Mapped[date | None] = mapped_column(Date, index=True)
    lost_reason: Mapped[LostReason | None] = mapped_column(enum_column(LostReason))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    territory = relationship("Territory", lazy="joined")
    campaign = relationship(Campaign, lazy="joined")
    contacts: Mapped[list[LeadContact]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="LeadContact.id"
    )
    products = relationship("Product", secondary=lead_products, order_by="Product.name")

    __table_args__ = (
        Index("ix_leads_owner_state", "assignee_id", "state"),
        # "Overdue" and "due soon" are a few leads among many: without it the filter read them all.
        Index("ix_leads_sla_status", "sla_status"),
    )


class LeadContact(db.Model):
    __tablename__ = "lead_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(64))

    lead: Mapped[Lead] = relationship(back_populates="contacts")
    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactPhone.id"
    )


class ContactPhone(db.Model):
    """One phone of a contact, in E.164; ``lead_id`` is repeated so duplicates are one indexed lookup."""

    __tablename__ = "contact_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("lead_contacts.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)

    contact: Mapped[LeadContact] = relationship(back_populates="phones")


class Touch(db.Model):
    """A visit, call, conference or online contact with a lead (拜访与沟通)."""

    __tablename__ = "touches"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[TouchKind] = mapped_column(enum_column(TouchKind))
    method: Mapped[TouchMethod] = mapped_column(enum_column(TouchMethod))
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    next_touch_on: Mapped[date | None] = mapped_column(Date)
    photo_name: Mapped[str | None] = mapped_column(String(80))  # server-made file name under instance/
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user = relationship("User", lazy="joined")

    __table_args__ = (Index("ix_touches_lead_at", "lead_id", "at"),)


class Script(db.Model):
    """A standard answer (标准话术) to one objection about one product, kept by managers."""

    __tablename__ = "scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    objection: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    product = relationship("Product")

    __mapper_args__ = {"version_id_col": version}


class DuplicateAlert(db.Model):
    """The managers of a lead were told that ``user``, who may not see it, entered a look-alike.

    A duplicate warning outside the user's territories names nothing (no id, state or
    matching field: a rep could probe phone numbers with it); the managers who cover
    the existing lead are told instead, once per (lead, user) pair, so that a rep
    retrying the same company does not flood their inbox.
    """

    __tablename__ = "duplicate_alerts"

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
