"""Form pieces shared by every edit page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField

from crm.common.phones import format_phone


class VersionedForm(FlaskForm):
    """An edit form that carries the version of the record the user saw.

    The field is named so that ``obj=record`` never fills it: a POST without it is
    refused as stale instead of silently using the current version.
    """

    seen_version = HiddenField()

    def remember_version(self, record) -> None:
        self.seen_version.data = record.version


class PhoneField(StringField):
    """A phone box: a stored E.164 number is shown as on every other page (139 1234 5678).

    What the user typed is shown back as typed, so a refused entry can be corrected.
    """

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data and str(self.data).startswith("+"):
            return format_phone(self.data)
        return super()._value()
