"""The distributor machine (经销商): onboarding → active ⇄ suspended → terminated.

A distributor is created by an approved screening case and waits in
``onboarding`` until its agreement is signed; signing fires ``activate``
(a hidden event: only the signing service may fire it, together with the
agreement, the lead and the portal accounts). Terminating ends the company's
agreements, so it too is fired by its service, never by a bare button.
"""

from __future__ import annotations

from crm.access.roles import Role
from crm.i18n import lazy_gettext as _l
from crm.workflow import Event, Machine, State

MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})

DISTRIBUTOR_MACHINE = Machine(
    name="distributors",
    label=_l("Distributor"),
    initial="onboarding",
    states=(
        State("onboarding", _l("Onboarding")),
        State("active", _l("Trading")),  # 合作中: a state of the partnership, not a switch
        State("suspended", _l("Suspended")),
        State("terminated", _l("Terminated"), final=True),
    ),
    events=(
        Event("activate", _l("Sign the agreement"), ("onboarding",), "active", MANAGERS, hidden=True),
        Event("suspend", _l("Suspend"), ("active",), "suspended", MANAGERS, comment_required=True),
        Event("reinstate", _l("Reinstate"), ("suspended",), "active", MANAGERS, comment_required=True),
        Event(
            "terminate",
            _l("Terminate"),
            ("onboarding", "active", "suspended"),
            "terminated",
            MANAGERS,
            comment_required=True,
            hidden=True,
        ),
    ),
    # No SLA of its own while onboarding: the approved screening case carries the
    # deadline for signing, and its manager is the one who signs.
)
