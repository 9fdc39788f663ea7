"""Run a command against a throw-away PostgreSQL cluster.

    python -m tests.pgcluster -- python -m pytest ...

`make test-postgres` runs the suite this way. With TEST_DATABASE_URL already set
the command just runs against that database. Otherwise a cluster is built from the
installed binaries in a temporary directory, listens on a free port on 127.0.0.1
only, trusts local connections (it holds nothing but test data), and is stopped
and deleted when the command ends — also when it fails or is interrupted. The
exit code is the command's.

PostgreSQL refuses to run as root, and CI runs as root: there the cluster belongs
to the ``postgres`` system user, which is also the database superuser.

Without the binaries the run is skipped with a warning, except on CI (CI=true),
where a skipped PostgreSQL run would hide a broken pipeline, so it fails.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATABASE = "crm_test"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # Durability buys nothing for data deleted after the run; these roughly halve its time.
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
}


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's newest version."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _warn_missing() -> int:
    bar = "!" * 78
    ci = _is_ci()
    print(
        f"\n{bar}\n"
        "!! PostgreSQL binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin.\n"
        + (
            "!! CI=true: a PostgreSQL run that does not happen is a failure here.\n"
            if ci
            else "!! The PostgreSQL half of the test suite was SKIPPED. Install PostgreSQL\n"
            "!! (Debian: apt-get install postgresql) or set TEST_DATABASE_URL to run it.\n"
        )
        + f"{bar}\n",
        file=sys.stderr,
        flush=True,
    )
    return 1 if ci else 0


class Cluster:
    """One temporary cluster; ``start()`` then ``stop()`` (which also deletes it)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.as_postgres = os.geteuid() == 0
        self.superuser = "postgres" if self.as_postgres else pwd.getpwuid(os.geteuid()).pw_name
        # /tmp rather than $TMPDIR: as root the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="crm-pg-", dir="/tmp" if self.as_postgres else None))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.started = False
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # cwd: initdb and pg_ctl complain when the postgres user cannot enter the caller's directory.
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        self._run(
            "initdb",
            "-D", str(self.data),
            "-U", self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip
        for attempt in range(3):
            # Another process may take the port between our probe and the server's bind: retry.
            self.port = free_port()
            options = {**SERVER_SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.root)}
            result = self._run(
                "pg_ctl",
                "-D", str(self.data),
                "-l", str(self.log),
                "-w", "-t", "60",
                "-o", " ".join(f"-c {key}={value}" for key, value in options.items()),
                "start",
                check=False,
            )  # fmt: skip
            if result.returncode == 0:
                self.started = True
                break
            if attempt == 2:
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{log}")
            time.sleep(0.5)
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, DATABASE)

    def stop(self) -> None:
        try:
            if self.started:
                # The data goes away next, so no need for a clean shutdown.
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def run_command(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` to its end and return its exit code.

    Ctrl-C in a terminal reaches the command too (same process group): it gets time
    to finish its own cleanup before it is killed. SIGTERM sent to us is passed on.
    """
    process = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: process.send_signal(signum))
    try:
        try:
            code = process.wait()
        except KeyboardInterrupt:
            try:
                code = process.wait(timeout=15)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                process.kill()
                code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    # A command killed by a signal reports -N; the shell convention is 128+N.
    return 128 - code if code < 0 else code


def _raise_on_sigterm(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.pgcluster -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("TEST_DATABASE_URL"):
        return run_command(argv, dict(os.environ))

    bindir = find_bindir()
    if bindir is None:
        return _warn_missing()

    # Clean up on `kill` as on Ctrl-C (while the command runs, SIGTERM is passed on to it instead).
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    cluster = Cluster(bindir)
    try:
        started = time.monotonic()
        cluster.start()
        print(
            f"pgcluster: PostgreSQL from {bindir} on 127.0.0.1:{cluster.port} as {cluster.superuser}, "
            f"database {DATABASE} (ready in {time.monotonic() - started:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
        return run_command(argv, {**os.environ, "TEST_DATABASE_URL": cluster.url})
    except KeyboardInterrupt:
        return 130
    except RuntimeError as error:
        print(f"pgcluster: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
