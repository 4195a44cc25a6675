"""`media_servers` and `download_clients`: several servers and clients, each named.

The flat keys of the first version (`plex_url`, `qbittorrent_url`, ...) stay the shorthand for one
Plex named `plex` and one qBittorrent named `qbittorrent`; a kind given both ways is an error.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from application.config.fields import (
    DAY,
    MAX_COUNT,
    RateField,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
    _between,
    _header_safe,
    _http_url,
    _readable_file,
)
from application.config.sources import ConfigError, CredentialsDirectoryUnset, UnreadableFile, read_secret_file
from application.config.settings import DownloadClientSettings, MediaServerSettings

SERVER_TYPES = ("plex", "jellyfin", "emby")
CLIENT_TYPES = ("qbittorrent", "transmission", "deluge", "sabnzbd", "nzbget")
LIMIT_MODES = ("global", "alternative")
ALTERNATIVE_CAPABLE = ("qbittorrent", "transmission")
USENET_TYPES = ("sabnzbd", "nzbget")
DIRECTIONS = ("upload", "download")
NAME = re.compile(r"[a-z0-9_-]{1,40}")
# A home has a few of each; the cap keeps a generated or damaged config from starting thousands of
# connections and threads (each server with events on has its own push listener).
MAX_ENTRIES = 32
# the secret fields of an entry; each may also be given as <field>_file, or in the environment
ENTRY_SECRETS = ("token", "api_key", "password")
FLAT_SERVER_KEYS = ("plex_url", "plex_token", "plex_verify_tls", "plex_ca_file", "plex_events")
FLAT_CLIENT_KEYS = ("qbittorrent_url", "qbittorrent_username", "qbittorrent_password", "qbittorrent_api_key",
                    "qbittorrent_verify_tls", "qbittorrent_ca_file")


def _name(value: str) -> None:
    if not NAME.fullmatch(value):
        raise ValidationError("must be 1 to 40 of a-z, 0-9, _ and - (it names the entry in logs and metrics)")


def _one_of(choices: Tuple[str, ...]) -> validate.OneOf:
    return validate.OneOf(choices, error="must be one of " + ", ".join(choices))


class _EntrySchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=_name)
    url = StrictString(required=True, validate=_http_url)
    verify_tls = StrictBoolean(load_default=None, allow_none=True)
    ca_file = StrictString(load_default=None, allow_none=True, validate=_readable_file)


class MediaServerSchema(_EntrySchema):
    type = StrictString(required=True, validate=_one_of(SERVER_TYPES))
    token = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    api_key = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    events = StrictBoolean(load_default=True)
    # kbit/s, as the servers report bandwidth: what a Jellyfin/Emby stream without a bit rate needs
    default_stream_kbps = StrictInteger(load_default=8000, validate=_between(1, 200_000))

    @validates_schema(skip_on_field_errors=True)
    def _credential_fits_the_type(self, data: Dict[str, Any], **_: Any) -> None:
        if data["type"] == "plex":
            if data.get("api_key"):
                raise ValidationError("Plex takes a token, not an api_key", "api_key")
            if not data.get("token"):
                raise ValidationError("is required for a Plex server (or token_file)", "token")
        else:
            if data.get("token"):
                raise ValidationError("%s takes an api_key, not a token" % data["type"], "token")
            if not data.get("api_key"):
                raise ValidationError("is required for %s (or api_key_file)" % data["type"], "api_key")


class DownloadClientSchema(_EntrySchema):
    type = StrictString(required=True, validate=_one_of(CLIENT_TYPES))
    username = StrictString(load_default="")
    password = StrictString(load_default="")
    api_key = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    weight = StrictInteger(load_default=1, validate=_between(1, MAX_COUNT))
    streaming_upload_kbps = RateField(load_default=None, allow_none=True)  # its own, out of the budget
    limit_mode = StrictString(load_default=None, allow_none=True, validate=_one_of(LIMIT_MODES))
    login_retry_sec = StrictNumber(load_default=None, allow_none=True, validate=_between(1, DAY))
    # which of its limits plex-helper lowers while streaming (torrent clients: upload unless set)
    directions = fields.List(StrictString(validate=_one_of(DIRECTIONS)), load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _fits_the_type(self, data: Dict[str, Any], **_: Any) -> None:
        kind = data["type"]
        directions = data.get("directions")
        if directions is not None:
            if not directions:
                raise ValidationError("must name upload, download or both", "directions")
            if len(set(directions)) != len(directions):
                raise ValidationError("names a direction twice", "directions")
            if kind in USENET_TYPES and directions != ["download"]:
                raise ValidationError("%s only downloads: its directions can only be [\"download\"]" % kind, "directions")
        if data.get("limit_mode") == "alternative" and kind not in ALTERNATIVE_CAPABLE:
            raise ValidationError("alternative needs qBittorrent or Transmission", "limit_mode")
        if kind == "sabnzbd" and not data.get("api_key"):
            raise ValidationError("is required for SABnzbd (or api_key_file)", "api_key")
        if data.get("username") and not data.get("password") and not data.get("api_key"):
            raise ValidationError("required when username is set (or password_file)", "password")


def _unique_names(entries: List[Dict[str, Any]], field: str) -> None:
    seen: Dict[str, int] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name")
        if isinstance(name, str) and name in seen:
            raise ValidationError("entries %d and %d are both named %r: names must be unique" % (seen[name], index, name), field)
        if isinstance(name, str):
            seen[name] = index


def check_shorthand(data: Dict[str, Any], given: Mapping[str, Any]) -> None:
    """The flat keys and the lists describe the same thing: one way per kind. Raises ValidationError."""
    for keys, list_field in ((FLAT_SERVER_KEYS, "media_servers"), (FLAT_CLIENT_KEYS, "download_clients")):
        if given.get(list_field) is None:
            continue
        mixed = [key for key in keys if key in given]
        if mixed:
            raise ValidationError(
                "cannot be used together with %s: describe the %s in one place (move %s into the list)"
                % (list_field, "media server" if list_field == "media_servers" else "download client", ", ".join(mixed)),
                mixed[0],
            )
    if given.get("media_servers") is not None:
        _unique_names(given["media_servers"] if isinstance(given["media_servers"], list) else [], "media_servers")
    if given.get("download_clients") is not None:
        _unique_names(given["download_clients"] if isinstance(given["download_clients"], list) else [], "download_clients")


def env_prefix(name: str) -> str:
    """The environment variables' prefix of the entry named `name`: PLEX_HELPER_<NAME>__."""
    return "PLEX_HELPER_%s__" % name.upper().replace("-", "_")


def entry_problems(raw: Mapping[str, Any], source: str) -> List[str]:
    """Lists longer than MAX_ENTRIES, and names that share their environment variables (`seed-box`
    and `seed_box`, or a server and a client of the same name): looked at before anything in an
    entry is read, so a huge list costs nothing."""
    problems: List[str] = []
    owners: Dict[str, Tuple[str, str, str]] = {}  # prefix -> (list, name, where) of the first entry taking it
    for list_field in ("media_servers", "download_clients"):
        entries = raw.get(list_field)
        if not isinstance(entries, list):
            continue
        if len(entries) > MAX_ENTRIES:
            problems.append("%s: %s: must list at most %d entries (it lists %d)" % (source, list_field, MAX_ENTRIES, len(entries)))
            continue
        for index, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not NAME.fullmatch(name):
                continue  # the schema says what is wrong with it
            where = "%s[%d] %r" % (list_field, index, name)
            prefix = env_prefix(name)
            owner = owners.get(prefix)
            same_list_same_name = owner is not None and owner[0] == list_field and owner[1] == name
            if owner is not None and not same_list_same_name:  # the same name twice in a list: the schema says it
                problems.append("%s: %s and %s both take their environment variables as %s<FIELD>: give them "
                                "each entry its own name (names that differ only in - and _ count as one)" % (source, owner[2], where, prefix))
            owners.setdefault(prefix, (list_field, name, where))
    return problems


def read_entry_secrets(raw: Dict[str, Any], environ: Mapping[str, str], source: str) -> Dict[str, Any]:
    """Each entry's `<secret>_file` read into `<secret>`, and PLEX_HELPER_<NAME>__<FIELD> over the
    file (two underscores: a top-level PLEX_HELPER_<FIELD> can never collide with it)."""
    problems = entry_problems(raw, source)
    if problems:
        raise ConfigError(problems)
    out = dict(raw)
    for list_field in ("media_servers", "download_clients"):
        entries = raw.get(list_field)
        if not isinstance(entries, list):
            continue
        merged = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                merged.append(entry)
                continue
            entry = dict(entry)
            where = "%s[%d]" % (list_field, index)
            name = entry.get("name")
            prefix = env_prefix(name) if isinstance(name, str) and NAME.fullmatch(name) else None
            for variable in sorted(v for v in environ if prefix and v.startswith(prefix) and environ[v]):
                field = variable[len(prefix):].lower()
                entry[field] = _value_of(field, environ[variable])
            for secret in ENTRY_SECRETS:
                path = entry.pop(secret + "_file", None)
                if path is None:
                    continue
                if secret in entry and entry[secret]:
                    problems.append("%s: %s.%s: give %s or %s_file, not both" % (source, where, secret, secret, secret))
                    continue
                if not isinstance(path, str):
                    problems.append("%s: %s.%s_file: must be a file name" % (source, where, secret))
                    continue
                try:
                    entry[secret] = read_secret_file(path, environ)
                except CredentialsDirectoryUnset as exc:
                    problems.append("%s: %s.%s_file: %s" % (source, where, secret, exc))
                except (FileNotFoundError, UnreadableFile) as exc:
                    reason = exc.strerror if isinstance(exc, FileNotFoundError) else str(exc)
                    problems.append("%s: %s.%s_file: cannot read %s: %s" % (source, where, secret, path, reason))
            merged.append(entry)
        out[list_field] = merged
    if problems:
        raise ConfigError(problems)
    return out


def _value_of(field: str, text: str) -> Any:
    """A secret or a text field as it is; anything else as JSON when it parses ("2", "true")."""
    if field in ENTRY_SECRETS or field.endswith("_file") or field in ("name", "type", "url", "username", "ca_file"):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def media_servers_from(data: Mapping[str, Any]) -> Tuple[MediaServerSettings, ...]:
    """The validated list, or the shorthand's one Plex named `plex`."""
    entries = data.get("media_servers")
    if entries is None:
        return (MediaServerSettings(
            name="plex", type="plex", url=data["plex_url"], token=data["plex_token"],
            verify_tls=data["plex_verify_tls"], ca_file=data["plex_ca_file"], events=data["plex_events"],
        ),)
    return tuple(MediaServerSettings(
        name=e["name"], type=e["type"], url=e["url"], token=e["token"] or e["api_key"],
        verify_tls=True if e["verify_tls"] is None else e["verify_tls"], ca_file=e["ca_file"],
        events=e["events"], default_stream_kbps=e["default_stream_kbps"],
    ) for e in entries)


def download_clients_from(data: Mapping[str, Any]) -> Tuple[DownloadClientSettings, ...]:
    """The validated list, or the shorthand's one qBittorrent named `qbittorrent`. Per-client
    settings default to the top-level ones."""
    entries = data.get("download_clients")
    if entries is None:
        return (DownloadClientSettings(
            name="qbittorrent", type="qbittorrent", url=data["qbittorrent_url"],
            username=data["qbittorrent_username"], password=data["qbittorrent_password"],
            api_key=data["qbittorrent_api_key"], verify_tls=data["qbittorrent_verify_tls"],
            ca_file=data["qbittorrent_ca_file"], limit_mode=data["limit_mode"], login_retry_sec=data["login_retry_sec"],
        ),)
    return tuple(DownloadClientSettings(
        name=e["name"], type=e["type"], url=e["url"], username=e["username"], password=e["password"],
        api_key=e["api_key"], verify_tls=True if e["verify_tls"] is None else e["verify_tls"], ca_file=e["ca_file"],
        # the top-level limit_mode is the default where the client has the mode (Deluge and the Usenet
        # clients have none: for them it means nothing); set per entry, it is checked above
        limit_mode=e["limit_mode"] or (data["limit_mode"] if e["type"] in ALTERNATIVE_CAPABLE else "global"),
        login_retry_sec=e["login_retry_sec"] or data["login_retry_sec"],
        weight=e["weight"], streaming_upload_kbps=e["streaming_upload_kbps"],
        directions=tuple(e["directions"] or ()),
    ) for e in entries)


def no_entries(value: Optional[list]) -> None:
    """At least one entry, at most MAX_ENTRIES."""
    if value is not None and not value:
        raise ValidationError("must list at least one entry")
    if value is not None and len(value) > MAX_ENTRIES:
        raise ValidationError("must list at most %d entries (it lists %d)" % (MAX_ENTRIES, len(value)))
