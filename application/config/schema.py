"""The config file's schema: every setting, its type, its bounds and its default (taken from
Settings), and the rules that tie settings together. Reading a file into Settings is
application/config/load.py.
"""

from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
from typing import Any, Dict

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from application.config.fields import (
    DAY,
    HOUR,
    MAX_COUNT,
    WEEK,
    NotifyTarget,
    RateField,
    ScheduleField,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
    _between,
    _cidr,
    _header_safe,
    _host_name,
    _http_url,
    _is_loopback,
    _listen_address,
    _non_empty,
    _positive,
    _readable_file,
    _time_zone,
)
from application.config.lists import DownloadClientSchema, MediaServerSchema, check_shorthand, no_entries
from application.config.mqtt import MqttSchema
from application.config.line import LineMeterSchema, check_line_fits
from application.config.settings import Settings

COUNTABLE_STATES = ("playing", "paused", "buffering")



def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain a NUL character")


LIMIT_POLICIES = ("fixed", "tiers", "dynamic")
LIMIT_MODES = ("global", "alternative")


class TierSchema(Schema):
    class Meta:
        unknown = RAISE

    streams = StrictInteger(required=True, validate=_between(1, MAX_COUNT))
    upload_kbps = RateField(required=True)


# Every default lives in Settings (application/config/settings.py); the schema takes it from there.
DEFAULTS = {f.name: f.default for f in dataclass_fields(Settings) if f.default is not MISSING}


class ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    # required unless media_servers / download_clients say the same (see _one_way_per_kind)
    plex_url = StrictString(load_default=DEFAULTS["plex_url"], validate=_http_url)
    plex_token = StrictString(load_default=DEFAULTS["plex_token"], validate=_header_safe)
    qbittorrent_url = StrictString(load_default=DEFAULTS["qbittorrent_url"], validate=_http_url)
    media_servers = fields.List(fields.Nested(MediaServerSchema), load_default=None, validate=no_entries)
    download_clients = fields.List(fields.Nested(DownloadClientSchema), load_default=None, validate=no_entries)
    qbittorrent_username = StrictString(load_default=DEFAULTS["qbittorrent_username"])
    qbittorrent_password = StrictString(load_default=DEFAULTS["qbittorrent_password"])
    qbittorrent_api_key = StrictString(load_default=DEFAULTS["qbittorrent_api_key"], validate=lambda v: _header_safe(v) if v else None)
    # unset: idle is each client's own limit, as plex-helper found it (restored after a throttle)
    idle_upload_kbps = RateField(load_default=DEFAULTS["idle_upload_kbps"], allow_none=True)
    streaming_upload_kbps = RateField(load_default=DEFAULTS["streaming_upload_kbps"])
    # the download budget of SABnzbd and NZBGet while streaming; unset: downloads are never touched
    streaming_download_kbps = RateField(load_default=DEFAULTS["streaming_download_kbps"], allow_none=True)
    # share the upload budget by activity: an idle client keeps 10% of its share, the rest goes to the others
    rebalance = StrictBoolean(load_default=DEFAULTS["rebalance"])
    poll_interval_sec = StrictNumber(load_default=DEFAULTS["poll_interval_sec"], validate=_between(1, HOUR))
    streaming_threshold = StrictInteger(load_default=DEFAULTS["streaming_threshold"], validate=_between(1, MAX_COUNT))
    idle_threshold = StrictInteger(load_default=DEFAULTS["idle_threshold"], validate=_between(1, MAX_COUNT))
    count_states = fields.List(
        StrictString(validate=validate.OneOf(COUNTABLE_STATES, error="must be one of " + ", ".join(COUNTABLE_STATES))),
        load_default=list(DEFAULTS["count_states"]),
        validate=_non_empty("must name at least one state"),
    )
    plex_down_restore_after_sec = StrictNumber(load_default=DEFAULTS["plex_down_restore_after_sec"], validate=_between(0, WEEK))
    restore_on_exit = StrictBoolean(load_default=DEFAULTS["restore_on_exit"])
    reconcile_interval_sec = StrictNumber(load_default=DEFAULTS["reconcile_interval_sec"], validate=_between(0, DAY))
    # at most 30: a poll (Plex, then qBittorrent) must end well within systemd's WatchdogSec
    http_timeout_sec = StrictNumber(load_default=DEFAULTS["http_timeout_sec"], validate=[_positive(), validate.Range(max=30, error="must be at most {max}")])
    login_retry_sec = StrictNumber(load_default=DEFAULTS["login_retry_sec"], validate=_between(1, DAY))
    plex_verify_tls = StrictBoolean(load_default=DEFAULTS["plex_verify_tls"])
    plex_ca_file = StrictString(load_default=DEFAULTS["plex_ca_file"], allow_none=True, validate=_readable_file)
    qbittorrent_verify_tls = StrictBoolean(load_default=DEFAULTS["qbittorrent_verify_tls"])
    qbittorrent_ca_file = StrictString(load_default=DEFAULTS["qbittorrent_ca_file"], allow_none=True, validate=_readable_file)
    lan_networks = fields.List(StrictString(validate=_cidr), load_default=DEFAULTS["lan_networks"])
    ignore_users = fields.List(StrictString(), load_default=DEFAULTS["ignore_users"])

    limit_policy = StrictString(load_default=DEFAULTS["limit_policy"], validate=validate.OneOf(LIMIT_POLICIES, error="must be one of " + ", ".join(LIMIT_POLICIES)))
    streaming_tiers = fields.List(
        fields.Nested(TierSchema), load_default=[], validate=validate.Length(max=100, error="must list at most {max} tiers"),
    )
    upload_capacity_kbps = RateField(load_default=DEFAULTS["upload_capacity_kbps"], unlimited=False)  # 0: not set
    stream_overhead_factor = StrictNumber(load_default=DEFAULTS["stream_overhead_factor"], validate=_between(1, 10))
    min_upload_kbps = RateField(load_default=DEFAULTS["min_upload_kbps"], minimum=1, unlimited=False)
    dynamic_deadband_percent = StrictNumber(load_default=DEFAULTS["dynamic_deadband_percent"], validate=validate.Range(min=0, max=100, error="must be between {min} and {max}"))
    limit_mode = StrictString(load_default=DEFAULTS["limit_mode"], validate=validate.OneOf(LIMIT_MODES, error="must be one of " + ", ".join(LIMIT_MODES)))
    plex_events = StrictBoolean(load_default=DEFAULTS["plex_events"])
    max_transitions_per_hour = StrictInteger(load_default=DEFAULTS["max_transitions_per_hour"], validate=_between(0, HOUR))
    notify = fields.List(NotifyTarget(), load_default=DEFAULTS["notify"])
    notify_after_failures = StrictInteger(load_default=DEFAULTS["notify_after_failures"], validate=_between(1, MAX_COUNT))
    status_listen = StrictString(load_default=DEFAULTS["status_listen"], validate=lambda v: _listen_address(v) if v else None)
    status_token = StrictString(load_default=DEFAULTS["status_token"], validate=lambda v: _header_safe(v) if v else None)
    status_allowed_hosts = fields.List(StrictString(validate=_host_name), load_default=list(DEFAULTS["status_allowed_hosts"]),
                                       validate=validate.Length(max=100, error="must list at most {max} names"))
    status_allow_lan_override = StrictBoolean(load_default=DEFAULTS["status_allow_lan_override"])
    status_token_guards_reading = StrictBoolean(load_default=DEFAULTS["status_token_guards_reading"])
    state_dir = StrictString(load_default=DEFAULTS["state_dir"], allow_none=True, validate=[_non_empty(), _no_nul])
    schedule = ScheduleField(load_default=())
    timezone = StrictString(load_default=DEFAULTS["timezone"], validate=_time_zone)
    history_days = StrictInteger(load_default=DEFAULTS["history_days"], validate=_between(0, 3650))
    mqtt = fields.Nested(MqttSchema, load_default=None, allow_none=True)
    # the measured line (application/config/line.py): a capacity per direction, 0 = not measured
    line_upload_kbps = RateField(load_default=DEFAULTS["line_upload_kbps"], unlimited=False)
    line_download_kbps = RateField(load_default=DEFAULTS["line_download_kbps"], unlimited=False)
    line_headroom_percent = StrictNumber(load_default=DEFAULTS["line_headroom_percent"], validate=_between(0, 90))
    line_meter = fields.Nested(LineMeterSchema, load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _line_fits(self, data: Dict[str, Any], **_: Any) -> None:
        check_line_fits(data)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _one_way_per_kind(self, data: Dict[str, Any], original: Dict[str, Any], **_: Any) -> None:
        check_shorthand(data, original)
        required = []
        if original.get("media_servers") is None:
            required += [key for key in ("plex_url", "plex_token") if key not in original]
        if original.get("download_clients") is None and "qbittorrent_url" not in original:
            required.append("qbittorrent_url")
        if required:
            raise ValidationError({key: ["Missing data for required field."] for key in required})

    @validates_schema(skip_on_field_errors=False)
    def _remote_status_needs_a_token(self, data: Dict[str, Any], **_: Any) -> None:
        listen = data.get("status_listen") or ""
        if data.get("status_token_guards_reading") and not data.get("status_token"):
            raise ValidationError("needs a status_token: it is what reading then asks for", "status_token_guards_reading")
        if listen and not data.get("status_token"):
            from adapters.status.server import parse_listen

            try:
                host, _port = parse_listen(listen)
            except ValueError:
                return
            if not _is_loopback(host):
                raise ValidationError(
                    "binding to %s without a status_token would let anyone on the network change the "
                    "throttle; set status_token or listen on 127.0.0.1" % (host or "all addresses"), "status_listen",
                )

    @validates_schema(skip_on_field_errors=False)
    def _policy_has_its_settings(self, data: Dict[str, Any], **_: Any) -> None:
        policy = data.get("limit_policy")
        if policy == "tiers":
            tiers = data.get("streaming_tiers") or []
            if not tiers:
                raise ValidationError("must list at least one tier when limit_policy is tiers", "streaming_tiers")
            counts = [t.get("streams") for t in tiers if isinstance(t, dict)]
            if len(set(counts)) != len(counts):
                raise ValidationError("two tiers have the same streams count", "streaming_tiers")
        if policy == "dynamic" and not data.get("upload_capacity_kbps"):
            raise ValidationError("required (at least 1) when limit_policy is dynamic", "upload_capacity_kbps")

    @validates_schema(skip_on_field_errors=False)
    def _credentials_fit_together(self, data: Dict[str, Any], **_: Any) -> None:
        username = data.get("qbittorrent_username", "")
        password = data.get("qbittorrent_password", "")
        if username and not password and not data.get("qbittorrent_api_key"):
            raise ValidationError(
                "required when qbittorrent_username is set (or set QBITTORRENT_PASSWORD)",
                "qbittorrent_password",
            )
        if password and not username:
            raise ValidationError("required when a password is set", "qbittorrent_username")
