"""What an admin may change about SLAs: the rule of each (workflow, state) and the holiday calendar."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.access.roles import Role
from crm.common.enums import enum_column
from crm.common.time import utcnow
from crm.extensions import db


class SlaRule(db.Model):
    """Overrides the machine's default SLA of one state. Absent row → the machine's default."""

    __tablename__ = "sla_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    duration_minutes: Mapped[int] = mapped_column(Integer)  # working minutes; 0 switches the SLA off
    warn_percent: Mapped[int] = mapped_column(Integer, default=80)
    escalate_to: Mapped[Role] = mapped_column(enum_column(Role))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (UniqueConstraint("workflow", "state", name="uq_sla_rules_workflow_state"),)
    __mapper_args__ = {"version_id_col": version}


class HolidayOverride(db.Model):
    """A day the admin declares a working day or a day off; wins over the statutory package.

    Next year's plan (published by the State Council late in the year) is entered
    here until the package learns it.
    """

    __tablename__ = "holiday_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HolidayYear(db.Model):
    """A year whose statutory plan the admin has finished entering.

    Entering one day (say 2027 春节) does not make a year known: the warning that
    deadlines assume Monday to Friday stays until an admin marks the plan complete.
    """

    __tablename__ = "holiday_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    completed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
