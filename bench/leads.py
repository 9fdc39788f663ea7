"""Benchmark the lead list: 200,000 leads, the real page under gunicorn against a bare page.

    .venv/bin/python bench/leads.py                  # SQLite
    .venv/bin/python bench/leads.py --pg             # SQLite, then PostgreSQL (throw-away cluster)
    .venv/bin/python bench/leads.py --rows 50000 --seconds 5

Seeds the leads server-side (INSERT … SELECT over generate_series / a recursive
CTE) across every county of 广东省, with states, owners, campaigns and SLA
statuses mixed, into a temporary database. Then it serves the app with gunicorn
(2 workers), signs in as a manager of 广东省 and drives GET /leads/ (50 rows a
page) with a bounded load loop: a few threads, each with its own keep-alive
http.client connection, for a fixed time. The same loop then drives a bare Flask
page (bench/bare_leads_app.py: SQLAlchemy Core + Jinja, 50 rows of the same
table) served the same way. It prints p50/p95 latency and requests per second of
both and their ratio (target: the real page at least 1/3 of the bare page's
throughput), and the number of SQL queries of one list page at 10 and at 100 rows
(they must be equal). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench._common import (  # noqa: E402
    PASSWORD,
    SECRET_KEY,
    Gunicorn,
    count_statements,
    load,
    postgres_url,
    print_figures,
    rerun_in_cluster,
    sign_in,
    signed_in_client,
)
from config import Config  # noqa: E402
from crm import create_app  # noqa: E402
from crm.common.time import utcnow  # noqa: E402
from crm.extensions import db  # noqa: E402

STATES = ("new", "contacted", "following", "following", "intent", "applied", "won", "lost")
SLA_BY_STATE = {"new": "ok", "following": "ok", "intent": "ok"}


# -- seeding -------------------------------------------------------------------------------


def _prepare(url: str):
    """Schema, territories, users (a manager of 广东省 and one rep per Guangdong city) and campaigns."""
    from flask_migrate import upgrade

    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.auth.passwords import hash_password
    from crm.leads.models import Campaign, Channel
    from crm.territories.models import Territory
    from crm.territories.services import load_territories

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SCHEDULER_ENABLED=False, SECRET_KEY=SECRET_KEY)
    with app.app_context():
        upgrade()
        load_territories()
        db.session.commit()
        password_hash = hash_password(PASSWORD)
        manager = User(
            username="bench-manager", display_name="广东经理", role=Role.MANAGER, password_hash=password_hash
        )
        manager.territories = [db.session.get(Territory, "440000")]
        cities = db.session.scalars(select(Territory).where(Territory.parent_code == "440000")).all()
        reps = []
        for city in cities:
            rep = User(
                username=f"bench-rep-{city.code}",
                display_name=f"{city.name}代表",
                role=Role.REP,
                password_hash=password_hash,
            )
            rep.territories = [city]
            reps.append(rep)
        channels = list(Channel)
        campaigns = [Campaign(name=f"2026 招商活动 {n + 1}", channel=channels[n % len(channels)]) for n in range(20)]
        db.session.add_all([manager, *reps, *campaigns])
        db.session.commit()
    return app


def _seed(rows: int) -> float:
    """Insert ``rows`` leads in one statement; returns the seconds it took (ANALYZE included)."""
    started = time.perf_counter()
    dialect = db.engine.dialect.name
    with db.engine.begin() as conn:
        # Lookup tables numbered from 0, so that "n % count" picks a county, a rep and a campaign.
        conn.execute(text("CREATE TABLE bench_counties (idx INTEGER PRIMARY KEY, code VARCHAR(6))"))
        conn.execute(text("CREATE TABLE bench_owners (idx INTEGER PRIMARY KEY, user_id INTEGER, city VARCHAR(4))"))
        conn.execute(
            text(
                "INSERT INTO bench_counties (idx, code) "
                "SELECT ROW_NUMBER() OVER (ORDER BY code) - 1, code FROM territories "
                "WHERE level = 3 AND code LIKE '44%'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bench_owners (idx, user_id, city) "
                "SELECT ROW_NUMBER() OVER (ORDER BY users.id) - 1, users.id, "
                "SUBSTR(user_territories.territory_code, 1, 4) "
                "FROM users JOIN user_territories ON user_territories.user_id = users.id WHERE users.role = 'rep'"
            )
        )
        counties = conn.execute(text("SELECT COUNT(*) FROM bench_counties")).scalar_one()
        campaigns = conn.execute(text("SELECT MIN(id), COUNT(*) FROM campaigns")).one()
        states = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(STATES))
        sla = " ".join(f"WHEN '{s}' THEN '{v}'" for s, v in SLA_BY_STATE.items())
        now = utcnow()
        # The owner is the rep of the lead's city; every tenth lead waits in the pool instead.
        select_rows = f"""
            SELECT company_name, name_key, name_initials, territory_code, campaign_id, in_pool,
                   CASE WHEN in_pool THEN NULL ELSE (SELECT user_id FROM bench_owners o
                        WHERE o.city = SUBSTR(territory_code, 1, 4)) END,
                   next_touch_on, created_at, state, 1, created_at,
                   CASE state {sla} ELSE NULL END,
                   CASE WHEN state IN ('new', 'following', 'intent') THEN :due END
            FROM (
                SELECT '广东测试医药' || n || '有限公司' AS company_name,
                       '广东测试医药' || n AS name_key,
                       'gdcsyy' || n AS name_initials,
                       c.code AS territory_code,
                       :first_campaign + (n % :campaigns) AS campaign_id,
                       (n % 10 = 0) AS in_pool,
                       CASE WHEN n % 3 = 0 THEN :today END AS next_touch_on,
                       CASE (n * 7) % {len(STATES)} {states} END AS state,
                       :now_ts - (n * INTERVAL_ONE_SECOND) AS created_at
                FROM g JOIN bench_counties c ON c.idx = n % :counties
            ) AS src
        """
        columns = (
            "company_name, name_key, name_initials, territory_code, campaign_id, in_pool, assignee_id, "
            "next_touch_on, created_at, state, version, state_entered_at, sla_status, sla_due_at"
        )
        if dialect == "postgresql":
            sql = f"INSERT INTO leads ({columns}) " + select_rows.replace(
                "FROM g JOIN", "FROM generate_series(1, :rows) AS g(n) JOIN"
            ).replace("INTERVAL_ONE_SECOND", "INTERVAL '1 second'")
            now_param = now
        else:
            # SQLite stores DateTime as text; compute the timestamp there and format it as SQLAlchemy does.
            sql = (
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows) "
                f"INSERT INTO leads ({columns}) "
                + select_rows.replace(
                    ":now_ts - (n * INTERVAL_ONE_SECOND)",
                    "strftime('%Y-%m-%d %H:%M:%f000', :now_ts, '-' || n || ' seconds')",
                )
            )
            now_param = now.strftime("%Y-%m-%d %H:%M:%S")
        conn.execute(
            text(sql),
            {
                "rows": rows,
                "counties": counties,
                "first_campaign": campaigns[0],
                "campaigns": campaigns[1],
                "today": (now + timedelta(hours=8)).date(),
                "now_ts": now_param,
                "due": now + timedelta(days=2),
            },
        )
        conn.execute(text("DROP TABLE bench_counties"))
        conn.execute(text("DROP TABLE bench_owners"))
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


# -- query counts --------------------------------------------------------------------------


def _queries_per_page(app, sizes=(10, 100)) -> dict[int, int]:
    """SQL statements of one GET /leads/?size=N by the manager, counted on the engine's cursor."""
    client = signed_in_client(app, "bench-manager")
    client.get("/leads/?size=10")
    counts = {}
    with app.app_context():
        engine = db.engine
    for size in sizes:
        counts[size], response = count_statements(engine, lambda size=size: client.get(f"/leads/?size={size}"))
        assert response.status_code == 200
        rows = len(re.findall(r'data-lead="\d+"', response.get_data(as_text=True)))
        assert rows == size, (rows, size)
    return counts


# -- one run -------------------------------------------------------------------------------


def run(name: str, url: str, rows: int, seconds: float, threads: int, instance: str) -> None:
    app = _prepare(url)
    with app.app_context():
        seed_seconds = _seed(rows)
        total = db.session.scalar(select(func.count()).select_from(text("leads")))
        db.session.remove()
    print(f"{name}: seeded {total:,} leads in {seed_seconds:.1f} s", flush=True)

    counts = _queries_per_page(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    env = {"DATABASE_URL": url, "CRM_INSTANCE_DIR": instance, "BENCH_DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
    with Gunicorn("wsgi:app", env) as real:
        cookie = sign_in(real.port, "bench-manager")
        real_figures = load(real.port, "/leads/", cookie, seconds, threads)
    with Gunicorn("bench.bare_leads_app:app", env) as bare:
        bare_figures = load(bare.port, "/leads/", None, seconds, threads)

    ratio = real_figures["rps"] / bare_figures["rps"]
    for label, figures in (
        ("real /leads/ (manager of 广东省, 50 rows)", real_figures),
        ("bare Flask page (50 rows)", bare_figures),
    ):
        print_figures(label, figures)
    verdict = "meets" if ratio >= 1 / 3 else "MISSES"
    print(f"  throughput ratio real/bare = {ratio:.2f} ({verdict} the target of ≥ 0.33)", flush=True)
    equal = "equal" if counts[10] == counts[100] else "NOT EQUAL"
    print(f"  SQL queries per list page: {counts[10]} at 10 rows, {counts[100]} at 100 rows ({equal})", flush=True)


def import_figures() -> None:
    """The lead import's own benchmark (bench/lead_import.py), when it exists."""
    try:
        module = importlib.import_module("bench.lead_import")
    except ModuleNotFoundError as missing:
        if missing.name not in ("bench.lead_import", "bench"):
            raise
        print("import throughput: bench/lead_import.py is not there yet", flush=True)
        return
    figures = getattr(module, "main_import_figures", None)
    if figures is None:
        print("import throughput: bench/lead_import.py has no main_import_figures()", flush=True)
        return
    for line in figures():
        print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load loop")
    parser.add_argument("--threads", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()

    status = 0
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args.rows, args.seconds, args.threads, tmp)
    if args.only == "postgresql" or args.pg:
        url = postgres_url()
        if url:
            with tempfile.TemporaryDirectory() as tmp:
                run("PostgreSQL", url, args.rows, args.seconds, args.threads, tmp)
        else:
            # A throw-away cluster, with the PostgreSQL half of this script run inside it.
            status = rerun_in_cluster(
                __file__, ["--rows", str(args.rows), "--seconds", str(args.seconds), "--threads", str(args.threads)]
            )
    if args.only is None:
        import_figures()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
