"""A small synchronous wrapper for games without asyncio: every call blocks
(at most its timeout) and events are drained once a frame.

    from lanlobby import sync
    lobby = sync.quick_join("demo", port=7777, player="Bob")
    for p in lobby.joined.peers: ...
    # each frame:
    for ev in lobby.client.drain_events(): ...

One background thread runs an asyncio loop for all the SDK's work; it is a
daemon thread and stops with the process (or with shutdown()).
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, Dict, List, Optional, Sequence, TypeVar

from . import lan
from .browser import Browser, LanLobby
from .client import DEFAULT_TIMEOUT, Client as _AsyncClient, Subscription as _AsyncSubscription
from .match import Filter, Reservation
from .model import Event, Joined, LobbyInfo, Member

T = TypeVar("T")
#: Added to an operation's own timeout before the caller stops waiting for
#: the loop thread (the operation itself always ends by its own timeout).
_GRACE = 1.0

_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_lock = threading.Lock()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lanlobby", daemon=True).start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """Run a coroutine on the SDK's loop thread and wait for it."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop()).result(timeout + _GRACE)


def shutdown() -> None:
    """Stop the SDK's loop thread (clients made before are unusable after)."""
    global _loop
    with _loop_lock:
        if _loop is not None:
            _loop.call_soon_threadsafe(_loop.stop)
            _loop = None


class Client:
    """A blocking facade over lanlobby.Client."""

    def __init__(self, inner: _AsyncClient) -> None:
        self.inner = inner
        self.timeout = inner.timeout

    @classmethod
    def connect(cls, addr: str, player: str = "", *, timeout: float = DEFAULT_TIMEOUT, **kw: Any) -> "Client":
        return cls(run(_AsyncClient.connect(addr, player, timeout=timeout, **kw), timeout))

    def _run(self, coro: Coroutine[Any, Any, T], timeout: Optional[float] = None) -> T:
        return run(coro, self.timeout if timeout is None else timeout)

    @property
    def member_id(self) -> str:
        return self.inner.member_id

    @property
    def instance(self) -> str:
        return self.inner.instance

    @property
    def player_key(self) -> str:
        return self.inner.player_key

    @property
    def addr(self) -> str:
        """The coordinator the client talks to now (it follows its lobby to a
        successor or a daemon by itself)."""
        return self.inner.addr

    @property
    def takeover(self) -> bool:
        """The coordinator hands its lobbies to their successors when lost."""
        return self.inner.takeover

    def create(self, game: str, name: str, capacity: int, **kw: Any) -> Joined:
        return self._run(self.inner.create(game, name, capacity, **kw))

    def join(self, lobby: str, **kw: Any) -> Joined:
        return self._run(self.inner.join(lobby, **kw))

    def quick_join(self, game: str, **kw: Any) -> Joined:
        return self._run(self.inner.quick_join(game, **kw))

    def leave(self, lobby: str) -> None:
        self._run(self.inner.leave(lobby))

    def kick(self, lobby: str, member: str) -> None:
        self._run(self.inner.kick(lobby, member))

    def kick_ban(self, lobby: str, member: str, duration: float = 0.0) -> None:
        self._run(self.inner.kick_ban(lobby, member, duration))

    def reserve(self, lobby: str, seats: int, party: Optional[List[str]] = None, window: float = 0.0) -> Reservation:
        return self._run(self.inner.reserve(lobby, seats, party, window))

    def subscribe(self, game: str = "", filter: Optional[Filter] = None) -> "Subscription":
        """A live view; its events come with drain_events (Event.subscription)."""
        return Subscription(self._run(self.inner.subscribe(game, filter)), self.timeout)

    def start(self, lobby: str) -> None:
        self._run(self.inner.start(lobby))

    def close_lobby(self, lobby: str) -> None:
        self._run(self.inner.close_lobby(lobby))

    def set_meta(self, lobby: str, meta: Dict[str, str]) -> None:
        self._run(self.inner.set_meta(lobby, meta))

    def list(self, game: str = "", filter: Optional[Filter] = None) -> List[LobbyInfo]:
        return self._run(self.inner.list(game, filter=filter))

    def ping(self) -> float:
        return self._run(self.inner.ping())

    def register(self, name: str, addr: str) -> None:
        self._run(self.inner.register(name, addr))

    def deregister(self, name: str) -> None:
        self._run(self.inner.deregister(name))

    def lookup(self, name: str) -> str:
        return self._run(self.inner.lookup(name))

    def peers(self, lobby: str) -> List[Member]:
        """The other members of a lobby, kept current by the notices."""
        return self.inner.peers(lobby)

    def drain_events(self, max_events: Optional[int] = None) -> List[Event]:
        """The waiting events, without blocking: call it once a frame."""
        return self.inner.drain_events(max_events)

    def next_event(self, timeout: float) -> Optional[Event]:
        return run(self.inner.next_event(timeout), timeout)

    def close(self) -> None:
        run(self.inner.close(), 2.0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Subscription:
    """A blocking facade over lanlobby.client.Subscription."""

    def __init__(self, inner: _AsyncSubscription, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout

    @property
    def active(self) -> bool:
        return self.inner.active

    def lobbies(self) -> List[LobbyInfo]:
        return self.inner.lobbies()

    def close(self) -> None:
        run(self.inner.close(), self.timeout)


class LanJoin:
    def __init__(self, j: lan.LanJoin) -> None:
        self.client = Client(j.client)
        self.joined = j.joined
        self.lobby = j.lobby


class HostedLobby:
    def __init__(self, h: lan.HostedLobby) -> None:
        self.inner = h
        self.client = Client(h.client)
        self.joined = h.joined
        self.process = h.process

    @property
    def lobby_id(self) -> str:
        return self.inner.lobby_id

    def close(self) -> None:
        run(self.inner.close(), 10.0)


def list_lobbies(game: str = "", **kw: Any) -> List[LanLobby]:
    return run(lan.list_lobbies(game, **kw), kw.get("timeout", lan.DEFAULT_LIST_TIMEOUT) + 2)


def quick_join(game: str, **kw: Any) -> LanJoin:
    return LanJoin(run(lan.quick_join(game, **kw), kw.get("timeout", DEFAULT_TIMEOUT) + 2))


def join(name_or_id: str, **kw: Any) -> LanJoin:
    return LanJoin(run(lan.join(name_or_id, **kw), kw.get("timeout", DEFAULT_TIMEOUT) + 2))


def host(game: str, name: str, capacity: int, **kw: Any) -> HostedLobby:
    return HostedLobby(run(lan.host(game, name, capacity, **kw), kw.get("timeout", DEFAULT_TIMEOUT) * 2 + 2))
