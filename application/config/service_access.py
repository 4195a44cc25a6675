"""What `--check` run as root warns about: a file the config names that the service could not read.

The shipped unit runs as a DynamicUser (a user of its own, in no group) with ProtectHome=: it can read
a file only when everyone may (and every directory above it lets everyone through), or when systemd
copied it into the credentials directory for it (LoadCredential=). Root reads anything, so a check
run with sudo would pass where the service then fails: this says so before it does.
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any, Iterator, List, Mapping, Tuple

from application.config.sources import (
    CredentialsDirectoryUnset, UnreadableFile, expand_credentials_path, read_regular_file,
)

ENTRY_FILE_FIELDS = ("token_file", "api_key_file", "password_file", "ca_file")
TOP_FILE_FIELDS = ("plex_ca_file", "qbittorrent_ca_file")
HIDDEN_BY_PROTECT_HOME = ("/home/", "/root/", "/run/user/")


def files_named(raw: Mapping[str, Any]) -> Iterator[Tuple[str, str]]:
    """(where in the config, path) of every file the config has plex-helper read."""
    for field in TOP_FILE_FIELDS:
        if isinstance(raw.get(field), str) and raw[field]:
            yield field, raw[field]
    for list_field in ("media_servers", "download_clients"):
        entries = raw.get(list_field)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            for field in ENTRY_FILE_FIELDS:
                value = entry.get(field) if isinstance(entry, dict) else None
                if isinstance(value, str) and value:
                    yield "%s[%d].%s" % (list_field, index, field), value


def readable_by_anyone(path: str) -> bool:
    """True when the file is world-readable and every directory above it world-searchable."""
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        directory = os.path.dirname(os.path.abspath(path))
        while True:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
            parent = os.path.dirname(directory)
            if parent == directory:
                return True
            directory = parent
    except OSError:
        return True  # a missing file is the config check's to report, not this one's


def in_credentials_directory(path: str, environ: Mapping[str, str]) -> bool:
    directory = environ.get("CREDENTIALS_DIRECTORY", "")
    return bool(directory) and os.path.dirname(os.path.realpath(path)) == os.path.realpath(directory)


def service_access_warnings(config_path: str, environ: Mapping[str, str]) -> List[str]:
    """One line per file named in the config that the unit's dynamic user could not read."""
    try:
        raw = json.loads(read_regular_file(config_path))
    except (OSError, UnreadableFile, ValueError, RecursionError):
        return []
    if not isinstance(raw, dict):
        return []
    warnings = []
    for where, given in files_named(raw):
        try:
            path = expand_credentials_path(given, environ)
        except CredentialsDirectoryUnset:
            continue  # already a config error
        if in_credentials_directory(path, environ):
            continue
        name = os.path.basename(path)
        if os.path.abspath(path).startswith(HIDDEN_BY_PROTECT_HOME):
            warnings.append("%s: %s is under a home directory, which the service cannot see (ProtectHome=); "
                            "move it, e.g. to /etc/plex-helper/%s" % (where, path, name))
        elif not readable_by_anyone(path):
            fix = ("make it readable (chmod 644; a CA bundle is no secret)" if where.endswith("ca_file") else
                   "hand it over as a credential: LoadCredential=%s:%s in the unit, and %s %%d/%s in the config"
                   % (name, os.path.abspath(path), where.rsplit(".", 1)[-1], name))
            warnings.append("%s: the service could not read %s (it runs as a dynamic user, and the file is not "
                            "readable by everyone); %s" % (where, path, fix))
    return warnings
