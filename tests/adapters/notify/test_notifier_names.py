"""A notification target is named by scheme and host (and a short hash of its URL),
never by its path or query: for Discord, Slack and Home Assistant webhooks the path is the credential,
for ntfy the topic is. Nothing a log line, an error, a repr() or an exception chain says holds them."""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, List
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapters.notify.senders import NotificationError, NtfyTarget, TelegramTarget, WebhookTarget, build_target
from adapters.notify.services import DiscordTarget, GotifyTarget, PushoverTarget, SlackTarget
from tests.adapters.notify.test_notifiers import (  # noqa: F401 - pytest fixtures
    BOT_TOKEN,
    RecordingServer,
    closed_port,
    dispatchers,
    make_dispatcher,
    note,
    pool,
    server,
)

DISCORD = "/api/webhooks/112233445566778899/DiscordTok-abcdEFGH_ijkl"
SLACK = "/services/T0SLACKTEAM/B0SLACKBOT/SlackSecretXYZ123"
HOME_ASSISTANT = "/api/webhook/ha-webhook-id-5f2a9c"
QUERY_HOOK = "/hook?token=QuerySecret456&x=1"
NTFY_TOPIC = "/my-secret-topic-77?auth=NtfyQueryTok99"
GOTIFY_TOKEN = "GotifyAppTok.31x"
PUSHOVER_USER, PUSHOVER_TOKEN = "uPushoverUserKey0123456789abcd", "aPushoverAppToken0123456789abc"
# the paths every target posts to, for answers that fail on purpose
PATHS = (DISCORD, SLACK, HOME_ASSISTANT, QUERY_HOOK, NTFY_TOPIC, "/bot%s/sendMessage" % BOT_TOKEN, "/message",
         "/1/messages.json")


def short_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:6]


PUBLIC_WORDS = {"webhook", "webhooks", "services"}  # in the paths, but also plain words ("webhook http://...")


def secret_parts(path_and_query: str) -> List[str]:
    """Every piece of a path and query, with its slash, and each piece of 6 characters or more alone."""
    pieces = [p for p in re.split(r"[/?&=]", path_and_query) if p]
    alone = [p for p in pieces if len(p) >= 6 and p not in PUBLIC_WORDS]
    return ["/" + p for p in path_and_query.split("?")[0].split("/") if p] + alone


def targets_for(base: str) -> List[Any]:
    return [
        WebhookTarget(base + DISCORD),
        WebhookTarget(base + SLACK),
        WebhookTarget(base + HOME_ASSISTANT),
        WebhookTarget(base + QUERY_HOOK),
        NtfyTarget(base + NTFY_TOPIC),
        TelegramTarget(BOT_TOKEN, 12345, api_url=base),
        DiscordTarget(base + DISCORD),
        SlackTarget(base + SLACK),
        GotifyTarget(base, GOTIFY_TOKEN),
        PushoverTarget(PUSHOVER_USER, PUSHOVER_TOKEN, api_url=base),
    ]


def forbidden() -> List[str]:
    found = [BOT_TOKEN, BOT_TOKEN.split(":")[1], GOTIFY_TOKEN, PUSHOVER_USER, PUSHOVER_TOKEN]
    for path in (DISCORD, SLACK, HOME_ASSISTANT, QUERY_HOOK, NTFY_TOPIC):
        found += secret_parts(path)
    return found


def assert_nothing_of_the_paths(text: str) -> None:
    for part in forbidden():
        assert part not in text, part


def exception_texts(exc: BaseException) -> str:
    """str and repr of the exception and of everything chained to it."""
    texts, current, seen = [], exc, set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


# ------------------------------------------------------------------------------------------ the name


@pytest.mark.parametrize(
    "make, url, name",
    [
        (WebhookTarget, "https://discord.com" + DISCORD, "webhook https://discord.com"),
        (WebhookTarget, "https://hooks.slack.com" + SLACK, "webhook https://hooks.slack.com"),
        (WebhookTarget, "http://homeassistant.local:8123" + HOME_ASSISTANT, "webhook http://homeassistant.local:8123"),
        (WebhookTarget, "https://u:pw@Home.Example/x?token=y#frag", "webhook https://home.example"),
        (WebhookTarget, "http://[::1]:8080/hook", "webhook http://[::1]:8080"),
        (NtfyTarget, "https://ntfy.sh/my-secret-topic", "ntfy https://ntfy.sh"),
        (DiscordTarget, "https://discord.com" + DISCORD, "discord https://discord.com"),
        (SlackTarget, "https://hooks.slack.com" + SLACK, "slack https://hooks.slack.com"),
        (lambda url: GotifyTarget(url, GOTIFY_TOKEN), "https://push.example:8443/gotify", "gotify https://push.example:8443"),
    ],
)
def test_a_target_is_named_by_scheme_and_host_and_a_hash(make, url, name):
    target = make(url)
    assert target.describe() == "%s [%s]" % (name, short_hash(url))
    assert target.describe() in repr(target)


def test_two_targets_on_one_host_are_told_apart():
    a = WebhookTarget("https://home.example/api/webhook/one")
    b = WebhookTarget("https://home.example/api/webhook/two")
    assert a.describe() != b.describe()
    assert a.describe().startswith("webhook https://home.example [")


def test_build_target_names_the_same_way():
    hook = build_target({"type": "webhook", "url": "https://discord.com" + DISCORD})
    assert hook.describe() == "webhook https://discord.com [%s]" % short_hash("https://discord.com" + DISCORD)
    topic = build_target({"type": "ntfy", "url": "https://ntfy.sh/alerts-9f8e7d"})
    assert "alerts" not in topic.describe()


def test_the_pushover_name_holds_neither_key_but_tells_users_apart():
    one = PushoverTarget(PUSHOVER_USER, PUSHOVER_TOKEN)
    other = PushoverTarget(PUSHOVER_USER[::-1], PUSHOVER_TOKEN)
    assert one.describe().startswith("pushover https://api.pushover.net [") and one.describe() != other.describe()
    for text in (one.describe(), repr(one)):
        assert PUSHOVER_USER not in text and PUSHOVER_TOKEN not in text


def test_apprise_urls_are_named_without_their_tokens():
    target = build_target({"type": "apprise", "url": "discord://1122/%s" % "DiscordTok-abcdEFGH_ijkl",
                           "events": ["server_down"]})
    assert target.describe().startswith("discord https://discord.com [")
    assert "DiscordTok" not in target.describe() + repr(target)


def test_the_telegram_name_holds_neither_the_token_nor_the_api_url_path():
    target = TelegramTarget(BOT_TOKEN, 12345, api_url="https://tg.example/proxy-secret-path")
    assert target.describe() == "telegram chat 12345"
    assert BOT_TOKEN not in repr(target) and "proxy-secret-path" not in repr(target)


URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
SECRET_TEXT = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="[] #"), min_size=7, max_size=40
)


@given(st.sampled_from([WebhookTarget, NtfyTarget]), st.text(URL_CHARS, max_size=60), st.text(URL_CHARS, max_size=60))
def test_the_name_depends_on_the_path_and_query_only_through_the_hash(make, path, query):
    url = "https://home.example:8443/%s?%s" % (quote(path, safe="/"), quote(query, safe="=&"))
    target = make(url)
    kind = "webhook" if make is WebhookTarget else "ntfy"
    assert target.describe() == "%s https://home.example:8443 [%s]" % (kind, short_hash(url))


@given(st.sampled_from([WebhookTarget, NtfyTarget]), SECRET_TEXT, SECRET_TEXT)
def test_a_secret_path_or_query_never_shows_in_the_name(make, path_secret, query_secret):
    for secret in (path_secret, query_secret):
        assume(secret not in "webhook https://home.example" and secret not in "ntfy https://home.example")
    url = "https://home.example/x/%s?key=%s" % (path_secret, query_secret)
    target = make(url)
    for text in (target.describe(), repr(target)):
        assert path_secret not in text and query_secret not in text
        assert quote(path_secret) not in text and quote(query_secret) not in text


# ------------------------------------------------------------------------------------------ failures


def _deliver_and_collect(targets, dispatchers, caplog, timeout_sec: float = 2.0) -> str:
    caplog.set_level(logging.DEBUG)  # urllib3's own DEBUG lines too
    d = make_dispatcher(dispatchers, targets, timeout_sec=timeout_sec)
    d.start()
    d.notify(note())
    d.stop(timeout_sec * len(targets) + 2)
    assert d.failed == len(targets), (d.sent, d.failed)
    return "\n".join(r.getMessage() for r in caplog.records) + "\n".join(
        str(r.exc_info) for r in caplog.records if r.exc_info
    )


def test_connection_refused_logs_no_part_of_the_paths(closed_port, dispatchers, caplog):
    base = "http://127.0.0.1:%d" % closed_port
    logs = _deliver_and_collect(targets_for(base), dispatchers, caplog)
    assert "notification to webhook %s [%s] failed: connection refused" % (base, short_hash(base + DISCORD)) in logs
    assert_nothing_of_the_paths(logs)


def test_an_error_answer_logs_no_part_of_the_paths(server: RecordingServer, dispatchers, caplog):
    for path in PATHS:
        server.answer(path.split("?")[0], status=500)
    logs = _deliver_and_collect(targets_for(server.url), dispatchers, caplog)
    assert "notification to ntfy %s [%s] failed: answered 500" % (server.url, short_hash(server.url + NTFY_TOPIC)) in logs
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # its request lines were checked too
    assert_nothing_of_the_paths(logs)


def test_a_timeout_logs_no_part_of_the_paths(server: RecordingServer, dispatchers, caplog):
    for path in PATHS:
        server.answer(path.split("?")[0], delay=2.0)
    logs = _deliver_and_collect(targets_for(server.url), dispatchers, caplog, timeout_sec=0.3)
    assert "no answer in time" in logs
    assert_nothing_of_the_paths(logs)


@pytest.mark.parametrize("failure", ["refused", "500", "timeout"])
def test_the_error_and_its_chain_hold_no_part_of_the_path(failure, server: RecordingServer, closed_port, pool):
    base = "http://127.0.0.1:%d" % closed_port if failure == "refused" else server.url
    for path in PATHS:
        if failure == "500":
            server.answer(path.split("?")[0], status=500)
        elif failure == "timeout":
            server.answer(path.split("?")[0], delay=2.0)
    for target in targets_for(base):
        with pytest.raises(NotificationError) as info:
            target.send(note(), pool, 0.3)
        assert str(info.value).startswith(target.describe() + ": ")
        assert info.value.__context__ is None and info.value.__cause__ is None
        assert_nothing_of_the_paths(exception_texts(info.value) + repr(target))


def test_an_invalid_url_error_names_no_path(pool):
    target = WebhookTarget("http://:0/api/webhooks/1/SecretPart-xyz")
    with pytest.raises(NotificationError) as info:
        target.send(note(), pool, 0.3)
    assert "SecretPart-xyz" not in exception_texts(info.value)
