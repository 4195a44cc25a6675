#!/usr/bin/env python3
"""Build dist/plex-helper.pyz: one file that runs plex-helper with a system python3 (>= 3.10).

    python3 build_zipapp.py                  # -> dist/plex-helper.pyz
    python3 build_zipapp.py --dist OUT_DIR   # -> OUT_DIR/plex-helper.pyz
    python3 build_zipapp.py --update-lock    # re-resolve the pins below into requirements.lock

Layout of the archive (entries sorted, fixed timestamps and permissions, no bytecode):

    __main__.py                    packaging/zipapp_main.py, the bootstrap's stage 1
    BUILD_ID                       the content hash of every other entry (16 hex digits)
    lib/plex_helper_boot.py        packaging/zipapp_boot.py, the bootstrap's stage 2
    lib/<package>/...              the app (domain, adapters, application: its .py files and the
                                   assets it reads, e.g. adapters/status/dashboard.html), the pure-Python
                                   dependencies with their .dist-info, and every file of
                                   dependency-injector that is identical on all platforms
    native/<platform key>/...      the rest of dependency-injector for that platform: the
                                   compiled extensions and the .dist-info/WHEEL that names its tags

The bootstrap extracts lib/ and its platform's native/<key>/ into one directory in the user's
cache and imports from there (zipimport cannot load compiled extensions).

Every wheel comes from PyPI through `pip download`, is cached under build/wheels/ and is checked
against the sha256 hashes in requirements.lock (pip's --require-hashes format) before use. So the
build needs pip (only `pip download`: nothing is installed) and PyPI until that cache is filled;
the .pyz it makes needs nothing but python3.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LOCK_FILE = ROOT / "requirements.lock"
BOOTSTRAP_STAGE1 = Path("packaging") / "zipapp_main.py"  # -> __main__.py
BOOTSTRAP_STAGE2 = Path("packaging") / "zipapp_boot.py"  # -> lib/plex_helper_boot.py
STAGE2_ENTRY = "lib/plex_helper_boot.py"
BUILD_ID_ENTRY = "BUILD_ID"
STORED_ENTRIES = ("__main__.py", BUILD_ID_ENTRY)
DEFAULT_DIST = ROOT / "dist"
DEFAULT_WHEEL_CACHE = ROOT / "build" / "wheels"
PYZ_NAME = "plex-helper.pyz"
SHEBANG = b"#!/usr/bin/env python3\n"
SIZE_BUDGET = 6 * 1024 * 1024

APP_PACKAGES = ("domain", "adapters", "application")
# Besides its code, the app reads these files beside its modules (pkgutil.get_data): the dashboard page.
APP_ASSET_SUFFIXES = (".html",)
NATIVE_DISTRIBUTION = "dependency-injector"
# What requirements.lock pins (--update-lock turns this into the lock; the build reads the lock).
# typing-extensions: dependency-injector needs it below Python 3.13; packaging: marshmallow needs it;
# tzdata: the IANA time zones as pure-Python data, which zoneinfo falls back to where the system has
# no zone files (slim containers, some NAS systems), so "timezone" works everywhere.
# paho-mqtt: the Home Assistant bridge (pure Python, no dependencies of its own).
PINS = {
    "dependency-injector": "4.49.1",
    "marshmallow": "3.26.2",
    "packaging": "26.3",
    "pyasn1": "0.6.5",  # pysnmp's ASN.1 (the snmp line meter only)
    "pysnmp": "7.1.30",  # the snmp line meter; imported only when it is configured
    "paho-mqtt": "2.2.0",  # only imported when `mqtt` is configured
    "typing-extensions": "4.16.0",
    "tzdata": "2026.6",
    "urllib3": "2.7.0",
    "websocket-client": "1.9.2",  # the Jellyfin / Emby push channel; imported only when one has events on
}
TARGET_PYTHON = "3.10"  # the oldest supported Python; dependency-injector ships cp310-abi3 wheels
# Files a wheel carries that the running app does not need (C sources, Cython, type stubs).
STRIPPED_SUFFIXES = (".c", ".h", ".pyx", ".pxd", ".pyi", "py.typed")
# .dist-info files that describe an installation (and RECORD, which lists the stripped files).
STRIPPED_DIST_INFO = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip entry can carry
HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class Target:
    """A platform the .pyz carries dependency-injector's native build for."""

    key: str  # as packaging/zipapp_main.py names it (SUPPORTED_PLATFORMS)
    # `pip download --platform` values; pip matches Linux tags exactly, so name every tag the
    # wheel might carry (4.49.1: manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64,
    # manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64, musllinux_1_2_*,
    # macosx_11_0_arm64).
    pip_platforms: tuple[str, ...]


TARGETS = (
    Target("linux-aarch64-glibc", ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")),
    Target("linux-aarch64-musl", ("musllinux_1_2_aarch64", "musllinux_1_1_aarch64")),
    Target(
        "linux-x86_64-glibc",
        ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64"),
    ),
    Target("linux-x86_64-musl", ("musllinux_1_2_x86_64", "musllinux_1_1_x86_64")),
    Target("macos-arm64", ("macosx_11_0_arm64",)),
)


class BuildError(Exception):
    """A build step failed; str() says which and why."""


@dataclass(frozen=True)
class Pin:
    """One requirement of the lock: name==version and the sha256 of every wheel file allowed."""

    name: str
    version: str
    hashes: frozenset[str]


# --- the lock file ------------------------------------------------------------------------------

def normalize_name(name: str) -> str:
    """PEP 503 name, e.g. typing_extensions -> typing-extensions."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_prefix(pin: Pin) -> str:
    """How the wheel file names of this pin start, e.g. 'dependency_injector-4.49.1-'."""
    return "%s-%s-" % (normalize_name(pin.name).replace("-", "_"), pin.version)


def parse_lock(text: str) -> dict[str, Pin]:
    """Read a pip --require-hashes requirements file: `name==version --hash=sha256:...` lines."""
    pins: dict[str, Pin] = {}
    logical = re.sub(r"\\\n", " ", text)
    for number, line in enumerate(logical.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        if match is None:
            raise BuildError("requirements.lock line %d is not `name==version --hash=sha256:...`: %s" % (number, line))
        name = normalize_name(match.group(1))
        hashes = frozenset(re.findall(r"sha256:([0-9a-f]{64})", match.group(3)))
        pins[name] = Pin(name, match.group(2), hashes)
    return pins


def format_lock(pins: list[Pin], files: dict[str, list[tuple[str, str]]]) -> str:
    """The text of requirements.lock; `files` maps a name to (wheel file name, sha256) pairs."""
    lines = [
        "# Generated by `python3 build_zipapp.py --update-lock` from PINS in build_zipapp.py; do not edit.",
        "# The runtime dependencies of plex-helper: what build_zipapp.py bundles into the .pyz and what",
        "# the tests install:  python3 -m pip install --require-hashes -r requirements.lock",
        "# Each hash is one wheel file (dependency-injector: one per platform the .pyz supports).",
    ]
    for pin in sorted(pins, key=lambda p: p.name):
        lines.append("")
        for filename, digest in sorted(files[pin.name]):
            lines.append("#   %s  %s" % (digest[:12], filename))
        entry = ["%s==%s" % (pin.name, pin.version)]
        entry.extend("    --hash=sha256:%s" % digest for digest in sorted(pin.hashes))
        lines.append(" \\\n".join(entry))
    return "\n".join(lines) + "\n"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- fetching wheels ------------------------------------------------------------------------------

def wheel_platform_tags(filename: str) -> set[str]:
    """The platform tags of a wheel file name ('a.b' compressed tag sets split)."""
    return set(filename[: -len(".whl")].split("-")[-1].split("."))


def find_cached_wheel(pin: Pin, directory: Path, platforms: tuple[str, ...] | None, verify: bool = True) -> Path | None:
    """A wheel of `pin` in `directory` for one of `platforms` (None: pure) whose hash is locked."""
    if not directory.is_dir():
        return None
    prefix = wheel_prefix(pin)
    for path in sorted(directory.iterdir()):
        if not (path.name.lower().startswith(prefix) and path.name.endswith(".whl")):
            continue
        tags = wheel_platform_tags(path.name)
        if (platforms is None and "any" not in tags) or (platforms is not None and not tags & set(platforms)):
            continue
        if not verify or sha256_file(path) in pin.hashes:
            return path
    return None


PIP_MISSING = (
    "pip is needed to download the pinned wheels (%s has no pip): "
    "install it (Debian: apt-get install python3-pip) or build from a virtual environment"
)


def pip_available() -> bool:
    """True when this interpreter can run `python -m pip` (Debian's python3 lacks it without python3-pip)."""
    return importlib.util.find_spec("pip") is not None


def pip_download(pin: Pin, directory: Path, platforms: tuple[str, ...] | None) -> None:
    """`pip download` one wheel of `pin` into `directory` (for the target platforms, or pure)."""
    if not pip_available():
        raise BuildError(PIP_MISSING % sys.executable)
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", "--python-version", TARGET_PYTHON, "--dest", str(directory),
    ]
    if platforms is not None:
        command += ["--implementation", "cp", "--abi", "abi3"]
        for platform in platforms:
            command += ["--platform", platform]
    command.append("%s==%s" % (pin.name, pin.version))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError("pip download %s==%s failed:\n%s%s" % (pin.name, pin.version, result.stdout, result.stderr))


def fetch_wheel(pin: Pin, cache: Path, target: Target | None, verify: bool = True) -> Path:
    """The wheel of `pin` for `target` (None: a pure-Python wheel), downloaded once and verified."""
    directory = cache / (target.key if target is not None else "pure")
    platforms = target.pip_platforms if target is not None else None
    found = find_cached_wheel(pin, directory, platforms, verify)
    if found is not None:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    pip_download(pin, directory, platforms)
    found = find_cached_wheel(pin, directory, platforms, verify)
    if found is None:
        candidates = [p.name for p in directory.glob("*.whl") if p.name.lower().startswith(wheel_prefix(pin))]
        for name in candidates:
            (directory / name).unlink()  # a wheel whose hash is not in the lock never stays in the cache
        raise BuildError(
            "no wheel of %s==%s for %s matches requirements.lock (got: %s)"
            % (pin.name, pin.version, target.key if target else "pure Python", ", ".join(candidates) or "nothing")
        )
    return found


# --- collecting the entries --------------------------------------------------------------------------

def is_stripped(member: str) -> bool:
    """True for wheel members the .pyz leaves out."""
    base = member.rsplit("/", 1)[-1]
    if ".dist-info/" in member and member.count("/") == 1 and base in STRIPPED_DIST_INFO:
        return True
    # a library's own test suite (websocket-client ships websocket/tests/)
    return base.endswith(STRIPPED_SUFFIXES) or "tests" in member.split("/")[:-1]


def wheel_files(wheel: Path) -> dict[str, bytes]:
    """The files of a wheel that the app needs at run time (it is installed by unpacking it)."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or is_stripped(info.filename):
                continue
            if ".data/" in info.filename.split("/", 1)[0] + "/":
                raise BuildError("%s has a .data directory; unpacking it is not supported" % wheel.name)
            files[info.filename] = archive.read(info)
    return files


def app_files(root: Path) -> dict[str, bytes]:
    """The app's packages: .py files and assets (APP_ASSET_SUFFIXES) only, no tests, no __pycache__."""
    files: dict[str, bytes] = {}
    for package in APP_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if not path.is_file() or not path.name.endswith((".py",) + APP_ASSET_SUFFIXES):
                continue
            relative = path.relative_to(root)
            if any(part in ("__pycache__", "tests") or part.startswith(".") for part in relative.parts):
                continue
            files[relative.as_posix()] = path.read_bytes()
    return files


def split_native(per_target: dict[str, dict[str, bytes]]) -> tuple[dict[str, bytes], dict[str, dict[str, bytes]]]:
    """(files identical on every target, per-target files): only what differs is duplicated."""
    keys = sorted(per_target)
    names = sorted(set().union(*(set(files) for files in per_target.values())))
    shared: dict[str, bytes] = {}
    specific: dict[str, dict[str, bytes]] = {key: {} for key in keys}
    for name in names:
        contents = [per_target[key].get(name) for key in keys]
        if all(content is not None and content == contents[0] for content in contents):
            shared[name] = contents[0]
        else:
            for key, content in zip(keys, contents):
                if content is not None:
                    specific[key][name] = content
    return shared, specific


def bootstrap_platforms(source: str) -> tuple[str, ...]:
    """SUPPORTED_PLATFORMS as the bootstrap defines it (read without running the bootstrap)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SUPPORTED_PLATFORMS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise BuildError("packaging/zipapp_main.py defines no SUPPORTED_PLATFORMS")


def add_entries(entries: dict[str, bytes], prefix: str, files: dict[str, bytes]) -> None:
    """Add `files` under `prefix`; two sources for one entry would be a packaging mistake."""
    for name, data in files.items():
        if prefix + name in entries:
            raise BuildError("two files for %s%s" % (prefix, name))
        entries[prefix + name] = data


def collect_entries(root: Path, pins: dict[str, Pin], cache: Path) -> dict[str, bytes]:
    """Every entry of the .pyz except BUILD_ID, by archive name."""
    bootstrap = (root / BOOTSTRAP_STAGE1).read_bytes()
    promised = bootstrap_platforms(bootstrap.decode("utf-8"))
    if tuple(sorted(promised)) != tuple(sorted(t.key for t in TARGETS)):
        raise BuildError("the bootstrap supports %s but the build targets %s" % (promised, [t.key for t in TARGETS]))
    native_pin = pins[NATIVE_DISTRIBUTION]
    entries: dict[str, bytes] = {"__main__.py": bootstrap, STAGE2_ENTRY: (root / BOOTSTRAP_STAGE2).read_bytes()}
    add_entries(entries, "lib/", app_files(root))
    for pin in sorted(pins.values(), key=lambda p: p.name):
        if pin is not native_pin:
            add_entries(entries, "lib/", wheel_files(fetch_wheel(pin, cache, None)))
    per_target = {target.key: wheel_files(fetch_wheel(native_pin, cache, target)) for target in TARGETS}
    shared, specific = split_native(per_target)
    add_entries(entries, "lib/", shared)
    for key, files in specific.items():
        add_entries(entries, "native/%s/" % key, files)
    return entries


# --- writing the archive ------------------------------------------------------------------------------

def content_hash(entries: dict[str, bytes]) -> str:
    """First 16 hex digits of a sha256 over the sorted entry names and contents."""
    digest = hashlib.sha256()
    for name in sorted(entries):
        data = entries[name]
        digest.update(name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:16]


def zip_timestamp() -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH (or 1980-01-01) as a zip date, in UTC."""
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH)), DEFAULT_EPOCH)
    return time.gmtime(epoch)[:6]


def write_pyz(entries: dict[str, bytes], output: Path) -> None:
    """Write the shebang and a deterministic zip (sorted, fixed times and modes) to `output`."""
    stamp = zip_timestamp()
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3  # Unix, so that external_attr means a mode
            info.external_attr = (0o100644 & 0xFFFF) << 16
            # What a warm start reads is stored, so that zipimport need not even import zlib.
            info.compress_type = zipfile.ZIP_STORED if name in STORED_ENTRIES else zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=9)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + output.name + ".", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


def build(output: Path, cache: Path = DEFAULT_WHEEL_CACHE, root: Path = ROOT) -> str:
    """Build the .pyz at `output`; returns the build id."""
    pins = parse_lock((root / "requirements.lock").read_text(encoding="utf-8"))
    missing = sorted(set(PINS) - set(pins))
    if missing:
        raise BuildError("requirements.lock lacks %s: run `python3 build_zipapp.py --update-lock`" % ", ".join(missing))
    entries = collect_entries(root, pins, cache)
    build_id = content_hash(entries)
    entries[BUILD_ID_ENTRY] = (build_id + "\n").encode("ascii")
    write_pyz(entries, output)
    size = output.stat().st_size
    if size > SIZE_BUDGET:
        raise BuildError("%s is %d bytes, over the budget of %d" % (output, size, SIZE_BUDGET))
    return build_id


def update_lock(cache: Path = DEFAULT_WHEEL_CACHE, lock_file: Path = LOCK_FILE) -> None:
    """Download every wheel the build uses for PINS and write their hashes to requirements.lock."""
    pins: list[Pin] = []
    files: dict[str, list[tuple[str, str]]] = {}
    for name, version in sorted(PINS.items()):
        unverified = Pin(name, version, frozenset())
        targets: tuple[Target | None, ...] = TARGETS if name == NATIVE_DISTRIBUTION else (None,)
        wheels = [fetch_wheel(unverified, cache, target, verify=False) for target in targets]
        files[name] = [(wheel.name, sha256_file(wheel)) for wheel in wheels]
        pins.append(Pin(name, version, frozenset(digest for _, digest in files[name])))
    lock_file.write_text(format_lock(pins, files), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the single-file plex-helper.pyz.")
    parser.add_argument("--dist", type=Path, default=DEFAULT_DIST, help="output directory (default: dist/)")
    parser.add_argument("--output", "-o", type=Path, help="output file (default: DIST/%s)" % PYZ_NAME)
    parser.add_argument("--wheel-cache", type=Path, default=DEFAULT_WHEEL_CACHE, help="download cache (default: build/wheels/)")
    parser.add_argument("--update-lock", action="store_true", help="rewrite requirements.lock from PINS, then exit")
    args = parser.parse_args(argv)
    try:
        if args.update_lock:
            update_lock(args.wheel_cache)
            print("wrote %s" % LOCK_FILE)
            return 0
        output = args.output or args.dist / PYZ_NAME
        build_id = build(output, args.wheel_cache)
    except BuildError as error:
        print("build_zipapp: %s" % error, file=sys.stderr)
        return 1
    print("built %s (%d bytes, build %s)" % (output, output.stat().st_size, build_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
