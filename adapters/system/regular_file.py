"""Reading a small file that must be a regular one: the config, a *_FILE secret, a state file.

Opened without blocking, and read only when it is a regular file of at most `limit` bytes: a FIFO or
a device in its place must not hang start-up, a SIGHUP reload (where a blocked open() would be
retried after every signal and so ignore SIGTERM) or the daemon's signal handling.
"""
from __future__ import annotations

import errno
import os
import stat

MIB = 1024 * 1024


class UnreadableFile(Exception):
    """str() says why, as words that follow "cannot read ...: " (never the file's content)."""


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_regular_bytes(path: str, limit: int, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Never blocks on a FIFO or a device.
    With follow_symlinks=False a symbolic link in the file's place is refused (O_NOFOLLOW).

    Raises FileNotFoundError when nothing is there, UnreadableFile for anything else.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise UnreadableFile("it is a symbolic link, which is not followed here") from None
        raise UnreadableFile(exc.strerror or str(exc)) from None
    except ValueError as exc:  # a NUL in the path
        raise UnreadableFile(getattr(exc, "strerror", None) or str(exc)) from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile(os.strerror(errno.EISDIR))  # the words open() always gave
        if not stat.S_ISREG(info.st_mode):
            kind = next((words for test, words in _KINDS if test(info.st_mode)), "a special file")
            raise UnreadableFile("it is %s, not a regular file" % kind)
        if info.st_size > limit:  # known before reading it
            raise UnreadableFile("it is larger than %s" % _size_words(limit))
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    finally:
        os.close(descriptor)
    if len(data) > limit:  # it grew while it was read
        raise UnreadableFile("it is larger than %s" % _size_words(limit))
    return data


def _size_words(limit: int) -> str:
    return "%d MiB" % (limit // MIB) if limit >= MIB and limit % MIB == 0 else "%d bytes" % limit
