"""lanlobby: find and join multiplayer lobbies on a LAN from Python.

The asyncio API::

    import asyncio, lanlobby

    async def main():
        j = await lanlobby.quick_join("demo", port=7777, player="Bob")   # by beacon, no address typed
        for p in j.joined.peers:
            print(p.name, p.addr)                                          # connect your game to them
        while (ev := await j.client.next_event()) is not None:
            print(ev.kind, ev.member)

    asyncio.run(main())

``lanlobby.sync`` wraps it for games with their own main loop (no asyncio).
The wire protocol is PROTOCOL.md of the lanlobby repository.
"""
from .beacon import DEFAULT_PORT as BEACON_PORT
from .browser import ADDED, REMOVED, UPDATED, Browser, BrowseEvent, LanCoordinator, LanLobby
from .client import DEFAULT_PORT, DEFAULT_TIMEOUT, PROTOCOL_VERSION, Client, Subscription
from .errors import (CallTimeout, ClientClosed, ConnectionLost, CoordinatorError, LinkDown, LobbyError,
                     NotFound, ProtocolError, Replaced)
from .hostproc import CoordinatorProcess
from .lan import (HostedLobby, LanJoin, find_coordinator, host, join, list_lobbies, quick_join,
                  quick_join_order)
from .lankey import LanKey
from .match import (COMPATIBLE, EXACT, Filter, Range, Reservation, at_least, at_most, between, new_player_key,
                    stored_player_key)
from .model import Event, Joined, LobbyInfo, Member

__version__ = "0.1.0"

__all__ = [
    "ADDED", "BEACON_PORT", "Browser", "BrowseEvent", "CallTimeout", "Client", "ClientClosed", "COMPATIBLE",
    "ConnectionLost", "EXACT", "Filter", "Range", "Reservation", "Subscription", "at_least", "at_most", "between",
    "new_player_key", "stored_player_key",
    "CoordinatorError", "CoordinatorProcess", "DEFAULT_PORT", "DEFAULT_TIMEOUT", "Event", "HostedLobby", "Joined",
    "LanCoordinator", "LanJoin", "LanKey", "LanLobby", "LinkDown", "LobbyError", "LobbyInfo", "Member", "NotFound",
    "PROTOCOL_VERSION", "ProtocolError", "REMOVED", "Replaced", "UPDATED", "find_coordinator", "host", "join", "list_lobbies",
    "quick_join", "quick_join_order",
]
