"""Declaring a workflow: states, events, roles, guards and SLAs as one readable table.

A machine is data: the engine reads it, the diagram page draws it, the tests
walk every (state, event, role) of it. It knows nothing about the database.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from crm.access.roles import Role


@dataclass(frozen=True)
class State:
    code: str
    label: object  # a lazy_gettext string: English msgid, Chinese in the catalog
    final: bool = False
    paused: bool = False  # the SLA clock stops here (waiting on the other side)
    # How a notification says a record arrived here, as what happened: "%(record)s was marked lost".
    # Without it the notification says the record is now in this state.
    news: object = None


@dataclass(frozen=True)
class Guard:
    """A condition an event needs; ``message`` is what the user reads when it fails.

    ``check(record, actor)`` returns True when the event may proceed.
    """

    check: Callable[[object, object], bool]
    message: object


@dataclass(frozen=True)
class Event:
    name: str
    label: object
    sources: tuple[str, ...]
    target: str
    roles: frozenset[Role]
    guards: tuple[Guard, ...] = ()
    comment_required: bool = False
    # Fired by a domain service with its own form (a touch, a merge, a lost reason),
    # never by the generic button: hidden events get no button and no generic route.
    hidden: bool = False
    # Whether its button asks "are you sure" first. None: decided by Machine.undoable_by,
    # so a new workflow's one-tap moves that cannot be taken back ask without anyone remembering.
    confirm: bool | None = None


@dataclass(frozen=True)
class Sla:
    """How long a record may stay in a state, in working time, and whom a breach escalates to."""

    duration: timedelta
    warn_fraction: float = 0.8
    escalate_to: Role = Role.MANAGER


@dataclass
class Machine:
    name: str
    label: object
    states: tuple[State, ...]
    events: tuple[Event, ...]
    initial: str
    sla: dict[str, Sla] = field(default_factory=dict)

    def __post_init__(self):
        self._states = {s.code: s for s in self.states}
        self._events = {e.name: e for e in self.events}
        problems = list(self._problems())
        if problems:
            raise ValueError(f"workflow {self.name!r} is inconsistent: " + "; ".join(problems))

    def _problems(self) -> Iterable[str]:
        if len(self._states) != len(self.states):
            yield "duplicate state codes"
        if len(self._events) != len(self.events):
            yield "duplicate event names"
        if self.initial not in self._states:
            yield f"initial state {self.initial!r} is not declared"
        for event in self.events:
            for code in (*event.sources, event.target):
                if code not in self._states:
                    yield f"event {event.name!r} names unknown state {code!r}"
            if any(self._states.get(code, State("", "")).final for code in event.sources):
                yield f"event {event.name!r} leaves a final state"
            if not event.roles:
                yield f"event {event.name!r} allows no role"
        if self.initial in self._states:
            for state in self.states:
                if self.path_to(state.code) is None:
                    yield f"state {state.code!r} cannot be reached from {self.initial!r}"
        for code, rule in self.sla.items():
            if code not in self._states:
                yield f"SLA for unknown state {code!r}"
            elif self._states[code].final or self._states[code].paused:
                yield f"SLA on final or paused state {code!r}"
            elif not 0 < rule.warn_fraction < 1 or rule.duration <= timedelta(0):
                yield f"SLA of {code!r} needs a positive duration and a warning fraction in (0, 1)"

    def path_to(self, state: str) -> list[str] | None:
        """The shortest list of event names from the initial state to ``state``; None if unreachable."""
        queue, seen = deque([(self.initial, [])]), {self.initial}
        while queue:
            current, events = queue.popleft()
            if current == state:
                return events
            for event in self.events_from(current):
                if event.target not in seen:
                    seen.add(event.target)
                    queue.append((event.target, [*events, event.name]))
        return None

    def undoable_by(self, event: Event, role: Role) -> bool:
        """Whether someone of ``role`` who fires ``event`` can take it back with one event of their own.

        A move into a final state never can; otherwise it can when an event open to the same role
        leads straight back from the target to a state the move may start from (a self-loop, such
        as logging a touch, changes no state). The buttons of the others ask for confirmation.
        """
        if event.confirm is not None:
            return not event.confirm
        if event.target in event.sources:
            return True
        if self.state(event.target).final:
            return False
        return any(
            role in back.roles and event.target in back.sources and back.target in event.sources
            for back in self.events
            if back is not event
        )

    def state(self, code: str) -> State:
        return self._states[code]

    def event(self, name: str) -> Event | None:
        return self._events.get(name)

    def events_from(self, state: str) -> list[Event]:
        return [e for e in self.events if state in e.sources]

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset().union(*(e.roles for e in self.events))
