"""A private PostgreSQL cluster on 127.0.0.1 for the demo, the tests and the
scripts, and the Odoo command line that goes with it.

PostgreSQL refuses to run as root: when this runs as root, the cluster is
created and started as the unprivileged ``postgres`` OS user. Odoo itself
connects over TCP as the cluster's superuser ``odoo`` (trust authentication,
loopback only).
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "crm_opportunity_followup"
DB_USER = "odoo"
FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name):
    """A PostgreSQL server binary: on PATH, else where pg_config or Debian put it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(os.path.join(bindir, name))
    candidates.append(os.path.join("/usr/lib/postgresql/15/bin", name))
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    sys.exit(f"PostgreSQL server binary {name!r} not found: install postgresql-15")


def _as_server_user(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _chown_to_server_user(path):
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


def raise_on_signals():
    """Turn SIGTERM (and SIGHUP) into SystemExit, so that ``finally`` blocks
    (stopping the cluster) run on every exit, Ctrl-C included."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


class Cluster:
    """A cluster in ``root``: ``data/``, ``socket/`` and the ``port`` it uses."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.data = os.path.join(self.root, "data")
        self.socket_dir = os.path.join(self.root, "socket")
        port_file = os.path.join(self.root, "port")
        if os.path.exists(port_file):
            with open(port_file) as file:
                self.port = int(file.read())
        else:
            self.port = free_port()

    @property
    def exists(self):
        return os.path.exists(os.path.join(self.data, "PG_VERSION"))

    def init(self):
        os.makedirs(self.socket_dir, exist_ok=True)
        for path in (self.root, self.socket_dir):
            _chown_to_server_user(path)
        subprocess.run(
            _as_server_user(
                [
                    pg_bin("initdb"),
                    "-D",
                    self.data,
                    "-U",
                    DB_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(os.path.join(self.root, "port"), "w") as file:
            file.write(str(self.port))

    def start(self):
        if self.running():
            return
        if not self.port_is_free():
            self.port = free_port()
            with open(os.path.join(self.root, "port"), "w") as file:
                file.write(str(self.port))
        options = " ".join(
            [
                "-p",
                str(self.port),
                "-k",
                self.socket_dir,
                "-c",
                "listen_addresses=127.0.0.1",
                *FAST,
            ]
        )
        subprocess.run(
            _as_server_user(
                [
                    pg_bin("pg_ctl"),
                    "-D",
                    self.data,
                    "-o",
                    options,
                    "-l",
                    os.path.join(self.root, "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def running(self):
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def port_is_free(self):
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) != 0

    def stop(self):
        if self.running():
            subprocess.run(
                _as_server_user(
                    [pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"]
                ),
                check=False,
                stdout=subprocess.DEVNULL,
            )

    def odoo_options(self):
        return [
            "--db_host=127.0.0.1",
            f"--db_port={self.port}",
            f"--db_user={DB_USER}",
        ]

    def database_exists(self, name):
        import psycopg2  # noqa: PLC0415 - only where a database is used

        with (
            contextlib.closing(
                psycopg2.connect(
                    host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres"
                )
            ) as conn,
            conn.cursor() as cr,
        ):
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return bool(cr.fetchone())


@contextlib.contextmanager
def throwaway_cluster():
    """A cluster in a temporary folder, stopped and removed on every exit."""
    raise_on_signals()
    root = tempfile.mkdtemp(prefix="followup_pg_")
    cluster = Cluster(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def addons_path():
    """A temporary addons folder where this repository is the addon."""
    root = tempfile.mkdtemp(prefix="followup_addons_")
    try:
        os.symlink(REPO, os.path.join(root, MODULE))
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def odoo_command(*args):
    return [sys.executable, "-m", "odoo", *args]
