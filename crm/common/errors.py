"""Errors a user can cause, carrying the message they see."""

from __future__ import annotations


class BusinessError(Exception):
    """A rule refused the request; ``message`` is shown to the user as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Conflict(BusinessError):
    """The record changed since the user loaded it (answers HTTP 409)."""


def check_version(record, seen_version: int | None) -> None:
    """Refuse a write based on a stale copy of ``record``.

    Forms carry the version the user saw; comparing it here turns a lost update
    into a conflict the user can resolve by reloading. The ORM's version counter
    catches the race between this check and the flush.
    """
    try:
        seen = int(seen_version)
    except (TypeError, ValueError):
        seen = None  # missing or garbled: the user's copy cannot be trusted
    if seen != record.version:
        raise stale_record()


def stale_record() -> Conflict:
    from flask_babel import gettext as _

    return Conflict(_("This record was changed by someone else. Reload the page and try again."))
