from __future__ import annotations

from wtforms import BooleanField, SelectField, SelectMultipleField

from crm.common.forms import VersionedForm
from crm.i18n import lazy_gettext as _l
from crm.territories.models import MarketTier


class MarketAttributesForm(VersionedForm):
    market_tier = SelectField(_l("Market tier"), choices=[], default="")
    is_key_region = BooleanField(_l("Key region"))
    is_sample_market = BooleanField(_l("Sample market"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.market_tier.choices = [("", _l("Not set")), *MarketTier.choices()]


class TerritoryField(SelectMultipleField):
    """Territories picked by search (Tom Select on the page); choices are the current picks.

    Validation happens in the service, which knows the tree; here any submitted code
    is accepted as a choice so that newly searched nodes can be posted.
    """

    def pre_validate(self, form):
        pass
