"""Form pieces shared by every edit page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField


class VersionedForm(FlaskForm):
    """An edit form that carries the version of the record the user saw.

    The field is named so that ``obj=record`` never fills it: a POST without it is
    refused as stale instead of silently using the current version.
    """

    seen_version = HiddenField()

    def remember_version(self, record) -> None:
        self.seen_version.data = record.version
