"""The SLA in force for each state: the machine's default unless an admin changed it."""

from __future__ import annotations

from datetime import timedelta

from flask import g, has_app_context
from sqlalchemy import select

from crm.extensions import db
from crm.sla.models import SlaRule
from crm.workflow.machine import Machine, Sla


def rules_for(machine: Machine) -> dict[str, Sla]:
    """state → Sla for ``machine``; a stored rule with 0 minutes switches that SLA off."""
    cache = g.setdefault("sla_rules", {}) if has_app_context() else {}
    if machine.name not in cache:
        effective = dict(machine.sla)
        for row in db.session.scalars(select(SlaRule).where(SlaRule.workflow == machine.name)):
            state = machine._states.get(row.state)
            if state is None or state.final or state.paused:
                continue  # a rule left behind by a renamed state
            if row.duration_minutes <= 0:
                effective.pop(row.state, None)
            else:
                effective[row.state] = Sla(
                    duration=timedelta(minutes=row.duration_minutes),
                    warn_fraction=row.warn_percent / 100,
                    escalate_to=row.escalate_to,
                )
        cache[machine.name] = effective
    return cache[machine.name]


def forget_rules() -> None:
    if has_app_context():
        g.pop("sla_rules", None)
