"""Command line: argparse -> config -> container -> runner."""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, List, Mapping, Optional

from application.loop.stopping import StopRequested, raise_stop_requested
from application.version import __version__

if TYPE_CHECKING:
    from adapters.status.server import StatusClient

DEFAULT_CONFIG = "/etc/plex-helper/config.json"
EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2
KIND_NAMES = {"plex": "Plex", "jellyfin": "Jellyfin", "emby": "Emby", "qbittorrent": "qBittorrent",
              "transmission": "Transmission", "deluge": "Deluge", "sabnzbd": "SABnzbd", "nzbget": "NZBGet"}


DESCRIPTION = """\
Keeps remote streams smooth on a shared home line. While someone streams from your Plex, Jellyfin or
Emby server over the internet, plex-helper lowers the upload limits of qBittorrent, Transmission and
Deluge (and, with streaming_download_kbps, the download limits of SABnzbd and NZBGet); when nobody
streams remotely it restores exactly what you had. Any number of servers and clients.

Without a command, or with "run", it runs as a daemon (under systemd: packaging/plex-helper.service)."""

EPILOG = """\
examples (the config under /etc/plex-helper is root-only, hence sudo):
  python3 plex-helper.pyz --demo              a short scenario with a fake Plex and qBittorrent
  sudo python3 plex-helper.pyz --check        read the config, reach every server and client
  sudo python3 plex-helper.pyz                run the daemon (the same as: ... run)
  sudo python3 plex-helper.pyz --health       ask the running daemon (needs status_listen)
  sudo python3 plex-helper.pyz override streaming --minutes 90
  sudo python3 plex-helper.pyz override upload --limit "1 MB/s" --minutes 45 --label "video call"

The configuration and every field: README.md and docs/ beside the source."""

USAGE = ("%(prog)s [--config PATH] [--once] [--dry-run] [--verbose] [--check | --health | --demo | --version]\n"
         "       %(prog)s [--config PATH] run [--once] [--dry-run] [--verbose]\n"
         "       %(prog)s [--config PATH] override {streaming,idle,upload,download,clear,show} [--minutes N] "
         "[--limit RATE] [--label TEXT]")
CONFIG_HELP = "JSON config file (default: %s)" % DEFAULT_CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plex-helper", usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", default=DEFAULT_CONFIG, help=CONFIG_HELP)
    add_run_flags(parser, False)
    parser.add_argument(
        "--check", action="store_true",
        help="read the config, reach every media server and download client, print one line each and the "
             "limits as understood; exit 0 if all work, 1 if not, 2 for a config problem",
    )
    parser.add_argument(
        "--health", action="store_true",
        help="ask the running daemon's status server (status_listen; only it and status_token are read) "
             "whether it is healthy: exit 0 if so, 1 if not or unreachable, 2 for a config problem",
    )
    parser.add_argument("--demo", action="store_true", help="run a short built-in scenario with a fake Plex and qBittorrent")
    parser.add_argument("--version", action="store_true", help="print the version and build, then exit")
    # Suppressed defaults: a subcommand's own --config or flag must not reset what came before it.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (optional)", prog="plex-helper")
    run = commands.add_parser(
        "run", help="run the daemon (the same as no command)",
        usage="%(prog)s [--config PATH] [--once] [--dry-run] [--verbose]",
        description="Run the daemon: watch the media servers and set the download clients' limits until stopped.",
    )
    run.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    add_run_flags(run, argparse.SUPPRESS)
    override = commands.add_parser(
        "override",
        help="force a state, or hold a budget at a temporary limit, on the running daemon for a while (needs "
             "status_listen)",
        usage="%(prog)s {streaming,idle,upload,download,clear,show} [--minutes N] [--limit RATE] [--label TEXT] "
              "[--config PATH]",
        description="Force the running daemon into a state for a while, hold the upload or download budget at a "
                    "temporary limit, or end that. Talks to its status server: only status_listen and status_token "
                    "are read from the config.",
    )
    override.add_argument(
        "state", choices=("streaming", "idle", "upload", "download", "clear", "show"),
        help="streaming (throttle now), idle (full speed now), upload or download (hold that budget at --limit), "
             "clear (end the override and every temporary limit), show (what is in force)",
    )
    override.add_argument(
        "--limit", metavar="RATE",
        help='upload and download: the temporary budget, in KiB/s or with a unit ("1 MB/s", "8 Mbit/s")',
    )
    override.add_argument("--label", metavar="TEXT", default="", help="upload and download: why, shown on the page")
    override.add_argument(
        "--minutes", metavar="N", type=override_minutes, default=60.0,
        help="how long streaming or idle lasts, above 0 and at most 10080 (a week) (default: %(default)g)",
    )
    override.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parser


def add_run_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """The daemon's flags, on the top level (default False) and on `run` (suppressed)."""
    for flag, text in (
        ("--once", "one observation, apply, exit: 0 on success, 1 if a server or client could not be reached"),
        ("--dry-run", "decide and log, never change any client's limit"),
        ("--verbose", "log every poll (DEBUG), with each session and why it counted"),
    ):
        parser.add_argument(flag, action="store_true", default=default, help=text)


def override_minutes(text: str) -> float:
    """argparse type of --minutes: a number above 0 and at most a week (what the daemon accepts)."""
    from application.observers.status import MAX_OVERRIDE_MINUTES

    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not (math.isfinite(minutes) and 0 < minutes <= MAX_OVERRIDE_MINUTES):
        raise argparse.ArgumentTypeError("must be above 0 and at most %d (a week), not %s" % (MAX_OVERRIDE_MINUTES, text))
    return minutes


def version_line() -> str:
    from application import version  # the .pyz bootstrap sets version.BUILD after this module's import

    return "plex-helper %s (build %s)" % (__version__, version.BUILD)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print(version_line())
        return EXIT_OK
    # until the loop installs its own handlers, a stop signal ends start-up quietly: nothing to undo yet
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_stop_requested)
        signal.signal(signal.SIGINT, raise_stop_requested)
    try:
        if args.command == "override":
            from application.override_command import run_override

            return run_override(args, status_client_for(args.config))
        if args.health:
            return run_health(args.config)
        if args.demo:
            from application.demo import run_demo

            return run_demo()
        return run_daemon(args)
    except StopRequested:
        return EXIT_OK


def status_client_for(path: str) -> Optional[StatusClient]:
    """The client of the daemon's status server per the config at `path`; None after printing why not."""
    from application.config.sources import ConfigError
    from application.config.status_endpoint import load_status_endpoint
    from application.wiring.parts import make_status_client

    try:
        listen, token = load_status_endpoint(path, os.environ)
    except ConfigError as err:
        for line in err.problems:
            sys.stderr.write(line + "\n")
        return None
    return make_status_client(listen=listen, token=token)


def run_health(path: str) -> int:
    """--health: one line, exit 0 when the daemon's /health says 200, 1 when 503 or unreachable."""
    from application.errors import UserFacingError

    client = status_client_for(path)
    if client is None:
        return EXIT_CONFIG
    try:
        health = client.health()
    except UserFacingError as err:
        sys.stderr.write("%s\n" % err)
        return EXIT_UNREACHABLE
    finally:
        client.close()
    # /health answers 200 exactly when every server and client is reachable (application/observers/status.py)
    failing = [
        "%s '%s': %s" % (KIND_NAMES.get(side.get("type"), side.get("type")), side.get("name"),
                         side.get("last_error") or "no answer yet")
        for side in list(health.get("servers") or []) + list(health.get("clients") or [])
        if isinstance(side, dict) and not side.get("reachable")
    ]
    if failing:
        sys.stderr.write("plex-helper is unhealthy: %s\n" % "; ".join(failing))
        return EXIT_UNREACHABLE
    state = health.get("effective_state") or health.get("state")
    if state != health.get("state") and health.get("override"):  # the limits follow the override, not the streams
        state = "%s (forced by an override; observed: %s)" % (state, health.get("state"))
    print("plex-helper is healthy: state %s, %s remote stream(s)" % (state, health.get("remote_streams")))
    return EXIT_OK


def is_systemd_credential(path: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """True for a file in systemd's credentials directory (the unit passes the config that way).

    systemd makes it readable by the service's user alone, often through an ACL, which makes its
    group bits look readable: the config's "chmod 600" warning would be wrong there.
    """
    directory = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY", "")
    if not directory:
        return False
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(directory)


def run_daemon(args: argparse.Namespace) -> int:
    from application.config.load import ConfigError, load_settings, permission_warnings
    from adapters.system.logging import configure_logging

    logger = configure_logging(args.verbose)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        for line in err.problems:
            sys.stderr.write(line + "\n")
        return EXIT_CONFIG
    if not is_systemd_credential(args.config):  # systemd keeps credentials private to the service
        for warning in permission_warnings(args.config):
            logger.warning("%s", warning)
    if args.check and os.geteuid() == 0:  # root reads anything; the unit's dynamic user does not
        from application.config.service_access import service_access_warnings

        for warning in service_access_warnings(args.config, os.environ):
            logger.warning("%s", warning)
    if args.check:
        from application.check import run_check

        return run_check(settings)

    if not settings.state_dir:
        adopt_old_state(logger)
    from application.container import Container

    container = Container(settings=settings, dry_run=args.dry_run, config_path=args.config)
    if args.once:
        report = container.runner().run_once()
        failed = report.source_error is not None or report.limiter_error is not None
        return EXIT_UNREACHABLE if failed else EXIT_OK
    return container.daemon().run()


def adopt_old_state(logger: logging.Logger) -> None:
    """Move what an earlier version kept in the cache directory into the state directory (once)."""
    from adapters.system.state_files import default_state_dir
    from adapters.system.state_migration import move_old_state, old_state_dir

    state_dir = default_state_dir()
    try:
        moved = move_old_state(state_dir, os.environ)
    except OSError as exc:
        logger.warning("could not move the state an earlier version kept in %s to %s: %s",
                       old_state_dir(os.environ), state_dir, exc)
        return
    if moved:
        logger.info("moved the state an earlier version kept in %s to %s (%s)",
                    old_state_dir(os.environ), state_dir, ", ".join(moved))


if __name__ == "__main__":
    sys.exit(main())
