"""What the README and docs/ tell people to run matches what CI runs and what ships."""
import re
import shlex
import subprocess

from tests.e2e.conftest import REPO
from tests.e2e.test_systemd_unit import directives

TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/python -m pip install --require-hashes -r requirements.lock"
    " && .venv/bin/python -m pip install pytest hypothesis vermin prometheus-client && .venv/bin/python -m pytest -q"
)


def readme():
    return (REPO / "README.md").read_text(encoding="utf-8")


def doc(name):
    return (REPO / "docs" / name).read_text(encoding="utf-8")


def section(title, text=None):
    text = readme() if text is None else text
    start = text.index("\n## %s\n" % title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def shell_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_the_test_command_uses_a_virtual_environment():
    blocks = shell_blocks(section("Development and tests"))
    assert [block.strip() for block in blocks] == [TEST_COMMAND]
    assert TEST_COMMAND in [block.strip() for block in shell_blocks(doc("development.md"))]
    assert not re.search(r"(^|&& )python3 -m pip install", readme(), re.M), "pip install into the system Python"


def test_ci_runs_the_readme_command_verbatim():
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in lines


def test_ci_installs_what_the_tests_need_and_is_valid_bash():
    assert "bash .ci/install-packages" in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "bash .ci/install-packages" in readme()  # what CI does, the README shows
    text = (REPO / ".ci" / "install-packages").read_text(encoding="utf-8")
    packages = re.search(r"^PACKAGES=\((.*)\)$", text, re.M)
    assert packages, text
    for name in ("python3-venv", "qbittorrent-nox", "transmission-daemon", "deluged", "deluge-web", "nzbget"):
        assert name in packages.group(1).split()
    assert '"${PACKAGES[@]}"' in text and "systemd-analyze" in text
    for script in ("run", "install-packages"):
        assert subprocess.run(["bash", "-n", str(REPO / ".ci" / script)], timeout=30).returncode == 0


def test_the_venv_is_ignored():
    assert ".venv/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_try_it_installs_nothing_and_says_what_the_build_needs():
    text = section("Try it in ten seconds")
    assert [block.strip() for block in shell_blocks(text)] == [
        "python3 build_zipapp.py && python3 dist/plex-helper.pyz --demo"
    ]
    first = text.split("\n\n")[1]
    assert "nothing but `python3`" in first and "pip" in first  # the .pyz first, then the build's needs


def test_the_systemd_install_passes_the_root_only_config_as_a_credential():
    (block,) = shell_blocks(section("systemd in five steps"))
    assert len(block.strip().splitlines()) == 5
    assert "sudo install -m 600 config.json /etc/plex-helper/config.json" in block
    settings = dict(directives())
    assert settings["LoadCredential"] == "config.json:/etc/plex-helper/config.json"
    assert "--config %d/config.json" in settings["ExecStart"]


def test_the_container_recipe_publishes_the_port_keeps_state_and_checks_health_with_the_pyz():
    block = shell_blocks(section("Without an image of your own", "\n" + doc("containers.md")))[0]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:2] == ["docker", "run"]
    assert "-p" in words and words[words.index("-p") + 1] == "9911:9911"
    volumes = [words[i + 1] for i, word in enumerate(words) if word == "-v"]
    assert "/srv/plex-helper/state:/state" in volumes
    assert "STATE_DIRECTORY=/state" in [words[i + 1] for i, word in enumerate(words) if word == "-e"]
    health = words[words.index("--health-cmd") + 1]
    assert health == "python3 /app/plex-helper.pyz --config /config/config.json --health"
    assert "curl" not in block
