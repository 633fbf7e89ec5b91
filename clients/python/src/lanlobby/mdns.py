"""One-shot mDNS/DNS-SD browsing for lobbies (PROTOCOL.md, "mDNS / DNS-SD").

``query`` asks every responder on the chosen interfaces for the
``_lanlobby._tcp.local`` services (or a game's subtype
``_<game>._sub._lanlobby._tcp.local``) with a legacy unicast query (RFC 6762
§6.7): sent to 224.0.0.251:5353 from an ephemeral port of its own, so
responders answer it by unicast to that port, with the SRV, TXT and address
records beside the PTR answers, and no socket on port 5353 is needed. The
answers become LanLobby entries (source "mdns"), the TXT record checked as
the protocol says (v=1, id, g, p, c, s; n optional) and, with a LAN key,
its signature verified. IPv4 only.
"""
from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

from . import beacon, match, netif
from .browser import LanLobby
from .lankey import LanKey

GROUP_IPV4 = "224.0.0.251"
PORT = 5353
SERVICE = (b"_lanlobby", b"_tcp", b"local")
#: Answers up to this size (EDNS0, as PROTOCOL.md's browsers ask).
UDP_SIZE = 1400
#: Records taken from one answer, and services from all: bounds for a hostile LAN.
MAX_RECORDS = 256
MAX_SERVICES = 4096
#: The replay window of signed TXT records (PROTOCOL.md: 90 s).
TXT_WINDOW = 90.0

T_A, T_PTR, T_TXT, T_AAAA, T_SRV, T_OPT = 1, 12, 16, 28, 33, 41

Name = Tuple[bytes, ...]  # lower-cased labels for matching

#: A game id (PROTOCOL.md, Limits), upper case folded before.
GAME_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,31}\Z")


class DNSError(ValueError):
    pass


def encode_query(qid: int, name: Name) -> bytes:
    """A standard query for name's PTR records with an EDNS0 option."""
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1)
    for label in name:
        q += bytes([len(label)]) + label
    q += b"\x00" + struct.pack(">HH", T_PTR, 1)
    return q + b"\x00" + struct.pack(">HHIH", T_OPT, UDP_SIZE, 0, 0)


def _name(b: bytes, off: int) -> Tuple[List[bytes], int]:
    """The labels (raw bytes) of the name at off, following compression
    pointers; and the offset after it."""
    labels: List[bytes] = []
    end = -1
    jumps = 0
    while True:
        if off >= len(b):
            raise DNSError("name runs past the end")
        n = b[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(b) or jumps > 32:
                raise DNSError("bad compression pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | b[off + 1]
            jumps += 1
            continue
        if n & 0xC0:
            raise DNSError("bad label type")
        if n == 0:
            return labels, (end if end >= 0 else off + 1)
        labels.append(b[off + 1:off + 1 + n])
        if len(labels[-1]) != n or len(labels) > 128:
            raise DNSError("label runs past the end")
        off += 1 + n


def decode_records(b: bytes) -> List[Tuple[List[bytes], int, bytes, int]]:
    """Every answer, authority and additional record of a response:
    (owner labels, type, rdata, rdata offset)."""
    if len(b) < 12:
        raise DNSError("short message")
    _, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", b[:12])
    if not flags & 0x8000:
        raise DNSError("not a response")
    off = 12
    for _ in range(qd):
        _, off = _name(b, off)
        off += 4
    out = []
    for _ in range(min(an + ns + ar, MAX_RECORDS)):
        owner, off = _name(b, off)
        if off + 10 > len(b):
            raise DNSError("record runs past the end")
        typ, _, _, rdlen = struct.unpack(">HHIH", b[off:off + 10])
        off += 10
        if off + rdlen > len(b):
            raise DNSError("rdata runs past the end")
        out.append((owner, typ, b[off:off + rdlen], off))
        off += rdlen
    return out


def _key(labels: Sequence[bytes]) -> Name:
    return tuple(l.lower() for l in labels)


def txt_strings(rdata: bytes) -> List[bytes]:
    out, i = [], 0
    while i < len(rdata):
        n = rdata[i]
        out.append(rdata[i + 1:i + 1 + n])
        i += 1 + n
    return out


def lobby_from_txt(strings: List[bytes], instance: str) -> Optional[dict]:
    """The lobby a TXT record describes (PROTOCOL.md, "TXT record, version
    1"), or None when it is not a valid one: keys without case, the first
    occurrence counts, unknown keys ignored."""
    kv: Dict[str, str] = {}
    for s in strings:
        k, eq, v = s.partition(b"=")
        if not eq or not k:
            continue
        try:
            kv.setdefault(k.decode("ascii").lower(), v.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    try:
        if kv.get("v") != "1" or kv.get("s") not in beacon.STATE_CODES:
            return None
        p, c = int(kv["p"]), int(kv["c"])
        lb = {"id": kv["id"], "game": kv["g"].lower(), "name": kv.get("n") or instance, "players": p, "capacity": c,
              "state": kv["s"]}
        beacon._valid_id(lb["id"])
        if not GAME_RE.match(lb["game"]):
            return None
        beacon._valid_text("name", lb["name"], 1, beacon.MAX_NAME)
    except (KeyError, ValueError):
        return None
    if not (beacon.MIN_CAPACITY <= c <= beacon.MAX_CAPACITY and 0 <= p <= c) or not kv["p"].isdigit():
        return None
    lb.update(attrs_from_txt(strings))
    return lb


def attrs_from_txt(strings: List[bytes]) -> dict:
    """The lobby attributes of TXT strings (gv, ct, m.KEY, mp), as leniently
    as the beacon's: what breaks the rules is left out, and a metadata pair
    so lost makes the lobby partial."""
    version, created, partial, term = "", 0, False, 0
    seen_v = seen_c = seen_t = False
    pairs = []
    for s in strings:
        k, eq, v = s.partition(b"=")
        if not eq:
            continue
        key = k.decode("ascii", "replace").lower()
        try:
            val = v.decode("utf-8")
        except UnicodeDecodeError:
            if key.startswith("m."):
                partial = True
            continue
        if key == "gv" and not seen_v:
            seen_v = True
            if val and match.valid_version(val):
                version = val
        elif key == "ct" and not seen_c:
            seen_c = True
            if val.isdigit() and val.isascii() and len(val) <= 19 and int(val) > 0:
                created = int(val)
        elif key == "tm" and not seen_t:
            seen_t = True
            if val.isdigit() and val.isascii() and len(val) <= 10 and int(val) <= 0xFFFFFFFF:
                term = int(val)
        elif key == "mp":
            partial = True
        elif key.startswith("m."):
            if len(pairs) > match.MAX_FILTERABLE_KEYS:
                partial = True
                continue
            pairs.append((key[2:], val))
    meta: Dict[str, str] = {}
    size = 0
    for k, val in pairs:
        n = len(k.encode()) + len(val.encode())
        if not beacon.valid_meta_pair(k, val) or len(meta) == match.MAX_LAN_META_KEYS or \
                size + n > match.MAX_LAN_META_BYTES or k in meta:
            partial = True
            continue
        meta[k] = val
        size += n
    return {"version": version, "created_ms": created, "meta": meta, "meta_partial": partial, "term": term}


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: List[Tuple[bytes, str, float]] = []

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if len(self.packets) < MAX_RECORDS:
            self.packets.append((data, addr[0], time.monotonic()))


def assemble(packets: Sequence[Tuple[bytes, str, float]], game: str = "", key: Optional[LanKey] = None,
             now: Optional[float] = None, counters: Optional[dict] = None, sent: float = 0.0) -> List[LanLobby]:
    """The lobbies the answers (data, source address, arrival time) describe:
    each PTR answer for the service (or the game's subtype) resolved by its
    SRV, TXT and address records; rtt from sent (the query's time) to the
    answer."""
    counters = counters if counters is not None else {}
    instances: Dict[Name, List[bytes]] = {}
    srv: Dict[Name, Tuple[int, Name]] = {}
    txt: Dict[Name, List[bytes]] = {}
    addrs: Dict[Name, List[str]] = {}
    source: Dict[Name, Tuple[str, float]] = {}
    sub = (b"_" + game.lower().encode(), b"_sub") + SERVICE if game else None
    for data, frm, at in packets:
        try:
            records = decode_records(data)
        except DNSError:
            counters["malformed"] = counters.get("malformed", 0) + 1
            continue
        for owner, typ, rdata, off in records:
            k = _key(owner)
            try:
                if typ == T_PTR and (k == SERVICE or k == sub) and len(instances) < MAX_SERVICES:
                    target, _ = _name(data, off)
                    if len(target) == 4 and _key(target[1:]) == SERVICE:
                        instances.setdefault(_key(target), target)
                        source.setdefault(_key(target), (frm, at))
                elif typ == T_SRV and len(rdata) >= 7 and len(srv) < MAX_SERVICES:
                    port = struct.unpack(">H", rdata[4:6])[0]
                    target, _ = _name(data, off + 6)
                    srv.setdefault(k, (port, _key(target)))
                elif typ == T_TXT and len(txt) < MAX_SERVICES:
                    txt.setdefault(k, txt_strings(rdata))
                elif typ == T_A and len(rdata) == 4:
                    addrs.setdefault(k, []).append(socket.inet_ntoa(rdata))
            except DNSError:
                counters["malformed"] = counters.get("malformed", 0) + 1
    out: Dict[str, LanLobby] = {}
    for k, labels in instances.items():
        if k not in srv or k not in txt:
            continue
        port, host = srv[k]
        instance = labels[0].decode("utf-8", "replace")
        strings = txt[k]
        if key is not None:
            try:
                beacon.verify_txt(key, instance, port, strings, now, TXT_WINDOW)
            except beacon.BeaconError as e:
                name = type(e).__name__
                counters[name] = counters.get(name, 0) + 1
                continue
        lb = lobby_from_txt(strings, instance)
        if lb is None or not 1 <= port <= 65535 or (game and lb["game"] != game.lower()):
            counters["invalid"] = counters.get("invalid", 0) + 1
            continue
        frm, at = source[k]
        ip = (addrs.get(host) or [frm])[0]
        got = LanLobby(id=lb["id"], game=lb["game"], name=lb["name"], players=lb["players"],
                       capacity=lb["capacity"], state=lb["state"], host=ip, port=port,
                       seen=at, rtt=max(0.0, at - sent) if sent else 0.0, source="mdns",
                       version=lb["version"], created_ms=lb["created_ms"], meta=lb["meta"],
                       meta_partial=lb["meta_partial"], term=lb["term"])
        # Two hosts publishing one lobby: the higher term holds it.
        if lb["id"] not in out or got.term > out[lb["id"]].term:
            out[lb["id"]] = got
    return sorted(out.values(), key=lambda l: l.id)


class Query:
    """A running one-shot query: ``await Query(...).start()`` sends it (and
    again after 250 ms, in case of loss), ``lobbies()`` is what the answers
    so far describe, ``close()`` stops listening."""

    def __init__(self, game: str = "", *, interfaces: Optional[Sequence[str]] = None,
                 lan_key: Union[LanKey, str, None] = None) -> None:
        self.game = game.lower()
        self.interface_names = interfaces
        self.key = LanKey.derive(lan_key) if isinstance(lan_key, str) else lan_key
        self.counters: dict = {}
        self._proto = _Collector()
        self._tr: Optional[asyncio.BaseTransport] = None
        self._resend: Optional[asyncio.Task] = None
        self._sent = 0.0

    async def start(self) -> "Query":
        ifaces = [i for i in netif.select(self.interface_names) if i.ipv4]
        if not ifaces:
            return self
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("0.0.0.0", 0))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.setblocking(False)
            self._tr, _ = await loop.create_datagram_endpoint(lambda: self._proto, sock=s)
        except BaseException:
            s.close()
            raise
        name = ((b"_" + self.game.encode(), b"_sub") if self.game else ()) + SERVICE
        pkt = encode_query(random.getrandbits(16), name)

        def send() -> None:
            for i in ifaces:
                try:
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(i.ipv4[0]))
                    s.sendto(pkt, (GROUP_IPV4, PORT))
                except OSError:
                    pass  # one interface failing must not stop the others

        async def again() -> None:
            await asyncio.sleep(0.25)
            if not self._proto.packets:
                send()
        self._sent = time.monotonic()
        send()
        self._resend = loop.create_task(again())
        return self

    def lobbies(self) -> List[LanLobby]:
        return assemble(self._proto.packets, self.game, self.key, counters=self.counters, sent=self._sent)

    def close(self) -> None:
        if self._resend is not None:
            self._resend.cancel()
        if self._tr is not None:
            self._tr.close()


async def query(game: str = "", *, interfaces: Optional[Sequence[str]] = None,
                lan_key: Union[LanKey, str, None] = None, wait: float = 0.5) -> List[LanLobby]:
    """The lobbies mDNS responders on the LAN describe, from the answers to
    one query collected for wait seconds."""
    q = await Query(game, interfaces=interfaces, lan_key=lan_key).start()
    try:
        await asyncio.sleep(wait)
        return q.lobbies()
    finally:
        q.close()
