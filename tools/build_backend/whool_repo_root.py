"""The build backend of ``pip install <checkout>``: OCA's whool, for a repository
whose root is the addon.

whool names the distribution after the addon's folder and packs every file git
tracks. Here a clone may sit in a folder of any name, and the repository root
holds the harness (``tools/``, ``.ci/``, ``Makefile``, the linters' settings)
next to the addon. So each hook computes whool's metadata through a link named
after the module (the name, and the version from the manifest plus the commits
since it changed, as OCA's wheels), copies the addon's own files into a folder
of that name with that metadata as ``PKG-INFO``, as in an sdist, and hands the
folder to whool. The wheel is ``odoo-addon-crm_opportunity_followup``, installs
into ``odoo/addons/crm_opportunity_followup`` and leaves the harness out.
"""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

from manifestoo_core.metadata import metadata_from_addon_dir
from whool import buildapi

ADDON = "crm_opportunity_followup"
# Paths of the repository that are the harness, not the addon (a trailing
# slash: a folder). pyproject.toml is replaced by whool's own in the copy.
HARNESS = (
    ".ci/",
    "tools/",
    "Makefile",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".pylintrc",
    "pyproject.toml",
    "requirements-dev.txt",
)
# Outside git (an unpacked archive), what is never part of the addon.
UNTRACKED = {".git", ".local", ".ruff_cache", ".venv", "__pycache__", "build", "dist"}


def _options(checkout):
    """whool's options: ``[tool.whool]``, the environment's override on top."""
    with open(checkout / "pyproject.toml", "rb") as file:
        pyproject = tomllib.load(file)
    options = dict(pyproject.get("tool", {}).get("whool", {}))
    strategy = os.environ.get("WHOOL_POST_VERSION_STRATEGY_OVERRIDE")
    if strategy:
        options["post_version_strategy_override"] = strategy
    return pyproject, options


def _metadata(checkout, workdir):
    """whool's metadata of the checkout as if its folder were named ADDON."""
    link = workdir / "link" / ADDON
    link.parent.mkdir()
    link.symlink_to(checkout, target_is_directory=True)
    return metadata_from_addon_dir(link, _options(checkout)[1])


def _pkg_info(metadata):
    """What whool reads from an sdist's PKG-INFO instead of the folder's name
    and git: the name and the version."""
    return (
        f"Metadata-Version: 2.1\nName: {metadata['Name']}\n"
        f"Version: {metadata['Version']}\n"
    )


def _tracked_files(checkout):
    """What git tracks, as whool ships; outside git, every file but caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=checkout,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return list(_all_files(checkout))
    return [name for name in listed.decode().split("\0") if name]


def _all_files(checkout):
    for folder, folders, names in os.walk(checkout):
        folders[:] = [name for name in folders if name not in UNTRACKED]
        for name in names:
            if not name.endswith((".pyc", ".pyo")):
                yield os.path.relpath(os.path.join(folder, name), checkout)


def _is_harness(name):
    return any(
        name.startswith(path) if path.endswith("/") else name == path
        for path in HARNESS
    )


@contextlib.contextmanager
def _staged():
    """A folder named ADDON with the addon's files and PKG-INFO; the current
    folder meanwhile, as whool's hooks build the current folder."""
    checkout = Path.cwd()
    pyproject, _ = _options(checkout)
    with tempfile.TemporaryDirectory(prefix="whool_") as tmp:
        workdir = Path(tmp)
        metadata = _metadata(checkout, workdir)
        stage = workdir / ADDON
        stage.mkdir()
        for name in _tracked_files(checkout):
            source = checkout / name
            # A tracked file deleted in the work tree is not shipped.
            if _is_harness(name) or not source.is_file():
                continue
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, stage / name)
        (stage / "PKG-INFO").write_text(_pkg_info(metadata), encoding="utf-8")
        # The sdist builds its wheel with whool alone: PKG-INFO names it.
        requires = pyproject["build-system"]["requires"]
        (stage / "pyproject.toml").write_text(
            "[build-system]\n"
            f"requires = {json.dumps(requires)}\n"
            'build-backend = "whool.buildapi"\n',
            encoding="utf-8",
        )
        os.chdir(stage)
        try:
            yield
        finally:
            os.chdir(checkout)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_directory = os.path.abspath(wheel_directory)
    with _staged():
        return buildapi.build_wheel(wheel_directory, config_settings)


def build_sdist(sdist_directory, config_settings=None):
    sdist_directory = os.path.abspath(sdist_directory)
    with _staged():
        return buildapi.build_sdist(sdist_directory, config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    metadata_directory = os.path.abspath(metadata_directory)
    with _staged():
        return buildapi.prepare_metadata_for_build_wheel(
            metadata_directory, config_settings
        )


@contextlib.contextmanager
def _named_checkout():
    """whool's editable wheel links odoo/addons/<name> to the checkout itself:
    a PKG-INFO in the checkout, meanwhile, gives it the name."""
    checkout = Path.cwd()
    pkg_info = checkout / "PKG-INFO"
    with tempfile.TemporaryDirectory(prefix="whool_") as tmp:
        metadata = _metadata(checkout, Path(tmp))
    pkg_info.write_text(_pkg_info(metadata), encoding="utf-8")
    try:
        yield
    finally:
        pkg_info.unlink()


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_directory = os.path.abspath(wheel_directory)
    with _named_checkout():
        return buildapi.build_editable(wheel_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    metadata_directory = os.path.abspath(metadata_directory)
    with _named_checkout():
        return buildapi.prepare_metadata_for_build_editable(
            metadata_directory, config_settings
        )
