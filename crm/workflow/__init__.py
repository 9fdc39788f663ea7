"""The workflow engine: machines declared as tables, applied by one function.

Domain packages declare their machine in ``workflow.py`` and call
``apply_event``; nothing else assigns a workflow state.
"""

from crm.workflow.machine import Event, Guard, Machine, Sla, State  # noqa: F401
