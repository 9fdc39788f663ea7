"""Notifications: an in-app inbox plus email and group-robot channels.

Business code calls ``queue`` inside its transaction; the inbox row and one
delivery row per external channel are written with the business change and sent
by the scheduler after the commit. A failing channel is retried and logged and
never rolls back the business change.
"""

from crm.notify.services import queue, queue_many  # noqa: F401
