"""The test command (``make test``): static checks, then the Odoo suite.

1. Static checks that need no Odoo: ruff (lint and format), pylint-odoo with
   OCA's mandatory checks, every XML file parses, every file the manifest lists
   exists.
2. Where ``python3 -c "import odoo"`` works: a throwaway PostgreSQL cluster, a
   fresh database, the addon installed with its tests enabled, Odoo's result
   line parsed. Any failed or errored test, any ERROR or CRITICAL log line, or
   no test at all fails the run. The last line reads ``N passed, N failed``.
   Where Odoo is missing, a line says the suite was SKIPPED and why.

Usage: python3 tools/test.py [--test-tags TAGS] [--static-only]
"""

import argparse
import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lxml import etree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

REPO = pgcluster.REPO
MODULE = pgcluster.MODULE
RESULT = re.compile(
    r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests"
)
LOG_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (ERROR|CRITICAL) ")


def run_check(name, cmd):
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    ok = result.returncode == 0
    print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if not ok:
        print((result.stdout + result.stderr).rstrip())
    return ok


def check_xml():
    """Every XML file parses, and is laid out the same way: spaces, no tabs,
    no trailing blanks, an XML declaration first."""
    bad = []
    for path in sorted(glob.glob(os.path.join(REPO, "**", "*.xml"), recursive=True)):
        name = os.path.relpath(path, REPO)
        if name.startswith(".local"):
            continue
        try:
            etree.parse(path)
        except etree.XMLSyntaxError as exc:
            bad.append(f"{name}: {exc}")
            continue
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
        if not lines or not lines[0].startswith("<?xml"):
            bad.append(f"{name}:1: no XML declaration")
        for number, line in enumerate(lines, 1):
            if "\t" in line or line != line.rstrip():
                bad.append(f"{name}:{number}: tab or trailing blank")
    print(
        f"{'PASS' if not bad else 'FAIL'}  every XML file parses and is laid out alike"
    )
    for line in bad:
        print("   ", line)
    return not bad


def check_manifest():
    with open(os.path.join(REPO, "__manifest__.py")) as file:
        manifest = ast.literal_eval(file.read())
    listed = manifest.get("data", []) + manifest.get("demo", [])
    missing = [path for path in listed if not os.path.isfile(os.path.join(REPO, path))]
    print(f"{'PASS' if not missing else 'FAIL'}  every file the manifest lists exists")
    for path in missing:
        print("    missing:", path)
    return not missing


def static_checks():
    print("== Static checks")
    python_files = ["."]
    results = [
        run_check("ruff check", [sys.executable, "-m", "ruff", "check", *python_files]),
        run_check(
            "ruff format --check",
            [sys.executable, "-m", "ruff", "format", "--check", *python_files],
        ),
        run_check(
            "pylint-odoo (OCA mandatory checks)",
            [
                sys.executable,
                "-m",
                "pylint",
                "--rcfile=.pylintrc",
                "--disable=all",
                "--enable=" + ",".join(mandatory_checks()),
                "--load-plugins=pylint_odoo",
                "--score=n",
                "--output-format=text",
                ".",
            ],
        ),
        check_xml(),
        check_manifest(),
    ]
    return sum(results), len(results) - sum(results)


def mandatory_checks():
    """The checks enabled in .pylintrc's [MESSAGES CONTROL] enable list."""
    with open(os.path.join(REPO, ".pylintrc")) as file:
        text = file.read()
    block = re.search(r"^enable\s*=(.*?)(?:^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    return [name.strip() for name in block.group(1).split(",") if name.strip()]


def odoo_missing_reason():
    result = subprocess.run(
        [sys.executable, "-c", "import odoo.release; print(odoo.release.version)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        error = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"{sys.executable} cannot import odoo: {error}"
    if not result.stdout.startswith("19.0"):
        return f"found Odoo {result.stdout.strip()}, this addon needs 19.0"
    return None


def browser_line():
    chrome = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if chrome:
        return f"Browser tours: run with {chrome}"
    return (
        "Browser tours: Chromium is missing (apt-get install chromium); Odoo skips "
        "the tours"
    )


def odoo_suite(test_tags):
    """Run the suite; return (passed, failed, problems)."""
    print("== Odoo suite")
    print(browser_line())
    log_path = os.path.join(tempfile.gettempdir(), f"{MODULE}_test_{os.getpid()}.log")
    started = time.monotonic()
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        cmd = pgcluster.odoo_command(
            f"--addons-path={addons}",
            *cluster.odoo_options(),
            "--database=followup_test",
            # Filestore and sessions go with the throwaway cluster.
            f"--data-dir={os.path.join(cluster.root, 'odoo-data')}",
            f"--http-port={pgcluster.free_port()}",
            "--http-interface=127.0.0.1",
            "--init=" + MODULE,
            "--test-enable",
            f"--test-tags={test_tags}",
            "--stop-after-init",
            "--log-level=info",
            "--max-cron-threads=0",
        )
        print("$", " ".join(cmd))
        print(f"Odoo log: {log_path}", flush=True)
        with open(log_path, "w") as log:
            returncode = pgcluster.run_foreground(
                cmd, cwd=tempfile.gettempdir(), stdout=log, stderr=subprocess.STDOUT
            )
    with open(log_path) as log:
        lines = log.read().splitlines()
    print(f"Odoo ran {time.monotonic() - started:.0f} s, exit code {returncode}")
    bad_lines = [line for line in lines if LOG_LEVEL.match(line)]
    results = [match for match in map(RESULT.search, lines) if match]
    for line in bad_lines[:40]:
        print("   ", line[:300])
    if not results:
        print("\n".join(lines[-30:]))
        print(
            "FAIL  Odoo suite: Odoo printed no test result line (did the install"
            " fail?), counted as 1 failed"
        )
        print(f"Full Odoo log: {log_path}")
        return 0, 1, True
    failed, errors, total = (int(value) for value in results[-1].groups())
    problems = []
    if bad_lines:
        problems.append(f"{len(bad_lines)} ERROR/CRITICAL log lines")
    if not total:
        problems.append("no test ran")
    if returncode:
        problems.append(f"Odoo exited with {returncode}")
    if failed or errors:
        problems.append(f"{failed} failed, {errors} errored")
    print(results[-1].group(0))
    print(
        f"{'FAIL' if problems else 'PASS'}  Odoo suite"
        + (f": {'; '.join(problems)}" if problems else "")
    )
    if problems:
        print(f"Full Odoo log: {log_path}")
    return max(total - failed - errors, 0), failed + errors, bool(problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-tags", default="/" + MODULE)
    parser.add_argument("--static-only", action="store_true")
    args = parser.parse_args()

    static_passed, static_failed = static_checks()
    reason = "--static-only" if args.static_only else odoo_missing_reason()
    if reason:
        print(f"Odoo suite: SKIPPED ({reason})")
        print(f"static: {static_passed} passed, {static_failed} failed")
        return 1 if static_failed else 0
    passed, failed, problems = odoo_suite(args.test_tags)
    print(f"static: {static_passed} passed, {static_failed} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if problems or static_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted: the throwaway cluster is stopped and removed.")
        sys.exit(130)
