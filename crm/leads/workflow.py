"""The lead machine (招商线索): from first contact to a signed distributor, or lost.

new → contacted → following → intent → applied → won; lost (reason required)
from any open state; merged when deduplicated into another lead. A touch logged
while following restarts its clock ("log_touch"), so a lead nobody visits for
five working days is flagged.
"""

from __future__ import annotations

from datetime import timedelta

from crm.access.roles import Role
from crm.i18n import lazy_gettext as _l
from crm.workflow import Event, Machine, Sla, State

REPS = frozenset({Role.REP, Role.MANAGER})
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
OPEN_STATES = ("new", "contacted", "following", "intent", "applied")

# A working day is 9 working hours on the default 09:00–18:00 calendar.
WORKING_DAY = timedelta(hours=9)

LEAD_MACHINE = Machine(
    name="leads",
    label=_l("Recruitment lead"),
    initial="new",
    states=(
        State("new", _l("New")),
        State("contacted", _l("Contacted"), news=_l("%(record)s was contacted")),
        State("following", _l("Following up"), news=_l("%(record)s is being followed up")),
        State("intent", _l("Shows intent"), news=_l("%(record)s shows intent")),
        State("applied", _l("Applied"), news=_l("%(record)s applied to become a distributor")),
        State("won", _l("Won"), final=True, news=_l("%(record)s was won: it signs as a distributor")),
        State("lost", _l("Lost"), news=_l("%(record)s was marked lost")),
        State("merged", _l("Merged"), final=True, news=_l("%(record)s was merged into another lead")),
    ),
    events=(
        Event("contact", _l("Mark contacted"), ("new",), "contacted", REPS),
        Event("follow", _l("Start following up"), ("contacted",), "following", REPS),
        Event("log_touch", _l("Log a touch"), ("following",), "following", REPS, hidden=True),
        Event("show_intent", _l("Shows intent"), ("contacted", "following"), "intent", REPS),
        Event("apply", _l("Applied to become a distributor"), ("intent",), "applied", REPS),
        Event("win", _l("Mark won"), ("applied",), "won", MANAGERS, comment_required=True),
        Event("lose", _l("Mark lost"), OPEN_STATES, "lost", REPS | MANAGERS, comment_required=True, hidden=True),
        Event("reopen", _l("Reopen"), ("lost",), "following", MANAGERS, comment_required=True),
        Event("merge", _l("Merge into another lead"), (*OPEN_STATES, "lost"), "merged", MANAGERS, hidden=True),
    ),
    sla={
        "new": Sla(timedelta(hours=8)),
        "following": Sla(5 * WORKING_DAY),
        "intent": Sla(10 * WORKING_DAY),
    },
)
