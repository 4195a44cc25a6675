"""The user documents: every config field described, the README short and linking to the reference,
no issue numbers or commit hashes, and the container files naming only real fields and variables."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from application.config.lists import ENTRY_SECRETS, DownloadClientSchema, MediaServerSchema
from application.config.schema import ConfigSchema
from application.config.sources import LEGACY_SECRET_ENV, variables_for

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
USER_DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# What the image and the bootstrap read besides the config's own variables.
OTHER_VARIABLES = {"STATE_DIRECTORY", "PLEX_HELPER_CACHE_DIR", "TZ", "PYTHONDONTWRITEBYTECODE"}
# The linuxserver.io images' own settings, in compose.yaml beside plex-helper.
LINUXSERVER_VARIABLES = {"PUID", "PGID", "TZ", "VERSION", "WEBUI_PORT"}


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def configuration() -> str:
    return text(DOCS / "configuration.md")


def test_every_top_level_field_is_described_in_docs_configuration():
    missing = [name for name in ConfigSchema().fields if "`%s`" % name not in configuration()]
    assert not missing, "not in docs/configuration.md: %s" % missing


@pytest.mark.parametrize("schema", [MediaServerSchema, DownloadClientSchema])
def test_every_entry_field_is_described_in_docs_configuration(schema):
    # an entry's secret file fields are described together: token_file, api_key_file, password_file
    names = set(schema().fields) | {secret + "_file" for secret in ENTRY_SECRETS}
    missing = sorted(name for name in names if "`%s`" % name not in configuration())
    assert not missing, "not in docs/configuration.md: %s" % missing


def test_the_readme_is_the_first_hour_and_links_to_the_reference():
    readme = text(ROOT / "README.md")
    assert len(readme.splitlines()) < 250
    headings = re.findall(r"^## (.+)$", readme, re.M)
    for wanted in ("Quick start", "Finding your Plex token", "Choosing the budget", "The dashboard",
                   "systemd in five steps", "Seeding still slow?", "Reference"):
        assert wanted in headings, wanted
    assert "packaging/dashboard.png" in readme
    for doc in DOCS.glob("*.md"):
        assert "(docs/%s)" % doc.name in readme, doc.name


@pytest.mark.parametrize("path", USER_DOCUMENTS, ids=lambda p: p.name)
def test_links_between_the_documents_lead_somewhere(path):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text(path)):
        assert (path.parent / target).exists(), "%s links to %s" % (path.name, target)


@pytest.mark.parametrize("path", USER_DOCUMENTS, ids=lambda p: p.name)
def test_no_issue_numbers_or_commit_hashes(path):
    content = text(path)
    assert not re.search(r"\bissue\b|(?<![\w&])#\d+\b", content, re.I), path.name
    # a commit hash: 7 to 40 hex digits with at least one letter and one digit, outside sha256 examples
    hashes = [word for word in re.findall(r"(?<!\d-)\b[0-9a-f]{7,40}\b", content)
              if re.search(r"[a-f]", word) and re.search(r"\d", word)]
    assert not hashes, (path.name, hashes)


def test_the_example_config_is_the_smallest_useful_one():
    example = json.loads(text(ROOT / "config.example.json"))
    assert set(example) == {"plex_url", "plex_token", "qbittorrent_url", "qbittorrent_username", "qbittorrent_password"}


# --- the container files ------------------------------------------------------------------------

def config_variables() -> set[str]:
    names = {legacy for legacy, _ in LEGACY_SECRET_ENV}
    for field in ConfigSchema().fields:
        for variable in variables_for(field):
            names |= {variable, variable + "_FILE"}
    return names


def known(variable: str) -> bool:
    return variable in config_variables() or variable in OTHER_VARIABLES


def compose_services() -> dict:
    """compose.yaml's services: with PyYAML where it is installed, else a small reader of this file's
    own shape (two-space indents, `key: value` mappings, `- item` lists)."""
    source = text(ROOT / "compose.yaml")
    assert "\t" not in source
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        return yaml.safe_load(source)["services"]
    services: dict = {}
    service = section = None
    for line in source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        if indent == 0:
            service = section = None
            in_services = key == "services"
        elif indent == 2 and in_services:
            service, section = services.setdefault(key, {}), None
        elif indent == 4 and service is not None:
            section = key
            service[key] = value.strip() if value.strip() else ({} if key == "environment" else [])
        elif indent == 6 and service is not None and section == "environment":
            service["environment"][key] = value.strip()
    return services


def test_compose_runs_plex_helper_beside_plex_and_qbittorrent_with_real_variables():
    services = compose_services()
    assert set(services) == {"plex", "qbittorrent", "plex-helper"}
    assert services["plex"]["image"].startswith("lscr.io/linuxserver/plex")
    assert services["qbittorrent"]["image"].startswith("lscr.io/linuxserver/qbittorrent")
    environment = services["plex-helper"]["environment"]
    unknown = [name for name in environment if not known(name)]
    assert not unknown, unknown
    for other in ("plex", "qbittorrent"):
        assert set(services[other]["environment"]) <= LINUXSERVER_VARIABLES


def test_the_unraid_template_names_real_variables():
    root = ElementTree.parse(ROOT / "packaging" / "unraid" / "plex-helper.xml").getroot()
    assert root.tag == "Container" and root.findtext("Name") == "plex-helper"
    configs = root.findall("Config")
    variables = [c.get("Target") for c in configs if c.get("Type") == "Variable"]
    unknown = [name for name in variables if not known(name)]
    assert not unknown, unknown
    assert [c.get("Target") for c in configs if c.get("Type") == "Path"] == ["/state"]
    secrets = {c.get("Target") for c in configs if c.get("Mask") == "true"}
    assert secrets == {"PLEX_TOKEN", "QBITTORRENT_PASSWORD", "PLEX_HELPER_STATUS_TOKEN"}


def dockerfile() -> str:
    return text(ROOT / "Dockerfile")


def test_the_dockerfile_runs_as_its_own_user_keeps_state_and_checks_health():
    source = re.sub(r"\\\n\s*", " ", dockerfile())
    final = source[source.rindex("\nFROM "):]
    assert final.startswith("\nFROM python:3.12-slim\n") and "tzdata" in final
    assert re.search(r"^USER plex-helper$", final, re.M) and re.search(r"^VOLUME /state$", final, re.M)
    assert 'CMD ["python3", "/app/plex-helper.pyz", "--health"]' in final
    variables = re.findall(r"\b([A-Z][A-Z0-9_]+)=", " ".join(re.findall(r"^ENV (.*)$", final, re.M)))
    assert variables and all(known(name) for name in variables), variables


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not docker_works(), reason="no working docker here")
def test_the_image_builds():
    result = subprocess.run(["docker", "build", "-q", "-t", "plex-helper-test", str(ROOT)],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
