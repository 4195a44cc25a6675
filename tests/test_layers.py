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
