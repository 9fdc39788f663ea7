"""Applying an event to a workflow record: the only code that moves a workflow state.

``apply_event`` checks, in order: the actor may see the record (else 404), the
version the actor saw is current (else 409), the event exists and leaves the
current state, the actor's role may fire it, the comment if one is required,
each guard. Then it moves the state, appends the history row, recomputes the SLA
fields and queues notifications, and flushes; the request commits. When a check
fails nothing is changed and the exception carries the user's message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm.exc import StaleDataError

from crm.access.scoping import scoped
from crm.common.errors import BusinessError, check_version, stale_record
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify import queue
from crm.notify.models import NotificationKind
from crm.sla import rules as sla_rules
from crm.sla.calendar import current_calendar
from crm.sla.tracking import enter_state, outcome_of_leaving
from crm.workflow.models import WorkflowHistory


class TransitionRefused(BusinessError):
    """The event cannot be applied; ``message`` says why, in the user's language."""


@dataclass(frozen=True)
class Refusal:
    event: str
    message: str


def _set_state(record, state: str) -> None:
    # The single assignment of a workflow state in the code base (a test checks it).
    record._state = state


def start(record, actor, *, comment: str | None = None, now: datetime | None = None) -> WorkflowHistory:
    """Put a new record into its machine's initial state, with history and SLA fields."""
    machine = record.__machine__
    now = now or utcnow()
    rules, calendar = sla_rules.rules_for(machine), current_calendar()  # queries before any change
    _set_state(record, machine.initial)
    record.state_entered_at = now
    enter_state(record, None, machine, rules, calendar, now)
    db.session.add(record)
    db.session.flush()  # one INSERT; the history row needs the record's id
    return _append_history(record, "create", None, machine.initial, actor, comment, None, now)


def bulk_insert(table, rows: list[dict]) -> None:
    """INSERT many rows of a Core table in the session's transaction, the fastest way the database offers.

    PostgreSQL: COPY (psycopg's executemany sends one statement per row). SQLite:
    executemany of one prepared statement. Every row must have the same keys.
    """
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        names = list(rows[0])
        columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
        quoted = connection.dialect.identifier_preparer.format_table(table)
        cursor = connection.connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY {quoted} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
        return
    # SQLite: one prepared statement through the driver's executemany, values converted
    # by the column types' own bind processors (SQLAlchemy's per-row machinery is most
    # of the cost otherwise).
    dialect, names = connection.dialect, list(rows[0])
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    preparer = dialect.identifier_preparer
    # Identifiers from the table, quoted by the dialect; every value is a bound parameter.
    statement = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        preparer.format_table(table), ", ".join(preparer.quote(n) for n in names), ", ".join("?" * len(names))
    )
    values = [
        tuple(
            row[name] if process is None else process(row[name])
            for name, process in zip(names, processors, strict=True)
        )
        for row in rows
    ]
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(statement, values)
    finally:
        cursor.close()


def reserve_ids(table, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table`` for a bulk INSERT with explicit ids.

    PostgreSQL: taken from the column's sequence, safe under concurrent inserts.
    SQLite: max(id) + 1 …; safe because SQLite has one writer at a time, and a write
    after a stale read of max(id) fails (SQLITE_BUSY_SNAPSHOT) instead of colliding.
    """
    if count <= 0:
        return []
    if db.engine.dialect.name == "postgresql":
        sequence = db.session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        return list(
            db.session.scalars(text("SELECT nextval(:s) FROM generate_series(1, :n)"), {"s": sequence, "n": count})
        )
    first = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def start_many(
    model, records: list[dict], actor, *, now: datetime | None = None, comments: list[str | None] | None = None
) -> list[int]:
    """Insert many new records of ``model`` in their initial state with bulk INSERTs; return their ids in order.

    The same rules as ``start``: every record enters the machine's initial state at
    ``now`` with its SLA fields and one "create" history row. Records are plain
    column dicts (no ORM objects: an importer of 100,000 rows cannot afford them);
    they all enter the same state at the same instant, so the state and SLA fields
    are computed once, on a probe record, and copied. Flushes nothing else; the
    caller commits. ``comments`` (one per record, optional) go on the history rows.
    """
    if not records:
        return []
    machine = model.__machine__
    now = now or utcnow()
    rules, calendar = sla_rules.rules_for(machine), current_calendar()
    probe = model()
    _set_state(probe, machine.initial)
    probe.state_entered_at = now
    enter_state(probe, None, machine, rules, calendar, now)
    started = {
        name: getattr(probe, name)
        for name in (
            "_state",
            "state_entered_at",
            "sla_status",
            "sla_due_at",
            "sla_warn_at",
            "sla_next_check_at",
            "sla_remaining_seconds",
            "sla_paused_state",
        )
    }
    started["version"] = 1
    db.session.flush()  # whatever the caller added comes first
    # Core INSERT on the table (attribute names → column names), with ids reserved
    # up front: RETURNING in parameter order costs SQLite one statement per row.
    table, columns = model.__table__, {attr.key: attr.columns[0].key for attr in inspect(model).column_attrs}
    ids = reserve_ids(table, len(records))
    rows = [
        {"id": record_id, **{columns[key]: value for key, value in {**record, **started}.items()}}
        for record_id, record in zip(ids, records, strict=True)
    ]
    bulk_insert(table, rows)
    actor_id = actor.id if actor is not None else None
    bulk_insert(
        WorkflowHistory.__table__,
        [
            {
                "workflow": machine.name,
                "record_id": record_id,
                "event": "create",
                "from_state": None,
                "to_state": machine.initial,
                "actor_id": actor_id,
                "at": now,
                "comment": comment,
            }
            for record_id, comment in zip(ids, comments or [None] * len(ids), strict=True)
        ],
    )
    return ids


def refusal(record, event_name: str, actor) -> str | None:
    """Why ``actor`` cannot fire ``event_name`` on ``record`` now, or None when they can.

    Used both to enforce and to decide which buttons a page shows.
    """
    machine = record.__machine__
    event = machine.event(event_name)
    if event is None:
        return _("Unknown action.")
    if record.state not in event.sources:
        return _(
            "“%(event)s” is not possible while the record is “%(state)s”.",
            event=event.label,
            state=machine.state(record.state).label,
        )
    if actor.role not in event.roles:
        return _("Your role (%(role)s) cannot do “%(event)s”.", role=actor.role.label, event=event.label)
    for guard in event.guards:
        if not guard.check(record, actor):
            return str(guard.message)
    return None


def available_events(record, actor) -> list:
    """The events ``actor`` may fire on ``record`` now from a button, in table order."""
    machine = record.__machine__
    return [e for e in machine.events_from(record.state) if not e.hidden and refusal(record, e.name, actor) is None]


def ensure_visible(record, actor) -> None:
    """A record outside the actor's territories or company answers 404, like a missing one."""
    model = type(record)
    found = db.session.scalar(scoped(model, actor).with_only_columns(model.id).where(model.id == record.id))
    if found is None:
        abort(404)


def apply_event(
    record,
    event_name: str,
    actor,
    *,
    seen_version: int | str | None,
    comment: str | None = None,
    data: dict | None = None,
    now: datetime | None = None,
) -> WorkflowHistory:
    """Fire ``event_name`` on ``record`` as ``actor``; flush, and let the caller commit.

    Raises ``TransitionRefused`` (with the user's message) or ``Conflict`` (stale
    version); aborts 404 when the actor may not see the record.
    """
    machine = record.__machine__
    ensure_visible(record, actor)
    # The version first: a user acting on a stale page must hear "reload", not a
    # complaint about a state they never saw.
    check_version(record, seen_version)
    event = machine.event(event_name)
    if event is None or record.state not in event.sources or actor.role not in event.roles:
        raise TransitionRefused(refusal(record, event_name, actor))
    comment = (comment or "").strip() or None
    if event.comment_required and not comment:
        raise TransitionRefused(_("“%(event)s” needs a comment: say why.", event=event.label))
    reason = refusal(record, event_name, actor)
    if reason:
        raise TransitionRefused(reason)

    now = now or utcnow()
    # Read everything before changing anything: a query in between would autoflush
    # half a transition (and bump the version twice).
    rules, calendar = sla_rules.rules_for(machine), current_calendar()
    from_state = record.state
    outcome = outcome_of_leaving(record, now)
    _set_state(record, event.target)
    record.state_entered_at = now
    enter_state(record, from_state, machine, rules, calendar, now, left_outcome=outcome)
    entry = _append_history(record, event.name, from_state, event.target, actor, comment, data, now, outcome)
    try:
        db.session.flush()
    except StaleDataError:
        # Another request moved the record between our read and our write.
        db.session.rollback()
        raise stale_record() from None
    if record.assignee_id and record.assignee_id != actor.id:
        # The person responsible hears that someone else moved their record
        # (delivered by email or robot only after this transaction commits).
        queue(
            record.assignee_id,
            NotificationKind.TRANSITION,
            workflow=machine.name,
            record_id=record.id,
            state=event.target,
            message=comment,
        )
    return entry


def record_note(record, actor, event: str, *, comment: str | None = None, data: dict | None = None) -> WorkflowHistory:
    """Add a history row that does not move the state (a reassignment, a return to the pool, a merge source).

    The timeline shows who did what to the record even when its state stays.
    """
    return _append_history(record, event, record.state, record.state, actor, comment, data, utcnow())


def _append_history(record, event, from_state, to_state, actor, comment, details, now, outcome=None) -> WorkflowHistory:
    entry = WorkflowHistory(
        workflow=record.__machine__.name,
        record_id=record.id,
        event=event,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor.id if actor is not None else None,
        at=now,
        comment=comment,
        data=json.dumps(details, ensure_ascii=False, default=str) if details else None,
        sla_outcome=outcome,
    )
    db.session.add(entry)
    return entry


def history_of(record) -> list[WorkflowHistory]:
    """The timeline of ``record``, oldest first."""
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == record.__machine__.name, WorkflowHistory.record_id == record.id)
            .order_by(WorkflowHistory.id)
        )
    )
