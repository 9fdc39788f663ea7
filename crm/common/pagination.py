"""Pagination for list pages: one COUNT and one page query, whatever the page size."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from crm.extensions import db


@dataclass
class Page:
    items: list
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


# Far past any real list, and small enough that its offset fits a 64-bit integer in SQL: a
# bookmark or a scanner asking for page 10**25 gets an empty page, not an overflow error.
MAX_PAGE = 1_000_000


def page_number(page_arg) -> int:
    """The page a ``?page=`` argument asks for: 1 when missing or not a whole number, at most MAX_PAGE."""
    try:
        number = int(page_arg or 1)
    except (TypeError, ValueError):
        return 1
    return min(max(1, number), MAX_PAGE)


def paginate(stmt, page_arg, size: int | None = None) -> Page:
    size = size or current_app.config["PAGE_SIZE"]
    number = page_number(page_arg)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.session.scalars(stmt.limit(size).offset((number - 1) * size)).unique())
    return Page(items=items, number=number, size=size, total=total)
