"""The GB/T 2260 administrative-division tree, with the market attributes of each node."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.enums import LabelledEnum, enum_column
from crm.extensions import db
from crm.i18n import lazy_gettext as _l


class MarketTier(LabelledEnum):
    TIER1 = "tier1"
    TIER2 = "tier2"
    TIER3 = "tier3"

    @classmethod
    def _labels(cls):
        return {
            cls.TIER1: _l("Tier-1 market"),
            cls.TIER2: _l("Tier-2 market"),
            cls.TIER3: _l("Tier-3 market"),
        }


LEVEL_LABELS = {1: _l("Province"), 2: _l("City"), 3: _l("County")}


def code_range(code: str, level: int) -> tuple[str, str]:
    """GB/T 2260 codes nest by prefix: 44 → 440000..449999, 4403 → 440300..440399, a county is itself."""
    keep = {1: 2, 2: 4}.get(level, 6)
    prefix = code[:keep]
    return prefix + "0" * (6 - keep), prefix + "9" * (6 - keep)


class Territory(db.Model):
    __tablename__ = "territories"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200), index=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("territories.code"), index=True)
    market_tier: Mapped[MarketTier | None] = mapped_column(enum_column(MarketTier))
    is_key_region: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_sample_market: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    parent: Mapped[Territory | None] = relationship(remote_side=[code])

    __mapper_args__ = {"version_id_col": version}

    @property
    def code_range(self) -> tuple[str, str]:
        """The codes of this node and everything under it, as an inclusive range."""
        return code_range(self.code, self.level)

    @property
    def level_label(self) -> str:
        return str(LEVEL_LABELS[self.level])

    def __repr__(self) -> str:
        return f"<Territory {self.code} {self.full_name}>"
