"""What the page benchmarks share: gunicorn on a free port, signing in, a bounded load loop, counting queries.

Used by bench/leads.py and bench/orders.py. Traffic goes to 127.0.0.1 only; every
load loop is bounded in time and stops by itself.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]

PASSWORD = "Bench-Password-9"
SECRET_KEY = "bench-secret-key-not-for-production"  # a throw-away database
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn -w 2 <module>`` on a free port of 127.0.0.1, stopped on exit."""

    def __init__(self, module: str, env: dict):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                module,
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            start_new_session=True,
        )

    def __enter__(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start within 30 s")

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def sign_in(port: int, username: str, password: str = PASSWORD) -> str:
    """The session cookie of ``username``, signed in through the real login form."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/auth/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = _CSRF.search(page).group(1)
    body = urlencode({"username": username, "password": password, "csrf_token": token})
    conn.request(
        "POST",
        "/auth/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 302, f"sign-in of {username} answered {response.status}"
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    # Follow the redirect the way a browser does, keeping any cookie the first page sets
    # (the CSRF token of the page's forms), so the load loop replays what a browser sends.
    conn.request("GET", response.getheader("Location") or "/", headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    renewed = response.getheader("Set-Cookie")
    conn.close()
    return renewed.split(";", 1)[0] if renewed else cookie


def load(port: int, path: str, cookie: str | None, seconds: float, threads: int) -> dict:
    """Drive ``path`` from ``threads`` keep-alive connections for ``seconds``; latency and throughput."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    headers = {"Cookie": cookie} if cookie else {}
    start_gate = threading.Barrier(threads + 1)

    def worker(deadline_box):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        start_gate.wait()
        deadline = deadline_box[0]
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    with lock:
                        errors.append(str(response.status))
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors.append(type(error).__name__)
                conn.close()
                continue
            mine.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(mine)

    # A short warm-up, so that both workers have imported, connected and compiled their templates.
    for _ in range(10):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
        conn.close()
    deadline_box = [0.0]
    pool = [threading.Thread(target=worker, args=(deadline_box,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    began = time.perf_counter()
    deadline_box[0] = began + seconds
    start_gate.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests to {path}, e.g. {errors[:5]}")
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000,
    }


def print_figures(label: str, figures: dict, width: int = 42) -> None:
    print(
        f"  {label:<{width}} p50={figures['p50_ms']:7.1f} ms  p95={figures['p95_ms']:7.1f} ms  "
        f"{figures['rps']:7.1f} req/s  ({figures['requests']:,} requests)",
        flush=True,
    )


def signed_in_client(app, username: str, password: str = PASSWORD):
    """A test client of ``app`` signed in as ``username`` through the login form."""
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = _CSRF.search(page).group(1)
    response = client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"sign-in of {username} answered {response.status_code}"
    return client


def count_statements(engine, fetch: Callable[[], object]) -> tuple[int, object]:
    """The SQL statements ``fetch()`` sends on ``engine`` (counted on the cursor), and what it returned."""
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        value = fetch()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements), value


def postgres_url() -> str | None:
    """The PostgreSQL database a benchmark was given (BENCH_PG_URL or TEST_DATABASE_URL), for psycopg 3."""
    url = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


def rerun_in_cluster(script: str, args: list[str]) -> int:
    """Run ``script args --only postgresql`` inside a throw-away PostgreSQL cluster (tests/pgcluster.py)."""
    command = [sys.executable, "-m", "tests.pgcluster", "--", sys.executable, script, *args, "--only", "postgresql"]
    return subprocess.call(command, cwd=ROOT)
