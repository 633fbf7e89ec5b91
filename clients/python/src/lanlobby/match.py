"""Matchmaking (PROTOCOL.md, "Filters", "Parties and reserved seats", "Bans"):
which lobbies a filter admits and the quick-join order, the same rule the
coordinator and the Go package apply (lobby.Filter.Match,
lobby.CompareCandidates), so that a LAN quick-join and a daemon agree; the
player key; reservations."""
from __future__ import annotations

import math
import os
import re
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import INVALID_FILTER, CoordinatorError

#: Version rules: byte for byte (the default, also ""), or the same major
#: and minor ("1.4", "1.4.7", "1.04.2-rc1" and "1.4+linux" are compatible).
EXACT = "exact"
COMPATIBLE = "compatible"

#: What a filter says of a lobby: it fails, it passes, or the LAN could not
#: tell (a key the filter needs was not carried; its coordinator decides).
NO_MATCH, MATCHES, MAYBE = 0, 1, 2

MAX_TERMS, MAX_RANGES, MAX_FILTER_BYTES = 8, 4, 512
MAX_KEY_LEN, MAX_VALUE_LEN, MAX_VERSION_LEN = 32, 256, 16
#: Seats one join or quick-join takes at most (the player's and its party's).
MAX_PARTY_SEATS = 8
#: Filterable keys a host marks at most; the LAN carries 4 pairs, 72 bytes.
MAX_FILTERABLE_KEYS, MAX_LAN_META_KEYS, MAX_LAN_META_BYTES = 8, 4, 72
MAX_PLAYER_KEY_LEN = 64

_VERSION_RE = re.compile(r"\A[A-Za-z0-9._+-]{0,16}\Z")
_FILTERABLE_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,31}\Z")
_NUMBER_RE = re.compile(r"\A[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


@dataclass
class Range:
    """A numeric range on a metadata key, bounds included; None is open."""

    key: str
    min: Optional[float] = None
    max: Optional[float] = None


def at_least(key: str, lo: float) -> Range:
    return Range(key, lo, None)


def at_most(key: str, hi: float) -> Range:
    return Range(key, None, hi)


def between(key: str, lo: float, hi: float) -> Range:
    return Range(key, lo, hi)


@dataclass
class Candidate:
    """What matchmaking reads of a lobby: from a coordinator's state block, or
    from a LAN announcement, which may carry only part of the metadata
    (partial)."""

    id: str
    game: str = ""
    version: str = ""
    #: It takes joins now (open, not full).
    open: bool = True
    #: Seats neither taken nor reserved.
    free: int = 0
    #: Milliseconds since 1970 UTC; 0 when unknown (sorts last).
    created_ms: int = 0
    meta: Dict[str, str] = field(default_factory=dict)
    partial: bool = False


@dataclass
class Filter:
    """Selects lobbies by what they carry beyond their game; every part given
    must hold, and Filter() admits every lobby::

        Filter(version="1.4", version_rule=COMPATIBLE, meta={"map": "dunes"},
               ranges=[at_least("level", 10)], free=2)
    """

    version: str = ""
    version_rule: str = ""
    meta: Dict[str, str] = field(default_factory=dict)
    ranges: List[Range] = field(default_factory=list)
    #: Open lobbies with at least this many free seats (0: full and started
    #: ones pass too, as a lobby browser shows them).
    free: int = 0

    def is_zero(self) -> bool:
        return not (self.version or self.version_rule or self.meta or self.ranges or self.free)

    def validate(self) -> None:
        """Check the protocol's limits; raises CoordinatorError invalid_filter
        (what the coordinator would answer)."""
        def bad(why: str) -> None:
            raise CoordinatorError(INVALID_FILTER, why)
        if not _VERSION_RE.match(self.version or ""):
            bad(f"version {self.version!r}: 1-16 letters, digits and . _ + -")
        if self.version_rule not in ("", EXACT, COMPATIBLE):
            bad(f"version rule {self.version_rule!r}: exact or compatible")
        if len(self.meta) > MAX_TERMS:
            bad(f"{len(self.meta)} terms, the limit is {MAX_TERMS}")
        if len(self.ranges) > MAX_RANGES:
            bad(f"{len(self.ranges)} ranges, the limit is {MAX_RANGES}")
        total = 0
        for k, v in self.meta.items():
            kb, vb = len(k.encode()), len(v.encode())
            if not 1 <= kb <= MAX_KEY_LEN or vb > MAX_VALUE_LEN:
                bad(f"term {k!r}: key 1-32 bytes, value at most 256")
            total += kb + vb
        for r in self.ranges:
            kb = len(r.key.encode())
            if not 1 <= kb <= MAX_KEY_LEN:
                bad(f"range key {r.key!r}: 1-32 bytes")
            lo = -math.inf if r.min is None else r.min
            hi = math.inf if r.max is None else r.max
            if math.isnan(lo) or math.isnan(hi) or lo > hi:
                bad(f"range of {r.key!r}: min above max")
            total += kb
        if total > MAX_FILTER_BYTES:
            bad(f"filter is {total} bytes, the limit is {MAX_FILTER_BYTES}")
        if not 0 <= self.free <= 64:
            bad(f"free seats {self.free} outside 0..64")

    def to_wire(self) -> Optional[Dict[str, Any]]:
        """The protocol's JSON object, or None when it admits everything."""
        if self.is_zero():
            return None
        w: Dict[str, Any] = {}
        if self.version:
            w["version"] = self.version
        if self.version_rule:
            w["version_rule"] = self.version_rule
        if self.meta:
            w["meta"] = dict(self.meta)
        if self.ranges:
            rs = []
            for r in self.ranges:
                d: Dict[str, Any] = {"key": r.key}
                if r.min is not None and r.min != -math.inf:
                    d["min"] = r.min
                if r.max is not None and r.max != math.inf:
                    d["max"] = r.max
                rs.append(d)
            w["ranges"] = rs
        if self.free:
            w["free"] = self.free
        return w

    @classmethod
    def from_wire(cls, w: Optional[Dict[str, Any]]) -> "Filter":
        w = w or {}
        f = cls(version=_s(w.get("version")), version_rule=_s(w.get("version_rule")),
                meta={k: v for k, v in (w.get("meta") or {}).items() if isinstance(v, str)},
                free=w.get("free") if isinstance(w.get("free"), int) else 0)
        for r in w.get("ranges") or []:
            if isinstance(r, dict):
                f.ranges.append(Range(_s(r.get("key")), _num(r.get("min")), _num(r.get("max"))))
        return f

    def match(self, c: Candidate) -> int:
        """MATCHES, NO_MATCH, or MAYBE when a term names a key a partial LAN
        announcement does not carry (PROTOCOL.md, "Filters")."""
        if self.free > 0 and (not c.open or c.free < self.free):
            return NO_MATCH
        if self.version and not version_matches(self.version, c.version, self.version_rule):
            return NO_MATCH
        verdict = MATCHES
        for k, want in self.meta.items():
            if k not in c.meta:
                if not c.partial:
                    return NO_MATCH
                verdict = MAYBE
            elif c.meta[k] != want:
                return NO_MATCH
        for r in self.ranges:
            if r.key not in c.meta:
                if not c.partial:
                    return NO_MATCH
                verdict = MAYBE
                continue
            n = parse_number(c.meta[r.key])
            if n is None or (r.min is not None and n < r.min) or (r.max is not None and n > r.max):
                return NO_MATCH
        return verdict


def version_matches(want: str, have: str, rule: str = "") -> bool:
    """Whether a lobby's version have passes a filter's version want under rule."""
    if rule != COMPATIBLE:
        return want == have
    if not have:
        return False
    wmaj, wmin = _major_minor(want)
    hmaj, hmin = _major_minor(have)
    return _same_component(wmaj, hmaj) and _same_component(wmin, hmin)


def _major_minor(v: str):
    v = v.split("+", 1)[0]
    parts = v.split(".", 2)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _same_component(a: str, b: str) -> bool:
    if (a == "" or a.isdigit() and a.isascii()) and (b == "" or b.isdigit() and b.isascii()):
        return int(a or "0") == int(b or "0")
    return a == b


def parse_number(s: str) -> Optional[float]:
    """A metadata value as a finite decimal number (surrounding spaces
    allowed), or None."""
    s = s.strip()
    if not _NUMBER_RE.match(s):
        return None
    try:
        n = float(s)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def compare_key(c: Candidate):
    """The quick-join order as a sort key: fewest free seats first (the lobby
    closest to starting), then the oldest (an unknown creation time last),
    then by id. Every player, the LAN and a daemon try lobbies in this order."""
    return (c.free, c.created_ms <= 0, c.created_ms if c.created_ms > 0 else 0, c.id)


def valid_filterable_key(k: str) -> bool:
    """1-32 of a-z 0-9 - _ ., starting with a letter or digit."""
    return bool(_FILTERABLE_RE.match(k))


def valid_version(v: str) -> bool:
    return bool(_VERSION_RE.match(v))


@dataclass
class Reservation:
    """Seats held in a lobby for players yet to come: a party's (a join with
    seats > 1) or an owner's invited players (Client.reserve). Hand ``token``
    and ``lobby`` to the party: each member joins with reservation=token
    within the window."""

    id: str
    token: str = ""
    lobby: str = ""
    #: Seats still unclaimed.
    seats: int = 0
    #: Player keys the seats are held for (named seats).
    party: List[str] = field(default_factory=list)
    #: How long the seats were held for when the reply came, in ms.
    expires_in_ms: int = 0

    @classmethod
    def from_wire(cls, d: Any) -> Optional["Reservation"]:
        if not isinstance(d, dict):
            return None
        return cls(id=_s(d.get("id")), token=_s(d.get("token")), lobby=_s(d.get("lobby")),
                   seats=d.get("seats") if isinstance(d.get("seats"), int) else 0,
                   party=[p for p in d.get("party") or [] if isinstance(p, str)],
                   expires_in_ms=d.get("expires_in_ms") if isinstance(d.get("expires_in_ms"), int) else 0)


# ---- the player key (PROTOCOL.md, "Bans") ------------------------------------

_process_key: Optional[str] = None
_key_lock = threading.Lock()


def new_player_key() -> str:
    """A new random player key: 128 bits as 32 hex digits."""
    return secrets.token_hex(16)


def process_player_key() -> str:
    """This process's player key, made once: the default of every Client (as
    the Go package does). A courtesy on a LAN, not authentication."""
    global _process_key
    with _key_lock:
        if _process_key is None:
            _process_key = new_player_key()
        return _process_key


def valid_player_key(k: str) -> bool:
    """1-64 bytes of printable ASCII without space."""
    return 1 <= len(k) <= MAX_PLAYER_KEY_LEN and all(0x21 <= ord(c) <= 0x7E for c in k)


def stored_player_key(path: Optional[str] = None) -> str:
    """The key kept in a file (default: lanlobby/player-key in the user's
    configuration directory, mode 0600), made and written the first time; the
    process key when the file can be neither read nor written. A game that
    wants its player known after a restart passes it as player_key."""
    try:
        if path is None:
            path = os.path.join(_config_dir(), "lanlobby", "player-key")
        try:
            with open(path, encoding="ascii") as f:
                k = f.read().strip()
            if valid_player_key(k):
                return k
        except (OSError, UnicodeDecodeError):
            pass
        k = new_player_key()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(k + "\n")
        os.replace(tmp, path)
        return k
    except OSError:
        return process_player_key()


def _config_dir() -> str:
    if sys.platform == "win32":
        return os.environ.get("APPDATA") or os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support")
    return os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
