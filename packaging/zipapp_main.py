# -*- coding: utf-8 -*-
# Start-up code of plex-helper.pyz, stage 1 (build_zipapp.py copies this file in as __main__.py).
#
# 1. Refuses Python older than 3.10 with a plain message and exit 2. This file is therefore kept
#    to syntax that old interpreters (down to 2.7) can parse: no f-strings, annotations, walrus,
#    keyword-only arguments or print function; only `os` and `sys` (always loaded) are imported.
# 2. Picks the bundled native build of dependency-injector for this machine (platform_key,
#    select_native_build); exits 2 naming the platform and listing the supported ones otherwise.
# 3. Finds the bundle already extracted in the user's cache with one stat (find_extracted), or
#    has stage 2 (packaging/zipapp_boot.py, lib/plex_helper_boot.py in the archive) extract it.
# 4. Stage 2 isolates sys.path, sets application.version.BUILD and runs application.cli.main().
#
# This file is compiled on every start (zipimport keeps no bytecode): keep it short; everything
# that only a cold start needs lives in stage 2, whose bytecode is cached next to the extracted tree.
#
# Environment:
#   PLEX_HELPER_CACHE_DIR  where to extract (default: $CACHE_DIRECTORY, set by systemd's
#                          CacheDirectory=; else $XDG_CACHE_HOME/plex-helper or
#                          ~/.cache/plex-helper; ~/Library/Caches/plex-helper on macOS)
# Test-only (tests/e2e use them; not for users):
#   PLEX_HELPER_TEST_PLATFORM        pretend to run on this platform key, e.g. linux-armv7l-glibc
#   PLEX_HELPER_TEST_PYTHON_VERSION  pretend to be this Python version, e.g. 3.6
#   PLEX_HELPER_TEST_PROBE           instead of the CLI, import the bundled libraries and print
#                                    where each module of interest came from (see stage 2)
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
        return tuple(int(part) for part in override.split(".")[:2])
    return sys.version_info


def exit_if_python_too_old():
    message = python_too_old_message(running_python_version(os.environ))
    if message is not None:
        sys.stderr.write(message + "\n")
        sys.exit(EXIT_UNSUPPORTED)


if __name__ == "__main__":
    exit_if_python_too_old()

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
CACHE_DIR_ENV = "PLEX_HELPER_CACHE_DIR"
BUILD_ID_ENTRY = "BUILD_ID"
STAGE2_DIR = "lib"  # the archive directory stage 2 is imported from on a cold start
STAGE2_MODULE = "plex_helper_boot"

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i386": "x86", "i686": "x86"}
_OS_NAMES = {"darwin": "macos", "win32": "windows", "cygwin": "windows"}
_64BIT_MACHINES = ("x86_64", "aarch64", "arm64", "ppc64le", "ppc64", "s390x", "riscv64")


class UnsupportedPlatform(Exception):
    """No native build in this .pyz for the platform; str() is the one-line message for the user."""


def normalize_machine(sys_platform, machine):
    """amd64 -> x86_64; arm64 -> aarch64 on Linux; aarch64 -> arm64 on macOS."""
    machine = _MACHINE_ALIASES.get(machine.lower(), machine.lower())
    return "arm64" if sys_platform == "darwin" and machine == "aarch64" else machine


def detect_libc():
    """'glibc' or 'musl' (the C library this interpreter runs on), else 'unknown-libc'."""
    try:
        if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return "glibc"
    except (AttributeError, ValueError, OSError):
        pass
    try:  # musl has no CS_GNU_LIBC_VERSION; its dynamic loader is /lib/ld-musl-<arch>.so.1
        return "musl" if [n for n in os.listdir("/lib") if n.startswith("ld-musl-")] else "unknown-libc"
    except OSError:
        return "unknown-libc"


def detect_platform(sys_platform=None, machine=None, libc=None, maxsize=None):
    """This machine's platform key: 'linux-x86_64-glibc', 'macos-arm64', 'linux-armv7l-musl'...

    A 32-bit interpreter on a 64-bit kernel (uname says x86_64, sys.maxsize says 32 bits) gets
    the suffix '-32bit', which no build matches. Each argument defaults to the real value.
    """
    sys_platform = sys_platform or sys.platform
    if machine is None:
        machine = os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "?")
    machine = normalize_machine(sys_platform, machine)
    if sys_platform.startswith("linux"):
        key = "linux-%s-%s" % (machine, libc or detect_libc())
    else:
        key = "%s-%s" % (_OS_NAMES.get(sys_platform, sys_platform), machine)
    if (maxsize or sys.maxsize) <= 2 ** 32 and machine in _64BIT_MACHINES:
        key += "-32bit"
    return key


def platform_key(environ=None):
    """detect_platform(), unless the test-only PLEX_HELPER_TEST_PLATFORM override is set."""
    return (os.environ if environ is None else environ).get(TEST_PLATFORM_ENV) or detect_platform()


def select_native_build(key, supported=SUPPORTED_PLATFORMS):
    """The build to use for platform `key`; raises UnsupportedPlatform with the user's message."""
    if key not in supported:
        what = key + (" (a 32-bit Python on a 64-bit system)" if key.endswith("-32bit") else "")
        raise UnsupportedPlatform("plex-helper has no build for this platform: %s; supported platforms: %s"
                                  % (what, ", ".join(supported)))
    return key


def cache_root(environ=None, sys_platform=None):
    """The directory for this user's extracted builds (it may not exist yet)."""
    environ = os.environ if environ is None else environ
    # systemd's CacheDirectory=plex-helper is ours already: no subdirectory
    explicit = environ.get(CACHE_DIR_ENV) or environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if explicit:
        return os.path.abspath(explicit)
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        darwin = (sys_platform or sys.platform) == "darwin"
        base = os.path.join(home, "Library", "Caches") if darwin else os.path.join(home, ".cache")
    return os.path.join(base, APP_NAME)


def find_extracted(root, build_id, key):
    """The finished tree of this build, or None. One stat: a tree only appears by rename."""
    path = os.path.join(root, "%s-%s" % (build_id, key))
    try:
        return path if os.stat(path).st_uid == os.getuid() else None
    except OSError:
        return None


def main():
    loader = globals()["__loader__"]
    try:
        key = select_native_build(platform_key())
    except UnsupportedPlatform as error:
        sys.stderr.write("%s\n" % error)
        return EXIT_UNSUPPORTED
    build_id = loader.get_data(BUILD_ID_ENTRY).decode("ascii").strip()
    root = cache_root()
    site_dir = find_extracted(root, build_id, key)
    # warm: stage 2 from the tree (bytecode cached); cold: from the archive, then it extracts
    sys.path.insert(0, site_dir or os.path.join(loader.archive, STAGE2_DIR))
    boot = __import__(STAGE2_MODULE)
    return boot.run(site_dir or boot.ensure_extracted(loader.archive, build_id, key, root), build_id, key)


if __name__ == "__main__":
    sys.exit(main())
