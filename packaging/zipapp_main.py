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

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64",
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
    """'glibc' or 'musl' (the C library this interpreter runs on), else 'unknown-libc'."""
    try:
        if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return "glibc"
    except (AttributeError, ValueError, OSError):
        pass
    try:  # musl has no CS_GNU_LIBC_VERSION; its dynamic loader is /lib/ld-musl-<arch>.so.1
        if any(name.startswith("ld-musl-") for name in os.listdir("/lib")):
            return "musl"
    except OSError:
        pass
    return "unknown-libc"


def detect_platform(sys_platform=None, machine=None, libc=None, maxsize=None):
    """This machine's platform key: 'linux-x86_64-glibc', 'macos-arm64', 'linux-armv7l-musl'...

    A 32-bit interpreter on a 64-bit kernel (uname says x86_64, sys.maxsize says 32 bits) gets
    the suffix '-32bit', which no build matches. Each argument defaults to the real value.
    """
    if sys_platform is None:
        sys_platform = sys.platform
    if machine is None:
        uname = getattr(os, "uname", None)
        machine = uname().machine if uname else os.environ.get("PROCESSOR_ARCHITECTURE", "unknown")
    if maxsize is None:
        maxsize = sys.maxsize
    machine = normalize_machine(sys_platform, machine)
    if sys_platform.startswith("linux"):
        key = "linux-%s-%s" % (machine, libc or detect_libc())
    elif sys_platform == "darwin":
        key = "macos-" + machine
    elif sys_platform in ("win32", "cygwin"):
        key = "windows-" + machine
    else:
        key = "%s-%s" % (sys_platform, machine)
    if maxsize <= 2 ** 32 and machine in _64BIT_MACHINES:
        key += "-32bit"
    return key


def platform_key(environ=None):
    """detect_platform(), unless the test-only PLEX_HELPER_TEST_PLATFORM override is set."""
    return (environ if environ is not None else os.environ).get(TEST_PLATFORM_ENV) or detect_platform()


def select_native_build(key, supported=SUPPORTED_PLATFORMS):
    """The build to use for platform `key`; raises UnsupportedPlatform with the user's message."""
    if key not in supported:
        if key.endswith("-32bit"):
            key += " (a 32-bit Python on a 64-bit system)"
        raise UnsupportedPlatform("plex-helper has no build for this platform: %s; supported platforms: %s"
                                  % (key, ", ".join(supported)))
    return key


def cache_root(environ=None, sys_platform=None):
    """The directory that holds this user's extracted builds (it may not exist yet)."""
    environ = environ if environ is not None else os.environ
    explicit = environ.get(CACHE_DIR_ENV) or environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if explicit:  # systemd's CacheDirectory=plex-helper is already ours: no subdirectory
        return os.path.abspath(explicit)
    base = environ.get("XDG_CACHE_HOME")
    if not (base and os.path.isabs(base)):
        home = os.path.expanduser("~")
        if (sys_platform or sys.platform) == "darwin":
            base = os.path.join(home, "Library", "Caches")
        else:
            base = os.path.join(home, ".cache")
    return os.path.join(base, APP_NAME)


def extracted_name(build_id, key):
    return "%s-%s" % (build_id, key)


def find_extracted(root, build_id, key):
    """The finished tree of this build, or None. One stat: a tree only appears by rename."""
    path = os.path.join(root, extracted_name(build_id, key))
    try:
        if os.stat(path).st_uid == os.getuid():
            return path
    except OSError:
        pass
    return None


def main():
    loader = globals()["__loader__"]
    archive = loader.archive
    try:
        key = select_native_build(platform_key())
    except UnsupportedPlatform as error:
        sys.stderr.write("%s\n" % error)
        return EXIT_UNSUPPORTED
    build_id = loader.get_data(BUILD_ID_ENTRY).decode("ascii").strip()
    root = cache_root()
    site_dir = find_extracted(root, build_id, key)
    if site_dir is None:
        sys.path.insert(0, os.path.join(archive, STAGE2_DIR))  # zipimport reads it from the archive
        boot = __import__(STAGE2_MODULE)
        site_dir = boot.ensure_extracted(archive, build_id, key, root)
    else:
        sys.path.insert(0, site_dir)
        boot = __import__(STAGE2_MODULE)
    return boot.run(site_dir, build_id, key)


if __name__ == "__main__":
    sys.exit(main())
