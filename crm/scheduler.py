"""The scheduler process (`flask crm scheduler`): periodic jobs, never inside web workers.

APScheduler job stores must not be shared between schedulers, and with N web
workers an in-process scheduler runs every job N times; so exactly one scheduler
process runs per installation, and each job is idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask
from sqlalchemy import delete

from crm.auth.models import LoginAddressWait, LoginFailure, UserSession
from crm.common.time import utcnow
from crm.extensions import db

log = logging.getLogger(__name__)


def prune_security_tables() -> str | None:
    """Delete expired sign-in sessions, and login failures and address waits older than a day. Idempotent."""
    now = utcnow()
    sessions = db.session.execute(delete(UserSession).where(UserSession.expires_at <= now)).rowcount
    failures = db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1))).rowcount
    # A wait a day past is long over: the address's failures that set it have been pruned too.
    db.session.execute(delete(LoginAddressWait).where(LoginAddressWait.next_check_at < now - timedelta(days=1)))
    db.session.commit()
    return f"{sessions} expired sessions, {failures} old login failures removed" if sessions or failures else None


def run_sla_sweep():
    """Flag SLA warnings and breaches (see crm.sla.sweep)."""
    from crm.sla.sweep import sweep

    result = sweep()
    if result.locked_out:
        return "another sweep held the lock"
    return f"{result.flagged} flagged, {result.notifications} notifications" if result.flagged else None


def run_lead_pool():
    """Return idle leads to the pool and warn their owners a day before (see crm.leads.pool)."""
    from crm.leads.pool import run_pool_jobs

    return run_pool_jobs()


def run_lead_imports():
    """Import the large lead lists users queued (see crm.leads.importer), one after another."""
    from crm.leads.importer import run_queued_imports

    return run_queued_imports()


def run_licence_watch():
    """Flag licences expiring within 90 and 30 days or expired, and notify (see crm.distributors.licences)."""
    from crm.distributors.licences import watch

    return watch()


def run_order_jobs():
    """Confirm receipts nobody answered and hold the orders of suspended distributors (see crm.orders.services)."""
    from crm.orders.services import run_order_jobs as run

    return run()


def _in_app_context(app: Flask, job):
    def run():
        with app.app_context():
            try:
                result = job()
                # An idle run says nothing: a job that found work says what it did.
                log.log(logging.INFO if result else logging.DEBUG, "job %s done: %s", job.__name__, result or "idle")
            except Exception:
                db.session.rollback()
                log.exception("job %s failed", job.__name__)

    run.__name__ = run.__qualname__ = job.__name__  # APScheduler logs the qualified name
    return run


def build_scheduler(app: Flask) -> BlockingScheduler:
    sweep_seconds = app.config["SLA_SWEEP_SECONDS"]
    scheduler = BlockingScheduler(
        timezone=app.config["BABEL_DEFAULT_TIMEZONE"],
        # A late run is still worth doing (grace ≥ one interval), missed runs collapse
        # into one (coalesce), and a slow run is never overlapped by the next.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(300, 2 * sweep_seconds)},
    )
    scheduler.add_job(_in_app_context(app, run_sla_sweep), "interval", seconds=sweep_seconds, id="sla_sweep")
    from crm.notify.delivery import deliver_notifications

    scheduler.add_job(
        _in_app_context(app, deliver_notifications),
        "interval",
        seconds=app.config["NOTIFY_DELIVERY_SECONDS"],
        id="deliver_notifications",
    )
    scheduler.add_job(_in_app_context(app, run_lead_pool), "interval", minutes=15, id="lead_pool")
    scheduler.add_job(
        _in_app_context(app, run_lead_imports),
        "interval",
        seconds=app.config["LEAD_IMPORT_POLL_SECONDS"],
        id="lead_imports",
    )
    # Daily, and once at start-up: a scheduler that was down at the hour still flags today's licences.
    scheduler.add_job(
        _in_app_context(app, run_licence_watch),
        CronTrigger(hour=app.config["LICENCE_WATCH_HOUR"], timezone=app.config["BABEL_DEFAULT_TIMEZONE"]),
        id="licence_watch",
        next_run_time=datetime.now(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])),
    )
    scheduler.add_job(_in_app_context(app, run_order_jobs), "interval", minutes=15, id="order_jobs")
    scheduler.add_job(
        _in_app_context(app, prune_security_tables),
        "interval",
        minutes=15,
        id="prune_security_tables",
        next_run_time=datetime.now(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])),
    )
    return scheduler
