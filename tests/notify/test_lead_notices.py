"""Lead notifications name the company and say what happened, in the inbox, email and robot alike."""

from __future__ import annotations

from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from crm.notify.models import Notification, NotificationKind
from crm.notify.rendering import outgoing_message, text_for
from tests.leads.test_lead_pages import gen_lead, people

__all__ = ["people"]


def notes_of(app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        rows = db.session.scalars(select(Notification).where(Notification.user_id == user_id)).all()
        out = []
        for note in rows:
            message = outgoing_message(user, note)
            out.append((note.kind, text_for(user, note), message.subject, message.robot_text))
        return out


def set_locale(app, user_id, locale):
    with app.app_context():
        db.session.get(User, user_id).locale = locale
        db.session.commit()


def test_a_lost_lead_is_said_to_be_lost_naming_the_company(app, people):
    rep, manager = people["rep"], people["manager"]
    lead_id = gen_lead(app, rep.id, name="深圳流失测试医药有限公司")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        services.mark_lost(
            lead, db.session.get(User, manager.id), seen_version=lead.version, reason="price", comment="价格"
        )
        db.session.commit()
    ((kind, text, subject, robot),) = notes_of(app, rep.id)
    assert kind == NotificationKind.TRANSITION
    assert "深圳流失测试医药有限公司" in text
    assert "已被标记为流失" in text
    assert "下一环节" not in text
    assert text in subject
    assert text in robot
    set_locale(app, rep.id, "en")
    ((_kind, text, _subject, _robot),) = notes_of(app, rep.id)
    assert "was marked lost" in text


def test_intent_is_worded_as_what_happened(app, people):
    rep, manager = people["rep"], people["manager"]
    lead_id = gen_lead(app, rep.id, name="深圳意向测试医药有限公司", events=["contact"])
    with app.app_context():
        from crm.workflow import engine

        lead = db.session.get(Lead, lead_id)
        engine.apply_event(lead, "show_intent", db.session.get(User, manager.id), seen_version=lead.version)
        db.session.commit()
    set_locale(app, rep.id, "en")
    texts = [t for _k, t, _s, _r in notes_of(app, rep.id)]
    assert any("深圳意向测试医药有限公司 #" in t and "shows intent" in t for t in texts), texts


def test_the_owner_who_loses_a_lead_is_told_who_has_it(app, people, make_user):
    rep, manager = people["rep"], people["manager"]
    lead_id = gen_lead(app, rep.id, name="深圳改派测试医药有限公司")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        services.reassign_lead(lead, db.session.get(User, manager.id), seen_version=lead.version, owner_id=manager.id)
        db.session.commit()
    notes = notes_of(app, rep.id)
    assert [k for k, *_ in notes] == [NotificationKind.UNASSIGNED]
    assert "深圳改派测试医药有限公司" in notes[0][1]
    with app.app_context():
        name = db.session.get(User, manager.id).display_name
    assert name in notes[0][1]
