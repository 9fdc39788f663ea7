"""Distributor companies (经销商). Minimal for now: the screening issue grows it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.time import utcnow
from crm.extensions import db


class Distributor(db.Model):
    __tablename__ = "distributors"
    __territory_column__ = "territory_code"
    __company_column__ = "id"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    territory_code: Mapped[str] = mapped_column(ForeignKey("territories.code"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    territory: Mapped[Territory] = relationship(lazy="joined")  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Distributor {self.id} {self.name}>"
