"""A router's interface counters over SNMP v2c (IF-MIB), read with pysnmp.

The interface is chosen by number (ifIndex) or by name: ifName first, then ifDescr, exact before
case-insensitive. The 64-bit ifHCOutOctets / ifHCInOctets are read when the agent has them; else
the 32-bit ifOutOctets / ifInOctets (which wrap at 4 GiB: seconds on a fast line, so the domain
needs a poll well inside that). OIDs are numeric: neither side needs MIB files.

pysnmp is imported only here and only when a meter is first used, so a daemon that measures no
line over SNMP never loads it. The meter keeps one session (adapters/line/snmp_session.py: a UDP
socket connected to the agent, the requests built; pysnmp's message types, pyasn1's BER codec) from
one reading to the next, and starts a new one after a reading that could not reach the agent. Both
counters come in one GET.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, TypeVar, Union

from domain.line.counters import LineCounters
from domain.ports import FailureKind, LineMeterError

if TYPE_CHECKING:
    from adapters.line.snmp_session import SnmpSession

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
IF_OUT = "1.3.6.1.2.1.2.2.1.16"
MAX_SHOWN = 80  # characters of a name or sysDescr in a message
Result = TypeVar("Result")


@dataclass(frozen=True)
class Interface:
    index: int
    name: str  # ifName, or ifDescr when the agent has no ifName


def choose_interface(wanted: Union[int, str], names: Dict[int, str], descrs: Dict[int, str]) -> Optional[Interface]:
    """The interface `wanted` names (an ifIndex, or an ifName / ifDescr), or None.

    Exact matches win over case-insensitive ones, and ifName over ifDescr; among equals the lowest
    index, so the choice is the same on every poll.
    """
    if isinstance(wanted, int):
        if wanted in names or wanted in descrs:
            return Interface(wanted, names.get(wanted) or descrs.get(wanted, ""))
        return None
    for table in (names, descrs):
        for index in sorted(table):
            if table[index] == wanted:
                return Interface(index, names.get(index) or table[index])
    folded = wanted.casefold()
    for table in (names, descrs):
        for index in sorted(table):
            if table[index].casefold() == folded:
                return Interface(index, names.get(index) or table[index])
    return None


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """One line of at most `limit` characters: an agent's strings are foreign text."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def list_names(names: Dict[int, str], descrs: Dict[int, str]) -> str:
    shown = ["%d %s" % (i, printable(names.get(i) or descrs.get(i, ""), 24)) for i in sorted(set(names) | set(descrs))]
    return ", ".join(shown[:20]) + (" and %d more" % (len(shown) - 20) if len(shown) > 20 else "") or "none"


class SnmpLineMeter:
    """IF-MIB counters of one interface of an SNMP v2c agent (a router, a switch port, a host)."""

    def __init__(self, host: str, community: str, interface: Union[int, str], port: int = 161,
                 timeout_sec: float = 2.0, retries: int = 1) -> None:
        self.host = host
        self.port = port
        self._community = community
        self.interface = interface
        self.timeout_sec = timeout_sec
        self.retries = retries
        self._session: Optional["SnmpSession"] = None
        self._chosen: Optional[Interface] = None
        self._wide: Optional[bool] = None  # None until we know whether the agent has ifHC* counters
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return "the SNMP agent at %s:%d" % (self.host, self.port)

    # ------------------------------------------------------------------ the port

    def read_counters(self) -> LineCounters:
        with self._lock:
            return self._guarded(self._read_counters)

    def describe(self) -> str:
        with self._lock:
            return self._guarded(self._describe)

    def close(self) -> None:
        with self._lock:
            self._close_session()

    # ------------------------------------------------------------------ requests

    def _read_counters(self, snmp: "SnmpSession") -> LineCounters:
        chosen = self._interface(snmp)
        if self._wide is not False:
            values = snmp.get(("%s.%d" % (IF_HC_OUT, chosen.index), "%s.%d" % (IF_HC_IN, chosen.index)))
            if all(kind == "Counter64" for kind, _ in values):
                self._wide = True
                return LineCounters(values[0][1], values[1][1], 64, 64)
            if self._wide:  # had them, lost them: the table changed under us (a reboot renumbered it)
                self._chosen = self._wide = None
                raise LineMeterError(FailureKind.MALFORMED, "%s no longer has 64-bit counters for interface %d; "
                                     "the interface is looked up again on the next poll" % (self.where, chosen.index))
            self._wide = False
        values = snmp.get(("%s.%d" % (IF_OUT, chosen.index), "%s.%d" % (IF_IN, chosen.index)))
        if all(kind == "Counter32" for kind, _ in values):
            return LineCounters(values[0][1], values[1][1], 32, 32)
        self._chosen = None  # gone (renumbered after a reboot?): look it up again next time
        raise LineMeterError(FailureKind.MALFORMED, "%s has no byte counters for interface %d (%s): %s" % (
            self.where, chosen.index, printable(chosen.name), ", ".join(kind for kind, _ in values)))

    def _describe(self, snmp: "SnmpSession") -> str:
        (kind, descr), = snmp.get((SYS_DESCR,))
        chosen = self._interface(snmp)
        counters = self._read_counters(snmp)
        system = printable(descr) if kind == "OctetString" else "no sysDescr"
        return "%s (%s), interface %d %s, %d-bit counters" % (
            self.where, system, chosen.index, printable(chosen.name, 24), counters.sent_wrap_bits)

    def _interface(self, snmp: "SnmpSession") -> Interface:
        if self._chosen is not None:
            return self._chosen
        names = snmp.walk(IF_NAME)
        descrs = snmp.walk(IF_DESCR)
        chosen = choose_interface(self.interface, names, descrs)
        if chosen is None:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s has no interface %s; it has: %s" % (
                self.where, printable(str(self.interface), 24), list_names(names, descrs)))
        self._chosen = chosen
        return chosen

    def _guarded(self, request: Callable[["SnmpSession"], Result]) -> Result:
        try:
            if self._session is None:
                self._session = self._open_session()
            return request(self._session)
        except LineMeterError as exc:
            if exc.kind is FailureKind.UNREACHABLE:  # the next reading starts afresh: new socket, new lookup
                self._close_session()
            raise
        except Exception as exc:  # a foreign library's surprise must not end the poll loop
            self._close_session()
            raise LineMeterError(FailureKind.MALFORMED, "%s could not be read: pysnmp failed with %s" % (
                self.where, type(exc).__name__)) from None

    def _open_session(self) -> "SnmpSession":
        try:
            session = _session_class()
        except ImportError:
            raise LineMeterError(FailureKind.UNREACHABLE, "reading a line over SNMP needs the Python package pysnmp, "
                                 "which is not installed") from None
        return session(self.host, self.port, self._community, self.timeout_sec, self.retries, self.where)

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # closing a session that already failed: nothing left to save
                pass


def _session_class() -> Any:
    from adapters.line.snmp_session import SnmpSession  # lazy: it loads pysnmp, see the module's docstring

    return SnmpSession
