"""`flask crm …` commands: demo data, territories, the scheduler process."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from crm.extensions import db

crm_cli = AppGroup("crm", help="招商通 commands.")


@crm_cli.command("load-territories")
def load_territories_command():
    """Load or refresh the GB/T 2260 tree from the data package (keeps market attributes)."""
    from crm.territories.services import load_territories

    added, renamed = load_territories()
    db.session.commit()
    click.echo(f"territories: {added} added, {renamed} renamed")


@crm_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo_command(if_empty):
    """Load the demo data: one user per role, regions, products, distributors."""
    from crm.auth.models import User
    from crm.demo import load_demo

    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("demo: database already has users, left as it is")
        return
    load_demo()
    db.session.commit()
    click.echo("demo: loaded (accounts in README.md)")


@crm_cli.command("create-admin")
@click.argument("username")
@click.password_option()
def create_admin_command(username, password):
    """Create an administrator account (for a fresh production install)."""
    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.auth.passwords import hash_password
    from crm.auth.services import check_password_strength, normalize_username
    from crm.common.errors import BusinessError

    user = User(username=normalize_username(username), display_name=username, role=Role.ADMIN, password_hash="")
    try:
        check_password_strength(user, password)
    except BusinessError as error:
        raise click.ClickException(error.message) from error
    user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"administrator {user.username} created")


@crm_cli.command("licence-watch")
def licence_watch_command():
    """Run the licence watch now (the scheduler runs it daily): flag and notify expiring licences."""
    from crm.distributors.licences import watch

    click.echo(f"licence watch: {watch() or 'nothing new to flag'}")


@crm_cli.command("scheduler")
def scheduler_command():
    """Run the scheduler process (exactly one per installation)."""
    from crm.scheduler import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(message)s")
    # APScheduler announces every run of every job at INFO; ours log what a run did.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = build_scheduler(current_app._get_current_object())

    def _stop(_signum, _frame):
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"scheduler: {len(scheduler.get_jobs())} job(s); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    sys.exit(0)
