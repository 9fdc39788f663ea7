"""Products (品种) the company recruits distributors for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from crm.common.enums import LabelledEnum, enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l


class DosageForm(LabelledEnum):
    TABLET = "tablet"
    CAPSULE = "capsule"
    GRANULE = "granule"
    INJECTION = "injection"
    ORAL_LIQUID = "oral_liquid"
    PILL = "pill"
    OINTMENT = "ointment"
    POWDER = "powder"
    SPRAY = "spray"
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {
            cls.TABLET: _l("Tablet"),
            cls.CAPSULE: _l("Capsule"),
            cls.GRANULE: _l("Granule"),
            cls.INJECTION: _l("Injection"),
            cls.ORAL_LIQUID: _l("Oral liquid"),
            cls.PILL: _l("Pill"),
            cls.OINTMENT: _l("Ointment"),
            cls.POWDER: _l("Powder"),
            cls.SPRAY: _l("Spray"),
            cls.OTHER: _l("Other"),
        }


class InsuranceClass(LabelledEnum):
    CLASS_A = "class_a"
    CLASS_B = "class_b"
    NONE = "none"

    @classmethod
    def _labels(cls):
        return {
            cls.CLASS_A: _l("Insurance class A"),
            cls.CLASS_B: _l("Insurance class B"),
            cls.NONE: _l("Not covered by insurance"),
        }


class Dispensing(LabelledEnum):
    RX = "rx"
    OTC = "otc"

    @classmethod
    def _labels(cls):
        return {cls.RX: _l("Prescription (Rx)"), cls.OTC: _l("Over the counter (OTC)")}


class Terminal(LabelledEnum):
    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"
    THIRD_TERMINAL = "third_terminal"

    @classmethod
    def _labels(cls):
        return {
            cls.HOSPITAL: _l("Hospitals"),
            cls.PHARMACY: _l("Retail pharmacies"),
            cls.THIRD_TERMINAL: _l("Third terminal (clinics, village health)"),
        }


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    specification: Mapped[str] = mapped_column(String(128))
    dosage_form: Mapped[DosageForm] = mapped_column(enum_column(DosageForm))
    approval_number: Mapped[str] = mapped_column(String(32), unique=True)
    insurance_class: Mapped[InsuranceClass] = mapped_column(enum_column(InsuranceClass))
    is_exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dispensing: Mapped[Dispensing] = mapped_column(enum_column(Dispensing))
    for_hospital: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    for_pharmacy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    for_third_terminal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # 药品标识码: the first 7 digits of every trace code (药品追溯码) of this product.
    drug_code: Mapped[str | None] = mapped_column(String(7), unique=True)
    requires_trace_codes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Kept at 2–8 °C (冷链): its returns need the temperature record before approval.
    cold_chain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    @property
    def terminals(self) -> list[Terminal]:
        flags = {
            Terminal.HOSPITAL: self.for_hospital,
            Terminal.PHARMACY: self.for_pharmacy,
            Terminal.THIRD_TERMINAL: self.for_third_terminal,
        }
        return [t for t, on in flags.items() if on]

    def __repr__(self) -> str:
        return f"<Product {self.id} {self.name}>"
