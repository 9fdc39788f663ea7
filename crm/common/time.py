"""Instants are stored as naive UTC in every database; pages show Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Now, as the naive UTC value every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def local_today() -> date:
    """Today's date where the business runs (China): licence expiry and due dates are counted in it."""
    return datetime.now(BUSINESS_ZONE).date()
