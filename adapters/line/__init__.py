"""Line meters: the byte counters of the line the remote streams leave through (the LineMeter port).

- HostInterfaceMeter: this host's interface, from /proc/net/dev
- UpnpLineMeter: the router's counters over UPnP IGD (found by SSDP, or at a given description URL)
- SnmpLineMeter: a router's or switch's IF-MIB counters over SNMP v2c (needs pysnmp)
"""
from adapters.line.host import HostInterfaceMeter
from adapters.line.snmp import SnmpLineMeter
from adapters.line.upnp import UpnpLineMeter

__all__ = ["HostInterfaceMeter", "SnmpLineMeter", "UpnpLineMeter"]
