from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TextAreaField
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


class AgreementForm(VersionedForm):
    """The terms of a draft agreement. Amounts stay text: the service parses them and says what is wrong."""

    starts_on = DateField(_l("First day"), validators=[Optional()])
    ends_on = DateField(_l("Last day"), validators=[Optional()])
    annual_target = StringField(
        _l("Annual target (yuan)"),
        validators=[Optional(), Length(max=32)],
        description=_l("Plain digits, e.g. 1000000 or 1,000,000.00."),
    )
    deposit = StringField(
        _l("Market deposit (yuan)"),
        validators=[Optional(), Length(max=32)],
        description=_l("Plain digits."),
    )
    price_policy = TextAreaField(_l("Price policy"), validators=[Optional(), Length(max=4000)])
