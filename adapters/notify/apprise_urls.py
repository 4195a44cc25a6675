"""Apprise-style URLs for the services plex-helper sends to itself (no apprise dependency):

    discord://{webhook_id}/{webhook_token}        https://discord.com/api/webhooks/{id}/{token}
    slack://{token_a}/{token_b}/{token_c}         https://hooks.slack.com/services/{a}/{b}/{c}
    gotify://{host}[:port][/path]/{app_token}     http://host[:port][/path] (gotifys://: https)
    pover://{user_key}@{app_token}                Pushover's API with that user and application

`spec_from_apprise_url` turns one into the notify entry it stands for, or raises ValueError naming
what is wrong without quoting the URL (it is made of secrets).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List
from urllib.parse import unquote, urlsplit

DISCORD_API = "https://discord.com/api/webhooks"
SLACK_HOOKS = "https://hooks.slack.com/services"
SCHEMES = {"discord": "discord", "slack": "slack", "gotify": "gotify", "gotifys": "gotify", "pover": "pushover"}
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]+")  # what the services' ids, keys and tokens are made of


def is_apprise_url(url: Any) -> bool:
    return isinstance(url, str) and url.strip().partition("://")[0].lower() in SCHEMES


def _parts(text: str) -> List[str]:
    return [unquote(p) for p in text.split("/") if p]


def _tokens(parts: List[str], count: int, shape: str) -> List[str]:
    if len(parts) != count or not all(_TOKEN.fullmatch(p) for p in parts):
        raise ValueError("must look like %s" % shape)
    return parts


def spec_from_apprise_url(url: str) -> Dict[str, Any]:
    """The notify entry (type and its keys) an Apprise-style URL stands for."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    kind = SCHEMES.get(scheme.lower())
    if not sep or kind is None:
        raise ValueError("must start with one of %s" % ", ".join(s + "://" for s in SCHEMES))
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    if kind == "discord":
        webhook_id, token = _tokens(_parts(rest), 2, "discord://webhook_id/webhook_token")
        return {"type": "discord", "url": "%s/%s/%s" % (DISCORD_API, webhook_id, token)}
    if kind == "slack":
        a, b, c = _tokens(_parts(rest), 3, "slack://token_a/token_b/token_c")
        return {"type": "slack", "url": "%s/%s/%s/%s" % (SLACK_HOOKS, a, b, c)}
    if kind == "pushover":
        user, at, token = rest.strip("/").partition("@")
        if not at:
            raise ValueError("must look like pover://user_key@app_token")
        user, token = _tokens([unquote(user), unquote(token)], 2, "pover://user_key@app_token")
        return {"type": "pushover", "user": user, "token": token}
    # gotify: the last path part is the application token, the rest is where Gotify is served
    try:
        parts = urlsplit("http://" + rest)
        parts.port
    except ValueError:
        raise ValueError("must look like gotify://host[:port][/path]/app_token (invalid port or host)") from None
    path = _parts(parts.path)
    if not parts.hostname or not path or not _TOKEN.fullmatch(path[-1]) or parts.username or parts.password:
        raise ValueError("must look like gotify://host[:port][/path]/app_token")
    base = "%s://%s%s" % ("https" if scheme.lower() == "gotifys" else "http", parts.netloc,
                          "".join("/" + p for p in path[:-1]))
    return {"type": "gotify", "url": base, "token": path[-1]}
