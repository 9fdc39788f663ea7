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


def paginate(stmt, page_arg, size: int | None = None) -> Page:
    size = size or current_app.config["PAGE_SIZE"]
    try:
        number = max(1, int(page_arg or 1))
    except (TypeError, ValueError):
        number = 1
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.session.scalars(stmt.limit(size).offset((number - 1) * size)).unique())
    return Page(items=items, number=number, size=size, total=total)
