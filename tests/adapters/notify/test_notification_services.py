"""Discord, Slack, Gotify and Pushover against stand-ins that check each service's documented request
shape; Apprise-style URLs for them; per-target `events`."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator, List

import pytest
from hypothesis import given, strategies as st

from adapters.notify.apprise_urls import spec_from_apprise_url
from adapters.notify.events import EVENTS, chosen_event
from adapters.notify.senders import (
    Notification,
    NotificationDispatcher,
    NotificationError,
    build_target,
    validate_target_spec,
)
from adapters.transport.http import make_pool
from tests.support.notification_services import (  # noqa: F401 - the fixture
    DISCORD_ID,
    DISCORD_TOKEN,
    GOTIFY_TOKEN,
    PUSHOVER_TOKEN,
    PUSHOVER_USER,
    SLACK_TOKENS,
    NotificationServices,
    notification_services,
)
from tests.support.waiting import wait_until

MESSAGE = "Throttled qBittorrent to 500 KiB/s: 1 remote stream (alice)"
SECRETS = (DISCORD_TOKEN, GOTIFY_TOKEN, PUSHOVER_TOKEN, PUSHOVER_USER, SLACK_TOKENS[2])


@pytest.fixture
def pool() -> Iterator[Any]:
    made = make_pool(2.0)
    yield made
    made.clear()


def note(event: str = "state_change", **details: Any) -> Notification:
    return Notification(event, MESSAGE, dict({"state": "streaming"}, **details) if event == "state_change" else details)


def specs(services: NotificationServices) -> List[dict]:
    return [
        {"type": "discord", "url": services.discord_url},
        {"type": "slack", "url": services.slack_url},
        {"type": "gotify", "url": services.gotify_url, "token": GOTIFY_TOKEN, "priority": 5},
        {"type": "pushover", "user": PUSHOVER_USER, "token": PUSHOVER_TOKEN, "priority": 1, "api_url": services.url},
    ]


def test_each_service_gets_its_documented_request(notification_services: NotificationServices, pool: Any) -> None:
    for spec in specs(notification_services):
        build_target(spec).send(note(), pool, 2.0)
    assert notification_services.refused == []
    (discord,) = notification_services.of("discord")
    assert discord.body == {"content": MESSAGE, "username": "plex-helper"}
    (slack,) = notification_services.of("slack")
    assert slack.body == {"text": MESSAGE}
    (gotify,) = notification_services.of("gotify")
    assert gotify.body == {"title": "plex-helper", "message": MESSAGE, "priority": 5}
    assert gotify.headers["X-Gotify-Key"] == GOTIFY_TOKEN
    (pushover,) = notification_services.of("pushover")
    assert pushover.body == {"token": PUSHOVER_TOKEN, "user": PUSHOVER_USER, "title": "plex-helper",
                             "message": MESSAGE, "priority": "1"}


def test_long_messages_are_cut_to_what_each_service_takes(
    notification_services: NotificationServices, pool: Any,
) -> None:
    long = Notification("override", "x" * 5000)
    for spec in specs(notification_services):
        build_target(spec).send(long, pool, 2.0)
    assert notification_services.refused == []
    assert len(notification_services.of("discord")[0].body["content"]) == 2000
    assert len(notification_services.of("pushover")[0].body["message"]) == 1024


@pytest.mark.parametrize("spec, reason", [
    ({"type": "discord", "url": "{url}/api/webhooks/%s/wrong-token" % DISCORD_ID},
     "answered 401 (Invalid Webhook Token)"),
    ({"type": "slack", "url": "{url}/services/T0/B0/wrong"}, "answered 403 (invalid_token)"),
    ({"type": "gotify", "url": "{url}/gotify", "token": "wrongtoken"},
     "answered 401 (you need to provide a valid access token"),
    ({"type": "pushover", "user": "u" * 30, "token": PUSHOVER_TOKEN, "api_url": "{url}"},
     "answered 400 (user identifier is not a valid user"),
])
def test_a_refusal_names_the_services_reason_and_no_secret(
    notification_services: NotificationServices, pool: Any, spec: dict, reason: str,
) -> None:
    spec = {k: v.format(url=notification_services.url) if isinstance(v, str) else v for k, v in spec.items()}
    target = build_target(spec)
    with pytest.raises(NotificationError) as info:
        target.send(note(), pool, 2.0)
    text = str(info.value)
    assert text.startswith(target.describe() + ": ") and reason in text, text
    for secret in SECRETS + ("wrong-token", "wrongtoken", "u" * 30):
        assert secret not in text and secret not in target.describe() and secret not in repr(target)


# ------------------------------------------------------------------------------------------ Apprise URLs


def test_apprise_urls_reach_the_same_services(notification_services: NotificationServices, pool: Any) -> None:
    host = "127.0.0.1:%d" % notification_services.port
    target = build_target({"type": "apprise", "url": "gotify://%s/gotify/%s" % (host, GOTIFY_TOKEN)})
    target.send(note(), pool, 2.0)
    target = build_target({"type": "pushover", "url": "pover://%s@%s" % (PUSHOVER_USER, PUSHOVER_TOKEN),
                           "api_url": notification_services.url})
    target.send(note(), pool, 2.0)
    assert [d.service for d in notification_services.delivered] == ["gotify", "pushover"]


@pytest.mark.parametrize("url, spec", [
    ("discord://%s/%s" % (DISCORD_ID, DISCORD_TOKEN),
     {"type": "discord", "url": "https://discord.com/api/webhooks/%s/%s" % (DISCORD_ID, DISCORD_TOKEN)}),
    ("slack://T0A/B0B/xyzC", {"type": "slack", "url": "https://hooks.slack.com/services/T0A/B0B/xyzC"}),
    ("gotify://push.example.com/AbC.tok", {"type": "gotify", "url": "http://push.example.com", "token": "AbC.tok"}),
    ("gotifys://example.com:8443/gotify/AbC",
     {"type": "gotify", "url": "https://example.com:8443/gotify", "token": "AbC"}),
    ("pover://%s@%s" % (PUSHOVER_USER, PUSHOVER_TOKEN),
     {"type": "pushover", "user": PUSHOVER_USER, "token": PUSHOVER_TOKEN}),
])
def test_apprise_url_forms(url: str, spec: dict) -> None:
    assert spec_from_apprise_url(url) == spec
    assert validate_target_spec({"type": "apprise", "url": url}) == []


@pytest.mark.parametrize("spec, problem", [
    ({"type": "apprise", "url": "https://example.com"}, "url: must be an Apprise-style URL"),
    ({"type": "discord", "url": "slack://a/b/c"}, "url: is a slack URL, but the type is discord"),
    ({"type": "apprise", "url": "discord://only-id"}, "url: must look like discord://webhook_id/webhook_token"),
    ({"type": "apprise", "url": "pover://no-at-sign"}, "url: must look like pover://user_key@app_token"),
    ({"type": "gotify", "url": "gotify://host/tok", "token": "x"}, "url: already gives token: leave token out"),
    ({"type": "gotify", "url": "https://g.example"}, "token: is required"),
    ({"type": "pushover", "user": "u", "token": "t", "priority": 3}, "priority: must be a whole number from -2 to 2"),
    ({"type": "slack", "url": "https://hooks.slack.com/x", "events": ["everything"]},
     "events: must list one or more of"),
])
def test_bad_entries_are_named_without_their_secrets(spec: dict, problem: str) -> None:
    problems = validate_target_spec(spec)
    assert any(p.startswith(problem) for p in problems), problems
    assert all("only-id" not in p and "no-at-sign" not in p for p in problems)


@given(st.text(max_size=80), st.sampled_from(["discord", "slack", "gotify", "gotifys", "pover"]))
def test_any_apprise_url_is_a_valid_entry_or_one_clear_problem(rest: str, scheme: str) -> None:
    url = "%s://%s" % (scheme, rest)
    try:
        spec = spec_from_apprise_url(url)
    except ValueError as err:
        assert str(err).startswith("must ")
        return
    assert validate_target_spec(spec) == [], spec
    assert validate_target_spec({"type": "apprise", "url": url}) == []


# ------------------------------------------------------------------------------------------ events


@pytest.mark.parametrize("notification, names", [
    (Notification("state_change", "", {"state": "streaming"}), ("streaming_started",)),
    (Notification("state_change", "", {"state": "idle"}), ("streaming_ended",)),
    (Notification("side_failing", "", {"kind": "client"}), ("client_down",)),
    (Notification("side_recovered", "", {"kind": "server"}), ("server_up",)),
    (Notification("side_failing", "", {}), ("server_down", "client_down")),
    (Notification("temporary_limit_set", "", {}), ("temporary_limit_set",)),
])
def test_what_a_notification_counts_as(notification: Notification, names: tuple) -> None:
    assert chosen_event(notification) == names and set(names) <= set(EVENTS)


def test_a_target_gets_only_the_events_it_lists(notification_services: NotificationServices) -> None:
    everything = build_target({"type": "slack", "url": notification_services.slack_url})
    streaming_only = build_target({"type": "discord", "url": notification_services.discord_url,
                                   "events": ["streaming_started", "client_down"]})
    dispatcher = NotificationDispatcher([everything, streaming_only], timeout_sec=2.0)
    dispatcher.start()
    try:
        for notification in (note(), note(state="idle"), Notification("side_failing", "down", {"kind": "client"}),
                             Notification("side_failing", "down", {"kind": "server"}), Notification("override", "o")):
            dispatcher.notify(notification)
        assert wait_until(lambda: dispatcher.sent == 7 and dispatcher.pending() == 0, timeout=10)
    finally:
        dispatcher.stop(1.0)
    assert len(notification_services.of("slack")) == 5
    assert [d.body["content"] for d in notification_services.of("discord")] == [MESSAGE, "down"]
    assert DISCORD_TOKEN not in repr(streaming_only) + streaming_only.describe()


def test_a_refused_delivery_is_a_warning_without_secrets(
    notification_services: NotificationServices, caplog: Any,
) -> None:
    target = build_target({"type": "gotify", "url": notification_services.gotify_url, "token": "Wrong.Token.55"})
    dispatcher = NotificationDispatcher([target], timeout_sec=2.0)
    dispatcher.start()
    with caplog.at_level(logging.DEBUG):
        dispatcher.notify(note())
        assert wait_until(lambda: dispatcher.failed == 1, timeout=10)
        dispatcher.stop(1.0)
    assert "notification to gotify http://127.0.0.1:%d" % notification_services.port in caplog.text
    assert "Wrong.Token.55" not in caplog.text


class _Answer:
    def __init__(self, data: bytes) -> None:
        self.data = data


SECRET = "Secret-Key-123"
_WITH_SECRET = st.builds(lambda a, b: a + SECRET + b, st.text(max_size=60), st.text(max_size=60))


@given(st.one_of(
    st.binary(max_size=400),
    st.builds(lambda a, b: a + SECRET.encode() + b, st.binary(max_size=60), st.binary(max_size=60)),
    st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(
        st.sampled_from(["message", "error", "errors", "errorDescription"]),
        st.one_of(_WITH_SECRET, st.text(max_size=200), st.lists(_WITH_SECRET, max_size=3), st.integers(), st.none()),
        max_size=4)),
))
def test_any_service_answer_gives_a_short_printable_reason_without_the_secret(body: bytes) -> None:
    from adapters.notify.services import service_reason

    reason = service_reason(_Answer(body), (SECRET,), "message", "error", "errors", "errorDescription")
    assert isinstance(reason, str) and len(reason) <= 120 and reason.isprintable()
    assert SECRET not in reason
