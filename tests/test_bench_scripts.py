"""The page benchmarks run end to end at a tiny size, so that a schema or page change cannot leave them broken.

Nothing here is timed: the figures at this size mean nothing. Each script seeds its
own throw-away SQLite database, serves it with gunicorn on 127.0.0.1 and prints
its report; the test checks that every line of the report is there. The
PostgreSQL pass of the suite skips them (its database is the suite's own, which
the scripts must not seed; `bench/orders.py --pg` builds its own cluster).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="the SQLite pass runs the benchmarks"),
]

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--only", "sqlite", "--seconds", "0.3", "--threads", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_orders_benchmark_runs_and_reports_every_figure():
    out = _run(
        "orders.py", "--orders", "2000", "--codes", "5000", "--leads", "200", "--ingest", "300", "--lookups", "20"
    )
    assert "seeded 2,000 orders (6,000 lines) of 2 distributors and 5,000 trace codes" in out
    for label in ("order desk queue /orders/", "portal order list /orders/", "bare page of bench/leads.py"):
        assert label in out, out
    assert out.count("throughput ratio to the bare page") == 2, out
    assert "SQL queries per order desk queue page" in out, out
    assert "SQL queries per portal order list page" in out, out
    assert "NOT EQUAL" not in out, out
    assert "ingest of a 300-code shipment" in out, out
    assert "lookup of one trace code" in out, out
    assert "return form's lot picker" in out, out
    assert "return quantity check" in out, out


def test_the_leads_benchmark_runs_and_reports_every_figure():
    out = _run("leads.py", "--rows", "500")
    assert "seeded 500 leads" in out, out
    assert "throughput ratio real/bare" in out, out
    assert "SQL queries per list page" in out, out
    assert "NOT EQUAL" not in out, out
