"""Command line: argparse -> config -> container -> runner."""
from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plex-helper",
        description="Lowers qBittorrent's upload limit while Plex streams to remote viewers.",
    )
    parser.add_argument("--config", metavar="PATH", default=DEFAULT_CONFIG, help="JSON config file (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, never change qBittorrent's limit")
    parser.add_argument("--once", action="store_true", help="one observation, apply, exit (1 if a side could not be reached)")
    parser.add_argument("--verbose", action="store_true", help="log every poll (DEBUG)")
    parser.add_argument("--check", action="store_true", help="check the config and both servers, then exit")
    parser.add_argument("--demo", action="store_true", help="run a built-in scenario with fake Plex and qBittorrent")
    parser.add_argument(
        "--health", action="store_true",
        help="ask the running daemon's status server whether it is healthy: exit 0 if so, 1 if not or unreachable",
    )
    parser.add_argument("--version", action="store_true", help="print the version and build, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    override = commands.add_parser(
        "override",
        help="force a state on the running daemon (needs status_listen)",
        description="Force the running daemon into a state for a while, or end that. Talks to its status server.",
    )
    override.add_argument("state", choices=("streaming", "idle", "clear", "show"), help="streaming (throttle), idle (full speed), clear, or show")
    override.add_argument(
        "--minutes", type=override_minutes, default=60.0, help="how long, above 0 and at most a week (default: %(default)g)"
    )
    override.add_argument("--config", dest="override_config", metavar="PATH", default=None, help="config file (default: as above)")
    return parser


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
            return run_override(args)
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
    from application.config.load import ConfigError, load_settings
    from application.container import Container

    try:
        settings = load_settings(path)
    except ConfigError as err:
        for line in err.problems:
            sys.stderr.write(line + "\n")
        return None
    if not settings.status_listen:
        sys.stderr.write("%s: status_listen is not set, so the daemon has no endpoint to talk to\n" % path)
        return None
    return Container(settings=settings).status_client()


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
    # /health answers 200 exactly when both sides are reachable (application/observers/status.py), 503 otherwise
    failing = [
        "%s: %s" % (name, (health.get(key) or {}).get("last_error") or "no answer yet")
        for key, name in (("plex", "Plex"), ("qbittorrent", "qBittorrent"))
        if not (health.get(key) or {}).get("reachable")
    ]
    if failing:
        sys.stderr.write("plex-helper is unhealthy: %s\n" % "; ".join(failing))
        return EXIT_UNREACHABLE
    print("plex-helper is healthy: state %s, %s remote stream(s)" % (health.get("state"), health.get("remote_streams")))
    return EXIT_OK


def run_override(args: argparse.Namespace) -> int:
    from application.errors import UserFacingError

    client = status_client_for(args.override_config or args.config)
    if client is None:
        return EXIT_CONFIG
    try:
        if args.state == "clear":
            client.clear_override()
            print("override cleared: plex-helper follows Plex again")
        elif args.state == "show":
            override = client.health().get("override")
            print("no override" if not override else "override: %s until %s" % (override["state"], override["until"]))
        else:
            override = client.set_override(args.state, args.minutes)["override"]
            print("override: %s until %s" % (override["state"], override["until"]))
    except UserFacingError as err:
        sys.stderr.write("%s\n" % err)
        return EXIT_UNREACHABLE
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
    if args.check:
        from application.check import run_check

        return run_check(settings)

    from application.container import Container

    container = Container(settings=settings, dry_run=args.dry_run, config_path=args.config)
    if args.once:
        report = container.runner().run_once()
        failed = report.source_error is not None or report.limiter_error is not None
        return EXIT_UNREACHABLE if failed else EXIT_OK
    return container.daemon().run()


if __name__ == "__main__":
    sys.exit(main())
