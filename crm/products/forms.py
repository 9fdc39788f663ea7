from __future__ import annotations

from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from crm.common.forms import VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Terminal


class ProductForm(VersionedForm):
    name = StringField(_l("Product name"), validators=[DataRequired(), Length(max=128)])
    specification = StringField(
        _l("Specification"), validators=[DataRequired(), Length(max=128)], description=_l("For example 0.25g×24片")
    )
    dosage_form = SelectField(_l("Dosage form"), validators=[DataRequired()])
    approval_number = StringField(
        _l("Approval number"),
        validators=[DataRequired(), Length(max=40)],
        description=_l("For example 国药准字H20003263"),
    )
    insurance_class = SelectField(_l("Medical insurance"), validators=[DataRequired()])
    dispensing = SelectField(_l("Rx / OTC"), validators=[DataRequired()])
    terminals = SelectMultipleField(
        _l("Target terminals"), widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    is_exclusive = BooleanField(_l("Exclusive product (独家品种)"))
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dosage_form.choices = DosageForm.choices()
        self.insurance_class.choices = InsuranceClass.choices()
        self.dispensing.choices = Dispensing.choices()
        self.terminals.choices = Terminal.choices()
