"""What the coordinator protocol carries: members, lobby state, events."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .match import Candidate, Reservation

if TYPE_CHECKING:  # pragma: no cover
    from .client import Subscription

# Notice kinds (PROTOCOL.md, "Pushes") and the client's own events.
MEMBER_JOINED = "member_joined"
MEMBER_LEFT = "member_left"
MEMBER_AWAY = "member_away"
MEMBER_BACK = "member_back"
OWNER_CHANGED = "owner_changed"
STARTED = "started"
CLOSED = "closed"
LOBBY_UPDATED = "lobby_updated"
#: The link dropped and was resumed: seats kept, missed notices follow.
RESUMED = "resumed"
#: The coordinator restarted and the client restored this lobby on it.
COORDINATOR_RESTARTED = "coordinator_restarted"
#: The link is lost for good; Event.error says why (errors.Replaced when
#: another connection took this member over). The last event.
ERROR = "error"
#: After a coordinator restart a registered name (Event.name) could not be
#: registered again (Event.reason is the error code, e.g. name_taken).
NAME_LOST = "name_lost"

#: The link was down past the coordinator's resume grace (the others were
#: told member_left); the same coordinator took the client back into this
#: lobby as a new member (the others got member_joined).
REJOINED = "rejoined"
#: Seats reserved in this lobby were released unclaimed (Event.reservation,
#: Event.released); the lobby block says what is free now.
RESERVATION_EXPIRED = "reservation_expired"
#: A subscription's view (Event.subscription): a lobby began to match it
#: (also each lobby of a snapshot), changed while matching (LOBBY_UPDATED with
#: Event.subscription set), or stopped matching (closed: state "closed").
LOBBY_ADDED = "lobby_added"
LOBBY_REMOVED = "lobby_removed"
#: A subscription's snapshot is complete: its lobbies() are the coordinator's.
SYNCED = "synced"
#: The coordinator ended a subscription (reason slow_consumer); the client
#: subscribes again by itself and tells what changed meanwhile.
UNSUBSCRIBED = "unsubscribed"

#: Reason of a ``closed`` event for a lobby that could not be restored.
REASON_COORDINATOR_LOST = "coordinator_lost"

# When the coordinator is lost (PROTOCOL.md, "When the coordinator is lost").
#: The link to the coordinator dropped, told at once (one per lobby; one
#: without a lobby when the client is in none): Event.next says what the
#: client does about it (NEXT_*), Event.reason why the link dropped.
COORDINATOR_LOST = "coordinator_lost"
#: Still reconnecting, about once a second: Event.attempt, Event.elapsed
#: (seconds) and the coordinator being tried (Event.addr).
RECONNECTING = "reconnecting"
#: The lobby's coordinator was lost and its successor took the lobby over:
#: Event.member is the owner that departed (Event.reason why), Event.lobby the
#: lobby now (its new owner and term), Event.peers the other members now. The
#: client is on the successor's coordinator already.
TAKEN_OVER = "taken_over"
#: The lobby lives on at another coordinator (Event.addr) under a higher term
#: (its owner moved it to a daemon, or another coordinator took it over); the
#: client follows it there by itself, keeping its seat. Nothing else is told.
COORDINATOR_MOVED = "coordinator_moved"

#: What the client does after losing its coordinator (Event.next).
#: It reconnects to the same coordinator (resume, or restore after a restart).
NEXT_RESUMING = "resuming"
#: It moves to the coordinator of the lobby's successor, which takes it over.
NEXT_FAILING_OVER = "failing_over"
#: It is the lobby's successor and runs a coordinator for it (the Go client
#: only: an SDK client never registers a standby port, so it is never this).
NEXT_TAKING_OVER = "taking_over"
#: It follows its lobby to another coordinator (COORDINATOR_MOVED).
NEXT_MOVING = "moving"
#: It cannot get its lobbies back; ERROR follows.
NEXT_GIVING_UP = "giving_up"


@dataclass
class Member:
    id: str
    name: str = ""
    addr: str = ""

    @classmethod
    def from_wire(cls, m: Optional[Dict[str, Any]]) -> "Member":
        m = m or {}
        return cls(id=_s(m.get("id")), name=_s(m.get("name")), addr=_s(m.get("addr")))


@dataclass
class LobbyInfo:
    """The lobby state block every reply and notice carries."""

    id: str
    game: str = ""
    name: str = ""
    players: int = 0
    capacity: int = 0
    state: str = ""
    owner: str = ""
    successor: str = ""
    meta: Dict[str, str] = field(default_factory=dict)
    private: bool = False
    #: It starts by itself when its last seat is taken.
    auto_start: bool = False
    #: The game version filters compare ("" for none).
    version: str = ""
    #: Seats held for players yet to come (a party, invited players).
    reserved: int = 0
    #: When the lobby was made, ms since 1970 UTC (0 when not told).
    created_ms: int = 0
    #: The metadata keys its host advertises on the LAN.
    filterable: List[str] = field(default_factory=list)
    #: How often the lobby changed coordinator (a takeover or a move): the
    #: higher term wins when two coordinators hold the same lobby.
    term: int = 0
    #: Where the lobby's successor would serve it if the coordinator were
    #: lost (its standby address; "" when none): a member goes there.
    successor_addr: str = ""

    @property
    def free(self) -> int:
        """Seats neither taken nor reserved."""
        return self.capacity - self.players - self.reserved

    def candidate(self) -> Candidate:
        """The lobby as matchmaking reads it (a coordinator's block carries all its metadata)."""
        return Candidate(id=self.id, game=self.game, version=self.version, open=self.state == "open" and self.free > 0,
                         free=self.free, created_ms=self.created_ms, meta=self.meta)

    @classmethod
    def from_wire(cls, m: Dict[str, Any]) -> "LobbyInfo":
        meta = m.get("meta") or {}
        if not isinstance(meta, dict):
            meta = {}
        filterable = m.get("filterable") or []
        return cls(id=_s(m.get("lobby")), game=_s(m.get("game")), name=_s(m.get("name")),
                   players=_i(m.get("players")), capacity=_i(m.get("capacity")), state=_s(m.get("state")),
                   owner=_s(m.get("owner")), successor=_s(m.get("successor")),
                   meta={str(k): str(v) for k, v in meta.items()}, private=m.get("private") is True,
                   auto_start=m.get("auto_start") is True, version=_s(m.get("version")), reserved=_i(m.get("reserved")),
                   created_ms=_i(m.get("created_ms")), term=_i(m.get("term")),
                   successor_addr=_s(m.get("successor_addr")),
                   filterable=[k for k in filterable if isinstance(k, str)] if isinstance(filterable, list) else [])


@dataclass
class Joined:
    """The answer to create, join and quick_join: all the peers in one round trip."""

    lobby: LobbyInfo
    you: Member
    peers: List[Member]
    #: Invite code of a private lobby created without a password.
    invite: str = ""
    #: The seats held for this player's party (a join with seats > 1; None
    #: otherwise): hand reservation.token and the lobby id to the party.
    reservation: Optional[Reservation] = None


@dataclass
class Event:
    """A notice about a lobby the client is in, or one of the client's own
    events (RESUMED, COORDINATOR_RESTARTED, ERROR)."""

    kind: str
    lobby: Optional[LobbyInfo] = None
    member: Optional[Member] = None
    reason: str = ""
    peers: List[Member] = field(default_factory=list)
    error: Optional[BaseException] = None
    #: NAME_LOST: the registered name.
    name: str = ""
    #: MEMBER_LEFT: a kick that banned the member.
    banned: bool = False
    #: RESERVATION_EXPIRED: the reservation and how many seats went back unclaimed.
    reservation: str = ""
    released: int = 0
    #: COORDINATOR_LOST: what the client does next (NEXT_*).
    next: str = ""
    #: COORDINATOR_MOVED: where the lobby is now; RECONNECTING: the
    #: coordinator being tried.
    addr: str = ""
    #: RECONNECTING: attempts so far and seconds since the link dropped.
    attempt: int = 0
    elapsed: float = 0.0
    #: Subscription events (LOBBY_ADDED, LOBBY_UPDATED, LOBBY_REMOVED, SYNCED,
    #: UNSUBSCRIBED): the subscription; None for lobby notices.
    subscription: "Optional[Subscription]" = None


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def members(v: Any) -> List[Member]:
    return [Member.from_wire(p) for p in v] if isinstance(v, list) else []
