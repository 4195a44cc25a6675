"""A router's interface counters over SNMP v2c (IF-MIB), read with pysnmp.

The interface is chosen by number (ifIndex) or by name: ifName first, then ifDescr, exact before
case-insensitive. The 64-bit ifHCOutOctets / ifHCInOctets are read when the agent has them; else
the 32-bit ifOutOctets / ifInOctets (which wrap at 4 GiB: seconds on a fast line, so the domain
needs a poll well inside that). OIDs are numeric: neither side needs MIB files.

pysnmp is imported only here and only when a meter is first used, so a daemon that measures no
line over SNMP never loads it, nor asyncio (together about 15 MB of memory). Its API is asyncio;
each request runs on a private event loop of its own, so callers stay synchronous (the daemon's
threads) and nothing is left behind between polls.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from domain.line.counters import LineCounters
from domain.ports import FailureKind, LineMeterError

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
IF_OUT = "1.3.6.1.2.1.2.2.1.16"
MAX_INTERFACES = 4096  # a walk stops here: an agent that never ends its table cannot hold us
MAX_SHOWN = 80  # characters of a name or sysDescr in a message


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
        self._chosen: Optional[Interface] = None
        self._wide: Optional[bool] = None  # None until we know whether the agent has ifHC* counters
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return "the SNMP agent at %s:%d" % (self.host, self.port)

    # ------------------------------------------------------------------ the port

    def read_counters(self) -> LineCounters:
        with self._lock:
            return self._run(self._read_counters)

    def describe(self) -> str:
        with self._lock:
            return self._run(self._describe)

    def close(self) -> None:
        pass  # every request has its own loop and socket, closed when it ends

    # ------------------------------------------------------------------ requests

    async def _read_counters(self, snmp: "_Session") -> LineCounters:
        chosen = await self._interface(snmp)
        if self._wide is not False:
            values = await snmp.get(["%s.%d" % (IF_HC_OUT, chosen.index), "%s.%d" % (IF_HC_IN, chosen.index)])
            if all(kind == "Counter64" for kind, _ in values):
                self._wide = True
                return LineCounters(values[0][1], values[1][1], 64, 64)
            if self._wide:  # had them, lost them: the table changed under us (a reboot renumbered it)
                self._chosen = self._wide = None
                raise LineMeterError(FailureKind.MALFORMED, "%s no longer has 64-bit counters for interface %d; "
                                     "the interface is looked up again on the next poll" % (self.where, chosen.index))
            self._wide = False
        values = await snmp.get(["%s.%d" % (IF_OUT, chosen.index), "%s.%d" % (IF_IN, chosen.index)])
        if all(kind == "Counter32" for kind, _ in values):
            return LineCounters(values[0][1], values[1][1], 32, 32)
        self._chosen = None  # gone (renumbered after a reboot?): look it up again next time
        raise LineMeterError(FailureKind.MALFORMED, "%s has no byte counters for interface %d (%s): %s" % (
            self.where, chosen.index, printable(chosen.name), ", ".join(kind for kind, _ in values)))

    async def _describe(self, snmp: "_Session") -> str:
        (kind, descr), = await snmp.get([SYS_DESCR])
        chosen = await self._interface(snmp)
        counters = await self._read_counters(snmp)
        system = printable(descr) if kind == "OctetString" else "no sysDescr"
        return "%s (%s), interface %d %s, %d-bit counters" % (
            self.where, system, chosen.index, printable(chosen.name, 24), counters.sent_wrap_bits)

    async def _interface(self, snmp: "_Session") -> Interface:
        if self._chosen is not None:
            return self._chosen
        names = await snmp.walk(IF_NAME)
        descrs = await snmp.walk(IF_DESCR)
        chosen = choose_interface(self.interface, names, descrs)
        if chosen is None:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s has no interface %s; it has: %s" % (
                self.where, printable(str(self.interface), 24), list_names(names, descrs)))
        self._chosen = chosen
        return chosen

    def _run(self, request: Any) -> Any:
        import asyncio  # lazy, like pysnmp

        try:
            hlapi = _hlapi()
        except ImportError:
            raise LineMeterError(FailureKind.UNREACHABLE, "reading a line over SNMP needs the Python package pysnmp, "
                                 "which is not installed") from None
        deadline = self.timeout_sec * (self.retries + 1) * 8 + 1  # a few requests, each with its retries
        loop = asyncio.new_event_loop()
        try:
            session = _Session(hlapi, self)
            return loop.run_until_complete(asyncio.wait_for(session.run(request), deadline))
        except asyncio.TimeoutError:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s did not finish answering within %g s" % (
                self.where, deadline)) from None
        except LineMeterError:
            raise
        except Exception as exc:  # a foreign library's surprise must not end the poll loop
            raise LineMeterError(FailureKind.MALFORMED, "%s could not be read: pysnmp failed with %s" % (
                self.where, type(exc).__name__)) from None
        finally:
            loop.close()


def _hlapi() -> Any:
    from pysnmp.hlapi.v1arch import asyncio as hlapi  # lazy: see the module's docstring

    return hlapi


def _pysnmp_error() -> Any:
    from pysnmp.error import PySnmpError

    return PySnmpError


class _Session:
    """One request's dispatcher and target, and the answers in plain values: (type name, value)."""

    def __init__(self, hlapi: Any, meter: SnmpLineMeter) -> None:
        self.hlapi = hlapi
        self.meter = meter
        self.auth = hlapi.CommunityData(meter._community, mpModel=1)  # mpModel 1: SNMP v2c
        self.dispatcher: Any = None
        self.target: Any = None

    async def run(self, request: Any) -> Any:
        self.dispatcher = self.hlapi.SnmpDispatcher()
        try:
            self.target = await self.hlapi.UdpTransportTarget.create(
                (self.meter.host, self.meter.port), timeout=self.meter.timeout_sec, retries=self.meter.retries)
            return await request(self)
        except _pysnmp_error() as exc:  # an address that does not resolve, a socket that will not open
            raise LineMeterError(FailureKind.UNREACHABLE, "%s cannot be asked: %s" % (
                self.meter.where, printable(str(exc)))) from None
        finally:
            self.dispatcher.transport_dispatcher.close_dispatcher()

    async def get(self, oids: Sequence[str]) -> List[Tuple[str, Any]]:
        indication, status, index, binds = await self.hlapi.get_cmd(
            self.dispatcher, self.auth, self.target, *[(oid, None) for oid in oids])
        self._check(indication, status)
        return [_plain(value) for _, value in binds]

    async def walk(self, column: str) -> Dict[int, str]:
        found: Dict[int, str] = {}
        prefix = column + "."
        walker = self.hlapi.walk_cmd(self.dispatcher, self.auth, self.target, (column, None),
                                     lookupMib=False, lexicographicMode=False, maxRows=MAX_INTERFACES)
        async for indication, status, index, binds in walker:
            self._check(indication, status)
            for name, value in binds:
                oid = str(name)
                kind, text = _plain(value)
                if oid.startswith(prefix) and oid[len(prefix):].isdigit() and kind == "OctetString":
                    found[int(oid[len(prefix):])] = text
        return found

    def _check(self, indication: Any, status: Any) -> None:
        if indication:
            # v2c has no way to refuse a wrong community: the agent stays silent, so say both
            raise LineMeterError(FailureKind.UNREACHABLE, "%s did not answer (%s): is it running, and is the "
                                 "community right?" % (self.meter.where, printable(str(indication))))
        if status:
            refused = int(status) in (6, 16)  # noAccess, authorizationError
            kind = FailureKind.REJECTED if refused else FailureKind.MALFORMED
            raise LineMeterError(kind, "%s refused the request (%s)" % (
                self.meter.where, printable(status.prettyPrint())))


def _plain(value: Any) -> Tuple[str, Any]:
    """('Counter64', 123), ('OctetString', 'eth0'), ('NoSuchInstance', None), ... for one answer."""
    kind = type(value).__name__
    if kind in ("Counter64", "Counter32", "Integer", "Integer32", "Gauge32", "Unsigned32"):
        return kind, int(value)
    if kind == "OctetString":
        return kind, bytes(value.asOctets()).decode("utf-8", "replace")
    return kind, None
