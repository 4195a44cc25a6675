# -*- coding: utf-8 -*-
"""Start-up code of plex-helper.pyz (build_zipapp.py copies this file in as __main__.py).

What it does, in order:
1. Refuses Python older than 3.10 with a plain message (exit 2). This whole file therefore keeps
   to syntax that old interpreters (down to 2.7) can parse: no f-strings, no annotations, no
   walrus, no keyword-only arguments, no print function; nothing but `sys` and `os` is imported
   before that check.
2. Picks the bundled native build of dependency-injector for this machine (`platform_key`,
   `select_native_build`); exits 2 naming the platform and listing the supported ones otherwise.
3. Makes sure the bundle is extracted, once per build id and platform, into a private per-user
   cache (`cache_root`, `ensure_extracted`): compiled extensions cannot be imported from a zip,
   and extracted .py files get their bytecode cached, so a warm start costs one stat.
4. Puts the extracted tree first on sys.path and drops site-packages, dist-packages, the user
   site and PYTHONPATH entries (`isolate_sys_path`), so that no system-wide package (pydantic,
   yaml, an older urllib3...) is imported by or instead of the bundled code.
5. Sets application.version.BUILD to the build id and runs application.cli.main().

Environment:
  PLEX_HELPER_CACHE_DIR   where to extract (default: $CACHE_DIRECTORY from systemd's
                          CacheDirectory=, else $XDG_CACHE_HOME/plex-helper or ~/.cache/plex-helper,
                          ~/Library/Caches/plex-helper on macOS)
Test-only (used by tests/e2e; not for users):
  PLEX_HELPER_TEST_PLATFORM        pretend to run on this platform key, e.g. linux-armv7l-glibc
  PLEX_HELPER_TEST_PYTHON_VERSION  pretend to be this Python version, e.g. 3.6
  PLEX_HELPER_TEST_PROBE           instead of running the CLI, import the bundled libraries and
                                   print where every module of interest came from
"""
import os
import sys

MIN_PYTHON = (3, 10)
EXIT_UNSUPPORTED = 2
TEST_PYTHON_VERSION_ENV = "PLEX_HELPER_TEST_PYTHON_VERSION"


def python_too_old_message(version_info):
    """The refusal message for this (major, minor, ...) version, or None when it is new enough."""
    major, minor = int(version_info[0]), int(version_info[1])
    if (major, minor) >= MIN_PYTHON:
        return None
    return "plex-helper needs Python %d.%d or newer; this is Python %d.%d" % (
        MIN_PYTHON[0], MIN_PYTHON[1], major, minor)


def running_python_version(environ):
    """sys.version_info, or the test-only override "X.Y" from the environment."""
    override = environ.get(TEST_PYTHON_VERSION_ENV)
    if override:
        parts = override.split(".")
        return (int(parts[0]), int(parts[1]))
    return sys.version_info


def exit_if_python_too_old():
    message = python_too_old_message(running_python_version(os.environ))
    if message is not None:
        sys.stderr.write(message + "\n")
        sys.exit(EXIT_UNSUPPORTED)


if __name__ == "__main__":
    exit_if_python_too_old()

# ---------------------------------------------------------------------------------------------
# Only Python >= 3.10 runs past this point (the syntax stays old all the same: see above).

APP_NAME = "plex-helper"
# Keys of the native builds the .pyz carries (build_zipapp.py checks its targets against this).
SUPPORTED_PLATFORMS = (
    "linux-aarch64-glibc",
    "linux-aarch64-musl",
    "linux-x86_64-glibc",
    "linux-x86_64-musl",
    "macos-arm64",
)
TEST_PLATFORM_ENV = "PLEX_HELPER_TEST_PLATFORM"
TEST_PROBE_ENV = "PLEX_HELPER_TEST_PROBE"
CACHE_DIR_ENV = "PLEX_HELPER_CACHE_DIR"
BUILD_ID_ENTRY = "BUILD_ID"
LIB_PREFIX = "lib/"  # pure-Python code and the platform-independent part of dependency_injector
NATIVE_PREFIX = "native/"  # native/<platform key>/...: the platform-specific part
# Modules dependency-injector imports when it finds them; never from the system (see isolate_sys_path).
OPTIONAL_FOREIGN_MODULES = ("yaml", "pydantic", "pydantic_settings", "flask", "aiohttp", "starlette")

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64",
                    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86"}
_64BIT_MACHINES = ("x86_64", "aarch64", "arm64", "ppc64le", "ppc64", "s390x", "riscv64")


class UnsupportedPlatform(Exception):
    """No native build in this .pyz for the platform; str() is the one-line message for the user."""


def normalize_machine(sys_platform, machine):
    """amd64 -> x86_64; arm64 -> aarch64 on Linux; aarch64 -> arm64 on macOS."""
    machine = _MACHINE_ALIASES.get(machine.lower(), machine.lower())
    if sys_platform == "darwin" and machine == "aarch64":
        machine = "arm64"
    return machine


def detect_libc():
    """'glibc' or 'musl' (the C library this interpreter runs on), or 'unknown-libc'."""
    try:
        if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return "glibc"
    except (AttributeError, ValueError, OSError):
        pass
    # musl has no CS_GNU_LIBC_VERSION; its dynamic loader is /lib/ld-musl-<arch>.so.1
    try:
        if any(name.startswith("ld-musl-") for name in os.listdir("/lib")):
            return "musl"
    except OSError:
        pass
    return "unknown-libc"


def detect_platform(sys_platform=None, machine=None, libc=None, maxsize=None):
    """This machine's platform key, e.g. 'linux-x86_64-glibc', 'macos-arm64', 'linux-armv7l-musl'.

    A 32-bit interpreter on a 64-bit kernel (os.uname() says x86_64, sys.maxsize says 32 bits)
    gets the suffix '-32bit', which no build matches. Every argument defaults to the real value.
    """
    if sys_platform is None:
        sys_platform = sys.platform
    if machine is None:
        machine = _uname_machine()
    if maxsize is None:
        maxsize = sys.maxsize
    machine = normalize_machine(sys_platform, machine)
    if sys_platform.startswith("linux"):
        if libc is None:
            libc = detect_libc()
        key = "linux-%s-%s" % (machine, libc)
    elif sys_platform == "darwin":
        key = "macos-%s" % machine
    elif sys_platform in ("win32", "cygwin"):
        key = "windows-%s" % machine
    else:
        key = "%s-%s" % (sys_platform, machine)
    if maxsize <= 2 ** 32 and machine in _64BIT_MACHINES:
        key += "-32bit"
    return key


def _uname_machine():
    try:
        return os.uname().machine
    except AttributeError:  # Windows
        return os.environ.get("PROCESSOR_ARCHITECTURE", "unknown")


def platform_key(environ=None):
    """detect_platform(), unless the test-only PLEX_HELPER_TEST_PLATFORM override is set."""
    if environ is None:
        environ = os.environ
    return environ.get(TEST_PLATFORM_ENV) or detect_platform()


def select_native_build(key, supported=SUPPORTED_PLATFORMS):
    """The build to use for platform `key`; raises UnsupportedPlatform with the user's message."""
    if key in supported:
        return key
    if key.endswith("-32bit"):
        what = "%s (a 32-bit Python on a 64-bit system)" % key
    else:
        what = key
    raise UnsupportedPlatform(
        "plex-helper has no build for this platform: %s; supported platforms: %s"
        % (what, ", ".join(supported)))


# --- the cache --------------------------------------------------------------------------------

def cache_root(environ=None, sys_platform=None):
    """The directory that holds this user's extracted builds (it may not exist yet)."""
    if environ is None:
        environ = os.environ
    if sys_platform is None:
        sys_platform = sys.platform
    explicit = environ.get(CACHE_DIR_ENV)
    if explicit:
        return os.path.abspath(explicit)
    systemd = environ.get("CACHE_DIRECTORY")  # CacheDirectory=plex-helper: already ours
    if systemd:
        return os.path.abspath(systemd.split(":")[0])
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        base = xdg
    elif sys_platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, APP_NAME)


def extracted_name(build_id, key):
    return "%s-%s" % (build_id, key)


def find_extracted(root, build_id, key):
    """The finished tree for this build, or None. One stat: the tree only appears by rename."""
    path = os.path.join(root, extracted_name(build_id, key))
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_uid != os.getuid():
        return None
    return path


def ensure_extracted(archive, build_id, key, root, warn=None):
    """The directory to import from, extracting the bundle first if needed.

    Several processes may start at once: the first takes an flock on a lock file beside the
    tree, extracts into a temporary sibling and renames it into place; the others wait on the
    lock and then find the finished tree. A finished tree is never replaced. Temporary trees
    left by a crashed extraction are removed by the next process that holds the lock. When the
    cache cannot be used, the bundle goes into a private temporary directory instead (warning
    on stderr, removed at exit).
    """
    found = find_extracted(root, build_id, key)
    if found is not None:
        return found
    try:
        make_private_dir(root)
        return _extract_under_lock(archive, build_id, key, root)
    except OSError as error:
        if warn is None:
            warn = _warn
        return _extract_to_temporary_dir(archive, key, root, error, warn)


def make_private_dir(path):
    """Create `path` (and missing parents) as 0700; refuse one owned by someone else."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700, True)
    st = os.stat(path)
    if st.st_uid != os.getuid():
        raise PermissionError("%s is owned by another user" % path)
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError("%s is not writable" % path)


def _extract_under_lock(archive, build_id, key, root):
    import fcntl
    import tempfile

    name = extracted_name(build_id, key)
    final = os.path.join(root, name)
    fd = os.open(os.path.join(root, "." + name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # e.g. a file system without locks: rename alone still keeps it safe
            locked = False
        if os.path.isdir(final):
            return final
        tmp_prefix = "." + name + ".tmp-"
        if locked:
            _remove_leftovers(root, tmp_prefix)
        tmp = tempfile.mkdtemp(prefix=tmp_prefix, dir=root)
        try:
            extract_bundle(archive, key, tmp)
            os.rename(tmp, final)
        except BaseException:
            _rmtree(tmp)
            if os.path.isdir(final):  # lost a race we could not lock against
                return final
            raise
        return final
    finally:
        os.close(fd)


def _remove_leftovers(root, tmp_prefix):
    for entry in os.listdir(root):
        if entry.startswith(tmp_prefix):
            _rmtree(os.path.join(root, entry))


def _extract_to_temporary_dir(archive, key, root, error, warn):
    import atexit
    import tempfile

    tmp = tempfile.mkdtemp(prefix="plex-helper-")
    warn("plex-helper: warning: cannot use the cache %s (%s); extracting to %s for this run"
         % (root, getattr(error, "strerror", None) or error, tmp))
    atexit.register(_rmtree, tmp)
    extract_bundle(archive, key, tmp)
    return tmp


def _warn(message):
    sys.stderr.write(message + "\n")


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def bundle_members(names, key):
    """(archive name, relative path on disk) for lib/* and native/<key>/*, in archive order."""
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
        if not relative or relative.startswith("/") or ".." in parts or "" in parts:
            raise ValueError("unsafe path in the bundle: %r" % name)
        members.append((name, relative))
    return members


def extract_bundle(archive, key, target):
    """Write the pure-Python part and this platform's native part of `archive` into `target`."""
    import zipfile

    with zipfile.ZipFile(archive) as bundle:
        made = set()
        for name, relative in bundle_members(bundle.namelist(), key):
            path = os.path.join(target, *relative.split("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                made.add(parent)
            with bundle.open(name) as source:
                data = source.read()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(data)


# --- sys.path ---------------------------------------------------------------------------------

def is_stdlib_entry(entry, stdlib_dir):
    """True for the standard library, lib-dynload and pythonXY.zip; False for everything else."""
    if not entry or not stdlib_dir:
        return False
    entry = os.path.normpath(entry)
    parts = entry.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if entry == stdlib_dir or entry.startswith(stdlib_dir + os.sep):
        return True
    base = os.path.basename(entry)
    return (os.path.dirname(entry) == os.path.dirname(stdlib_dir)
            and base.startswith("python") and base.endswith(".zip"))


def isolate_sys_path(site_dir, path=None, stdlib_dir=None):
    """Make `site_dir` the first entry and keep only the standard library after it."""
    if path is None:
        path = sys.path
    if stdlib_dir is None:
        stdlib_dir = os.path.dirname(os.path.normpath(os.__file__))
    kept = [entry for entry in path if is_stdlib_entry(entry, stdlib_dir)]
    path[:] = [site_dir] + kept
    return path


def forget_foreign_modules(site_dir, modules=None):
    """Drop already imported (e.g. by a .pth file) copies of bundled or optional modules."""
    if modules is None:
        modules = sys.modules
    names = set(OPTIONAL_FOREIGN_MODULES)
    for entry in os.listdir(site_dir):
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif "." not in entry:
            names.add(entry)
    prefix = os.path.join(site_dir, "")
    for name in list(modules):
        if name.partition(".")[0] in names:
            origin = getattr(modules[name], "__file__", None) or ""
            if not origin.startswith(prefix):
                del modules[name]


# --- running ----------------------------------------------------------------------------------

def read_build_id(loader, archive):
    """The build's content hash, from the BUILD_ID entry (via zipimport, no zipfile import)."""
    if loader is not None and hasattr(loader, "get_data"):
        data = loader.get_data(BUILD_ID_ENTRY)
    else:
        import zipfile

        with zipfile.ZipFile(archive) as bundle:
            data = bundle.read(BUILD_ID_ENTRY)
    return data.decode("ascii").strip()


def main():
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None) or sys.argv[0]
    try:
        key = select_native_build(platform_key())
    except UnsupportedPlatform as error:
        sys.stderr.write("%s\n" % error)
        return EXIT_UNSUPPORTED
    build_id = read_build_id(loader, archive)
    site_dir = ensure_extracted(archive, build_id, key, cache_root())
    isolate_sys_path(site_dir)
    forget_foreign_modules(site_dir)
    if os.environ.get(TEST_PROBE_ENV):
        return _probe(site_dir, key, build_id)
    import application.version

    application.version.BUILD = build_id
    from application.cli import main as cli_main

    return cli_main()


def _probe(site_dir, key, build_id):
    """Test-only: import what the app bundles, report where each module of interest came from."""
    import importlib

    for name in ("dependency_injector", "dependency_injector.containers", "dependency_injector.providers",
                 "dependency_injector.wiring", "marshmallow", "urllib3", "typing_extensions", "packaging",
                 "application.version"):
        importlib.import_module(name)
    lines = ["build %s" % build_id, "platform %s" % key, "site %s" % site_dir]
    lines.extend("path %s" % entry for entry in sys.path)
    for name in sorted(sys.modules):
        if name.partition(".")[0] in ("dependency_injector", "marshmallow", "urllib3", "typing_extensions",
                                      "packaging", "application") + OPTIONAL_FOREIGN_MODULES:
            lines.append("module %s %s" % (name, getattr(sys.modules[name], "__file__", None)))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
