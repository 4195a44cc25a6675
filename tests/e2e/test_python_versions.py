"""Only one Python is installed here: check statically that the code runs on 3.10 (and that the
.pyz's first stage still parses on old Pythons, so they get a message instead of a SyntaxError)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# the tests' own environment first: the README's .venv/bin is not on PATH
VERMIN = shutil.which("vermin", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

pytestmark = pytest.mark.skipif(VERMIN is None, reason="vermin is not installed (pip install vermin)")


def vermin(*args):
    return subprocess.run([VERMIN, "--no-tips", "--violations", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_code_needs_nothing_newer_than_python_3_10():
    result = vermin("--target=3.10-", "--eval-annotations", "domain", "adapters", "application", "build_zipapp.py", "packaging/zipapp_boot.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pyz_first_stage_parses_on_old_pythons():
    result = vermin("-t=2.7-", "-t=3.0-", "packaging/zipapp_main.py")
    assert result.returncode == 0, result.stdout + result.stderr
