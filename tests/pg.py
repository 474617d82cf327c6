"""A real PostgreSQL server for the tests: initdb in a temporary folder, a free local port.

`postgres_server` (session) starts one server listening on 127.0.0.1 only, with its unix
socket inside the folder, password authentication and a password (so redaction is tested
against a real URL); `postgres_url` (per test) creates a fresh database on it and yields its
URL, `postgresql+psycopg://dlx:<password>@127.0.0.1:<port>/<db>`.

PostgreSQL refuses to run as root: as root (CI) the server runs as the `postgres` user
(else `nobody`) through `runuser`, in a folder it owns. The tests are skipped, with the
reason, only when the server binaries or the psycopg driver are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PASSWORD = "s3cret-pw"
USER = "dlx"


def find_bin(name: str) -> str | None:
    """A PostgreSQL program on PATH, or in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One PostgreSQL server in `folder`; `stop()`/`start()` simulate losing it mid-sweep."""

    def __init__(self, folder: Path, port: int, owner: str | None):
        self.folder, self.port, self.owner = folder, port, owner
        self.data, self.log = folder / "data", folder / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.owner is not None:  # root: drop to the unprivileged owner of the folder
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)

    def init(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.owner is not None:
            pw = pwd.getpwnam(self.owner)
            for path in (self.folder, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self._run(find_bin("initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")
        pwfile.unlink()

    def start(self) -> None:
        # durability is not under test here; fsync off keeps each test's database cheap
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, database: str = "postgres", driver: str = "+psycopg") -> str:
        return f"postgresql{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name


def missing() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    for name in ("initdb", "pg_ctl", "postgres"):
        if find_bin(name) is None:
            return f"PostgreSQL server binaries not found ({name}); install postgresql to run these tests"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is missing: pip install -e '.[dev]'"
    return None


def server_owner() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def start_server() -> Server:
    # its own short folder under /tmp: pytest's basetemp is root-only, and a unix socket path
    # must stay under ~100 characters
    server = Server(Path(tempfile.mkdtemp(prefix="dlx-pg-")), free_port(), server_owner())
    try:
        server.init()
        server.start()
    except subprocess.CalledProcessError as e:
        log = server.log.read_text() if server.log.exists() else ""
        shutil.rmtree(server.folder, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {e.stderr or e.stdout}\n{log}") from None
    return server


@pytest.fixture(scope="session")
def postgres_server():
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.url(postgres_server.create_database())


@pytest.fixture
def own_postgres():
    """A server of this test's own, which the test may stop and start again."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
