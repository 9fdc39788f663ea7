"""Benchmark the SLA sweep: 1,000,000 open workflow rows, about 1% past due.

    .venv/bin/python bench/sla_sweep.py                      # SQLite, and PostgreSQL if it can start one
    .venv/bin/python bench/sla_sweep.py --rows 200000        # smaller

Prints the time of the first sweep (flags ~1% and notifies) and of idle sweeps
(nothing to do) on SQLite and on PostgreSQL (a throw-away cluster from
tests/pgcluster.py, or BENCH_PG_URL). Targets on a 2-core machine: first sweep
under 2 s, idle sweep under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from config import TestConfig  # noqa: E402
from crm import create_app  # noqa: E402
from crm.common.time import utcnow  # noqa: E402
from crm.extensions import db  # noqa: E402


def _fill(rows: int, rep_id: int, now) -> None:
    """Insert ``rows`` open records server-side (generate_series / a recursive CTE): seconds, not minutes."""
    past, future = now - timedelta(hours=1), now + timedelta(days=3)
    columns = (
        "state, version, state_entered_at, sla_status, sla_due_at, sla_warn_at, sla_next_check_at, "
        "assignee_id, territory_code, summary"
    )
    select_values = (
        "'open', 1, :entered, 'ok', "
        "CASE WHEN n % 100 = 0 THEN :past ELSE :future END, "
        "CASE WHEN n % 100 = 0 THEN :past ELSE :future END, "
        "CASE WHEN n % 100 = 0 THEN :past ELSE :future END, "
        ":rep, '440305', NULL"
    )
    params = {"entered": now - timedelta(days=1), "past": past, "future": future, "rep": rep_id, "rows": rows}
    if db.engine.dialect.name == "postgresql":
        sql = (
            f"INSERT INTO test_workflow_records ({columns}) SELECT {select_values} FROM generate_series(1, :rows) AS n"
        )
    else:
        sql = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows) "
            f"INSERT INTO test_workflow_records ({columns}) SELECT {select_values} FROM g"
        )
    db.session.execute(text(sql), params)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def run(url: str, rows: int) -> dict:
    from flask_migrate import upgrade

    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.sla.sweep import sweep
    from crm.territories.models import Territory
    from crm.territories.services import load_territories
    from crm.workflow.registry import register
    from tests.workflow.testflow import TestRecord

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, NOTIFY_WEBHOOK_URL="")
    register(TestRecord)
    with app.app_context():
        upgrade()
        TestRecord.__table__.create(db.engine, checkfirst=True)
        if db.session.get(Territory, "440305") is None:
            load_territories()
        rep = User(username="bench-rep", display_name="rep", role=Role.REP, password_hash="x")
        manager = User(username="bench-manager", display_name="manager", role=Role.MANAGER, password_hash="x")
        rep.territories = [db.session.get(Territory, "440300")]
        manager.territories = [db.session.get(Territory, "440000")]
        db.session.add_all([rep, manager])
        db.session.commit()

        now = utcnow()
        started = time.perf_counter()
        _fill(rows, rep.id, now)
        fill_seconds = time.perf_counter() - started
        total = db.session.scalar(select(func.count()).select_from(TestRecord))

        started = time.perf_counter()
        first = sweep(now=now)
        first_seconds = time.perf_counter() - started

        idle = []
        for _ in range(20):
            started = time.perf_counter()
            result = sweep(now=now)
            idle.append(time.perf_counter() - started)
            assert result.flagged == 0
        db.session.remove()
        db.engine.dispose()
    return {
        "rows": total,
        "fill_s": fill_seconds,
        "flagged": first.flagged,
        "notifications": first.notifications,
        "first_s": first_seconds,
        "idle_median_ms": statistics.median(idle) * 1000,
        "idle_max_ms": max(idle) * 1000,
    }


def report(name: str, figures: dict) -> None:
    print(
        f"{name:<11} rows={figures['rows']:>9,}  fill={figures['fill_s']:6.1f}s  "
        f"first sweep={figures['first_s']:6.3f}s (flagged {figures['flagged']:,}, "
        f"{figures['notifications']:,} notifications)  "
        f"idle sweep median={figures['idle_median_ms']:6.2f}ms max={figures['idle_max_ms']:6.2f}ms",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()

    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["CRM_INSTANCE_DIR"] = tmp
            report("SQLite", run(f"sqlite:///{tmp}/bench.sqlite3", args.rows))
    if args.only != "sqlite":
        url = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
        if url:
            report("PostgreSQL", run(url, args.rows))
        else:
            # Start a throw-away cluster and run the PostgreSQL half inside it.
            return subprocess.call(
                [
                    sys.executable,
                    "-m",
                    "tests.pgcluster",
                    "--",
                    sys.executable,
                    __file__,
                    "--rows",
                    str(args.rows),
                    "--only",
                    "postgresql",
                ],
                cwd=ROOT,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
