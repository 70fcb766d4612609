"""A throwaway PostgreSQL server from Debian's packages, for tests and benchmarks.

:class:`PgServer` runs ``initdb`` in a fresh temporary folder, starts ``postgres`` on a
free loopback port (and a Unix socket in that folder only), and on :meth:`PgServer.stop`
shuts it down and deletes the folder. PostgreSQL refuses to run as root: as root, the
folder is given to the ``postgres`` system user and the server runs as that user
(``runuser``); otherwise it runs as the current user.

The binaries come from ``$SYNTHMARK_PG_BINDIR``, else the newest
``/usr/lib/postgresql/*/bin``, else ``initdb`` on the PATH. Missing binaries are an error
(:class:`PgUnavailable`), never a skip: ``scripts/system-deps.sh`` installs them.

Fixtures (enabled for the whole suite by ``tests/conftest.py``):

* ``pg_server``: one server for the test session, started on first use;
* ``pg_url``: a fresh, empty database on it for one test, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINDIR_ENV = "SYNTHMARK_PG_BINDIR"
SUPERUSER = "synthmark"
_SYSTEM_USER = "postgres"


class PgUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the server would not start."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    chosen = os.environ.get(BINDIR_ENV)
    if chosen:
        candidates = [Path(chosen)]
    else:
        def version(path: Path) -> tuple[int, ...]:
            name = path.parent.name
            return tuple(int(p) for p in name.split(".") if p.isdigit())

        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
        on_path = shutil.which("initdb")
        candidates = [*found, *([Path(on_path).parent] if on_path else [])]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    where = chosen or "/usr/lib/postgresql/*/bin or the PATH"
    raise PgUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {where}; "
        "install them with scripts/system-deps.sh (Debian package 'postgresql') or set "
        f"{BINDIR_ENV}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One PostgreSQL server in a temporary folder; a context manager.

    ``durable=False`` (tests) turns off fsync and synchronous commit: fast, and a crash
    loses the data, which is thrown away anyway. Benchmarks keep the defaults.
    """

    def __init__(self, *, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        self.durable = durable
        self.settings = dict(settings or {})
        self.bindir = find_bindir()
        self.port = 0
        self.folder: Path | None = None
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    # --- life cycle ---------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", _SYSTEM_USER, "--", *command]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if check and done.returncode != 0:
            raise PgUnavailable(
                f"{' '.join(command)} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def start(self) -> PgServer:
        folder = Path(tempfile.mkdtemp(prefix="synthmark-pg-"))
        self.folder = folder
        try:
            if self._as_postgres:
                try:
                    shutil.chown(folder, user=_SYSTEM_USER, group=_SYSTEM_USER)
                except LookupError:
                    raise PgUnavailable(
                        "running as root, but there is no 'postgres' system user to run "
                        "PostgreSQL as (the Debian package 'postgresql' creates it)"
                    ) from None
            data = folder / "data"
            self._run(
                "initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )
            options = {
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(folder),
                "max_connections": "60",
                **({} if self.durable else {"fsync": "off", "synchronous_commit": "off",
                                            "full_page_writes": "off"}),
                **self.settings,
            }
            flags = " ".join(f"-c {k}={v}" for k, v in options.items())
            for attempt in range(5):  # a free port can be taken between probe and bind
                self.port = _free_port()
                started = self._run(
                    "pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w",
                    "-t", "60", "-o", f"-p {self.port} {flags}", "start", check=False,
                )
                if started.returncode == 0:
                    return self
                if attempt == 4:
                    log = folder / "server.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise PgUnavailable(f"PostgreSQL would not start: {started.stderr}\n{tail}")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (if running) and delete its folder."""
        folder, self.folder = self.folder, None
        if folder is None:
            return
        data = folder / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- databases ----------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "synthmark_test") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, closing any connection still open to it."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the session; fails (never skips) without the binaries."""
    problem = None
    try:
        server = PgServer().start()
    except PgUnavailable as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)
