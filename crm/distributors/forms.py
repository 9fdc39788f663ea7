from __future__ import annotations

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.common.forms import VersionedForm
from crm.i18n import lazy_gettext as _l


class DistributorForm(VersionedForm):
    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=128)])
    uscc = StringField(
        _l("Unified social credit code"),
        validators=[Optional(), Length(max=40)],
        description=_l("18 characters, as printed on the business licence."),
    )
    territory_code = SelectField(_l("Territory"), choices=[], validators=[DataRequired()], validate_choice=False)
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=64)])
