"""Fixtures for the end-to-end tests of the single-file .pyz (tests/e2e/test_zipapp.py).

The .pyz is built once per test session with build_zipapp.py (the first build downloads the
pinned wheels into build/wheels/, later builds reuse them) and copied for each test into a fresh
directory, then run with HOME and the extraction cache pointing at empty temporary directories.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "build_zipapp.py"
PYZ_NAME = "plex-helper.pyz"
# The interpreter a user runs the .pyz with: the base one, not the tests' virtual environment
# (which, e.g., disables the user site-packages that test_system_packages_are_not_imported needs).
PYTHON = getattr(sys, "_base_executable", sys.executable)
# Variables of the calling environment that must not leak into a run of the .pyz.
SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONSAFEPATH",
                "XDG_CACHE_HOME", "CACHE_DIRECTORY")


def build_pyz(dist: Path) -> Path:
    """Run build_zipapp.py --dist DIST; returns the .pyz path."""
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--dist", str(dist)],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail("build_zipapp.py failed:\n%s%s" % (result.stdout, result.stderr))
    return dist / PYZ_NAME


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .pyz, built once per session into a temporary dist directory."""
    return build_pyz(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def build_id(built_pyz: Path) -> str:
    with zipfile.ZipFile(built_pyz) as archive:
        return archive.read("BUILD_ID").decode("ascii").strip()


@pytest.fixture(scope="session")
def stage1() -> ModuleType:
    """packaging/zipapp_main.py (the archive's __main__.py), imported as a plain module."""
    return load_module("plex_helper_zipapp_main", REPO / "packaging" / "zipapp_main.py")


@pytest.fixture(scope="session")
def stage2() -> ModuleType:
    """packaging/zipapp_boot.py (the archive's lib/plex_helper_boot.py)."""
    return load_module("plex_helper_zipapp_boot", REPO / "packaging" / "zipapp_boot.py")


@pytest.fixture(scope="session")
def builder() -> ModuleType:
    return load_module("plex_helper_build_zipapp", BUILD_SCRIPT)


@pytest.fixture(scope="session")
def this_platform(stage1: ModuleType) -> str:
    return stage1.detect_platform()


@pytest.fixture
def pyz(built_pyz: Path, tmp_path: Path) -> Path:
    """A copy of the .pyz in a directory of its own, as a user would have it."""
    target = tmp_path / "app" / PYZ_NAME
    target.parent.mkdir()
    shutil.copy2(built_pyz, target)
    return target


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty directory for PLEX_HELPER_CACHE_DIR (not created: the .pyz creates it)."""
    return tmp_path / "cache"


@pytest.fixture
def clean_env(tmp_path: Path, cache_dir: Path) -> dict[str, str]:
    """The environment for a run: empty HOME, empty cache, no PYTHONPATH or test overrides."""
    env = {key: value for key, value in os.environ.items()
           if key not in SCRUBBED_ENV and not key.startswith("PLEX_HELPER_")}
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)
    env["PLEX_HELPER_CACHE_DIR"] = str(cache_dir)
    return env


RunPyz = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_pyz(pyz: Path, clean_env: dict[str, str]) -> RunPyz:
    """run_pyz(*args, env_extra={...}, env=None) -> CompletedProcess (text, captured)."""

    def run(*args: str, env_extra: dict[str, str] | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        environment = dict(clean_env if env is None else env)
        environment.update(env_extra or {})
        return subprocess.run([PYTHON, str(pyz), *args], env=environment, capture_output=True,
                              text=True, timeout=timeout, cwd=str(pyz.parent))

    return run
