"""The harness's own test, one of ``make test``'s static checks: on a machine
that cannot import Odoo and has no network, ``make demo`` says what is
missing in one line and exits 1, ``make test`` runs the static checks and
reports the Odoo suite SKIPPED with that line, exit 0; neither a traceback.

The machine is made, not mocked: a copy of this checkout (its files as they
are now, .local/ left out), run by a virtualenv that sees this Python's
packages (the harness's tools) but none of the folders Odoo is imported
from; no ODOO_REPO, and every proxy variable at a closed port of 127.0.0.1,
which git and pip honour. Exit 0 when all holds, else 1 and what did not.

Usage: python3 tools/test_harness.py
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Set in the environment of the ``make test`` run here: it does not run this
# test again.
NESTED = "CRM_FOLLOWUP_HARNESS_TEST"


def copy_checkout(target):
    """The checkout's files (tracked, and new ones not ignored), in a fresh
    git repository: whool versions the wheel from git."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = os.path.join(REPO, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    git = ["git", "-c", "user.name=harness", "-c", "user.email=harness@example.com"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *cmd], cwd=target, check=True, capture_output=True)


def python_without_odoo(venv):
    """A virtualenv's Python that sees this Python's import folders but those
    Odoo is imported from; None (and why) where Odoo shares a folder with
    the harness's tools."""
    # Odoo 19's ``odoo`` is a namespace package: no __init__.py to look for.
    odoo_dirs = [
        path
        for path in sys.path
        if path and os.path.isfile(os.path.join(path, "odoo", "release.py"))
    ]
    paths = [
        path
        for path in sys.path
        if path and os.path.isdir(path) and path != HERE and path not in odoo_dirs
    ]
    shared = [path for path in odoo_dirs if os.path.isdir(os.path.join(path, "ruff"))]
    if shared:
        return None, f"Odoo is installed beside the harness's tools in {shared[0]}"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", venv],
        check=True,
        capture_output=True,
    )
    python = os.path.join(venv, "bin", "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open(os.path.join(purelib, "this-python.pth"), "w") as file:
        file.write("\n".join(paths) + "\n")
    return python, None


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env():
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("ODOO_REPO", "ODOO_BRANCH", "NO_PROXY", "no_proxy")
        and not name.startswith(("PIP_", "CRM_FOLLOWUP_"))
    }
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = proxy
    # pip tries once, without waiting between tries.
    env.update(PIP_RETRIES="0", PIP_TIMEOUT="5")
    env[NESTED] = "1"
    return env


def run(cmd, cwd, env):
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    return result.returncode, result.stdout, result.stderr


def check_demo(checkout, python, env):
    code, out, err = run(["make", "demo", f"PYTHON={python}"], checkout, env)
    # make's own line about the failed recipe aside.
    said = [line for line in err.splitlines() if not line.startswith("make")]
    problems = []
    if code == 0:
        problems.append("make demo exited 0")
    if "Traceback" in out + err:
        problems.append("make demo printed a traceback")
    if len(said) != 1 or "ODOO_REPO" not in said[0]:
        problems.append(
            "make demo did not say in one line that ODOO_REPO fixes it, it said:"
            f" {said!r}"
        )
    return problems, out + err


def check_test(checkout, python, env):
    code, out, err = run(
        ["make", "test", f"PYTHON={python}", "CORE_TAGS=none"], checkout, env
    )
    lines = out.splitlines()
    skipped = [line for line in lines if line.startswith("Odoo suite: SKIPPED (")]
    problems = []
    if code:
        problems.append(f"make test exited {code}")
    if "Traceback" in out + err:
        problems.append("make test printed a traceback")
    for check in ("ruff check", "pylint-odoo", "every XML file parses", "wheel:"):
        if not any(line.startswith(f"PASS  {check}") for line in lines):
            problems.append(f"make test did not pass the static check {check!r}")
    if len(skipped) != 1 or "ODOO_REPO" not in skipped[0]:
        problems.append(f"make test said no SKIPPED for want of ODOO_REPO: {skipped}")
    if not any(line.startswith("static: ") for line in lines):
        problems.append("make test printed no 'static: N passed, N failed' line")
    return problems, out + err


def main():
    with tempfile.TemporaryDirectory(prefix="followup_harness_") as tmp:
        python, why = python_without_odoo(os.path.join(tmp, "venv"))
        if not python:
            print(f"SKIPPED: {why}: no Python here can leave it out")
            return 0
        checkout = os.path.join(tmp, "checkout")
        copy_checkout(checkout)
        env = offline_env()
        failed = False
        for check in (check_demo, check_test):
            problems, output = check(checkout, python, env)
            if problems:
                failed = True
                print("\n".join(problems))
                print("--- its output:")
                print(output.rstrip()[-4000:])
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
