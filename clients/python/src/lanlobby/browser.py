"""LAN browsing over the beacon (PROTOCOL.md, "LAN beacon"): listen to the
multicast groups on every chosen interface, query when starting (again after
250 ms and 1 s), and keep the set of visible lobbies and coordinator daemons:
added, updated, removed (goodbye or TTL expiry), deduplicated by id across
interfaces and address families, ordered by each sender's seq."""
from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

from . import beacon, netif
from .match import Candidate
from .beacon import BeaconError, NotBeacon
from .lankey import LanKey

#: Delays after start of the queries that make up for a lost one.
QUERY_SCHEDULE = (0.0, 0.25, 1.0)
#: Lobbies tracked at most; more are dropped and counted.
MAX_LOBBIES = 4096
#: Coordinator daemons tracked at most.
MAX_COORDINATORS = 64
#: Events kept for a consumer that does not drain them; past it the oldest go.
MAX_EVENTS = 4096
#: How often expiry is checked, in seconds.
EXPIRY_TICK = 0.2
#: A packet this far behind the last seq of a lobby is stale, further a restart.
STALE_WINDOW = 1024

ADDED, UPDATED, REMOVED = "added", "updated", "removed"


@dataclass
class LanLobby:
    """A lobby seen on the LAN. ``host`` is the packet's source address (never
    an address the packet claims) and ``port`` the coordinator's TCP port."""

    id: str
    game: str
    name: str
    players: int
    capacity: int
    state: str
    host: str
    port: int
    iface: str = ""
    seen: float = 0.0
    rtt: float = 0.0
    source: str = "beacon"
    #: The lobby's attributes as the LAN carries them (PROTOCOL.md, "Lobby
    #: attributes"): the game version, the creation time (ms since 1970 UTC;
    #: 0 when not told), the filterable metadata its host advertises, and
    #: meta_partial when it has metadata the announcement does not carry.
    #: players counts the seats reserved for a party.
    version: str = ""
    created_ms: int = 0
    meta: Dict[str, str] = field(default_factory=dict)
    meta_partial: bool = False
    #: How often the lobby changed coordinator (a successor's takeover, a move
    #: to a daemon): when two hosts announce the same lobby, the higher term
    #: is the lobby (the other host has not heard yet that it lost it).
    term: int = 0

    @property
    def addr(self) -> str:
        """The coordinator's address, "ip:port" or "[ipv6%zone]:port"."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def free(self) -> int:
        return self.capacity - self.players

    @property
    def joinable(self) -> bool:
        """Whether quick-join may pick it: open, with a seat free."""
        return self.state == "open" and self.players < self.capacity

    def candidate(self) -> Candidate:
        """The lobby as matchmaking reads it: a filter term on a key its
        announcement left out is undecided when meta_partial."""
        return Candidate(id=self.id, game=self.game, version=self.version, open=self.joinable, free=self.free,
                         created_ms=self.created_ms, meta=self.meta, partial=self.meta_partial)

    def _same(self, o: "LanLobby") -> bool:
        return (self.id, self.game, self.name, self.players, self.capacity, self.state, self.host, self.port,
                self.version, self.created_ms, self.meta, self.meta_partial, self.term) == \
            (o.id, o.game, o.name, o.players, o.capacity, o.state, o.host, o.port,
             o.version, o.created_ms, o.meta, o.meta_partial, o.term)


@dataclass
class LanCoordinator:
    """A coordinator daemon announcing itself on the LAN."""

    id: str
    name: str
    host: str
    port: int
    seen: float = 0.0

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class BrowseEvent:
    type: str  # ADDED, UPDATED, REMOVED
    lobby: LanLobby


def host_rank(host: str) -> int:
    """Preference among a lobby's source addresses: IPv4, IPv6 global, link-local."""
    if ":" not in host:
        return 0
    return 2 if host.lower().startswith("fe80") else 1


def _seq_order(seq: int, last: int) -> int:
    d = (seq - last) & 0xFFFFFFFF
    if d == 0:
        return 0
    if d >= 0x80000000 and d > 0x100000000 - STALE_WINDOW:
        return -1
    return 1


class _Entry:
    __slots__ = ("info", "seq", "ttl", "expires", "host_seen", "gone")

    def __init__(self) -> None:
        self.info: Optional[LanLobby] = None
        self.seq = 0
        self.ttl = 0.0
        self.expires = 0.0
        self.host_seen = 0.0
        self.gone = False


class _Coord:
    __slots__ = ("info", "seq", "expires", "gone")

    def __init__(self, info: LanCoordinator, seq: int) -> None:
        self.info, self.seq, self.expires, self.gone = info, seq, 0.0, False


class Table:
    """The browser's state, pure: every method takes the time (monotonic s)."""

    def __init__(self, game: str = "", max_lobbies: int = MAX_LOBBIES, hold: float = 0.0) -> None:
        self.game = game
        self.max_lobbies = max_lobbies
        self.hold = hold  # tombstone time with a LAN key: 2 x replay window
        self.lobbies: Dict[str, _Entry] = {}
        self.live = 0
        self.coords: Dict[str, _Coord] = {}
        self.query_sent = 0.0
        self.query_no = 0
        self.rtt: Dict[str, Tuple[float, int]] = {}
        self.table_full = 0
        self.stale = 0

    def queried(self, now: float) -> None:
        self.query_sent = now
        self.query_no += 1

    def observe(self, now: float, p: beacon.Packet, host: str, iface: str = "") -> List[BrowseEvent]:
        if p.flags & beacon.FLAG_REPLY and self.query_sent and self.rtt.get(host, (0, -1))[1] != self.query_no:
            if host in self.rtt or len(self.rtt) < self.max_lobbies:
                self.rtt[host] = (now - self.query_sent, self.query_no)
        evs: List[BrowseEvent] = []
        if p.kind == beacon.KIND_ANNOUNCE:
            for lb in p.lobbies:
                ev = self._announce(now, p.seq, float(p.ttl), lb, host, iface)
                if ev:
                    evs.append(ev)
        elif p.kind == beacon.KIND_GOODBYE:
            for lb in p.lobbies:
                ev = self._goodbye(now, p.seq, lb)
                if ev:
                    evs.append(ev)
        elif p.kind == beacon.KIND_COORDINATOR:
            self._coordinator(now, p, host)
        return evs

    def _view(self, e: _Entry) -> LanLobby:
        assert e.info is not None
        return replace(e.info, rtt=self.rtt.get(e.info.host, (0.0, 0))[0])

    def _better(self, now: float, e: _Entry, host: str, iface: str) -> Optional[BrowseEvent]:
        if e.gone or e.info is None or host_rank(host) >= host_rank(e.info.host):
            return None
        e.info = replace(e.info, host=host, iface=iface)
        e.host_seen = now
        return BrowseEvent(UPDATED, self._view(e))

    def _announce(self, now: float, seq: int, ttl: float, lb: beacon.Lobby, host: str,
                  iface: str) -> Optional[BrowseEvent]:
        if self.game and lb.game != self.game:
            return None
        e = self.lobbies.get(lb.id)
        fresh = e is None or e.gone
        # Terms: a host still announcing a lobby another coordinator took
        # over (it has not heard yet) is ignored; the first packet of a
        # higher term moves the lobby to its sender at once, whatever its seq
        # (the sender counts its own).
        known = e.info.term if e is not None and e.info is not None else 0
        higher = e is not None and lb.term > known
        if not fresh and lb.term < known:
            self.stale += 1
            return None
        if e is not None and not higher:
            order = _seq_order(seq, e.seq)
            if order < 0:
                self.stale += 1
                return self._better(now, e, host, iface)
            if order == 0:
                if e.gone:
                    return None
                if self.hold > 0:
                    return self._better(now, e, host, iface)
        if fresh and self.live >= self.max_lobbies:
            self.table_full += 1
            return None
        if e is None:
            if len(self.lobbies) >= 2 * self.max_lobbies:
                self._drop_tombstone()
            e = _Entry()
            self.lobbies[lb.id] = e
        old = e.info
        cur_host, cur_iface = (host, iface) if fresh or e.info is None else (e.info.host, e.info.iface)
        if fresh:
            self.live += 1
            e.gone = False
            e.host_seen = now
        e.seq, e.ttl, e.expires = seq, ttl, now + ttl
        if higher and not fresh:
            cur_host, cur_iface, e.host_seen = host, iface, now
        elif host == cur_host:
            e.host_seen = now
        elif host_rank(host) < host_rank(cur_host) or now - e.host_seen >= ttl:
            cur_host, cur_iface, e.host_seen = host, iface, now
        e.info = LanLobby(id=lb.id, game=lb.game, name=lb.name, players=lb.players, capacity=lb.capacity,
                          state=lb.state, host=cur_host, port=lb.port, iface=cur_iface, seen=now,
                          version=lb.version, created_ms=lb.created_ms, meta=dict(lb.meta), meta_partial=lb.partial,
                          term=lb.term)
        if fresh:
            return BrowseEvent(ADDED, self._view(e))
        if old is None or not old._same(e.info):
            return BrowseEvent(UPDATED, self._view(e))
        return None

    def _goodbye(self, now: float, seq: int, lb: beacon.Lobby) -> Optional[BrowseEvent]:
        e = self.lobbies.get(lb.id)
        if e is None or e.gone:
            return None
        # The goodbye of a host that lost the lobby to a higher term does not
        # end it; one of a higher term than heard ends it whatever its seq.
        known = e.info.term if e.info is not None else 0
        if lb.term < known or lb.term == known and _seq_order(seq, e.seq) < 0:
            self.stale += 1
            return None
        e.gone, e.seq, e.expires = True, seq, now + max(e.ttl, self.hold)
        self.live -= 1
        return BrowseEvent(REMOVED, self._view(e))

    def _drop_tombstone(self) -> None:
        dead = [(e.expires, k) for k, e in self.lobbies.items() if e.gone]
        if dead:
            del self.lobbies[min(dead)[1]]

    def _coordinator(self, now: float, p: beacon.Packet, host: str) -> None:
        c = p.coordinator
        assert c is not None
        e = self.coords.get(c.id)
        if e is not None and e.gone:
            order = _seq_order(p.seq, e.seq)
            if order < 0:
                self.stale += 1
                return
            if order == 0:
                return
            del self.coords[c.id]
            e = None
        if e is not None and (_seq_order(p.seq, e.seq) < 0 or (self.hold > 0 and p.seq == e.seq)):
            if p.ttl > 0 and host_rank(host) < host_rank(e.info.host):
                e.info.host = host
            return
        if p.ttl == 0:
            if e is not None and self.hold > 0:
                e.gone, e.seq, e.expires = True, p.seq, now + self.hold
            else:
                self.coords.pop(c.id, None)
            return
        if e is None:
            if len(self.coords) >= MAX_COORDINATORS:
                for k, ce in list(self.coords.items()):
                    if ce.gone:
                        del self.coords[k]
                        break
            if len(self.coords) >= MAX_COORDINATORS:
                self.table_full += 1
                return
            e = _Coord(LanCoordinator(c.id, c.name, host, c.port), p.seq)
            self.coords[c.id] = e
        if host_rank(host) <= host_rank(e.info.host) or now > e.expires:
            e.info.host = host
        e.info.id, e.info.name, e.info.port, e.info.seen = c.id, c.name, c.port, now
        e.seq, e.expires = p.seq, now + p.ttl

    def expire(self, now: float) -> List[BrowseEvent]:
        evs = []
        for lid in sorted(self.lobbies):
            e = self.lobbies[lid]
            if now < e.expires:
                continue
            if not e.gone:
                self.live -= 1
                evs.append(BrowseEvent(REMOVED, self._view(e)))
                if self.hold > 0:
                    e.gone, e.expires = True, now + self.hold
                    continue
            del self.lobbies[lid]
        for cid in list(self.coords):
            c = self.coords[cid]
            if now < c.expires:
                continue
            if c.gone or self.hold == 0:
                del self.coords[cid]
            else:
                c.gone, c.expires = True, now + self.hold
        return evs

    def snapshot(self) -> List[LanLobby]:
        return [self._view(e) for _, e in sorted(self.lobbies.items()) if not e.gone]

    def coordinators(self) -> List[LanCoordinator]:
        return [replace(c.info) for _, c in sorted(self.coords.items()) if not c.gone]


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, browser: "Browser") -> None:
        self.browser = browser

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[override]
        self.browser._packet(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors on a UDP socket: nothing to do


class Browser:
    """Finds lobbies on the LAN by beacon. ``async with Browser(game) as b``,
    then ``b.lobbies()``, ``b.coordinators()``, ``b.drain_events()`` or
    ``await b.next_event()``."""

    def __init__(self, game: str = "", *, interfaces: Optional[Sequence[str]] = None,
                 port: int = beacon.DEFAULT_PORT, lan_key: Union[LanKey, str, None] = None,
                 replay_window: float = beacon.DEFAULT_REPLAY_WINDOW, max_lobbies: int = MAX_LOBBIES,
                 group4: str = beacon.GROUP_IPV4, group6: str = beacon.GROUP_IPV6) -> None:
        self.game = game.lower()
        self.interface_names = list(interfaces or [])
        self.port = port
        self.key = LanKey.derive(lan_key) if isinstance(lan_key, str) else lan_key
        self.window = replay_window
        self.group4, self.group6 = group4, group6
        self.table = Table(self.game, max_lobbies, hold=2 * replay_window if self.key else 0.0)
        self._events: Deque[BrowseEvent] = collections.deque()
        self._lock = threading.Lock()
        self._signal: Optional[asyncio.Event] = None
        self._socks: List[socket.socket] = []
        self._queriers: List[Tuple[socket.socket, int]] = []  # (socket, family)
        self._transports: List[asyncio.BaseTransport] = []
        self._tasks: List[asyncio.Task] = []
        self.ifaces: List[netif.Interface] = []
        self.counters = collections.Counter()  # packets, malformed, unsigned, bad_signature, bad_timestamp
        self.dropped_events = 0
        self._closed = False

    async def __aenter__(self) -> "Browser":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def start(self) -> None:
        """Open the sockets on every chosen interface and start querying."""
        loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        self.ifaces = netif.select(self.interface_names)
        try:
            self._open()
            for s in self._socks:
                tr, _ = await loop.create_datagram_endpoint(lambda: _Proto(self), sock=s)
                self._transports.append(tr)
        except BaseException:
            self.close()
            raise
        self._tasks.append(loop.create_task(self._query_loop()))
        self._tasks.append(loop.create_task(self._expiry_loop()))

    def _open(self) -> None:
        v4 = [i for i in self.ifaces if i.ipv4]
        v6 = [i for i in self.ifaces if i.ipv6 and (i.multicast and not i.loopback)]
        errs = []
        if v4:
            try:
                self._open4(v4)
            except OSError as e:
                errs.append(e)
        if v6 and socket.has_ipv6:
            try:
                self._open6(v6)
            except OSError as e:
                errs.append(e)
        if not self._socks:
            raise netif.InterfaceError(f"cannot open beacon sockets: {errs or 'no interface with an address'}")

    def _open4(self, ifaces: List[netif.Interface]) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socks.append(ls)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        ls.bind(("", self.port))
        joined = 0
        for i in ifaces:
            try:
                ls.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                              socket.inet_aton(self.group4) + socket.inet_aton(i.ipv4[0]))
                joined += 1
            except OSError:
                pass
        ls.setblocking(False)
        q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socks.append(q)
        q.bind(("0.0.0.0", 0))
        q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        q.setblocking(False)
        for i in ifaces:
            self._queriers.append((q, socket.AF_INET))
        self._v4_ifaces = ifaces
        if not joined:
            raise OSError("joined the IPv4 group on no interface")

    def _open6(self, ifaces: List[netif.Interface]) -> None:
        ls = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            ls.bind(("::", self.port))
            g = socket.inet_pton(socket.AF_INET6, self.group6)
            joined = 0
            for i in ifaces:
                try:
                    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, g + struct.pack("@I", i.index))
                    joined += 1
                except OSError:
                    pass
            if not joined:
                raise OSError("joined the IPv6 group on no interface")
            ls.setblocking(False)
            q = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        except OSError:
            ls.close()
            raise
        self._socks.append(ls)
        self._socks.append(q)
        q.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        q.bind(("::", 0))
        q.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        q.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        q.setblocking(False)
        self._q6 = (q, ifaces)

    def query(self) -> None:
        """Ask every host to answer at once (on every interface and family)."""
        pkt = beacon.encode(beacon.Packet(kind=beacon.KIND_QUERY, seq=_rand32(), game=self.game))
        pkt = beacon.pad_query(pkt, self.key is not None)
        if self.key is not None:
            pkt = beacon.sign_packet(self.key, pkt)
        self.table.queried(time.monotonic())
        q4 = next((s for s, fam in self._queriers if fam == socket.AF_INET), None)
        if q4 is not None:
            for i in getattr(self, "_v4_ifaces", []):
                try:
                    q4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(i.ipv4[0]))
                    q4.sendto(pkt, (self.group4, self.port))
                except OSError:
                    pass  # one interface failing must not stop the others
        if hasattr(self, "_q6"):
            q6, ifaces = self._q6
            for i in ifaces:
                try:
                    q6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, i.index)
                    q6.sendto(pkt, (self.group6, self.port, 0, i.index))
                except OSError:
                    pass

    async def _query_loop(self) -> None:
        start = time.monotonic()
        for at in QUERY_SCHEDULE:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            self.query()

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_TICK)
            self._emit(self.table.expire(time.monotonic()))

    def _packet(self, data: bytes, addr: tuple) -> None:
        try:
            p, tail = beacon.decode(data)
        except NotBeacon:
            return
        except BeaconError:
            self.counters["malformed"] += 1
            return
        self.counters["packets"] += 1
        if p.kind == beacon.KIND_QUERY:
            return  # we only browse; advertisers answer queries
        if self.key is not None:
            try:
                beacon.verify_packet(self.key, data, tail, window=self.window)
            except beacon.Unsigned:
                self.counters["unsigned"] += 1
                return
            except beacon.BadSignature:
                self.counters["bad_signature"] += 1
                return
            except beacon.BadTimestamp:
                self.counters["bad_timestamp"] += 1
                return
        host = addr[0]
        iface = host.split("%", 1)[1] if "%" in host else ""
        self._emit(self.table.observe(time.monotonic(), p, host, iface))

    def _emit(self, evs: List[BrowseEvent]) -> None:
        if not evs:
            return
        with self._lock:
            for ev in evs:
                if len(self._events) >= MAX_EVENTS:
                    self._events.popleft()
                    self.dropped_events += 1
                self._events.append(ev)
        if self._signal is not None:
            self._signal.set()

    def lobbies(self) -> List[LanLobby]:
        """The lobbies visible now, by id."""
        return self.table.snapshot()

    def coordinators(self) -> List[LanCoordinator]:
        """The coordinator daemons visible now, by id."""
        return self.table.coordinators()

    def drain_events(self) -> List[BrowseEvent]:
        """Take the waiting events without blocking (safe from any thread)."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
        return out

    async def next_event(self, timeout: Optional[float] = None) -> Optional[BrowseEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            with self._lock:
                if self._events:
                    return self._events.popleft()
            assert self._signal is not None
            self._signal.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._signal.wait(), remaining)
            except asyncio.TimeoutError:
                return None
        return None

    def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for tr in self._transports:
            tr.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        self._socks.clear()
        if self._signal is not None:
            self._signal.set()


def _rand32() -> int:
    import secrets
    return secrets.randbits(32)

