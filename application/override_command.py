"""The `override` command: force a state, or hold a budget at a temporary limit, on the running
daemon through its status server; or end that, or show what is in force."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping, Optional

from application.cli import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from application.errors import UserFacingError


def run_override(args: argparse.Namespace, client: Optional[Any]) -> int:
    """`override ...`: one request to the running daemon, one line (or one per limit) printed.
    `client` is None when the config could not give one (already said why)."""
    if client is None:
        return EXIT_CONFIG
    try:
        if args.state in ("upload", "download") and not args.limit:
            sys.stderr.write('override %s needs --limit, for example --limit "1 MB/s"\n' % args.state)
            return EXIT_CONFIG
        if args.state == "clear":
            client.clear_override()
            print("override and temporary limits cleared: plex-helper follows the media servers again")
        elif args.state == "show":
            health = client.health()
            override, limits = health.get("override"), health.get("temporary_limits") or []
            print("no override" if not override else "override: %s until %s" % (override["state"], override["until"]))
            for limit in limits:
                print(describe_temporary_limit(limit))
        elif args.state in ("upload", "download"):
            limit = args.limit.strip()
            kib = int(limit) if limit.isascii() and limit.isdigit() else limit  # a plain number is KiB/s
            answer = client.set_temporary_limit(args.state, kib, args.minutes, args.label)
            for shown in answer.get("temporary_limits") or []:
                if shown.get("direction") == args.state:
                    print(describe_temporary_limit(shown))
        else:
            override = client.set_override(args.state, args.minutes)["override"]
            print("override: %s until %s" % (override["state"], override["until"]))
    except UserFacingError as err:
        sys.stderr.write("%s\n" % err)
        return EXIT_UNREACHABLE
    finally:
        client.close()
    return EXIT_OK


def describe_temporary_limit(limit: Mapping[str, object]) -> str:
    """'temporary upload limit: 976 KiB/s until 2026-12-07T00:45:00+0100 (video call)'."""
    label = " (%s)" % limit["label"] if limit.get("label") else ""
    return "temporary %s limit: %s KiB/s until %s%s" % (limit.get("direction"), limit.get("kib"), limit.get("until"), label)
