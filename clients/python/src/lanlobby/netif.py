"""Which network interfaces LAN discovery uses (the same policy as the Go
side's netutil): every interface that is up and multicast-capable, not
point-to-point, not loopback, and not a container, VM or VPN bridge by name;
or exactly the interfaces named (``interfaces=[...]`` or the environment
variable LANLOBBY_INTERFACE, comma-separated), loopback included.

Interfaces and their addresses are read with the standard library only: on
Linux (and Android) through ioctl and /proc/net/if_inet6. Elsewhere the
SDK falls back to the system's default multicast interface.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "vnet", "lxcbr", "lxdbr", "podman", "cni", "flannel",
                    "cali", "weave", "vxlan", "kube-", "genev", "tun", "utun", "wg", "tailscale", "awdl", "llw",
                    "anpi", "vEthernet")

IFF_UP, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_MULTICAST = 0x1, 0x8, 0x10, 0x1000
_SIOCGIFFLAGS, _SIOCGIFADDR, _SIOCGIFNETMASK = 0x8913, 0x8915, 0x891B

ENV_INTERFACE = "LANLOBBY_INTERFACE"


@dataclass
class Interface:
    name: str
    index: int
    flags: int
    ipv4: List[str] = field(default_factory=list)
    ipv4_nets: List[ipaddress.IPv4Network] = field(default_factory=list)
    ipv6: List[str] = field(default_factory=list)  # global first, then link-local

    @property
    def loopback(self) -> bool:
        return bool(self.flags & IFF_LOOPBACK)

    @property
    def multicast(self) -> bool:
        return bool(self.flags & IFF_MULTICAST)


class InterfaceError(OSError):
    pass


def _ioctl(sock: socket.socket, req: int, name: str) -> Optional[bytes]:
    import fcntl
    try:
        return fcntl.ioctl(sock.fileno(), req, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None


def all_interfaces() -> List[Interface]:
    """Every interface of this host (of this network namespace on Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    out = []
    v6 = {}
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    a = ipaddress.IPv6Address(bytes.fromhex(parts[0]))
                    v6.setdefault(parts[5], []).append(a)
    except OSError:
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for index, name in socket.if_nameindex():
            r = _ioctl(s, _SIOCGIFFLAGS, name)
            flags = struct.unpack_from("H", r, 16)[0] if r else 0
            it = Interface(name=name, index=index, flags=flags)
            a = _ioctl(s, _SIOCGIFADDR, name)
            if a:
                addr = socket.inet_ntoa(a[20:24])
                m = _ioctl(s, _SIOCGIFNETMASK, name)
                mask = socket.inet_ntoa(m[20:24]) if m else "255.255.255.255"
                it.ipv4.append(addr)
                it.ipv4_nets.append(ipaddress.IPv4Network(f"{addr}/{mask}", strict=False))
            addrs = v6.get(name, [])
            it.ipv6 = [str(x) for x in addrs if not x.is_link_local] + [str(x) for x in addrs if x.is_link_local]
            out.append(it)
    finally:
        s.close()
    return out


def is_virtual(name: str) -> bool:
    return name.startswith(VIRTUAL_PREFIXES)


def select(names: Optional[Sequence[str]] = None) -> List[Interface]:
    """The interfaces to discover on: those named (or in LANLOBBY_INTERFACE),
    else the automatic choice. Raises InterfaceError when none is usable
    or a named one is missing."""
    if not names:
        env = os.environ.get(ENV_INTERFACE, "")
        names = [n.strip() for n in env.split(",") if n.strip()]
    cands = all_interfaces()
    if not cands and not sys.platform.startswith("linux"):
        # No portable way to list interfaces in the standard library: let
        # the system choose (one default interface, index 0).
        return [Interface(name="default", index=0, flags=IFF_UP | IFF_MULTICAST, ipv4=["0.0.0.0"])]
    if names:
        out = []
        for n in names:
            it = next((c for c in cands if c.name == n), None)
            if it is None:
                raise InterfaceError(f"unknown interface {n!r}")
            if not it.flags & IFF_UP:
                raise InterfaceError(f"interface {n!r} is down")
            if not it.ipv4 and not it.ipv6:
                raise InterfaceError(f"interface {n!r} has no address")
            out.append(it)
        return out
    out = [c for c in cands if c.flags & IFF_UP and c.multicast and not c.loopback
           and not c.flags & IFF_POINTOPOINT and not is_virtual(c.name) and (c.ipv4 or c.ipv6)]
    if not out:
        raise InterfaceError("no usable network interface for LAN discovery")
    return out
