"""The quality signal: managers and admins are told once when a lot's quality returns pass the threshold."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.notify.models import Notification
from crm.returns.models import QualitySignal
from tests.returns.conftest import ask


def _notes_of(app, user_id) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Notification).where(Notification.user_id == user_id))


def test_the_signal_is_raised_once_at_the_threshold(app, delivered, shop, people, lots):
    manager, admin, rep = people[Role.MANAGER].id, people[Role.ADMIN].id, people[Role.REP].id
    before = {who: _notes_of(app, who) for who in (manager, admin, rep)}
    for _ in range(2):
        ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)
    ask(app, delivered(), shop.portal_user_id, reason="damaged", amox=1)  # not a quality return
    assert _notes_of(app, manager) == before[manager]
    ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)  # the third: the default threshold
    ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)
    with app.app_context():
        signal = db.session.get(QualitySignal, lots["amox"])
        assert signal.returns_counted == 3
    assert _notes_of(app, manager) == before[manager] + 1
    assert _notes_of(app, admin) == before[admin] + 1
    assert _notes_of(app, rep) == before[rep]
