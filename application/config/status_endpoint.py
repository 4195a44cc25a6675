"""The running daemon's status server as `--health` and `override` reach it: only `status_listen`
and `status_token` are read (from the file, PLEX_HELPER_STATUS_* or a *_FILE), so a health check
works where the other secrets are not at hand (a container's health command, a shell without the
unit's credentials)."""
from __future__ import annotations

from typing import Mapping, Tuple

from marshmallow import ValidationError

from application.config.load import parse_json
from application.config.schema import ConfigSchema
from application.config.sources import ConfigError, UnreadableFile, apply_environment, read_regular_file

STATUS_FIELDS = ("status_listen", "status_token")


def load_status_endpoint(path: str, environ: Mapping[str, str]) -> Tuple[str, str]:
    """(status_listen, status_token); raises ConfigError with one line per problem.

    A missing file is fine when the environment sets status_listen (a container configured by it).
    """
    try:
        raw = parse_json(read_regular_file(path), path)
    except FileNotFoundError:
        if not environ.get("PLEX_HELPER_STATUS_LISTEN"):
            raise ConfigError(["%s: config file not found" % path]) from None
        raw = {}
    except UnreadableFile as exc:
        raise ConfigError(["%s: cannot read the config file: %s" % (path, exc)]) from None
    merged, origins = apply_environment({k: raw[k] for k in STATUS_FIELDS if k in raw}, environ, STATUS_FIELDS, STATUS_FIELDS)
    schema_fields = ConfigSchema().fields
    values, problems = {}, []
    for name in STATUS_FIELDS:
        try:
            values[name] = schema_fields[name].deserialize(merged.get(name, ""))
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
            problems += ["%s: %s: %s" % (origins.get(name, path), name, message) for message in messages]
    if problems:
        raise ConfigError(problems)
    if not values["status_listen"]:
        raise ConfigError(["%s: status_listen is not set, so the daemon has no endpoint to talk to" % path])
    return values["status_listen"], values["status_token"]
