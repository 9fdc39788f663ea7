"""Forms of the SLA admin pages. The services enforce the rules; the forms only parse."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import InputRequired

from crm.common.forms import VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.sla.services import ESCALATION_ROLES

KIND_HOLIDAY, KIND_WORKDAY = "holiday", "workday"


def _kind_choices():
    return [(KIND_HOLIDAY, _l("Holiday (day off)")), (KIND_WORKDAY, _l("Adjusted working day (调休上班)"))]


class SlaRuleForm(VersionedForm):
    # Text fields, not Decimal/IntegerField: the service parses them and says in the user's language what to type.
    duration_hours = StringField(
        _l("Duration (working hours)"),
        validators=[InputRequired(message=_l("Enter the duration in working hours; 0 switches the SLA off."))],
        description=_l("Counted in working time only, e.g. 8 = one working day, 1.5 = an hour and a half."),
    )
    warn_percent = StringField(
        _l("Warn at (percent of the duration)"),
        description=_l("The assignee is warned when this share of the time has passed (1–99)."),
    )
    escalate_to = SelectField(_l("A breach escalates to"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.escalate_to.choices = [(role.value, role.label) for role in ESCALATION_ROLES]


class HolidayForm(FlaskForm):
    day = DateField(_l("Day"), validators=[InputRequired(message=_l("Pick a day."))])
    kind = SelectField(_l("Kind"), default=KIND_HOLIDAY)
    name = StringField(_l("Name"), description=_l("e.g. 国庆节 or 调休上班"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = _kind_choices()


class HolidayRangeForm(FlaskForm):
    first = DateField(_l("First day"), validators=[InputRequired(message=_l("Pick the first day."))])
    last = DateField(_l("Last day"), validators=[InputRequired(message=_l("Pick the last day."))])
    kind = SelectField(_l("Kind"), default=KIND_HOLIDAY)
    name = StringField(_l("Name"), description=_l("e.g. 春节"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = _kind_choices()
