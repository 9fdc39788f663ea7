"""Forms of one lead's pages: creation, touches, loss, reassignment and merge.

The forms only parse; every rule (phones, credit code, duplicates, who may own a
lead) is enforced by the services in ``crm.leads.services``.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from crm.common.forms import PhoneField, VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.leads.models import DistributorKind, LostReason, TouchKind, TouchMethod

# Contact rows on the new-lead form: one shown, more added on the page as needed, at most this many.
MAX_CONTACTS = 20


class ContactForm(Form):
    """One contact person with up to two phones (a plain Form: the page's CSRF token covers it)."""

    # A person's name: 姓名, not the 名称 of a thing.
    name = StringField(_l("Full name"), validators=[Optional(), Length(max=64)])
    title = StringField(_l("Position"), validators=[Optional(), Length(max=64)])
    phone1 = PhoneField(_l("Phone"), validators=[Optional(), Length(max=40)])
    phone2 = PhoneField(_l("Second phone"), validators=[Optional(), Length(max=40)])


class LeadForm(FlaskForm):
    company_name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=128)])
    uscc = StringField(
        _l("Unified social credit code"),
        validators=[Optional(), Length(max=40)],
        description=_l("18 characters, as printed on the business licence."),
    )
    territory_code = SelectField(_l("Territory"), choices=[], validators=[DataRequired()], validate_choice=False)
    address = StringField(_l("Address"), validators=[Optional(), Length(max=255)])
    campaign_id = SelectField(_l("Campaign"), coerce=int, choices=[], validators=[DataRequired()])
    distributor_kind = SelectField(_l("Kind of distributor"), choices=[], validators=[Optional()])
    product_lines = TextAreaField(_l("Current product lines"), validators=[Optional(), Length(max=2000)])
    terminal_coverage = TextAreaField(
        _l("Terminal coverage"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Hospitals, pharmacies and clinics they reach."),
    )
    estimated_capital = IntegerField(
        _l("Estimated capital (10,000 yuan)"), validators=[Optional(), NumberRange(min=0, max=100_000_000)]
    )
    logistics = TextAreaField(_l("Logistics"), validators=[Optional(), Length(max=2000)])
    product_ids = SelectMultipleField(
        _l("Products of interest"),
        coerce=int,
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    contacts = FieldList(FormField(ContactForm), min_entries=1, max_entries=MAX_CONTACTS)
    next_touch_on = DateField(_l("Next touch on"), validators=[Optional()])
    allow_duplicate = BooleanField(_l("Create it anyway: it is a different company"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.distributor_kind.choices = [("", "—"), *DistributorKind.choices()]


class LeadEditForm(VersionedForm):
    """The lead's profile after creation; the territory stays (a manager reassigns or merges instead)."""

    company_name = LeadForm.company_name
    uscc = LeadForm.uscc
    address = LeadForm.address
    campaign_id = LeadForm.campaign_id
    distributor_kind = LeadForm.distributor_kind
    product_lines = LeadForm.product_lines
    terminal_coverage = LeadForm.terminal_coverage
    estimated_capital = LeadForm.estimated_capital
    logistics = LeadForm.logistics
    product_ids = LeadForm.product_ids
    next_touch_on = LeadForm.next_touch_on
    allow_duplicate = LeadForm.allow_duplicate

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.distributor_kind.choices = [("", "—"), *DistributorKind.choices()]


class ContactAddForm(VersionedForm):
    """One more contact person of an existing lead."""

    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=64)])
    title = ContactForm.title
    phone1 = ContactForm.phone1
    phone2 = ContactForm.phone2
    allow_duplicate = BooleanField(_l("Add anyway: the phone is this company's"))


class TouchForm(VersionedForm):
    kind = SelectField(_l("Kind"), choices=[], validators=[DataRequired()])
    method = SelectField(_l("Method"), choices=[], validators=[DataRequired()])
    summary = TextAreaField(_l("Summary"), validators=[DataRequired(), Length(max=4000)])
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=2000)])
    next_step = TextAreaField(_l("Next step"), validators=[Optional(), Length(max=2000)])
    next_touch_on = DateField(_l("Next touch on"), validators=[Optional()])
    photo = FileField(_l("Photo"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Labels are read per request, in the user's language.
        self.kind.choices = TouchKind.choices()
        self.method.choices = [("", _l("Choose a method")), *TouchMethod.choices()]


class LostForm(VersionedForm):
    reason = SelectField(_l("Reason"), choices=[], validators=[DataRequired()])
    comment = TextAreaField(_l("What happened"), validators=[DataRequired(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = [("", "—"), *LostReason.choices()]


class ReassignForm(VersionedForm):
    # Not checked against the list here: the service says in words why someone cannot own the lead.
    owner_id = SelectField(_l("New owner"), choices=[], validators=[DataRequired()], validate_choice=False)
    comment = StringField(_l("Note for the new owner"), validators=[Optional(), Length(max=500)])


class MergeForm(VersionedForm):
    keep_id = HiddenField(validators=[DataRequired()])


class ReleaseForm(VersionedForm):
    reason = TextAreaField(_l("Why it goes back to the pool"), validators=[DataRequired(), Length(max=500)])


class BulkForm(FlaskForm):
    """The lead list's bulk actions; the selected ids come as ``lead_ids`` checkboxes of the list."""

    action = SelectField(_l("With the selected leads"), choices=[], validators=[DataRequired()])
    owner_id = SelectField(_l("New owner"), choices=[], validators=[Optional()], validate_choice=False)
    reason = StringField(_l("Reason or note"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.action.choices = [
            ("", "—"),
            ("reassign", _l("Reassign to")),
            ("release", _l("Send back to the pool")),
        ]
