"""What every workflow record carries, and the append-only history of all workflows."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from crm.common.time import utcnow
from crm.extensions import db
from crm.workflow.machine import Machine


class SlaStatus:
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"  # the deadline just left was kept and none runs now (also in history)

    RUNNING = (OK, WARNING)


class WorkflowRecord:
    """Mixin for a table whose rows move through a ``Machine``.

    ``state`` can be read but not assigned: only ``crm.workflow.engine`` moves it.
    ``version`` is SQLAlchemy's version counter, so two writers of one row cannot
    both win. The SLA columns are computed on entering a state;
    ``sla_next_check_at`` is the one instant the sweep has to look at the row
    again, so the sweep is a range scan on one index.
    """

    __machine__: ClassVar[Machine]

    _state: Mapped[str] = mapped_column("state", String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    state_entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sla_status: Mapped[str | None] = mapped_column(String(16))
    sla_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    sla_warn_at: Mapped[datetime | None] = mapped_column(DateTime)
    sla_next_check_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    sla_remaining_seconds: Mapped[int | None] = mapped_column(Integer)
    sla_paused_state: Mapped[str | None] = mapped_column(String(32))

    @declared_attr
    def assignee_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id"), index=True)

    @declared_attr
    def assignee(cls):
        return relationship("User", foreign_keys=[cls.assignee_id])

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}

    @hybrid_property
    def state(self) -> str:
        return self._state

    @property
    def state_def(self):
        return self.__machine__.state(self._state)


class WorkflowHistory(db.Model):
    """One row per transition of any workflow record. Never updated, never deleted."""

    __tablename__ = "workflow_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)  # JSON: the event's own fields
    # met / breached: whether from_state was left before its deadline (NULL: it had none).
    sla_outcome: Mapped[str | None] = mapped_column(String(16))

    actor = relationship("User", lazy="joined")

    __table_args__ = (Index("ix_workflow_history_record", "workflow", "record_id", "id"),)


class HistoryIsAppendOnly(RuntimeError):
    pass


# The database refuses to update or delete a row of workflow_history or audit_events
# (triggers, migration 0010), whatever the statement: an ORM flush, a bulk UPDATE, a
# console session. The one way through is a row in this table, inserted in the same
# transaction as the change and removed before it commits: for a deletion the law
# orders, never for the application. The test suite uses it to empty its tables.
# A migration that rebuilds either table on SQLite (batch "move and copy") drops its
# triggers: it must create them again, as 0010 does.
history_maintenance = db.Table(
    "history_maintenance",
    db.Column("id", Integer, primary_key=True),
    db.Column("reason", String(200), nullable=False),
)


@event.listens_for(WorkflowHistory, "before_update")
@event.listens_for(WorkflowHistory, "before_delete")
def _refuse_history_change(_mapper, _connection, target):
    raise HistoryIsAppendOnly(f"workflow history {target.id} is append-only")
