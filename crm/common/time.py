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


def local_now() -> datetime:
    """Now where the business runs, zone-aware: for file names and stamps people read."""
    return datetime.now(BUSINESS_ZONE)


def local_naive(instant: datetime | None) -> datetime | None:
    """A stored (naive UTC) instant as the wall-clock time in China, without a zone: what a spreadsheet cell holds."""
    if instant is None:
        return None
    return instant.replace(tzinfo=UTC).astimezone(BUSINESS_ZONE).replace(tzinfo=None)
