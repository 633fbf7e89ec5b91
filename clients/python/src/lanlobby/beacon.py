"""The LAN beacon's packets (PROTOCOL.md, "LAN beacon"): decode, encode, sign
and verify. Pure functions; the sockets are in browser.py."""
from __future__ import annotations

import hmac
import struct
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from . import match
from .lankey import LanKey

MAGIC = b"LLOB"
VERSION = 1
DEFAULT_PORT = 7601
GROUP_IPV4 = "239.255.76.1"
GROUP_IPV6 = "ff12::7601"
MAX_PACKET = 1200
MAX_LOBBIES_PER_PACKET = 32
MAX_ID, MAX_GAME, MAX_NAME = 32, 32, 63
MIN_CAPACITY, MAX_CAPACITY = 2, 64
HEADER_LEN = 14
_MIN_LOBBY_RECORD = 1 + 2 + 2 + 2 + 3 + 2

KIND_ANNOUNCE, KIND_GOODBYE, KIND_QUERY, KIND_COORDINATOR = 1, 2, 3, 4
FLAG_REPLY = 1
STATES = {1: "open", 2: "full", 3: "started", 4: "closed"}
STATE_CODES = {v: k for k, v in STATES.items()}

# Signed beacons (PROTOCOL.md, "Signed beacons").
LABEL_BEACON = "lanlobby beacon v1"
MAC_SIZE = 16
SIGNED_OVERHEAD = 2 + 8 + 2 + MAC_SIZE
TLV_TIMESTAMP, TLV_MAC = 1, 2
# Lobby attributes in a record's extension area (PROTOCOL.md, "Lobby attributes").
ATTR_CREATED, ATTR_VERSION, ATTR_META, ATTR_PARTIAL = 1, 2, 3, 4
#: The lobby's term, 4 bytes: how often it changed coordinator (a takeover,
#: a move); of two hosts announcing one lobby, the higher term holds it.
ATTR_TERM = 5
#: How far a signed timestamp may be from this host's clock, either way.
DEFAULT_REPLAY_WINDOW = 30.0


class BeaconError(ValueError):
    """A packet that is not a valid version 1 beacon."""


class NotBeacon(BeaconError):
    """Other traffic on the port (no magic) or another version: ignored silently."""


class Unsigned(BeaconError):
    pass


class BadSignature(BeaconError):
    pass


class BadTimestamp(BeaconError):
    pass


@dataclass
class Lobby:
    id: str
    game: str
    name: str
    players: int
    capacity: int
    state: str
    port: int
    #: The lobby's attributes: the game version, the creation time (ms since
    #: 1970 UTC, 0 when not told), the filterable metadata pairs carried, in
    #: the host's order, and whether it has metadata they do not carry.
    version: str = ""
    created_ms: int = 0
    meta: List[Tuple[str, str]] = field(default_factory=list)
    partial: bool = False
    #: How often the lobby changed coordinator (0: still on the one that made it).
    term: int = 0


@dataclass
class Coordinator:
    id: str
    name: str
    port: int


@dataclass
class Packet:
    kind: int
    flags: int = 0
    seq: int = 0
    ttl: int = 0
    lobbies: List[Lobby] = field(default_factory=list)
    game: str = ""
    coordinator: Optional[Coordinator] = None


class _Reader:
    def __init__(self, b: bytes) -> None:
        self.b, self.i = b, 0

    def take(self, n: int) -> bytes:
        if self.i + n > len(self.b):
            raise BeaconError("truncated packet")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def text(self) -> str:
        raw = self.take(self.u8())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BeaconError("invalid UTF-8") from None

    def rest(self) -> int:
        return len(self.b) - self.i


def decode(b: bytes) -> Tuple[Packet, int]:
    """Parse one packet; returns it and the offset where its tail TLVs start.
    Accepts only what PROTOCOL.md allows (plus record tails and TLVs)."""
    if len(b) < 4 or b[:4] != MAGIC:
        raise NotBeacon("not a beacon packet")
    if len(b) < HEADER_LEN:
        raise BeaconError(f"{len(b)}-byte header")
    if b[4] != VERSION:
        raise NotBeacon(f"beacon version {b[4]}")
    if len(b) > MAX_PACKET:
        raise BeaconError(f"{len(b)} bytes, limit {MAX_PACKET}")
    kind, flags, count = b[5], b[6], b[7]
    seq, ttl = struct.unpack(">IH", b[8:14])
    p = Packet(kind=kind, flags=flags, seq=seq, ttl=ttl)
    r = _Reader(b[HEADER_LEN:])
    if kind in (KIND_ANNOUNCE, KIND_GOODBYE):
        if count < 1 or count > MAX_LOBBIES_PER_PACKET or count * _MIN_LOBBY_RECORD > r.rest():
            raise BeaconError(f"{count} lobbies in {r.rest()} bytes")
        for _ in range(count):
            rec = _Reader(r.take(r.u8()))
            lid, game, name = rec.text(), rec.text(), rec.text()
            players, cap, state = rec.u8(), rec.u8(), rec.u8()
            port = rec.u16()
            if state not in STATES:
                raise BeaconError(f"lobby {lid!r}: unknown state {state}")
            lb = Lobby(lid, game, name, players, cap, STATES[state], port)
            decode_attrs(rec.take(rec.rest()), lb)
            p.lobbies.append(lb)
    elif kind == KIND_QUERY:
        if count != 0:
            raise BeaconError(f"query with {count} records")
        p.game = r.text()
    elif kind == KIND_COORDINATOR:
        if count != 1:
            raise BeaconError(f"coordinator with {count} records")
        rec = _Reader(r.take(r.u8()))
        p.coordinator = Coordinator(rec.text(), rec.text(), rec.u16())
    else:
        raise BeaconError(f"unknown kind {kind}")
    tail = HEADER_LEN + r.i
    while r.rest() > 0:  # packet tail: TLVs filling the rest exactly
        r.u8()
        r.take(r.u8())
    validate(p)
    return p, tail


def decode_attrs(t: bytes, lb: Lobby) -> None:
    """Read a lobby record's tail: its attributes. Lenient, as version 1
    promised to skip the tail: an entry it cannot use is left out (a lost
    metadata pair makes the lobby partial, so a filter does not take its
    absence for a fact), unknown types are skipped, and a broken tail, or a
    known entry after one of a higher type, ends the reading."""
    i = last = size = 0
    seen_created = seen_version = seen_term = False
    while i < len(t):
        if i + 2 > len(t) or i + 2 + t[i + 1] > len(t):
            break
        typ, v = t[i], t[i + 2:i + 2 + t[i + 1]]
        i += 2 + len(v)
        known = ATTR_CREATED <= typ <= ATTR_TERM
        if known and typ < last:
            break
        if known:
            last = typ
        if typ == ATTR_CREATED:
            if len(v) == 8 and not seen_created:
                ms = struct.unpack(">q", v)[0]
                if ms > 0:
                    lb.created_ms, seen_created = ms, True
        elif typ == ATTR_VERSION:
            if v and not seen_version:
                try:
                    ver = v.decode("ascii")
                except UnicodeDecodeError:
                    continue
                if match.valid_version(ver):
                    lb.version, seen_version = ver, True
        elif typ == ATTR_META:
            kv = _meta_entry(v)
            if kv is None or len(lb.meta) == match.MAX_LAN_META_KEYS or \
                    size + len(kv[0].encode()) + len(kv[1].encode()) > match.MAX_LAN_META_BYTES or \
                    any(k == kv[0] for k, _ in lb.meta):
                lb.partial = True
                continue
            lb.meta.append(kv)
            size += len(kv[0].encode()) + len(kv[1].encode())
        elif typ == ATTR_PARTIAL:
            lb.partial = True
        elif typ == ATTR_TERM:
            if len(v) == 4 and not seen_term:
                lb.term, seen_term = struct.unpack(">I", v)[0], True


def _meta_entry(v: bytes) -> Optional[Tuple[str, str]]:
    if len(v) < 1 or v[0] > len(v) - 1:
        return None
    try:
        k, val = v[1:1 + v[0]].decode("utf-8"), v[1 + v[0]:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (k, val) if valid_meta_pair(k, val) else None


def valid_meta_pair(k: str, v: str) -> bool:
    """A metadata pair the LAN may carry: a filterable key and a text value
    of at most 256 bytes."""
    return match.valid_filterable_key(k) and len(v.encode("utf-8")) <= 256 and not any(_forbidden(c) for c in v)


def encode_attrs(lb: Lobby) -> bytes:
    out = bytearray()
    if lb.created_ms > 0:
        out += bytes([ATTR_CREATED, 8]) + struct.pack(">q", lb.created_ms)
    if lb.version:
        v = lb.version.encode("ascii")
        out += bytes([ATTR_VERSION, len(v)]) + v
    for k, val in lb.meta:
        kb, vb = k.encode(), val.encode()
        out += bytes([ATTR_META, 1 + len(kb) + len(vb), len(kb)]) + kb + vb
    if lb.partial:
        out += bytes([ATTR_PARTIAL, 0])
    if lb.term > 0:
        out += bytes([ATTR_TERM, 4]) + struct.pack(">I", lb.term)
    return bytes(out)


def validate(p: Packet) -> None:
    """Every rule of a version 1 packet, for decode and encode alike."""
    if p.kind in (KIND_ANNOUNCE, KIND_GOODBYE):
        if not 1 <= len(p.lobbies) <= MAX_LOBBIES_PER_PACKET:
            raise BeaconError(f"{len(p.lobbies)} lobbies")
        if (p.kind == KIND_ANNOUNCE) != (p.ttl > 0):
            raise BeaconError(f"kind {p.kind} with TTL {p.ttl}")
        for lb in p.lobbies:
            _valid_id(lb.id)
            _valid_text("game", lb.game, 1, MAX_GAME)
            _valid_text("name", lb.name, 1, MAX_NAME)
            if not MIN_CAPACITY <= lb.capacity <= MAX_CAPACITY or not 0 <= lb.players <= lb.capacity:
                raise BeaconError(f"lobby {lb.id!r}: {lb.players}/{lb.capacity} players")
            if lb.state not in STATE_CODES or not 1 <= lb.port <= 65535:
                raise BeaconError(f"lobby {lb.id!r}: state {lb.state!r} port {lb.port}")
            if not match.valid_version(lb.version) or lb.created_ms < 0 or len(lb.meta) > match.MAX_LAN_META_KEYS:
                raise BeaconError(f"lobby {lb.id!r}: bad attributes")
            if any(not valid_meta_pair(k, v) for k, v in lb.meta) or \
                    sum(len(k.encode()) + len(v.encode()) for k, v in lb.meta) > match.MAX_LAN_META_BYTES:
                raise BeaconError(f"lobby {lb.id!r}: metadata over the LAN's rules or room")
    elif p.kind == KIND_QUERY:
        if p.ttl != 0:
            raise BeaconError("query with TTL")
        if p.game:
            _valid_text("game filter", p.game, 1, MAX_GAME)
    elif p.kind == KIND_COORDINATOR:
        c = p.coordinator
        if c is None:
            raise BeaconError("coordinator packet without record")
        _valid_id(c.id)
        _valid_text("coordinator name", c.name, 0, MAX_NAME)
        if not 1 <= c.port <= 65535:
            raise BeaconError("coordinator port 0")
    else:
        raise BeaconError(f"unknown kind {p.kind}")


def _valid_id(s: str) -> None:
    b = s.encode("utf-8")
    if not 1 <= len(b) <= MAX_ID or any(c <= 0x20 or c > 0x7E for c in b):
        raise BeaconError(f"bad id {s!r}")


def _forbidden(c: str) -> bool:
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029) or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069


def _valid_text(what: str, s: str, lo: int, hi: int) -> None:
    n = len(s.encode("utf-8"))
    if not lo <= n <= hi:
        raise BeaconError(f"{what} length {n} not in {lo}..{hi}")
    if any(_forbidden(c) for c in s):
        raise BeaconError(f"{what} {s!r}: forbidden character")


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return bytes([len(b)]) + b


def encode(p: Packet) -> bytes:
    """The wire form of p (one packet; at most 32 lobbies that fit 1200 bytes)."""
    validate(p)
    count = 1 if p.kind == KIND_COORDINATOR else len(p.lobbies)
    out = bytearray(MAGIC + bytes([VERSION, p.kind, p.flags, count]) + struct.pack(">IH", p.seq, p.ttl))
    if p.kind in (KIND_ANNOUNCE, KIND_GOODBYE):
        for lb in p.lobbies:
            rec = _str(lb.id) + _str(lb.game) + _str(lb.name) + bytes(
                [lb.players, lb.capacity, STATE_CODES[lb.state]]) + struct.pack(">H", lb.port) + encode_attrs(lb)
            out += bytes([len(rec)]) + rec
    elif p.kind == KIND_QUERY:
        out += _str(p.game)
    else:
        assert p.coordinator is not None
        rec = _str(p.coordinator.id) + _str(p.coordinator.name) + struct.pack(">H", p.coordinator.port)
        out += bytes([len(rec)]) + rec
    if len(out) > MAX_PACKET:
        raise BeaconError(f"{len(out)} bytes, limit {MAX_PACKET}")
    return bytes(out)


TLV_PADDING = 0x04


def pad_query(pkt: bytes, signed: bool) -> bytes:
    """Pad an encoded query with padding TLVs (type 4) to 1200 bytes, less the
    signature when it is to be signed: an answer is at most 3 times its query
    (PROTOCOL.md, "Answers"), so a full answer takes a full query."""
    out = bytearray(pkt)
    n = MAX_PACKET - (SIGNED_OVERHEAD if signed else 0) - len(out)
    while n >= 2:
        ln = min(n - 2, 255)
        if n - 2 - ln == 1:
            ln -= 1  # leave room for a last TLV of at least 2 bytes
        out += bytes([TLV_PADDING, ln]) + bytes(ln)
        n -= 2 + ln
    return bytes(out)


def sign_packet(key: LanKey, pkt: bytes, now_ms: Optional[int] = None) -> bytes:
    """Append the timestamp and MAC TLVs to an encoded, unsigned packet."""
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if len(pkt) + SIGNED_OVERHEAD > MAX_PACKET:
        raise BeaconError("signed packet too long")
    pkt = pkt + bytes([TLV_TIMESTAMP, 8]) + struct.pack(">Q", now_ms)
    return pkt + bytes([TLV_MAC, MAC_SIZE]) + key.sign(LABEL_BEACON, pkt)


def verify_packet(key: LanKey, b: bytes, tail: int, now: Optional[float] = None,
                  window: float = DEFAULT_REPLAY_WINDOW) -> None:
    """Check the signature of b, a packet that decoded with its TLVs at tail:
    raises Unsigned, BadSignature or BadTimestamp (PROTOCOL.md's rules)."""
    macs = stamps = 0
    last = -1
    stamp = b""
    i = tail
    while i + 2 <= len(b):
        last = i
        t, n = b[i], b[i + 1]
        if t == TLV_MAC:
            macs += 1
        elif t == TLV_TIMESTAMP:
            stamps += 1
            stamp = b[i + 2:i + 2 + n]
        i += 2 + n
    if macs == 0:
        raise Unsigned("unsigned packet")
    if b[last] != TLV_MAC or macs > 1:
        raise BadSignature("MAC not the only last TLV")
    if not key.verify(LABEL_BEACON, b[:last], b[last + 2:]):
        raise BadSignature("MAC does not match")
    if stamps != 1 or len(stamp) != 8:
        raise BadSignature(f"{stamps} timestamps")
    signed = struct.unpack(">Q", stamp)[0] / 1000.0
    if now is None:
        now = time.time()
    if abs(now - signed) > window:
        raise BadTimestamp(f"signed {now - signed:.3f}s from here (window {window}s)")


def verify_txt(key: LanKey, instance: str, port: int, strings: List[bytes], now: Optional[float] = None,
               window: float = 90.0) -> None:
    """Check a signed mDNS TXT record (PROTOCOL.md, "Signed TXT records"):
    strings are the record's raw strings in order, instance the raw instance
    label, port the SRV port. Raises Unsigned, BadSignature or BadTimestamp."""
    import base64
    hs = [s for s in strings if s[:2].lower() == b"h="]
    if not hs:
        raise Unsigned("unsigned TXT record")
    if len(hs) > 1:
        raise BadSignature("h twice")
    try:
        mac = base64.urlsafe_b64decode(hs[0][2:] + b"==")
    except ValueError:
        raise BadSignature("h not base64url") from None
    if len(mac) != MAC_SIZE or len(hs[0]) != 2 + 22:
        raise BadSignature("h not 16 bytes")
    inst = instance.encode("utf-8")
    msg = struct.pack(">H", len(inst)) + inst + struct.pack(">H", port)
    for s in strings:
        if s is not hs[0]:
            msg += struct.pack(">H", len(s)) + s
    if not key.verify("lanlobby mdns v1", msg, mac):
        raise BadSignature("MAC does not match")
    ts = [s[2:] for s in strings if s[:2].lower() == b"t="]
    if len(ts) != 1 or not ts[0].isdigit():
        raise BadSignature("t missing or not decimal")
    if now is None:
        now = time.time()
    if abs(now - int(ts[0]) / 1000.0) > window:
        raise BadTimestamp("TXT record outside the replay window")


def macs_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
