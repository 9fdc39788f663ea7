from __future__ import annotations

from wtforms import BooleanField, DateField, DecimalField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from crm.common.forms import VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.leads.models import Channel
from crm.territories.forms import TerritoryField
from crm.territories.models import MarketTier

_NOT_NEGATIVE = _l("Enter an amount of 0 or more.")


class CampaignForm(VersionedForm):
    name = StringField(
        _l("Medium or event"),
        validators=[DataRequired(), Length(max=128)],
        description=_l("For example 2026 成都全国药品交易会 or 医药经济报 招商专版"),
    )
    channel = SelectField(_l("Channel"), validators=[DataRequired()])
    territories = TerritoryField(_l("Regions targeted"))
    market_tier = SelectField(_l("Market tier targeted"), default="")
    products = SelectMultipleField(
        _l("Products"), coerce=str, description=_l("Hold Ctrl (⌘ on a Mac) to pick several.")
    )
    starts_on = DateField(_l("Starts on"), validators=[Optional()])
    ends_on = DateField(_l("Ends on"), validators=[Optional()])
    budget = DecimalField(
        _l("Budget (yuan)"), places=2, validators=[Optional(), NumberRange(min=0, message=_NOT_NEGATIVE)]
    )
    actual_cost = DecimalField(
        _l("Actual cost (yuan)"), places=2, validators=[Optional(), NumberRange(min=0, message=_NOT_NEGATIVE)]
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, product_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.channel.choices = Channel.choices()
        self.market_tier.choices = [("", _l("Any")), *MarketTier.choices()]
        self.products.choices = [(str(pid), name) for pid, name in product_choices]

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The campaign cannot end before it starts."))


class ScriptForm(VersionedForm):
    product_id = SelectField(_l("Product"), default="")
    objection = StringField(
        _l("Objection"),
        validators=[DataRequired(), Length(max=200)],
        description=_l("What the distributor says, e.g. 价格太高 or 已有同类品种"),
    )
    answer = TextAreaField(_l("Standard answer"), validators=[DataRequired(), Length(max=5000)])
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, product_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.product_id.choices = [("", _l("All products")), *((str(pid), name) for pid, name in product_choices)]
