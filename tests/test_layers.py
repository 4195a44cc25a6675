"""The arrows of the hexagon point inwards: the domain imports only itself and the stdlib, adapters
never import the application. Read from the source with `ast`, imports inside functions included."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY = {"urllib3", "marshmallow", "dependency_injector", "websocket"}


def imports(package: str) -> Iterator[Tuple[str, str]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield str(path.relative_to(ROOT)), alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield str(path.relative_to(ROOT)), node.module


@pytest.mark.parametrize("package, forbidden", [
    ("domain", {"adapters", "application"} | THIRD_PARTY),
    ("adapters", {"application"}),
])
def test_no_import_points_outwards(package: str, forbidden: set) -> None:
    wrong = [(module, name) for module, name in imports(package) if name.split(".")[0] in forbidden]
    assert wrong == []


def test_the_domain_does_no_io() -> None:
    io_modules = {"socket", "ssl", "http", "urllib", "os", "subprocess", "sqlite3", "logging", "threading", "time"}
    wrong = [(module, name) for module, name in imports("domain") if name.split(".")[0] in io_modules]
    assert wrong == []


# The composition root: the only application modules that pick concrete adapters.
COMPOSITION_ROOT = {
    "application/container.py",
    "application/wiring/decisions.py",
    "application/wiring/parts.py",
    "application/wiring/sides.py",
    "application/wiring/line.py",
    "application/demo.py",  # the daemon composed with the in-memory stand-ins instead of real servers
}
# Where the application still names an adapter outside the root, and why it is not behind a port yet.
ADAPTER_IMPORTS_ALLOWED = {
    # the entry point: logging, the move of an earlier version's state and the status client's
    # commands all run before (or without) a container
    "application/cli.py",
    # the config is validated by the adapters' own readers of their formats (listen address, header
    # value, notification target, broker URL, a bounded regular file): one parser, not two
    "application/config/fields.py",
    "application/config/schema.py",
    "application/config/mqtt.py",
    "application/config/sources.py",
    # the metrics observer renders Prometheus text with the adapter's exposition
    "application/observers/metrics.py",
}


def test_the_application_names_concrete_adapters_only_in_the_composition_root() -> None:
    allowed = COMPOSITION_ROOT | ADAPTER_IMPORTS_ALLOWED
    wrong = sorted({(module, name) for module, name in imports("application")
                    if name.split(".")[0] == "adapters" and module not in allowed})
    assert wrong == []


def test_the_allowed_lists_name_existing_modules_that_do_import_adapters() -> None:
    importing = {module for module, name in imports("application") if name.split(".")[0] == "adapters"}
    assert sorted(ADAPTER_IMPORTS_ALLOWED - importing) == []  # an exception no longer needed: drop it
    assert sorted(COMPOSITION_ROOT - {str(p.relative_to(ROOT)) for p in (ROOT / "application").rglob("*.py")}) == []
