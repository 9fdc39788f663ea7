"""Enums whose members carry a translated label."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


class LabelledEnum(enum.StrEnum):
    """A string enum; subclasses give ``_labels()``, a member → lazy label map."""

    @property
    def label(self) -> str:
        return str(self._labels()[self])

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def _labels(cls) -> dict:
        raise NotImplementedError


def enum_column(cls: type[enum.Enum]) -> Enum:
    """A portable enum column: stored as its value in VARCHAR with a CHECK constraint."""
    return Enum(
        cls,
        native_enum=False,
        length=24,
        create_constraint=True,
        name=cls.__name__.lower(),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
