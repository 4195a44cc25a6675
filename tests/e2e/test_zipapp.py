"""The single-file plex-helper.pyz: build, contents, start-up, cache, platform and Python checks.

The .pyz is built once per session (conftest.built_pyz; the first build downloads the pinned wheels
into build/wheels/) and each test runs a fresh copy with HOME and PLEX_HELPER_CACHE_DIR pointing at
empty temporary directories.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import PYTHON, REPO, build_pyz

PLATFORMS = ("linux-aarch64-glibc", "linux-aarch64-musl", "linux-x86_64-glibc", "linux-x86_64-musl", "macos-arm64")
NATIVE_MODULES = ("_cwiring", "containers", "providers")
SIZE_BUDGET = 6 * 1024 * 1024


def app_version() -> str:
    from application.version import __version__

    return __version__


def extracted_entries(cache_dir: Path) -> list[str]:
    return sorted(os.listdir(cache_dir))


# --- the archive ----------------------------------------------------------------------------------

def test_archive_has_a_native_build_per_platform_and_no_sources(built_pyz: Path) -> None:
    with zipfile.ZipFile(built_pyz) as archive:
        names = archive.namelist()
    for platform in PLATFORMS:
        for module in NATIVE_MODULES:
            assert "native/%s/dependency_injector/%s.abi3.so" % (platform, module) in names
        assert "native/%s/dependency_injector-4.49.1.dist-info/WHEEL" % platform in names
    assert {name.split("/")[1] for name in names if name.startswith("native/")} == set(PLATFORMS)
    assert not [n for n in names if n.endswith((".c", ".pyx", ".pxd", ".pyi", ".pyc", ".pyo"))]
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n or n.startswith("lib/tests")]
    # platform-independent files are stored once, not per platform
    assert "lib/dependency_injector/wiring.py" in names
    assert not [n for n in names if n.startswith("native/") and n.endswith(".py")]
    for expected in ("__main__.py", "BUILD_ID", "lib/plex_helper_boot.py", "lib/application/cli.py",
                     "lib/application/version.py", "lib/domain/__init__.py", "lib/adapters/__init__.py",
                     "lib/marshmallow/__init__.py", "lib/urllib3/__init__.py", "lib/typing_extensions.py",
                     "lib/packaging/version.py"):
        assert expected in names
    assert not [n for n in names if n.startswith("lib/") and n.endswith("/RECORD")]


def test_archive_is_under_the_size_budget(built_pyz: Path) -> None:
    assert built_pyz.stat().st_size < SIZE_BUDGET


def test_archive_is_deterministic_and_executable(built_pyz: Path, builder) -> None:
    data = built_pyz.read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    assert os.stat(built_pyz).st_mode & 0o111 == 0o111
    with zipfile.ZipFile(built_pyz) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        if "SOURCE_DATE_EPOCH" not in os.environ:
            assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in infos} == {0o100644}
        entries = {info.filename: archive.read(info) for info in infos}
    build_id = entries.pop("BUILD_ID").decode("ascii").strip()
    assert re.fullmatch(r"[0-9a-f]{16}", build_id)
    assert build_id == builder.content_hash(entries)


def test_two_builds_are_byte_identical(built_pyz: Path, tmp_path: Path) -> None:
    again = build_pyz(tmp_path / "dist-again")
    assert again != built_pyz
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(built_pyz.read_bytes()).hexdigest()


def test_lock_lists_every_bundled_wheel(builder) -> None:
    pins = builder.parse_lock((REPO / "requirements.lock").read_text(encoding="utf-8"))
    assert set(pins) == set(builder.PINS)
    assert {name: pin.version for name, pin in pins.items()} == builder.PINS
    assert len(pins["dependency-injector"].hashes) == len(builder.TARGETS)
    for target in builder.TARGETS:  # what the session build used is in the cache, and locked
        wheel = builder.find_cached_wheel(pins["dependency-injector"], builder.DEFAULT_WHEEL_CACHE / target.key,
                                          target.pip_platforms)
        assert wheel is not None, target.key
    # the manylinux x86_64 wheel, which `pip install --require-hashes` picks on CI, is locked
    x86 = builder.DEFAULT_WHEEL_CACHE / "linux-x86_64-glibc"
    assert any(builder.sha256_file(p) in pins["dependency-injector"].hashes for p in x86.glob("*manylinux*x86_64*.whl"))


def test_a_wheel_whose_hash_is_not_locked_is_refused(builder, tmp_path: Path) -> None:
    pin = builder.Pin("urllib3", "2.7.0", frozenset({"0" * 64}))
    cached = builder.find_cached_wheel(pin, builder.DEFAULT_WHEEL_CACHE / "pure", None)
    assert cached is None  # the real wheel is in the cache, but its hash is not this pin's


# --- running it ---------------------------------------------------------------------------------------

def test_version_prints_version_and_build(run_pyz, build_id: str, cache_dir: Path, this_platform: str) -> None:
    result = run_pyz("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "plex-helper %s (build %s)\n" % (app_version(), build_id)
    assert result.stderr == ""
    tree = cache_dir / ("%s-%s" % (build_id, this_platform))
    assert tree.is_dir()
    assert (os.stat(cache_dir).st_mode & 0o777) == 0o700
    assert os.stat(cache_dir).st_uid == os.getuid()
    assert (tree / "dependency_injector" / "providers.abi3.so").is_file()
    # a warm start gives the same answer from the same tree
    again = run_pyz("--version")
    assert again.returncode == 0 and again.stdout == result.stdout
    assert extracted_entries(cache_dir) == sorted([tree.name, ".%s.lock" % tree.name])


def test_runs_by_its_shebang(pyz: Path, clean_env: dict[str, str], build_id: str) -> None:
    probe = subprocess.run(["/usr/bin/env", "python3", "-c", "import sys; print(sys.version_info >= (3, 10))"],
                           capture_output=True, text=True, env=clean_env)
    if probe.stdout.strip() != "True":
        pytest.skip("the python3 on PATH is older than 3.10")
    result = subprocess.run([str(pyz), "--version"], capture_output=True, text=True, env=clean_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert build_id in result.stdout


def test_default_cache_is_under_home(run_pyz, clean_env: dict[str, str], build_id: str, this_platform: str) -> None:
    env = dict(clean_env)
    del env["PLEX_HELPER_CACHE_DIR"]
    result = run_pyz("--version", env=env)
    assert result.returncode == 0, result.stderr
    root = Path(env["HOME"]) / ".cache" / "plex-helper"
    assert (root / ("%s-%s" % (build_id, this_platform))).is_dir()
    assert os.stat(root).st_mode & 0o777 == 0o700


def test_demo_runs(run_pyz) -> None:
    result = run_pyz("--demo", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cache_root_choice(stage1) -> None:
    assert stage1.cache_root({"PLEX_HELPER_CACHE_DIR": "/x/y", "CACHE_DIRECTORY": "/var/cache/p"}) == "/x/y"
    assert stage1.cache_root({"CACHE_DIRECTORY": "/var/cache/plex-helper:/other"}) == "/var/cache/plex-helper"
    assert stage1.cache_root({"XDG_CACHE_HOME": "/xdg", "HOME": "/h"}, "linux") == "/xdg/plex-helper"
    home = os.path.expanduser("~")
    assert stage1.cache_root({"XDG_CACHE_HOME": "relative"}, "linux") == os.path.join(home, ".cache", "plex-helper")
    assert stage1.cache_root({}, "darwin") == os.path.join(home, "Library", "Caches", "plex-helper")


# --- concurrency and crashes ---------------------------------------------------------------------------

def test_simultaneous_cold_starts_extract_once(pyz: Path, clean_env: dict[str, str], cache_dir: Path,
                                               build_id: str, this_platform: str) -> None:
    processes = [subprocess.Popen([sys.executable, str(pyz), "--version"], env=clean_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
    results = [process.communicate(timeout=120) + (process.returncode,) for process in processes]
    for stdout, stderr, code in results:
        assert code == 0, stderr
        assert stdout == "plex-helper %s (build %s)\n" % (app_version(), build_id)
        assert stderr == ""
    name = "%s-%s" % (build_id, this_platform)
    assert extracted_entries(cache_dir) == sorted([name, ".%s.lock" % name])


def test_leftovers_of_a_crashed_extraction_do_not_break_the_next_start(
        run_pyz, cache_dir: Path, build_id: str, this_platform: str) -> None:
    name = "%s-%s" % (build_id, this_platform)
    cache_dir.mkdir(mode=0o700)
    leftover = cache_dir / (".%s.tmp-crashed" % name)
    (leftover / "dependency_injector").mkdir(parents=True)
    (leftover / "dependency_injector" / "providers.abi3.so").write_bytes(b"half a file")
    (cache_dir / (".%s.lock" % name)).write_text("")  # a stale lock file (no one holds the flock)
    result = run_pyz("--version")
    assert result.returncode == 0, result.stderr
    assert build_id in result.stdout
    assert extracted_entries(cache_dir) == sorted([name, ".%s.lock" % name])


def test_a_start_waits_for_the_extraction_holding_the_lock(
        run_pyz, pyz: Path, clean_env: dict[str, str], cache_dir: Path, build_id: str, this_platform: str) -> None:
    name = "%s-%s" % (build_id, this_platform)
    cache_dir.mkdir(mode=0o700)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import fcntl, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep(60)
        """), str(cache_dir / (".%s.lock" % name))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        waiting = subprocess.Popen([sys.executable, str(pyz), "--version"], env=clean_env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert waiting.poll() is None, "did not wait for the lock"
        holder.send_signal(signal.SIGKILL)  # the holder dies mid-extraction: its flock goes with it
        stdout, stderr = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, stderr
        assert build_id in stdout
    finally:
        holder.kill()
        holder.wait()
    assert extracted_entries(cache_dir) == sorted([name, ".%s.lock" % name])


def test_an_unusable_cache_falls_back_to_a_temporary_directory(run_pyz, tmp_path: Path, build_id: str) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run_pyz("--version", env_extra={"PLEX_HELPER_CACHE_DIR": str(blocker / "cache"), "TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    assert build_id in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plex-helper: warning: cannot use the cache"), result.stderr
    assert os.listdir(scratch) == []  # the temporary tree is removed at exit


def test_a_cache_owned_by_someone_else_is_not_used(stage2, tmp_path: Path, built_pyz: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to chown")
    root = tmp_path / "foreign"
    root.mkdir()
    os.chown(root, 65534, 65534)
    warnings: list[str] = []
    site = stage2.ensure_extracted(str(built_pyz), "0" * 16, "linux-x86_64-glibc", str(root), warnings.append)
    assert not site.startswith(str(root))
    assert len(warnings) == 1 and "another user" in warnings[0]
    assert os.path.isfile(os.path.join(site, "application", "cli.py"))


# --- platform and Python checks -------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["linux-armv7l-glibc", "macos-x86_64", "windows-x86_64", "linux-x86_64-glibc-32bit"])
def test_unsupported_platform_is_refused_by_name(run_pyz, platform: str, cache_dir: Path) -> None:
    result = run_pyz("--version", env_extra={"PLEX_HELPER_TEST_PLATFORM": platform})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert platform in lines[0]
    for supported in PLATFORMS:
        assert supported in lines[0]
    assert not cache_dir.exists()


@pytest.mark.parametrize("sys_platform, machine, libc, maxsize, expected", [
    ("linux", "x86_64", "glibc", 2 ** 63 - 1, "linux-x86_64-glibc"),
    ("linux", "AMD64", "glibc", 2 ** 63 - 1, "linux-x86_64-glibc"),
    ("linux", "x86_64", "musl", 2 ** 63 - 1, "linux-x86_64-musl"),
    ("linux", "aarch64", "glibc", 2 ** 63 - 1, "linux-aarch64-glibc"),
    ("linux", "arm64", "musl", 2 ** 63 - 1, "linux-aarch64-musl"),
    ("linux", "armv7l", "glibc", 2 ** 31 - 1, "linux-armv7l-glibc"),
    ("linux", "x86_64", "glibc", 2 ** 31 - 1, "linux-x86_64-glibc-32bit"),
    ("linux", "aarch64", "glibc", 2 ** 31 - 1, "linux-aarch64-glibc-32bit"),
    ("darwin", "arm64", None, 2 ** 63 - 1, "macos-arm64"),
    ("darwin", "x86_64", None, 2 ** 63 - 1, "macos-x86_64"),
    ("win32", "AMD64", None, 2 ** 63 - 1, "windows-x86_64"),
])
def test_platform_detection(stage1, sys_platform: str, machine: str, libc: str | None, maxsize: int,
                            expected: str) -> None:
    key = stage1.detect_platform(sys_platform=sys_platform, machine=machine, libc=libc, maxsize=maxsize)
    assert key == expected
    if expected in PLATFORMS:
        assert stage1.select_native_build(key) == key
    else:
        with pytest.raises(stage1.UnsupportedPlatform) as raised:
            stage1.select_native_build(key)
        message = str(raised.value)
        assert key in message and all(p in message for p in PLATFORMS)
        assert "\n" not in message
        if key.endswith("-32bit"):
            assert "32-bit Python on a 64-bit system" in message


def test_platform_override_is_honoured(stage1, this_platform: str) -> None:
    assert stage1.platform_key({}) == this_platform
    assert stage1.platform_key({"PLEX_HELPER_TEST_PLATFORM": "linux-armv7l-musl"}) == "linux-armv7l-musl"
    assert tuple(sorted(stage1.SUPPORTED_PLATFORMS)) == PLATFORMS
    if sys.platform.startswith("linux"):
        assert stage1.detect_libc() in ("glibc", "musl")


@pytest.mark.parametrize("version", ["3.6", "2.7", "3.9"])
def test_old_python_gets_a_clear_message(run_pyz, version: str, cache_dir: Path) -> None:
    result = run_pyz("--version", env_extra={"PLEX_HELPER_TEST_PYTHON_VERSION": version})
    assert result.returncode == 2
    assert result.stderr == "plex-helper needs Python 3.10 or newer; this is Python %s\n" % version
    assert not cache_dir.exists()


def test_python_version_check(stage1) -> None:
    assert stage1.python_too_old_message((3, 10, 0, "final", 0)) is None
    assert stage1.python_too_old_message((3, 13)) is None
    assert stage1.python_too_old_message((4, 0)) is None
    assert stage1.python_too_old_message((2, 7, 18)) == "plex-helper needs Python 3.10 or newer; this is Python 2.7"
    assert stage1.python_too_old_message((3, 9, 7)) == "plex-helper needs Python 3.10 or newer; this is Python 3.9"


class _NotOldSyntax(ast.NodeVisitor):
    """Finds constructs Python 2.7 / 3.5 cannot parse (ast.parse's feature_version catches the rest)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def flag(self, node: ast.AST, what: str) -> None:
        self.problems.append("line %d: %s" % (getattr(node, "lineno", 0), what))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self.flag(node, "f-string")

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.flag(node, "walrus")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.flag(node, "variable annotation")

    def visit_arguments(self, node: ast.arguments) -> None:
        if node.kwonlyargs or node.posonlyargs:
            self.flag(node, "keyword-only or positional-only parameters")
        for arg in node.args + node.kwonlyargs + [a for a in (node.vararg, node.kwarg) if a]:
            if arg.annotation is not None:
                self.flag(arg, "annotation")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.returns is not None:
            self.flag(node, "return annotation")
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AST) -> None:
        self.flag(node, "async")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.flag(node, "nonlocal")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.flag(node, "yield from")

    def visit_Starred(self, node: ast.Starred) -> None:
        self.flag(node, "starred expression")

    def visit_Raise(self, node: ast.Raise) -> None:
        if node.cause is not None:
            self.flag(node, "raise ... from")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "print":
            self.flag(node, "print (a statement in Python 2)")

    def visit_Call(self, node: ast.Call) -> None:
        if any(keyword.arg is None for keyword in node.keywords):
            self.flag(node, "**kwargs in a call")
        self.generic_visit(node)


def test_the_archive_main_parses_on_old_pythons() -> None:
    source = (REPO / "packaging" / "zipapp_main.py").read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 4))  # f-strings, walrus, annotations, /-params...
    checker = _NotOldSyntax()
    checker.visit(tree)
    assert checker.problems == []
    source.encode("ascii")  # no encoding surprises for old parsers
    # nothing but os and sys is imported before the version check
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [alias.name for node in imports for alias in node.names] == ["os", "sys"]
    check = next(i for i, node in enumerate(tree.body)
                 if isinstance(node, ast.If) and "exit_if_python_too_old" in ast.unparse(node))
    assert all(isinstance(node, (ast.Import, ast.FunctionDef, ast.Assign, ast.Expr)) for node in tree.body[:check])


# --- isolation from the interpreter's own packages -----------------------------------------------------

FAKE_MODULE = """
import os
open(os.path.join(os.environ["FAKE_MARKERS"], {name!r}), "w").close()
"""


def make_fake_packages(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).mkdir()
        (directory / name / "__init__.py").write_text(FAKE_MODULE.format(name=name))


def test_system_packages_are_not_imported(run_pyz, clean_env: dict[str, str], tmp_path: Path,
                                          cache_dir: Path, build_id: str) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    on_pythonpath = tmp_path / "pythonpath"
    make_fake_packages(on_pythonpath, ["yaml", "pydantic", "urllib3", "marshmallow"])
    env = dict(clean_env, PYTHONPATH=str(on_pythonpath), FAKE_MARKERS=str(markers),
               PYTHONUSERBASE=str(tmp_path / "userbase"))
    user_site = subprocess.run([PYTHON, "-c", "import site; print(site.getusersitepackages())"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
    make_fake_packages(Path(user_site), ["pydantic_settings", "dependency_injector", "typing_extensions"])
    # a .pth file imports a shadowing copy before any code of the .pyz runs
    (Path(user_site) / "zz-preload.pth").write_text("import typing_extensions\n")

    result = run_pyz("--version", env=env)
    assert result.returncode == 0, result.stderr
    assert build_id in result.stdout

    probe = run_pyz(env=dict(env, PLEX_HELPER_TEST_PROBE="1"))
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    site = next(line.split(" ", 1)[1] for line in lines if line.startswith("site "))
    path = [line.split(" ", 1)[1] for line in lines if line.startswith("path ")]
    assert path[0] == site and site.startswith(str(cache_dir))
    assert not [p for p in path if "site-packages" in p or "dist-packages" in p or str(tmp_path / "pythonpath") in p]
    modules = dict(line.split(" ", 2)[1:] for line in lines if line.startswith("module "))
    assert not [name for name in modules if name.partition(".")[0] in ("yaml", "pydantic", "pydantic_settings")]
    for name in ("dependency_injector.providers", "marshmallow", "urllib3", "typing_extensions", "packaging"):
        assert modules[name].startswith(site), (name, modules[name])
    # only the .pth file's own import ran a fake; nothing the bundle imported did
    assert sorted(os.listdir(markers)) == ["typing_extensions"]


def test_sys_path_filter(stage2) -> None:
    stdlib = "/usr/lib/python3.11"
    path = ["/app.pyz", "/usr/lib/python311.zip", stdlib, stdlib + "/lib-dynload", "/home/u/.local/lib/python3.11/site-packages",
            "/usr/local/lib/python3.11/dist-packages", "/usr/lib/python3/dist-packages", "/opt/pythonpath",
            stdlib + "/site-packages", ""]
    assert stage2.isolate_sys_path("/cache/tree", path, stdlib) == [
        "/cache/tree", "/usr/lib/python311.zip", stdlib, stdlib + "/lib-dynload"]


def test_foreign_copies_of_bundled_modules_are_forgotten(stage2, tmp_path: Path) -> None:
    site = tmp_path / "tree"
    (site / "urllib3").mkdir(parents=True)
    (site / "typing_extensions.py").write_text("")

    class Module:
        def __init__(self, file: str | None) -> None:
            self.__file__ = file

    modules = {"urllib3": Module("/sys/site-packages/urllib3/__init__.py"),
               "urllib3.util": Module("/sys/site-packages/urllib3/util.py"),
               "typing_extensions": Module(str(site / "typing_extensions.py")),
               "yaml": Module("/sys/site-packages/yaml/__init__.py"),
               "json": Module("/usr/lib/python3.11/json/__init__.py")}
    dropped = stage2.forget_foreign_modules(str(site), modules)
    assert sorted(dropped) == ["urllib3", "urllib3.util", "yaml"]
    assert sorted(modules) == ["json", "typing_extensions"]


def test_bundle_members_refuse_unsafe_paths(stage2) -> None:
    names = ["__main__.py", "lib/a/b.py", "lib/a/", "native/linux-x86_64-glibc/x.so", "native/macos-arm64/y.so"]
    assert stage2.bundle_members(names, "linux-x86_64-glibc") == [("lib/a/b.py", "a/b.py"),
                                                                  ("native/linux-x86_64-glibc/x.so", "x.so")]
    with pytest.raises(ValueError):
        stage2.bundle_members(["lib/../evil.py"], "linux-x86_64-glibc")


# --- other interpreters on this machine (pyenv's, or pythonX.Y on PATH), where there are any --------

def find_interpreter(version: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s.*/bin/python%s" % (version, version))))
    return found[-1] if found else shutil.which("python" + version)


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.7", "3.8", "3.9"])
def test_a_real_old_python_gets_the_message(pyz: Path, clean_env: dict[str, str], version: str) -> None:
    interpreter = find_interpreter(version)
    if interpreter is None:
        pytest.skip("no Python %s on this machine" % version)
    result = subprocess.run([interpreter, str(pyz), "--version"], env=clean_env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr == "plex-helper needs Python 3.10 or newer; this is Python %s\n" % version


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_a_supported_python_loads_the_native_build(pyz: Path, clean_env: dict[str, str], version: str,
                                                   build_id: str) -> None:
    interpreter = find_interpreter(version)
    if interpreter is None:
        pytest.skip("no Python %s on this machine" % version)
    result = subprocess.run([interpreter, str(pyz)], env=dict(clean_env, PLEX_HELPER_TEST_PROBE="1"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "module dependency_injector.providers " in result.stdout and ".abi3.so" in result.stdout
    version_run = subprocess.run([interpreter, str(pyz), "--version"], env=clean_env, capture_output=True,
                                 text=True, timeout=60)
    assert version_run.stdout == "plex-helper %s (build %s)\n" % (app_version(), build_id)
