"""What the coordinator protocol carries: members, lobby state, events."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

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

#: Reason of a ``closed`` event for a lobby that could not be restored.
REASON_COORDINATOR_LOST = "coordinator_lost"


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

    @classmethod
    def from_wire(cls, m: Dict[str, Any]) -> "LobbyInfo":
        meta = m.get("meta") or {}
        if not isinstance(meta, dict):
            meta = {}
        return cls(id=_s(m.get("lobby")), game=_s(m.get("game")), name=_s(m.get("name")),
                   players=_i(m.get("players")), capacity=_i(m.get("capacity")), state=_s(m.get("state")),
                   owner=_s(m.get("owner")), successor=_s(m.get("successor")),
                   meta={str(k): str(v) for k, v in meta.items()}, private=m.get("private") is True,
                   auto_start=m.get("auto_start") is True)


@dataclass
class Joined:
    """The answer to create, join and quick_join: all the peers in one round trip."""

    lobby: LobbyInfo
    you: Member
    peers: List[Member]
    #: Invite code of a private lobby created without a password.
    invite: str = ""


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


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def members(v: Any) -> List[Member]:
    return [Member.from_wire(p) for p in v] if isinstance(v, list) else []
