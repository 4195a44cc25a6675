"""Command line: argparse -> config -> container -> runner."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import List, Optional

from application.stopping import StopRequested, raise_stop_requested
from application.version import __version__

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
    parser.add_argument("--version", action="store_true", help="print the version and build, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    override = commands.add_parser(
        "override",
        help="force a state on the running daemon (needs status_listen)",
        description="Force the running daemon into a state for a while, or end that. Talks to its status server.",
    )
    override.add_argument("state", choices=("streaming", "idle", "clear", "show"), help="streaming (throttle), idle (full speed), clear, or show")
    override.add_argument("--minutes", type=float, default=60.0, help="how long (default: %(default)g)")
    override.add_argument("--config", dest="override_config", metavar="PATH", default=None, help="config file (default: as above)")
    return parser


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
        if args.demo:
            from application.demo import run_demo

            return run_demo()
        return run_daemon(args)
    except StopRequested:
        return EXIT_OK


def run_override(args: argparse.Namespace) -> int:
    from application.config import ConfigError, load_settings
    from application.container import Container
    from application.errors import UserFacingError

    path = args.override_config or args.config
    try:
        settings = load_settings(path)
    except ConfigError as err:
        for line in err.problems:
            sys.stderr.write(line + "\n")
        return EXIT_CONFIG
    if not settings.status_listen:
        sys.stderr.write("%s: status_listen is not set, so the daemon has no endpoint to talk to\n" % path)
        return EXIT_CONFIG
    client = Container(settings=settings).status_client()
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


def run_daemon(args: argparse.Namespace) -> int:
    from application.config import ConfigError, load_settings, permission_warnings
    from application.logging_setup import configure_logging

    logger = configure_logging(args.verbose)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        for line in err.problems:
            sys.stderr.write(line + "\n")
        return EXIT_CONFIG
    for warning in permission_warnings(args.config):
        logger.warning("%s", warning)
    if args.check:
        from application.check import run_check

        return run_check(settings)

    from application.container import Container
    from application.errors import UserFacingError

    container = Container(settings=settings, dry_run=args.dry_run)
    runner = container.runner()
    if args.once:
        report = runner.run_once()
        failed = report.source_error is not None or report.limiter_error is not None
        return EXIT_UNREACHABLE if failed else EXIT_OK

    from application.reload import ConfigReloader

    runner.reload_handler = ConfigReloader(
        args.config, settings, runner, lambda new: Container(settings=new, dry_run=args.dry_run), logger
    )
    companions = []
    if settings.notify:
        runner.observers.append(container.notification_policy())
    if settings.status_listen:
        status = container.daemon_status()
        status.restore_override()
        runner.observers.append(status)
        companions.append(container.status_server())
    if settings.plex_events:
        companions.append(container.event_listener())
    if settings.notify:
        companions.append(container.notification_dispatcher())
    started = []
    try:
        for companion in companions:
            companion.start()
            started.append(companion)
        return runner.run()
    except UserFacingError as err:  # e.g. the status server's address is taken
        logger.error("%s", err)
        return EXIT_CONFIG
    finally:
        for companion in reversed(started):
            companion.stop()


if __name__ == "__main__":
    sys.exit(main())
