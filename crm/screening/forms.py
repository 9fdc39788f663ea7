"""Forms of the screening pages. They only parse: every rule is enforced by ``crm.screening.services``."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from crm.common.forms import PhoneField, VersionedForm
from crm.distributors.models import DocumentKind
from crm.i18n import lazy_gettext as _l
from crm.screening.models import Criterion


class CaseForm(VersionedForm):
    """The applicant's profile; on a new case from a lead, blanks are filled from the lead."""

    lead_id = HiddenField()
    company_name = StringField(_l("Company name"), validators=[Optional(), Length(max=128)])
    uscc = StringField(
        _l("Unified social credit code"),
        validators=[Optional(), Length(max=40)],
        description=_l("18 characters, as printed on the business licence."),
    )
    territory_code = SelectField(_l("Territory"), choices=[], validate_choice=False, validators=[Optional()])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=255)])
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=64)])
    contact_phone = PhoneField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    summary = TextAreaField(
        _l("Why this applicant"),
        validators=[Optional(), Length(max=4000)],
        description=_l("The rep's case: network, strengths, what they ask for."),
    )


class LineForm(VersionedForm):
    product_id = SelectField(_l("Product"), choices=[], validate_choice=False, validators=[DataRequired()])
    territory_code = SelectField(_l("Territory"), choices=[], validate_choice=False, validators=[DataRequired()])
    exclusive = BooleanField(_l("Exclusive"))


class DocumentForm(VersionedForm):
    kind = SelectField(_l("Document"), choices=[], validators=[DataRequired()])
    file = FileField(_l("File (PDF, JPEG or PNG)"))
    number = StringField(_l("Number"), validators=[Optional(), Length(max=64)])
    scope = TextAreaField(_l("Business scope"), validators=[Optional(), Length(max=4000)])
    issued_on = DateField(_l("Issued on"), validators=[Optional()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = DocumentKind.choices()


class ScoreForm(VersionedForm):
    criterion = SelectField(_l("Criterion"), choices=[], validators=[DataRequired()])
    score = IntegerField(_l("Score (0–100)"), validators=[InputRequired(), NumberRange(min=0, max=100)])
    note = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.criterion.choices = Criterion.choices()


class DecisionForm(VersionedForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


class PolicyForm(VersionedForm):
    weight_capital = IntegerField(_l("Weight: capital strength"), validators=[InputRequired(), NumberRange(0, 100)])
    weight_resources = IntegerField(_l("Weight: resources"), validators=[InputRequired(), NumberRange(0, 100)])
    weight_logistics = IntegerField(
        _l("Weight: logistics and delivery"), validators=[InputRequired(), NumberRange(0, 100)]
    )
    weight_terminals = IntegerField(_l("Weight: terminal network"), validators=[InputRequired(), NumberRange(0, 100)])
    weight_thinking = IntegerField(_l("Weight: business thinking"), validators=[InputRequired(), NumberRange(0, 100)])
    pass_threshold = IntegerField(
        _l("Pass mark (weighted score, 0–100)"), validators=[InputRequired(), NumberRange(0, 100)]
    )
    licence_min_days = IntegerField(
        _l("Licences must still run for (days)"), validators=[InputRequired(), NumberRange(1, 365)]
    )
