from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from crm.access.roles import Role
from crm.common.forms import PhoneField, VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.territories.forms import TerritoryField


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class UserForm(VersionedForm):
    username = StringField(
        _l("Username"),
        # Pasted names often carry blanks; the service lower-cases, the form trims.
        filters=[_strip],
        validators=[
            DataRequired(),
            Length(min=3, max=64),
            Regexp(r"^[A-Za-z0-9_.\-]+$", message=_l("Use letters, digits, dot, dash or underscore only.")),
        ],
    )
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=64)])
    email = StringField(
        _l("Email"),
        filters=[_strip],
        validators=[Optional(), Length(max=254)],
        description=_l("Email notifications go to this address; without one, only the in-app inbox."),
    )
    mobile = PhoneField(_l("Mobile"), filters=[_strip], validators=[Optional(), Length(max=40)])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    is_director = BooleanField(
        _l("Is a director"),
        description=_l("Managers only: gives the second approval of key-region screening cases."),
    )
    territories = TerritoryField(
        _l("Territories"),
        description=_l("Reps and managers see records in these territories and everything under them."),
    )
    company_id = SelectField(_l("Company"), validators=[Optional()], coerce=str, validate_choice=False)
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(max=256)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = Role.choices()


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
