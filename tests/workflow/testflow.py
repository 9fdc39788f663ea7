"""A small workflow that exists only in the tests, to prove the engine without domain rules.

Its table is created by the ``testflow`` fixture (it is not in the migrations:
the drift test skips tables marked ``info={"test_only": True}``).
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crm.access.roles import Role
from crm.extensions import db
from crm.workflow import Event, Guard, Machine, Sla, State
from crm.workflow.models import WorkflowRecord

R = Role
MACHINE = Machine(
    name="testflow",
    label=_l("Test workflow"),
    initial="open",
    states=(
        State("open", _l("Open")),
        State("working", _l("Working")),
        State("waiting", _l("Waiting"), paused=True),
        State("done", _l("Done")),
        State("closed", _l("Closed"), final=True),
        State("cancelled", _l("Cancelled"), final=True),
    ),
    events=(
        Event("take", _l("Take"), ("open",), "working", frozenset({R.REP, R.MANAGER})),
        Event("ask", _l("Ask"), ("working",), "waiting", frozenset({R.REP})),
        Event("answer", _l("Answer"), ("waiting",), "working", frozenset({R.REP, R.SERVICE})),
        Event(
            "finish",
            _l("Finish"),
            ("working",),
            "done",
            frozenset({R.REP}),
            guards=(Guard(lambda record, actor: bool(record.summary), _l("Write a summary first.")),),
        ),
        Event("close", _l("Close"), ("done",), "closed", frozenset({R.MANAGER})),
        Event("reopen", _l("Reopen"), ("done",), "working", frozenset({R.MANAGER, R.REP}), comment_required=True),
        Event(
            "cancel",
            _l("Cancel"),
            ("open", "working", "waiting"),
            "cancelled",
            frozenset({R.MANAGER, R.ADMIN}),
            comment_required=True,
        ),
    ),
    sla={
        "open": Sla(timedelta(hours=4)),
        "working": Sla(timedelta(hours=18), warn_fraction=0.5),
        "done": Sla(timedelta(hours=9), escalate_to=R.SERVICE),
    },
)


class TestRecord(WorkflowRecord, db.Model):
    __tablename__ = "test_workflow_records"
    __table_args__ = {"info": {"test_only": True}}
    __machine__ = MACHINE
    __territory_column__ = "territory_code"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_code: Mapped[str] = mapped_column(String(6), index=True)
    summary: Mapped[str | None] = mapped_column(String(200))
