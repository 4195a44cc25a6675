"""Start-up code of plex-helper.pyz, stage 2 (in the archive as lib/plex_helper_boot.py).

Stage 1 (packaging/zipapp_main.py, the archive's __main__.py) has checked the Python version and
picked the platform. This module, imported only on Python >= 3.10:

- extracts the bundle into the per-user cache on a cold start (`ensure_extracted`): lib/ and
  native/<platform>/ of the archive into one directory named <build id>-<platform>, atomically
  and safely when several processes start at once;
- keeps the interpreter's own site-packages, dist-packages, user site and PYTHONPATH off sys.path
  (`isolate_sys_path`, `forget_foreign_modules`), so that no system-wide package is imported by
  or instead of the bundled code;
- sets application.version.BUILD and runs application.cli.main() (`run`).

On a warm start it is imported from the extracted tree, where its bytecode is cached.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds to import, and annotations are never evaluated
if TYPE_CHECKING:
    from typing import Callable, MutableMapping, MutableSequence

BOOT_MODULE = "plex_helper_boot"
LIB_PREFIX = "lib/"  # pure-Python code and the platform-independent part of dependency_injector
NATIVE_PREFIX = "native/"  # native/<platform key>/...: the platform-specific part
TEST_PROBE_ENV = "PLEX_HELPER_TEST_PROBE"
# Modules dependency-injector imports when it finds them: never the system's copies.
OPTIONAL_FOREIGN_MODULES = ("yaml", "pydantic", "pydantic_core", "pydantic_settings", "flask", "aiohttp", "starlette")
PROBED_MODULES = (
    "dependency_injector", "dependency_injector.containers", "dependency_injector.providers",
    "dependency_injector.wiring", "marshmallow", "urllib3", "typing_extensions", "packaging", "application.version",
)


# --- extraction ----------------------------------------------------------------------------------

def extracted_name(build_id: str, key: str) -> str:
    return "%s-%s" % (build_id, key)


def ensure_extracted(archive: str, build_id: str, key: str, root: str,
                     warn: Callable[[str], None] | None = None) -> str:
    """The directory to import from, extracting the bundle into `root` first if needed.

    The first process takes an flock on `.<name>.lock` beside the tree, extracts into a
    temporary sibling `.<name>.tmp-*` and renames it to `<name>`; processes starting at the same
    time wait on the lock, then find the finished tree. A finished tree is never replaced.
    Temporary trees left by a crashed extraction are removed by the next holder of the lock.
    When the cache cannot be used, the bundle goes to a private temporary directory instead
    (one warning line on stderr; removed at exit).
    """
    final = os.path.join(root, extracted_name(build_id, key))
    try:
        make_private_dir(root)
        return _extract_under_lock(archive, key, root, final)
    except OSError as error:
        return _extract_to_temporary_dir(archive, key, root, error, warn or _warn)


def make_private_dir(path: str) -> None:
    """Create `path` (and missing parents) as 0700; refuse one owned by another user."""
    os.makedirs(path, 0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid != os.getuid():
        raise PermissionError(13, "owned by another user", path)
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(13, "not writable", path)


def _extract_under_lock(archive: str, key: str, root: str, final: str) -> str:
    import fcntl
    import tempfile

    name = os.path.basename(final)
    fd = os.open(os.path.join(root, "." + name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:  # a file system without locks: the rename below still keeps it safe
            locked = False
        if os.path.isdir(final):
            return final
        tmp_prefix = "." + name + ".tmp-"
        if locked:
            remove_leftovers(root, tmp_prefix)
        tmp = tempfile.mkdtemp(prefix=tmp_prefix, dir=root)
        try:
            extract_bundle(archive, key, tmp)
            os.rename(tmp, final)
        except BaseException:
            _rmtree(tmp)
            if os.path.isdir(final):  # lost a race that no lock could prevent
                return final
            raise
        return final
    finally:
        os.close(fd)


def remove_leftovers(root: str, tmp_prefix: str) -> None:
    """Remove temporary trees of crashed extractions (call only while holding the lock)."""
    for entry in os.listdir(root):
        if entry.startswith(tmp_prefix):
            _rmtree(os.path.join(root, entry))


def _extract_to_temporary_dir(archive: str, key: str, root: str, error: OSError,
                              warn: Callable[[str], None]) -> str:
    import atexit
    import tempfile

    tmp = tempfile.mkdtemp(prefix="plex-helper-")
    warn("plex-helper: warning: cannot use the cache %s (%s); using %s for this run"
         % (root, error.strerror or error, tmp))
    atexit.register(_rmtree, tmp)
    extract_bundle(archive, key, tmp)
    return tmp


def _warn(message: str) -> None:
    sys.stderr.write(message + "\n")


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def bundle_members(names: list[str], key: str) -> list[tuple[str, str]]:
    """(archive name, path relative to the tree) of lib/* and native/<key>/*, in archive order."""
    native = NATIVE_PREFIX + key + "/"
    members = []
    for name in names:
        if name.endswith("/"):
            continue
        if name.startswith(LIB_PREFIX):
            relative = name[len(LIB_PREFIX):]
        elif name.startswith(native):
            relative = name[len(native):]
        else:
            continue
        parts = relative.split("/")
        if relative.startswith("/") or ".." in parts or "" in parts or "\\" in relative:
            raise ValueError("unsafe path in the bundle: %r" % name)
        members.append((name, relative))
    return members


def extract_bundle(archive: str, key: str, target: str) -> None:
    """Write lib/ and native/<key>/ of `archive` into the directory `target`, then compile it."""
    import zipfile

    made = {target}
    sources = []
    with zipfile.ZipFile(archive) as bundle:
        for name, relative in bundle_members(bundle.namelist(), key):
            path = os.path.join(target, *relative.split("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, 0o755, exist_ok=True)
                made.add(parent)
            data = bundle.read(name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            if path.endswith(".py"):
                sources.append(path)
    compile_sources(sources)


def compile_sources(sources: list[str]) -> None:
    """Write the bytecode of `sources` now, as `pip install` does: a warm start then compiles
    nothing, even with PYTHONDONTWRITEBYTECODE set (the tree is ours, and never changes)."""
    import py_compile

    for path in sources:
        try:
            py_compile.compile(path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        except py_compile.PyCompileError:
            pass  # left to the import system, which reports the error if the module is ever used


# --- isolation -----------------------------------------------------------------------------------

def stdlib_dir() -> str:
    return os.path.dirname(os.path.normpath(os.__file__))


def is_stdlib_entry(entry: str, stdlib: str) -> bool:
    """True for the standard library, its lib-dynload and pythonXY.zip; False for all else."""
    if not entry or not stdlib:
        return False
    entry = os.path.normpath(entry)
    parts = entry.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if entry == stdlib or entry.startswith(stdlib + os.sep):
        return True
    base = os.path.basename(entry)
    return os.path.dirname(entry) == os.path.dirname(stdlib) and base.startswith("python") and base.endswith(".zip")


def isolate_sys_path(site_dir: str, path: MutableSequence[str] | None = None, stdlib: str | None = None) -> MutableSequence[str]:
    """Make `site_dir` the first entry of sys.path and keep only the standard library after it."""
    if path is None:
        path = sys.path
    if stdlib is None:
        stdlib = stdlib_dir()
    path[:] = [site_dir] + [entry for entry in path if is_stdlib_entry(entry, stdlib)]
    return path


def forget_foreign_modules(site_dir: str, modules: MutableMapping[str, object] | None = None) -> list[str]:
    """Drop copies of bundled or optional modules imported before (e.g. by a .pth file)."""
    if modules is None:
        modules = sys.modules
    names = set(OPTIONAL_FOREIGN_MODULES)
    for entry in os.listdir(site_dir):
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif "." not in entry:
            names.add(entry)
    names.discard(BOOT_MODULE)
    names.discard("__pycache__")
    prefix = os.path.join(site_dir, "")
    dropped = []
    for name in list(modules):
        if name.partition(".")[0] in names:
            origin = getattr(modules[name], "__file__", None) or ""
            if not origin.startswith(prefix):
                del modules[name]
                dropped.append(name)
    return dropped


# --- running -------------------------------------------------------------------------------------

def run(site_dir: str, build_id: str, key: str) -> int:
    """Isolate sys.path, then run the CLI with application.version.BUILD = build_id."""
    isolate_sys_path(site_dir)
    forget_foreign_modules(site_dir)
    if os.environ.get(TEST_PROBE_ENV):
        return probe(site_dir, build_id, key)
    import application.version

    application.version.BUILD = build_id
    from application.cli import main

    return main()


def probe(site_dir: str, build_id: str, key: str) -> int:
    """Test-only: import the bundled libraries, print where every module of interest came from."""
    import importlib

    for name in PROBED_MODULES:
        importlib.import_module(name)
    tops = {name.partition(".")[0] for name in PROBED_MODULES} | set(OPTIONAL_FOREIGN_MODULES)
    lines = ["build %s" % build_id, "platform %s" % key, "site %s" % site_dir]
    lines.extend("path %s" % entry for entry in sys.path)
    for name in sorted(sys.modules):
        if name.partition(".")[0] in tops:
            lines.append("module %s %s" % (name, getattr(sys.modules[name], "__file__", None)))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
