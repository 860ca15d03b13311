"""The test command (``make test``): static checks, then the Odoo suite.

0. What it needs (tools/bootstrap.py): the harness's tools, and Odoo 19 set
   up in .local/ where this Python cannot import it; where Odoo cannot be set
   up, one line says why and the suite is SKIPPED with it.
1. Static checks that need no Odoo: ruff (lint and format), pylint-odoo with
   OCA's mandatory checks, every XML file parses, every file the manifest lists
   exists; and the wheel: built by whool as OCA's addons are, without the
   harness, installed into a throwaway virtualenv that sees the Odoo this
   Python imports, where Odoo must find the addon, installable, without any
   addons path. Then the harness's own test (tools/test_harness.py).
2. Where ``python3 -c "import odoo"`` works: a throwaway PostgreSQL cluster, a
   fresh database, the addon installed with its tests enabled, Odoo's result
   line parsed. Then, on that database, Odoo's own crm and mail activity
   tests, rerun with the addon installed (tools/core_tests). Any failed or
   errored test, any ERROR or CRITICAL log line, or no test at all fails the
   run. The last line reads ``N passed, N failed``, both runs counted.
   Where Odoo is missing, a line says the suite was SKIPPED and why.

Usage: python3 tools/test.py [--test-tags TAGS] [--core-tags TAGS] [--sale-tags TAGS]
                             [--static-only]
"""

import argparse
import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstrap
import pgcluster
import test_harness

REPO = pgcluster.REPO
MODULE = pgcluster.MODULE
RESULT = re.compile(
    r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests"
)
# Odoo's crm and mail activity test classes, defined again in a test-only
# module that depends on the addon (tools/core_tests/<CORE_MODULE>/tests).
CORE_TESTS = os.path.join(REPO, "tools", "core_tests")
# Tries beyond the first that Odoo gives a failed test of its own suites.
CORE_RETRIES = 1
CORE_MODULE = f"test_{MODULE}"
CORE_SOURCES = {
    "test_crm": "crm/tests",
    "test_mail_activity": "mail/tests and test_mail/tests, activities",
}
# The addon's tests that need Sales: run again with sale_crm installed.
SALE_TAG = "followup_sale"
SALE_MODULES = "sale_crm"
SKIPPED = re.compile(rf"odoo\.addons\.{MODULE}\.tests\.\w+: skipped (.+?) : (.*)")
STARTED = re.compile(rf"odoo\.addons\.{CORE_MODULE}\.tests\.(\w+): Starting (\w+\.\w+)")
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
    # Installed by bootstrap.prepare(), after this module is imported.
    from lxml import etree  # noqa: PLC0415

    bad = []
    for path in sorted(glob.glob(os.path.join(REPO, "**", "*.xml"), recursive=True)):
        name = os.path.relpath(path, REPO)
        # .local: the demo cluster; build: whool's editable install links the
        # checkout in there, a loop for a recursive glob.
        if name.startswith((".local" + os.sep, "build" + os.sep)):
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


# What the wheel must leave out: the harness of this repository.
HARNESS = ("tools/", ".ci/", "Makefile")
# Run in the virtualenv: where Odoo, started without any addons path, finds
# the addon, and whether it and its dependencies are installable.
WHERE_ODOO_FINDS_IT = f"""
import json, sysconfig
from odoo.modules import module
module.initialize_sys_path()
manifest = module.Manifest.for_addon({MODULE!r}, display_warning=False)
names = set(module.get_modules())
print(json.dumps({{
    "site_packages": sysconfig.get_paths()["purelib"],
    "path": manifest and manifest.path,
    "installable": bool(manifest and manifest["installable"]),
    "listed": {MODULE!r} in names,
    "missing_depends": sorted(set(manifest["depends"]) - names) if manifest else [],
}}))
"""


# Run in the throwaway virtualenv: a .pth file after its own site-packages,
# with the folders this Python imports from.
SEES_THIS_PYTHON = """
import os, sys, sysconfig
with open(os.path.join(sysconfig.get_paths()["purelib"], "this-python.pth"), "w") as f:
    f.write(sys.argv[1].replace(os.pathsep, "\\n") + "\\n")
"""


def odoo_sys_path():
    """This Python's import folders, but this script's own."""
    here = os.path.dirname(os.path.abspath(__file__))
    return [path for path in sys.path if path and os.path.isdir(path) and path != here]


def check_wheel():
    """``pip install`` of the checkout, as OCA's addons: one PASS/FAIL line."""
    title = "wheel: pip install puts the addon where Odoo finds it"
    with tempfile.TemporaryDirectory(prefix=f"{MODULE}_wheel_") as tmp:
        problems, summary = wheel_problems(tmp)
    print(
        f"{'FAIL' if problems else 'PASS'}  {title}"
        + (f" ({summary})" if summary else "")
    )
    for line in problems:
        print("   ", line)
    return not problems


def wheel_problems(tmp):
    """Build, inspect, install and look the wheel up; (problems, summary)."""
    dist = os.path.join(tmp, "dist")
    # requirements-dev.txt pins whool as pyproject.toml does: no download.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--quiet",
            "--wheel-dir",
            dist,
            REPO,
        ],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = glob.glob(os.path.join(dist, "*.whl"))
    if built.returncode or len(wheels) != 1:
        output = (built.stdout + built.stderr).strip().splitlines()
        hint = "(pip install -r requirements-dev.txt brings whool)"
        return [f"pip wheel failed {hint}:", *output[-15:]], None
    [wheel] = wheels
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    prefix = f"odoo/addons/{MODULE}/"
    addon = [name[len(prefix) :] for name in names if name.startswith(prefix)]
    problems = [
        f"{prefix}{name} is the harness, not the addon"
        for name in addon
        if name.startswith(HARNESS)
    ]
    problems += [
        f"{name}: outside {prefix}"
        for name in names
        if not name.startswith(prefix)
        and not name.split("/", 1)[0].endswith(".dist-info")
    ]
    if "__manifest__.py" not in addon:
        problems.append(f"no {prefix}__manifest__.py in {os.path.basename(wheel)}")
    summary = f"{os.path.basename(wheel)}, {len(addon)} files in {prefix}"
    reason = bootstrap.odoo_missing_reason()
    if reason:
        return problems, f"{summary}; Odoo's lookup SKIPPED: {reason}"
    venv = os.path.join(tmp, "venv")
    python = os.path.join(venv, "bin", "python")
    steps = [
        [sys.executable, "-m", "venv", "--without-pip", venv],
        # Odoo where this Python imports it from, a virtualenv's as well
        # (--system-site-packages would give the base interpreter's).
        [python, "-c", SEES_THIS_PYTHON, os.pathsep.join(odoo_sys_path())],
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--root-user-action=ignore",
            wheel,
        ],
        [python, "-c", WHERE_ODOO_FINDS_IT],
    ]
    for step in steps:
        result = subprocess.run(
            step, cwd=tmp, capture_output=True, text=True, check=False
        )
        if result.returncode:
            output = (result.stdout + result.stderr).strip().splitlines()
            return [*problems, f"$ {' '.join(step[:6])} ...", *output[-15:]], summary
    found = json.loads(result.stdout.strip().splitlines()[-1])
    site = os.path.realpath(found["site_packages"])
    if not found["path"]:
        problems.append(f"Odoo in the virtualenv does not find {MODULE}")
    elif not os.path.realpath(found["path"]).startswith(site + os.sep):
        problems.append(f"Odoo finds {MODULE} in {found['path']}, not in {site}")
    if found["path"] and not found["installable"]:
        problems.append("its manifest is not installable")
    if not found["listed"]:
        problems.append(f"{MODULE} is not in odoo.modules.get_modules()")
    if found["missing_depends"]:
        problems.append(
            f"dependencies not found: {', '.join(found['missing_depends'])}"
        )
    if not problems:
        summary += "; Odoo finds it installable in the virtualenv's site-packages"
    return problems, summary


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
        check_wheel(),
    ]
    # Not in the run that test starts itself.
    if not os.environ.get(test_harness.NESTED):
        results.append(
            run_check(
                "harness: without Odoo and network, make demo says why in one line"
                " and exits 1, make test runs these checks and skips the suite",
                [sys.executable, os.path.join("tools", "test_harness.py")],
            )
        )
    return sum(results), len(results) - sum(results)


def mandatory_checks():
    """The checks enabled in .pylintrc's [MESSAGES CONTROL] enable list."""
    with open(os.path.join(REPO, ".pylintrc")) as file:
        text = file.read()
    block = re.search(r"^enable\s*=(.*?)(?:^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    return [name.strip() for name in block.group(1).split(",") if name.strip()]


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


def odoo_suite(test_tags, core_tags, sale_tags):
    """Run the suite, then its Sales tests with sale_crm installed (when
    ``sale_tags``), then Odoo's own suites with the addon installed (when
    ``core_tags``); return (passed, failed, problems)."""
    print("== Odoo suite")
    print(browser_line())
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        common = [
            *cluster.odoo_options(),
            # Filestore and sessions go with the throwaway cluster.
            f"--data-dir={os.path.join(cluster.root, 'odoo-data')}",
            "--http-interface=127.0.0.1",
            "--test-enable",
            "--stop-after-init",
            "--log-level=info",
            "--max-cron-threads=0",
        ]
        passed, failed, problems, _ = run_odoo(
            "Odoo suite",
            "test",
            [f"--addons-path={addons}", f"--init={MODULE}", f"--test-tags={test_tags}"]
            + ["--database=followup_test"]
            + common,
        )
        if sale_tags:
            # Its own database: the first run's stays without Sales for the
            # core suites below.
            print(f"== Odoo suite with Sales ({SALE_MODULES} installed)")
            sale = run_odoo(
                "Odoo suite with Sales",
                "test_sale",
                [
                    f"--addons-path={addons}",
                    f"--init={MODULE},{SALE_MODULES}",
                    f"--test-tags={sale_tags}",
                    "--database=followup_test_sale",
                ]
                + common,
            )
            passed, failed = passed + sale[0], failed + sale[1]
            problems = problems or sale[2]
        if not core_tags:
            return passed, failed, problems
        # The same database, the addon installed: see tools/core_tests.
        print(f"== Odoo's own crm and mail activity suites, {MODULE} installed")
        core = run_odoo(
            "Odoo's crm and mail activity suites with the addon",
            "test_core",
            [
                f"--addons-path={addons},{CORE_TESTS}",
                f"--init={CORE_MODULE}",
                f"--test-tags={core_tags}",
                "--database=followup_test",
            ]
            + common,
            # As Odoo's runbot runs them: a failed test gets one more try.
            # Some of Odoo's own tours are timing-sensitive on a loaded
            # machine (crm_forecast failed once in CI and passed on every
            # rerun); a real regression fails both tries, and Odoo stops
            # retrying after the first test that does.
            env=dict(os.environ, ODOO_TEST_FAILURE_RETRIES=str(CORE_RETRIES)),
        )
    for source, tests in sorted(core[3].items()):
        print(f"    {len(tests)} tests of {CORE_SOURCES.get(source, source)} ran")
    return passed + core[0], failed + core[1], problems or core[2]


def run_odoo(title, log_name, args, env=None):
    """One Odoo run with tests, its log in a file; return (passed, failed,
    problems, {test module of CORE_MODULE: names of the tests it started})."""
    log_path = os.path.join(
        tempfile.gettempdir(), f"{MODULE}_{log_name}_{os.getpid()}.log"
    )
    cmd = pgcluster.odoo_command(*args, f"--http-port={pgcluster.free_port()}")
    print("$", " ".join(cmd))
    print(f"Odoo log: {log_path}", flush=True)
    started = time.monotonic()
    with open(log_path, "w") as log:
        returncode = pgcluster.run_foreground(
            cmd,
            cwd=tempfile.gettempdir(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    with open(log_path) as log:
        lines = log.read().splitlines()
    print(f"Odoo ran {time.monotonic() - started:.0f} s, exit code {returncode}")
    bad_lines = [line for line in lines if LOG_LEVEL.match(line)]
    results = [match for match in map(RESULT.search, lines) if match]
    started_tests = {}
    # A test run for several users or subtests logs one line for each.
    for match in filter(None, map(STARTED.search, lines)):
        started_tests.setdefault(match.group(1), set()).add(match.group(2))
    for line in bad_lines[:40]:
        print("   ", line[:300])
    # A skipped test is said, with its reason: never a silent pass.
    for match in filter(None, map(SKIPPED.search, lines)):
        print(f"SKIP  {match.group(1)}: {match.group(2)[:200]}")
    # Odoo's own retry (ODOO_TEST_FAILURE_RETRIES): said, never hidden.
    for line in lines:
        if "Retrying a failed test" in line:
            print(
                "    retried once by Odoo:", line.split("Retrying a failed test: ")[-1]
            )
    if not results:
        print("\n".join(lines[-30:]))
        print(
            f"FAIL  {title}: Odoo printed no test result line (did the install"
            " fail?), counted as 1 failed"
        )
        print(f"Full Odoo log: {log_path}")
        return 0, 1, True, started_tests
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
        f"{'FAIL' if problems else 'PASS'}  {title}"
        + (f": {'; '.join(problems)}" if problems else "")
    )
    if problems:
        print(f"Full Odoo log: {log_path}")
    return (
        max(total - failed - errors, 0),
        failed + errors,
        bool(problems),
        started_tests,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-tags", default="/" + MODULE)
    parser.add_argument(
        "--core-tags",
        help="the test tags of Odoo's crm and mail activity suites rerun with"
        f" the addon installed (/{CORE_MODULE}[:Class[.method]]); 'none' skips"
        f" them; by default /{CORE_MODULE} with the default --test-tags, else none",
    )
    parser.add_argument(
        "--sale-tags",
        help=f"the test tags of the run with {SALE_MODULES} installed"
        f" ({SALE_TAG}/{MODULE}[:Class[.method]]); 'none' skips it; by default"
        f" {SALE_TAG}/{MODULE} with the default --test-tags, else none",
    )
    parser.add_argument("--static-only", action="store_true")
    args = parser.parse_args()
    if args.core_tags is None:
        args.core_tags = f"/{CORE_MODULE}" if args.test_tags == "/" + MODULE else ""
    elif args.core_tags == "none":
        args.core_tags = ""
    if args.sale_tags is None:
        args.sale_tags = (
            f"{SALE_TAG}/{MODULE}" if args.test_tags == "/" + MODULE else ""
        )
    elif args.sale_tags == "none":
        args.sale_tags = ""

    try:
        missing_reason = bootstrap.prepare(harness=True, setup=not args.static_only)
    except bootstrap.Missing as exc:
        print(exc)
        return 1
    static_passed, static_failed = static_checks()
    reason = "--static-only" if args.static_only else missing_reason
    if reason:
        print(f"Odoo suite: SKIPPED ({reason})")
        print(f"static: {static_passed} passed, {static_failed} failed")
        return 1 if static_failed else 0
    passed, failed, problems = odoo_suite(
        args.test_tags, args.core_tags, args.sale_tags
    )
    print(f"static: {static_passed} passed, {static_failed} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if problems or static_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted: the throwaway cluster is stopped and removed.")
        sys.exit(130)
