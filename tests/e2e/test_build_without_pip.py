"""build_zipapp.py needs pip to fetch the pinned wheels: without it, one clear line and a failure."""
import subprocess
import sys

import pytest

from tests.e2e.conftest import BUILD_SCRIPT, REPO


@pytest.fixture(scope="module")
def python_without_pip(tmp_path_factory):
    """A virtual environment made --without-pip: `import pip` fails there, as on a bare Debian."""
    venv = tmp_path_factory.mktemp("nopip") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    assert subprocess.run([str(python), "-c", "import pip"], capture_output=True, timeout=60).returncode != 0
    return python


def test_the_build_says_in_one_line_that_it_needs_pip(python_without_pip, tmp_path):
    # an empty wheel cache: the build has to download
    result = subprocess.run(
        [str(python_without_pip), str(BUILD_SCRIPT), "--dist", str(tmp_path / "dist"), "--wheel-cache", str(tmp_path / "wheels")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("build_zipapp: pip is needed to download the pinned wheels"), lines
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dist").exists()


def test_update_lock_says_so_too(python_without_pip, tmp_path):
    lock = (REPO / "requirements.lock").read_bytes()
    result = subprocess.run(
        [str(python_without_pip), str(BUILD_SCRIPT), "--update-lock", "--wheel-cache", str(tmp_path / "wheels")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "pip is needed" in result.stderr
    assert (REPO / "requirements.lock").read_bytes() == lock


def test_with_the_wheels_cached_the_build_needs_no_pip(built_pyz, python_without_pip, tmp_path):
    """built_pyz filled build/wheels/: from there, the build downloads (and needs) nothing."""
    result = subprocess.run(
        [str(python_without_pip), str(BUILD_SCRIPT), "--dist", str(tmp_path / "dist")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dist" / "plex-helper.pyz").is_file()
