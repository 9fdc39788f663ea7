"""Where one lead list request spends its time, in process (no gunicorn, no sockets).

    .venv/bin/python bench/profile_leads.py                      # seed 200,000 leads into /tmp/crm-profile
    .venv/bin/python bench/profile_leads.py --dir /tmp/p --profile 30
    .venv/bin/python bench/profile_leads.py --url postgresql+psycopg://…/crm_bench

Seeds a database once with bench/leads.py's seeding (kept in ``--dir`` and reused
by later runs), signs in as the 广东省 manager through the test client and times
GET /leads/ against the cheapest pages around it: the bare page's query and
template, the sign-in page (no user), and the inbox (signed in, little content).
The differences say what the session, the base template and the list itself cost.
``--profile N`` adds a cProfile of N list requests, sorted by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.leads import PASSWORD, SECRET_KEY, _prepare, _seed  # noqa: E402
from config import Config  # noqa: E402
from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402


def _seeded(directory: Path, rows: int) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory}/bench.sqlite3"
    if not (directory / "seeded").exists():
        app = _prepare(url)
        with app.app_context():
            seconds = _seed(rows)
            db.session.remove()
            db.engine.dispose()
        (directory / "seeded").write_text(str(rows))
        print(f"seeded {rows:,} leads in {seconds:.1f} s into {directory}")
    return url


def _signed_in_client(app):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/auth/login", data={"username": "bench-manager", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client


def _per_request_ms(call, repeat: int) -> float:
    for _ in range(5):
        call()
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(repeat):
            call()
        best = min(best, (time.perf_counter() - began) / repeat)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/crm-profile", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many list requests")
    parser.add_argument("--path", default="/leads/", help="the page to time and profile")
    parser.add_argument("--url", help="a database bench/leads.py already seeded (PostgreSQL, say) instead of --dir")
    args = parser.parse_args()

    url = args.url or _seeded(args.dir, args.rows)
    os.environ["BENCH_DATABASE_URL"] = url  # read when the bare app is imported
    from bench import bare_leads_app

    bare = bare_leads_app.app.test_client()
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SCHEDULER_ENABLED=False, SECRET_KEY=SECRET_KEY)
    anonymous = app.test_client()
    client = _signed_in_client(app)

    def get(c, path):
        def call():
            response = c.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return call

    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client.get(args.path)
    print(f"{args.path}: {len(statements)} SQL statements")
    for sql in statements:
        print("   ", " ".join(sql.split())[:160])
    statements.clear()

    for label, call in (
        ("bare page (Core + Jinja)", get(bare, "/leads/")),
        ("sign-in page, anonymous", get(anonymous, "/auth/login")),
        ("inbox, signed in", get(client, "/notifications")),
        (f"{args.path}, signed in", get(client, args.path)),
    ):
        statements.clear()
        print(f"  {label:<32} {_per_request_ms(call, args.repeat):6.2f} ms")

    if args.profile:
        call = get(client, args.path)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.profile):
            call()
        profiler.disable()
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
