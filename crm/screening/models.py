"""Screening cases, the coverage they ask for, their scorecard, and the admin's screening policy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.screening.workflow import SCREENING_MACHINE
from crm.workflow.models import WorkflowRecord
from crm.workflow.registry import register


@register
class ScreeningCase(WorkflowRecord, db.Model):
    """One applicant company under review, usually opened from a lead that reached ``applied``.

    ``assignee`` is whoever must act next: the rep while drafting or answering a
    request for information, the reviewing manager afterwards.
    """

    __tablename__ = "screening_cases"
    __title_column__ = "company_name"  # what a notification calls the record
    __machine__ = SCREENING_MACHINE
    __territory_column__ = "territory_code"
    __detail_endpoint__ = "screening.detail"
    __detail_arg__ = "case_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    company_name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    summary: Mapped[str | None] = mapped_column(Text)  # the rep's case for this applicant
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recommended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    territory = relationship("Territory", lazy="joined")
    lead = relationship("Lead")
    distributor = relationship("Distributor")
    created_by = relationship("User", foreign_keys=[created_by_id])
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    recommended_by = relationship("User", foreign_keys=[recommended_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    lines: Mapped[list[CaseLine]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseLine.id"
    )
    scores: Mapped[list[CaseScore]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseScore.criterion"
    )
    documents = relationship(
        "QualificationDocument",
        primaryjoin="ScreeningCase.id == QualificationDocument.case_id",
        order_by="QualificationDocument.id",
        viewonly=True,
    )


class CaseLine(db.Model):
    """A product in a territory the applicant asks to carry, exclusive or not; becomes an agreement line."""

    __tablename__ = "screening_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_cases.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"))
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    case: Mapped[ScreeningCase] = relationship(back_populates="lines")
    product = relationship("Product", lazy="joined")
    territory = relationship("Territory", lazy="joined")

    __table_args__ = (UniqueConstraint("case_id", "product_id", "territory_code", name="uq_screening_lines_grant"),)


class Criterion(LabelledEnum):
    """The scorecard of 商筛选, on the criteria the recruitment handbook names."""

    CAPITAL = "capital"
    RESOURCES = "resources"
    LOGISTICS = "logistics"
    TERMINALS = "terminals"
    THINKING = "thinking"

    @classmethod
    def _labels(cls):
        return {
            cls.CAPITAL: _l("Capital strength"),
            cls.RESOURCES: _l("Resources"),
            cls.LOGISTICS: _l("Logistics and delivery"),
            cls.TERMINALS: _l("Terminal network"),
            cls.THINKING: _l("Business thinking"),
        }


class CaseScore(db.Model):
    """A reviewer's score (0–100) of one criterion, with the note that justifies it."""

    __tablename__ = "screening_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_cases.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[Criterion] = mapped_column(enum_column(Criterion))
    score: Mapped[int] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(Text)
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scored_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    case: Mapped[ScreeningCase] = relationship(back_populates="scores")
    scored_by = relationship("User")

    __table_args__ = (
        UniqueConstraint("case_id", "criterion", name="uq_screening_scores_criterion"),
        CheckConstraint("score BETWEEN 0 AND 100", name="ck_screening_scores_range"),
    )


class ScreeningPolicy(db.Model):
    """The admin's scorecard weights and pass mark, and how long licences must still run. One row."""

    __tablename__ = "screening_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    weight_capital: Mapped[int] = mapped_column(SmallInteger, default=25, server_default="25")
    weight_resources: Mapped[int] = mapped_column(SmallInteger, default=20, server_default="20")
    weight_logistics: Mapped[int] = mapped_column(SmallInteger, default=15, server_default="15")
    weight_terminals: Mapped[int] = mapped_column(SmallInteger, default=25, server_default="25")
    weight_thinking: Mapped[int] = mapped_column(SmallInteger, default=15, server_default="15")
    pass_threshold: Mapped[int] = mapped_column(SmallInteger, default=60, server_default="60")
    licence_min_days: Mapped[int] = mapped_column(SmallInteger, default=90, server_default="90")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    def weight(self, criterion: Criterion) -> int:
        return getattr(self, f"weight_{criterion.value}")
