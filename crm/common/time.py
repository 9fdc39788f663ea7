"""Instants are stored as naive UTC in every database; pages show Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as the naive UTC value every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)
