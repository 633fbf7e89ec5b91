"""The coordinator client (PROTOCOL.md, "The coordinator protocol"), on asyncio.

One Client is one member: a persistent TCP link to a coordinator that answers
heartbeats by itself, matches replies to calls by id, turns notices into
events, and repairs its link: after a blip it resumes its seats, after a
coordinator restart it restores its lobbies (owners re-create, members
re-join). Every call has a timeout (DEFAULT_TIMEOUT unless given).
"""
from __future__ import annotations

import asyncio
import collections
import ipaddress
import json
import math
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import errors
from .errors import CallTimeout, ClientClosed, ConnectionLost, CoordinatorError, LinkDown, Replaced
from .match import Filter, Reservation, process_player_key
from .model import (CLOSED, COORDINATOR_LOST, COORDINATOR_MOVED, COORDINATOR_RESTARTED, ERROR, LOBBY_ADDED,
                    LOBBY_REMOVED, LOBBY_UPDATED, MEMBER_JOINED, MEMBER_LEFT, NAME_LOST, NEXT_FAILING_OVER,
                    NEXT_GIVING_UP, NEXT_MOVING, NEXT_RESUMING, REASON_COORDINATOR_LOST, RECONNECTING, REJOINED,
                    RESUMED, STARTED, SYNCED, TAKEN_OVER, UNSUBSCRIBED, Event, Joined, LobbyInfo, Member, members)

#: Every call gives up after this many seconds unless told otherwise.
DEFAULT_TIMEOUT = 5.0
#: The coordinator's default TCP port.
DEFAULT_PORT = 7600
#: Protocol version spoken (PROTOCOL.md, "Versioning").
PROTOCOL_VERSION = 1
#: What the SDK calls itself in hello.
CLIENT_NAME = "lanlobby-py/0.1"
#: Longest line accepted from the coordinator (its own limit, PROTOCOL.md).
MAX_LINE = 65536
#: Events kept for a game that does not drain them; past it the oldest go
#: (counted in Client.dropped_events), so nothing grows without bound.
MAX_PENDING_EVENTS = 4096
#: Bytes of outgoing data buffered for a coordinator that stopped reading;
#: past it the link is treated as broken.
MAX_WRITE_BUFFER = 1 << 20
#: Added to heartbeat x (misses + 1) before a silent coordinator counts as
#: gone: room for a loaded machine.
DEAD_LINK_SLACK = 0.25
#: Longest a single reconnect dial may take.
RECONNECT_DIAL_TIMEOUT = 2.0
#: Longest a dial to a successor's or moved-to coordinator may take: a LAN
#: answers in a millisecond; one that does not serve refuses at once.
FAILOVER_DIAL_TIMEOUT = 1.0
#: Longest a dial to the coordinator that was lost may take while failing
#: over: a process that died refuses at once; a machine that vanished never
#: answers.
PROBE_DIAL_TIMEOUT = 0.25
#: After a silent link, the lost coordinator is asked only once the
#: successor has had this long to take over.
PROBE_SILENT_AFTER = 1.5
#: Pacing of failover attempts: the successor needs a few milliseconds to
#: start serving.
FAILOVER_BACKOFF = 0.02
FAILOVER_MAX_BACKOFF = 0.25
#: Spacing of RECONNECTING events.
PROGRESS_EVERY = 1.0
#: The most lobbies list() gathers: a coordinator could otherwise feed pages
#: for ever.
MAX_LISTED = 200_000


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> Tuple[str, int]:
    """Split "host:port", "[v6]:port" or a bare host (default port)."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if addr.count(":") == 1:
        host, port = addr.rsplit(":", 1)
        return host, int(port)
    return addr, default_port


@dataclass
class _Membership:
    owner: bool
    info: LobbyInfo
    addr: str
    password: str = ""
    credential: str = ""  # proves the seat to a restarted coordinator
    owner_credential: str = ""  # proves the ownership, while we own the lobby
    lobby_secret: str = ""  # checks the members' seat credentials (PROTOCOL.md, "Credentials")
    #: The other members, in join order, as the replies and notices told.
    peers: List[Member] = field(default_factory=list)


class _Link:
    """One TCP connection of a Client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: float, addr: str = "") -> None:
        self.addr = addr  # the coordinator it was dialled to
        self.reader = reader
        self.writer = writer
        self.idle = idle
        self.down: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: Optional[asyncio.Task] = None

    def send(self, msg: Dict[str, Any]) -> None:
        if self.down.done():
            raise LinkDown(str(msg.get("op")))
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.abort()
            raise LinkDown(str(msg.get("op")))

    def abort(self) -> None:
        try:
            self.writer.transport.abort()
        except Exception:  # already gone
            pass


@dataclass
class _Pending:
    fut: asyncio.Future
    link: _Link
    on_reply: Optional[Callable[[Dict[str, Any]], None]]


class Client:
    """A member's connection to a coordinator. Make one with ``await
    Client.connect(addr)``; use it from the event loop that made it (see
    lanlobby.sync for threads). ``drain_events`` may be called from any
    thread (a game's main loop)."""

    def __init__(self, addr: str, player: str, timeout: float, dead_link_slack: float,
                 max_pending_events: int, player_key: Optional[str] = None) -> None:
        #: The coordinator this client talks to now: the one it connected to,
        #: or the one it followed its lobby to (a takeover, a move).
        self.addr = addr
        self.player = player
        #: The player key sent in hello ("" for none).
        self.player_key = process_player_key() if player_key is None else player_key
        self.timeout = timeout
        self._slack = dead_link_slack
        self._loop = asyncio.get_running_loop()
        self._link: Optional[_Link] = None
        self._pending: Dict[int, _Pending] = {}
        self._next_id = 0
        self.you = Member(id="", name=player)
        self._token = ""
        self.heartbeat = 0.0
        self.misses = 0
        self.grace = 0.0
        self.server = ""
        #: The coordinator's instance identity: another one after a restart.
        self.instance = ""
        #: The coordinator hands its lobbies to their successors when it is
        #: lost (a game's own coordinator; hello reply "takeover").
        self.takeover = False
        #: The link is being replaced on purpose (a move): the old one's
        #: close is no loss.
        self._switching = False
        self._last_progress = -1e9
        #: Live subscriptions, and the coordinator's ids routed to them.
        self._subs: List["Subscription"] = []
        self._subs_by_id: Dict[int, "Subscription"] = {}
        self._lobbies: Dict[str, _Membership] = {}
        #: Names this client holds in the coordinator's name registry
        #: (name -> room address), registered again after a restart.
        self._names: Dict[str, str] = {}
        self._tasks: "set[asyncio.Task]" = set()
        self._err: Optional[errors.LobbyError] = None
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._reconnect_task: Optional[asyncio.Task] = None
        self._events: Deque[Event] = collections.deque()
        self._events_lock = threading.Lock()
        self._events_max = max_pending_events
        self._event_signal = asyncio.Event()
        self.dropped_events = 0

    # ---- set-up and tear-down ------------------------------------------

    @classmethod
    async def connect(cls, addr: str, player: str = "", *, timeout: float = DEFAULT_TIMEOUT,
                      dead_link_slack: float = DEAD_LINK_SLACK,
                      max_pending_events: int = MAX_PENDING_EVENTS, player_key: Optional[str] = None) -> "Client":
        """Connect to the coordinator at addr ("host:port"; port 7600 when
        omitted) and complete hello, within timeout seconds. player_key is
        this player's stable key (None: lanlobby.match.process_player_key(),
        one per process; "": none): it lets an owner's ban and a party
        leader's named seats know the player again (PROTOCOL.md, "Bans"); keep
        one with the game's settings (or match.stored_player_key()) to be
        known after a restart."""
        c = cls(addr, player, timeout, dead_link_slack, max_pending_events, player_key)
        deadline = c._loop.time() + timeout
        try:
            link = await c._dial(timeout)
            c._link = link
            hello = {"op": "hello", "v": PROTOCOL_VERSION, "client": CLIENT_NAME, "player": player}
            if c.player_key:
                hello["key"] = c.player_key
            reply = await c._call_on(link, hello, deadline)
            c._adopt(link, reply)
        except BaseException:
            await c.close()
            raise
        c._ready.set()
        return c

    async def close(self) -> None:
        """Leave every lobby (the coordinator tells the others at once) and
        release the client. Idempotent."""
        if self._err is None:
            self._err = ClientClosed("client closed")
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        for t in list(self._tasks):
            t.cancel()
        link = self._link
        if link is not None:
            link.abort()
            if link.task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(link.task), 1.0)
                except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                    link.task.cancel()
        self._lost.set()
        self._event_signal.set()
        self._end_subscriptions()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def member_id(self) -> str:
        return self.you.id

    @property
    def error(self) -> Optional[errors.LobbyError]:
        """None while the client works (also while reconnecting), then why it stopped."""
        return self._err

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and self._err is None

    def lobbies(self) -> List[str]:
        """Ids of the lobbies this client is in."""
        return list(self._lobbies)

    def peers(self, lobby: str) -> List[Member]:
        """The other members of a lobby this client is in, in join order, as
        the join reply and the notices since told ([] when not in it). A game
        that does not follow the events reads the current peer list here."""
        m = self._lobbies.get(lobby)
        return list(m.peers) if m is not None else []

    def names(self) -> Dict[str, str]:
        """The names this client holds in the name registry (name -> address)."""
        return dict(self._names)

    # ---- calls ------------------------------------------------------------

    async def create(self, game: str, name: str, capacity: int, *, port: int = 0, addr: str = "",
                     meta: Optional[Dict[str, str]] = None, password: str = "", private: bool = False,
                     auto_start: bool = False, version: str = "", filterable: Optional[List[str]] = None,
                     timeout: Optional[float] = None) -> Joined:
        """Create a lobby with this client as owner and first member. Give the
        game's port (the coordinator pairs it with the address it sees) or a
        full addr "ip:port". With auto_start the lobby starts by itself when
        its last seat (capacity) is taken; without, the owner starts it.
        version is the game version players' filters compare; filterable the
        keys of meta to advertise on the LAN, most important first (at most 8
        of a-z 0-9 - _ .; the beacon and mDNS carry the first 4 that fit in
        72 bytes)."""
        req: Dict[str, Any] = {"op": "create", "game": game, "name": name, "capacity": capacity}
        if auto_start:
            req["auto_start"] = True
        if version:
            req["version"] = version
        if filterable:
            req["filterable"] = list(filterable)
        _endpoint(req, port, addr)
        if meta:
            req["meta"] = dict(meta)
        if password:
            req["password"] = password
        if private:
            req["private"] = True
        return await self._join(req, timeout)

    async def join(self, lobby: str, *, port: int = 0, addr: str = "", password: str = "",
                   filter: Optional[Filter] = None, seats: int = 0, party: Optional[List[str]] = None,
                   reservation: str = "", timeout: Optional[float] = None) -> Joined:
        """Join the lobby with that id (password or invite code for a private
        one). With filter the lobby must pass it (else filter_mismatch); with
        seats > 1, seats-1 more are reserved for this player's party, named by
        player key in party or claimed with the reply's reservation token;
        reservation claims a seat held for this player with a token its
        party's leader (or the owner) handed out."""
        req: Dict[str, Any] = {"op": "join", "lobby": lobby}
        _endpoint(req, port, addr)
        if password:
            req["password"] = password
        _match(req, filter, seats, party)
        if reservation:
            req["reservation"] = reservation
        return await self._join(req, timeout)

    async def quick_join(self, game: str, *, port: int = 0, addr: str = "", filter: Optional[Filter] = None,
                         seats: int = 0, party: Optional[List[str]] = None,
                         timeout: Optional[float] = None) -> Joined:
        """Join the open lobby of game closest to starting among those that
        pass filter and have seats free seats (with seats > 1 the party's
        seats are reserved in the same lobby, all at once: Joined.reservation)."""
        req: Dict[str, Any] = {"op": "quick_join", "game": game}
        _endpoint(req, port, addr)
        _match(req, filter, seats, party)
        return await self._join(req, timeout)

    async def leave(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        def forget(msg: Dict[str, Any]) -> None:
            if msg.get("ok"):
                self._lobbies.pop(lobby, None)
        await self._call({"op": "leave", "lobby": lobby}, timeout, forget)

    async def kick(self, lobby: str, member: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "kick", "lobby": lobby, "member": member}, timeout)

    async def kick_ban(self, lobby: str, member: str, duration: float = 0.0, *,
                       timeout: Optional[float] = None) -> None:
        """Kick a member of a lobby this client owns and ban it, by its player
        key, for duration seconds (0: until the lobby closes; at most a day):
        its joins get banned and quick-join passes the lobby by for it. The
        member_left event carries banned."""
        req: Dict[str, Any] = {"op": "kick", "lobby": lobby, "member": member, "ban": True}
        if duration > 0:
            req["ban_ms"] = max(1, int(math.ceil(duration * 1000)))
        await self._call(req, timeout)

    async def reserve(self, lobby: str, seats: int, party: Optional[List[str]] = None, window: float = 0.0, *,
                      timeout: Optional[float] = None) -> Reservation:
        """Hold seats of a lobby this client owns for invited players for
        window seconds (0: the coordinator's 10 s; at most 10 min): players
        whose keys are in party claim theirs by joining, the others with the
        returned reservation's token. Seats not claimed in time are released
        (a reservation_expired event)."""
        req: Dict[str, Any] = {"op": "reserve", "lobby": lobby, "seats": seats}
        if party:
            req["party"] = list(party)
        if window > 0:
            req["window_ms"] = max(1, int(math.ceil(window * 1000)))
        msg = await self._call(req, timeout)
        r = Reservation.from_wire(msg.get("reservation"))
        if r is None:
            raise errors.ProtocolError("reserve reply without a reservation")
        return r

    async def start(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "start", "lobby": lobby}, timeout)

    async def close_lobby(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "close", "lobby": lobby}, timeout)

    async def set_meta(self, lobby: str, meta: Dict[str, str], *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "set_meta", "lobby": lobby, "meta": dict(meta)}, timeout)

    async def list(self, game: str = "", *, filter: Optional[Filter] = None,
                   timeout: Optional[float] = None) -> List[LobbyInfo]:
        """The coordinator's lobbies of game ("" for all) that pass filter,
        oldest first: page after page (each reply fits one line; PROTOCOL.md,
        "list") until the last, within one timeout for all, and at most
        MAX_LISTED lobbies."""
        if filter is not None:
            filter.validate()
        deadline = self._loop.time() + (self.timeout if timeout is None else timeout)
        out: List[LobbyInfo] = []
        after = ""
        while True:
            page, nxt = await self._list_page(game, filter, after, 0, deadline)
            out.extend(page)
            if not nxt:
                return out
            if nxt == after or len(out) > MAX_LISTED:
                raise errors.ProtocolError(f"list: the coordinator's pages do not end (cursor {nxt!r}, {len(out)} lobbies)")
            after = nxt

    async def list_page(self, game: str = "", *, filter: Optional[Filter] = None, after: str = "", limit: int = 0,
                        timeout: Optional[float] = None) -> Tuple[List[LobbyInfo], str]:
        """One page of the coordinator's lobbies: those after the cursor after
        ("" for the first page), at most limit (0: as many as fit one line, up
        to 500). Returns the page and the next page's cursor ("" at the end)."""
        if filter is not None:
            filter.validate()
        return await self._list_page(game, filter, after, limit,
                                     self._loop.time() + (self.timeout if timeout is None else timeout))

    async def _list_page(self, game: str, filter: Optional[Filter], after: str, limit: int,
                         deadline: float) -> Tuple[List[LobbyInfo], str]:
        req: Dict[str, Any] = {"op": "list"}
        if game:
            req["game"] = game
        fw = filter.to_wire() if filter is not None else None
        if fw:
            req["filter"] = fw
        if after:
            req["after"] = after
        if limit > 0:
            req["limit"] = limit
        msg = await self._call_until(req, deadline)
        nxt = msg.get("next")
        return ([LobbyInfo.from_wire(x) for x in msg.get("lobbies") or [] if isinstance(x, dict)],
                nxt if isinstance(nxt, str) else "")

    async def subscribe(self, game: str = "", filter: Optional[Filter] = None, *,
                        timeout: Optional[float] = None) -> "Subscription":
        """Start a live view of the lobbies of game ("" for every game) that
        pass filter, and return once the coordinator's snapshot is in
        (Subscription.lobbies()). Its events come through this client's events
        with Event.subscription set: a LOBBY_ADDED for every lobby of the
        snapshot and a SYNCED, then LOBBY_ADDED, LOBBY_UPDATED and LOBBY_REMOVED
        as lobbies start to match, change and stop matching. The client
        subscribes again by itself after a blip, a restart or an unsubscribed
        push, and tells only what changed meanwhile. At most 8 per client."""
        if filter is not None:
            filter.validate()
        if self._err is not None:
            raise self._err
        s = Subscription(self, game, filter)
        self._subs.append(s)
        try:
            await self._subscribe_once(s, timeout)
        except BaseException:
            # The coordinator may have made it (the snapshot did not end in
            # time): it is dropped there too.
            t = self._loop.create_task(self._unsubscribe(s))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
            raise
        return s

    # ---- the name registry (PROTOCOL.md, "register, deregister, lookup") ----

    async def register(self, name: str, addr: str, *, timeout: Optional[float] = None) -> None:
        """Give name to the room address addr ("room://host:port") in the
        coordinator's name registry, for as long as this client lives (a blip
        is resumed; after a coordinator restart the client registers it
        again). Names and addresses are unique: CoordinatorError with code
        name_taken, addr_taken, too_many_names, invalid_name or
        invalid_address. Registering a name this client holds again moves it."""
        def keep(msg: Dict[str, Any]) -> None:
            if msg.get("ok"):
                self._names[name] = addr
        await self._call({"op": "register", "name": name, "addr": addr}, timeout, keep)

    async def deregister(self, name: str, *, timeout: Optional[float] = None) -> None:
        """Remove a name this client registered (unknown_name, not_owner)."""
        def drop(msg: Dict[str, Any]) -> None:
            if msg.get("ok") or (isinstance(msg.get("error"), dict) and msg["error"].get("code") == errors.UNKNOWN_NAME):
                self._names.pop(name, None)
        await self._call({"op": "deregister", "name": name}, timeout, drop)

    async def lookup(self, name: str, *, timeout: Optional[float] = None) -> str:
        """The room address registered for name (CoordinatorError
        unknown_name when nobody holds it)."""
        msg = await self._call({"op": "lookup", "name": name}, timeout)
        addr = msg.get("addr")
        if not isinstance(addr, str):
            raise errors.ProtocolError("lookup reply without an addr")
        return addr

    async def ping(self, *, timeout: Optional[float] = None) -> float:
        """One request round trip to the coordinator, in seconds."""
        t0 = self._loop.time()
        await self._call({"op": "ping"}, timeout)
        return self._loop.time() - t0

    # ---- events -------------------------------------------------------------

    def drain_events(self, max_events: Optional[int] = None) -> List[Event]:
        """Take the events waiting, oldest first, without blocking. Safe
        from any thread: a game calls it once a frame."""
        out: List[Event] = []
        with self._events_lock:
            while self._events and (max_events is None or len(out) < max_events):
                out.append(self._events.popleft())
        return out

    async def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, waiting up to timeout seconds (None: until one
        comes or the client stops). None when none came."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            got = self.drain_events(1)
            if got:
                return got[0]
            if self._lost.is_set():
                return None
            self._event_signal.clear()
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._event_signal.wait(), remaining)
            except asyncio.TimeoutError:
                return None

    def _push(self, ev: Event) -> None:
        with self._events_lock:
            if len(self._events) >= self._events_max:
                self._events.popleft()
                self.dropped_events += 1
            self._events.append(ev)
        self._event_signal.set()

    # ---- internals: calls ------------------------------------------------------

    async def _join(self, req: Dict[str, Any], timeout: Optional[float]) -> Joined:
        def remember(msg: Dict[str, Any]) -> None:
            if msg.get("ok") and isinstance(msg.get("you"), dict):
                pw = msg.get("invite") or req.get("password", "")
                self._remember(LobbyInfo.from_wire(msg), req["op"] == "create",
                               Member.from_wire(msg["you"]).addr, pw, members(msg.get("peers")), msg)
        msg = await self._call(req, timeout, remember)
        return Joined(lobby=LobbyInfo.from_wire(msg), you=Member.from_wire(msg.get("you")),
                      peers=members(msg.get("peers")), invite=msg.get("invite") or "",
                      reservation=Reservation.from_wire(msg.get("reservation")))

    def _remember(self, info: LobbyInfo, owner: bool, addr: str, password: str, peers: List[Member],
                  creds: Dict[str, Any]) -> None:
        old = self._lobbies.get(info.id)
        if not password and old is not None:
            password = old.password
        cred, owner_cred = creds.get("credential") or "", creds.get("owner_credential") or ""
        secret = creds.get("lobby_secret") or ""
        if not cred and old is not None:
            cred, owner_cred = old.credential, old.owner_credential
        if not secret and old is not None:
            secret = old.lobby_secret
        self._lobbies[info.id] = _Membership(owner=owner or info.owner == self.you.id, info=info,
                                             addr=addr, password=password, peers=list(peers), credential=cred,
                                             owner_credential=owner_cred, lobby_secret=secret)

    async def _call(self, req: Dict[str, Any], timeout: Optional[float],
                    on_reply: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Wait for a usable link (the client may be reconnecting), send req
        and wait for its reply, all within the timeout."""
        return await self._call_until(req, self._loop.time() + (self.timeout if timeout is None else timeout), on_reply)

    async def _call_until(self, req: Dict[str, Any], deadline: float,
                          on_reply: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        if self._err is not None:
            raise self._err
        if not self._ready.is_set():
            waits = [asyncio.ensure_future(self._ready.wait()), asyncio.ensure_future(self._lost.wait())]
            try:
                await asyncio.wait(waits, timeout=max(0.0, deadline - self._loop.time()),
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if self._err is not None:
                raise self._err
            if not self._ready.is_set():
                raise CallTimeout(f"no reply from coordinator in time ({req['op']}: still reconnecting)")
        assert self._link is not None
        return await self._call_on(self._link, req, deadline, on_reply)

    async def _call_on(self, link: _Link, req: Dict[str, Any], deadline: float,
                       on_reply: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        self._next_id += 1
        rid = self._next_id
        req["id"] = rid
        fut = self._loop.create_future()
        self._pending[rid] = _Pending(fut, link, on_reply)
        op = req.get("op")
        try:
            link.send(req)
            remaining = deadline - self._loop.time()
            if remaining > 0:
                await asyncio.wait([fut, link.down], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if not fut.done():
                # Past the deadline it is a timeout, whatever else happened
                # meanwhile (on a loaded machine the link's own idle timer may
                # have fired first).
                if link.down.done() and self._loop.time() < deadline:
                    if self._err is not None:
                        raise self._err
                    raise LinkDown(f"link to coordinator dropped during the call ({op})")
                raise CallTimeout(f"no reply from coordinator in time ({op})")
            msg = fut.result()
        finally:
            self._pending.pop(rid, None)
        if msg.get("ok") is not True:
            e = msg.get("error") if isinstance(msg.get("error"), dict) else {}
            raise CoordinatorError(str(e.get("code") or "internal"), str(e.get("message") or ""))
        return msg

    # ---- internals: links -------------------------------------------------------

    async def _dial(self, timeout: float, addr: Optional[str] = None) -> _Link:
        addr = self.addr if addr is None else addr
        host, port = split_addr(addr)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_LINE + 2), timeout)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        # Until hello tells the heartbeat, silence longer than a call's
        # timeout means nobody is there (the slack lets the call's own
        # timeout, the clearer error, come first).
        link = _Link(reader, writer, idle=self.timeout + self._slack, addr=addr)
        link.task = self._loop.create_task(self._read_loop(link))
        return link

    def _adopt(self, link: _Link, msg: Dict[str, Any]) -> None:
        v = msg.get("v")
        if v != PROTOCOL_VERSION or not isinstance(msg.get("you"), dict):
            link.abort()
            raise errors.ProtocolError(f"coordinator answered with version {v!r}, want {PROTOCOL_VERSION}")
        self.you = Member.from_wire(msg["you"])
        self._token = msg.get("resume") or ""
        self.server = msg.get("server") or ""
        self.heartbeat = (msg.get("heartbeat_ms") or 0) / 1000.0
        self.misses = msg.get("misses") or 0
        self.grace = (msg.get("resume_grace_ms") or 0) / 1000.0
        self.instance = msg.get("instance") if isinstance(msg.get("instance"), str) else ""
        self.takeover = msg.get("takeover") is True
        if self.heartbeat > 0 and self.misses > 0:
            # The coordinator pings every heartbeat: hearing nothing for one
            # interval more than it tolerates from us means it is gone.
            link.idle = self.heartbeat * (self.misses + 1) + self._slack

    async def _read_loop(self, link: _Link) -> None:
        reason = "closed"
        try:
            while True:
                try:
                    line = await asyncio.wait_for(link.reader.readline(), link.idle)
                except asyncio.TimeoutError:
                    reason = "timeout"
                    break
                except (ValueError, asyncio.LimitOverrunError):
                    reason = "line_too_long"
                    break
                if not line.endswith(b"\n"):
                    reason = "disconnected"
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    reason = "protocol_error"
                    break
                if isinstance(msg, dict):
                    self._handle(link, msg)
        except (OSError, ConnectionError):
            reason = "disconnected"
        except asyncio.CancelledError:
            reason = "closed"
        finally:
            link.abort()
            if not link.down.done():
                link.down.set_result(None)
            self._link_closed(link, reason)

    def _handle(self, link: _Link, msg: Dict[str, Any]) -> None:
        ev = msg.get("event")
        if ev == "replaced":
            # Another connection took this member over: stop, never resume
            # in turn (PROTOCOL.md, "Connection life cycle" 9).
            self._fail(Replaced(f"another connection took this member's seat over ({msg.get('reason') or 'replaced'})"))
            link.abort()
            return
        if ev == "ping":
            try:
                link.send({"op": "pong", "seq": msg.get("seq", 0)})
            except LinkDown:
                pass
            return
        if isinstance(ev, str) and isinstance(msg.get("sub"), int) and msg["sub"]:
            self._sub_event(msg)
            return
        if ev in (TAKEN_OVER, COORDINATOR_MOVED, "standby"):
            self._move_push(link, msg)
            return
        if isinstance(ev, str):
            self._notice(msg)
            return
        rid = msg.get("id")
        pc = self._pending.get(rid) if isinstance(rid, int) and not isinstance(rid, bool) else None
        if pc is None or pc.link is not link or pc.fut.done():
            return  # a reply nobody waits for any more (or id null: the call times out)
        if pc.on_reply is not None:
            pc.on_reply(msg)  # before later lines are read: state is in place for the next notice
        pc.fut.set_result(msg)

    def _notice(self, msg: Dict[str, Any]) -> None:
        info = LobbyInfo.from_wire(msg)
        ev = Event(kind=msg["event"], lobby=info, reason=msg.get("reason") or "", peers=members(msg.get("peers")),
                   banned=msg.get("banned") is True)
        res = msg.get("reservation")
        if isinstance(res, dict):
            ev.reservation = res.get("id") if isinstance(res.get("id"), str) else ""
            ev.released = res.get("released") if isinstance(res.get("released"), int) else 0
        if isinstance(msg.get("member"), dict):
            ev.member = Member.from_wire(msg["member"])
        m = self._lobbies.get(info.id)
        if m is not None:
            if ev.kind == CLOSED or (ev.kind == MEMBER_LEFT and ev.member is not None and ev.member.id == self.you.id):
                del self._lobbies[info.id]
            else:
                m.info = info
                m.owner = info.owner == self.you.id
                m.peers = _next_peers(m.peers, ev, self.you.id)
                if msg.get("owner_credential"):
                    m.owner_credential = msg["owner_credential"]  # we own the lobby now
        self._push(ev)

    def _link_closed(self, link: _Link, reason: str) -> None:
        if link is not self._link or self._err is not None or self._switching:
            return
        if self.grace <= 0 or not self._token or not (self._lobbies or self._names):
            self._tell_lost(NEXT_GIVING_UP, reason)
            self._fail(ConnectionLost(f"connection to coordinator lost ({reason})"))
            return
        plan = self._plan()
        self._ready.clear()
        budget = self.grace + self.heartbeat * (self.misses + 1)
        self._tell_lost(plan, reason)
        if plan == NEXT_RESUMING:
            self._reconnect_task = self._loop.create_task(self._reconnect(budget))
        else:
            self._reconnect_task = self._loop.create_task(self._failover(plan, reason, budget))

    def _plan(self) -> str:
        """What the client does about a lost link (Event.next), as the Go
        client decides: on a coordinator that hands its lobbies over, a
        member of one lobby with a successor goes to the successor (an SDK
        client is never the one that takes over: it registers no standby);
        otherwise it reconnects to the same coordinator."""
        if not self.takeover or len(self._lobbies) != 1:
            # A daemon keeps its lobbies across restarts; several lobbies
            # cannot follow several successors over one link.
            return NEXT_RESUMING
        m = next(iter(self._lobbies.values()))
        if not m.info.successor:
            return NEXT_RESUMING  # alone: nobody to take over
        return NEXT_FAILING_OVER

    def _tell_lost(self, next_: str, reason: str) -> None:
        """COORDINATOR_LOST for every lobby, at once (one without a lobby
        when the client is in none)."""
        why = _member_reason(reason)
        infos = [m.info for m in self._lobbies.values()] or [None]
        for info in infos:
            self._push(Event(kind=COORDINATOR_LOST, lobby=info, next=next_, reason=why))

    def _progress(self, attempt: int, since: float, addr: str) -> None:
        """A RECONNECTING event, at most once per PROGRESS_EVERY."""
        now = self._loop.time()
        if now - since < PROGRESS_EVERY or now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        info = next(iter(self._lobbies.values())).info if self._lobbies else None
        self._push(Event(kind=RECONNECTING, lobby=info, attempt=attempt, elapsed=now - since, addr=addr))

    def _move_push(self, link: _Link, msg: Dict[str, Any]) -> None:
        """taken_over, coordinator_moved and standby (PROTOCOL.md, "When the
        coordinator is lost")."""
        kind, info = msg["event"], LobbyInfo.from_wire(msg)
        m = self._lobbies.get(info.id)
        if kind == TAKEN_OVER:
            # It follows the restore's reply on the new link, which may not
            # be installed yet: the restore keeps the reply's peers, the
            # same as these.
            ev = Event(kind=kind, lobby=info, reason=msg.get("reason") or "", peers=members(msg.get("peers")))
            if isinstance(msg.get("member"), dict):
                ev.member = Member.from_wire(msg["member"])
            if m is not None:
                m.info, m.owner, m.peers = info, info.owner == self.you.id, list(ev.peers)
            self._push(ev)
            return
        if m is None or link is not self._link:
            return  # not ours, or from a link being replaced
        if kind == "standby":
            m.info = info  # the successor's standby address changed: games are not told
            return
        addr = msg.get("addr")
        if self._err is not None or self._switching or not isinstance(addr, str) or not addr:
            return
        if info.term < m.info.term:
            return  # a lower term than the lobby has: stale, the higher one wins
        self._switching = True
        self._ready.clear()
        budget = self.grace + self.heartbeat * (self.misses + 1)
        self._push(Event(kind=COORDINATOR_MOVED, lobby=info, addr=addr))

        async def follow() -> None:
            try:
                await self._failover(NEXT_MOVING, "closed", budget, move_to=addr)
            finally:
                link.abort()  # the old coordinator's link, if it is still open
        self._reconnect_task = self._loop.create_task(follow())

    async def _failover(self, plan: str, why: str, budget: float, move_to: str = "") -> None:
        """Get the client's lobby back on another coordinator within budget:
        the one it moved to, else the successor's standby address
        (successor_addr) and the old coordinator (our own link may be what
        broke), restoring the seat with its seat credential; or give up."""
        start = self._loop.time()
        deadline = start + budget
        backoff = FAILOVER_BACKOFF
        last: BaseException = ConnectionLost("no attempt")
        attempt = 0
        while self._loop.time() < deadline and self._err is None:
            if attempt > 0:
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, FAILOVER_MAX_BACKOFF)
            m = next(iter(self._lobbies.values()), None)
            self._progress(attempt, start, move_to or (m.info.successor_addr if m is not None else "") or self.addr)
            attempt += 1
            try:
                await self._failover_once(move_to, plan, why, start, deadline)
                self._resubscribe_all()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # refused, not there yet, timeout: try again
                last = e
        self._fail(ConnectionLost(f"connection to coordinator lost (gave up {plan}: {last})"))

    async def _failover_once(self, move_to: str, plan: str, why: str, start: float, deadline: float) -> None:
        if not self._lobbies:
            raise ConnectionLost("no lobby to fail over")
        errs: List[BaseException] = []
        if move_to:
            try:
                await self._reattach_at(move_to, deadline, FAILOVER_DIAL_TIMEOUT, restore_only=True, quiet=True)
                return
            except Exception as e:
                errs.append(e)
        if plan == NEXT_FAILING_OVER:
            info = next(iter(self._lobbies.values())).info
            if info.successor_addr:
                try:
                    await self._reattach_at(info.successor_addr, deadline, FAILOVER_DIAL_TIMEOUT, restore_only=True,
                                            quiet=True)
                    return
                except Exception as e:
                    errs.append(e)
            # Our own link may be what broke, and the coordinator lives on.
            if why != "timeout" or self._loop.time() - start >= PROBE_SILENT_AFTER:
                try:
                    await self._reattach_at(self.addr, deadline, PROBE_DIAL_TIMEOUT)
                    return
                except Exception as e:
                    errs.append(e)
        raise errs[0] if len(errs) == 1 else ConnectionLost("; ".join(str(e) or type(e).__name__ for e in errs))

    def _fail(self, err: errors.LobbyError) -> None:
        if self._err is None:
            self._err = err
        self._lost.set()
        self._push(Event(kind=ERROR, error=self._err))
        self._end_subscriptions()

    async def _reconnect(self, budget: float) -> None:
        deadline = self._loop.time() + budget
        backoff = 0.02
        last: BaseException = ConnectionLost("no attempt")
        attempt = 0
        while self._loop.time() < deadline and self._err is None:
            if attempt > 0:
                await asyncio.sleep(backoff + random.uniform(0, backoff / 2))
                backoff = min(2 * backoff, 1.0)
            attempt += 1
            self._progress(attempt, deadline - budget, self.addr)
            try:
                await self._reattach(deadline)
                self._resubscribe_all()  # the new link has no subscriptions
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # dial refused, timeout, resume refused: try again
                last = e
        self._fail(ConnectionLost(f"connection to coordinator lost (gave up reconnecting: {last})"))

    async def _reattach(self, deadline: float) -> None:
        await self._reattach_at(self.addr, deadline, min(self.timeout, RECONNECT_DIAL_TIMEOUT))

    async def _reattach_at(self, addr: str, deadline: float, dial: float, restore_only: bool = False,
                           quiet: bool = False) -> None:
        """One attempt to get the client's lobbies back on the coordinator at
        addr: dial (within dial seconds), then resume, or restore (at once
        with restore_only: a coordinator that never knew this client). quiet:
        no COORDINATOR_RESTARTED or REJOINED events (the game was told of the
        takeover or move), and lobbies not there yet are retried."""
        remaining = deadline - self._loop.time()
        link = await self._dial(max(0.01, min(dial, remaining)), addr)
        if restore_only:
            await self._restore(link, deadline, quiet)
            return

        def on_resumed(msg: Dict[str, Any]) -> None:
            r = msg.get("resumed")
            if msg.get("ok") and isinstance(r, dict):
                # Before the missed notices, which follow this reply.
                for ls in r.get("lobbies") or []:
                    if isinstance(ls, dict):
                        self._push(Event(kind=RESUMED, lobby=LobbyInfo.from_wire(ls)))
        try:
            reply = await self._call_on(link, {"op": "resume", "v": PROTOCOL_VERSION, "member": self.you.id,
                                               "token": self._token}, deadline, on_resumed)
        except CoordinatorError as e:
            if e.code == errors.RESUME_FAILED:
                await self._restore(link, deadline)
                return
            link.abort()
            raise
        except BaseException:
            link.abort()
            raise
        self._install(link, reply)

    def _install(self, link: _Link, reply: Dict[str, Any]) -> None:
        self._adopt(link, reply)
        if self._err is not None:
            link.abort()
            raise self._err
        if link.down.done():
            raise LinkDown("new link dropped")
        old = self._link
        self._link = link
        if link.addr:
            self.addr = link.addr
        self._switching = False
        self._ready.set()
        if old is not None and old is not link:
            old.abort()  # a moved lobby's old link: closed once the new one serves

    async def _restore(self, link: _Link, deadline: float, quiet: bool = False) -> None:
        """Re-create (as owner, with the members it knew, whose seats are then
        held for them) and re-join (as member) every lobby on a coordinator
        that lost them, under the same member id, with the credentials it
        issued. Members whose owner is not back yet retry until the deadline;
        lobbies that never come back are reported closed (coordinator_lost,
        Event.error the coordinator's). When the coordinator is the same
        instance (the link was down past its grace) the lobbies are taken back
        as a new member (REJOINED) and nothing is retried."""
        owned, joined = [], []
        before = self.instance
        addrs = {lid: m.addr for lid, m in self._lobbies.items()}  # our game address in each, as recorded
        for lid, m in self._lobbies.items():
            e: Dict[str, Any] = {"lobby": lid, "credential": m.credential}
            _entry_addr(e, m.addr)
            if m.password:
                e["password"] = m.password
            if m.owner:
                e.update(owner=True, game=m.info.game, name=m.info.name, capacity=m.info.capacity,
                         owner_credential=m.owner_credential)
                if m.info.meta:
                    e["meta"] = dict(m.info.meta)
                if m.info.state == "started":
                    e["started"] = True
                if m.info.auto_start:
                    e["auto_start"] = True
                if m.info.version:
                    e["version"] = m.info.version
                if m.info.filterable:
                    e["filterable"] = list(m.info.filterable)
                # A lobby adopted on a daemon that restarted needs its
                # secret back, and its term.
                if m.lobby_secret:
                    e["lobby_secret"] = m.lobby_secret
                if m.info.term:
                    e["term"] = m.info.term
                if m.info.created_ms:
                    e["created_ms"] = m.info.created_ms
                # The lobby as it knew it, in join order, itself first.
                e["members"] = [{"id": self.you.id, "name": self.you.name, "addr": m.addr}] + \
                    [{"id": p.id, "name": p.name, "addr": p.addr} for p in m.peers]
                owned.append(e)
            else:
                joined.append(e)
        todo = owned + joined  # owners first
        req = {"op": "restore", "v": PROTOCOL_VERSION, "client": CLIENT_NAME, "player": self.you.name,
               "member": self.you.id, "token": self._token, "lobbies": todo}
        if self.player_key:
            req["key"] = self.player_key
        try:
            reply = await self._call_on(link, req, deadline)
        except BaseException:
            link.abort()
            raise
        self._install(link, reply)
        now = reply.get("instance") if isinstance(reply.get("instance"), str) else ""
        restarted = not now or now != before or quiet
        kind = COORDINATOR_RESTARTED if restarted else REJOINED
        if self._names:
            t = self._loop.create_task(self._register_again())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
        backoff = 0.025
        while True:
            retry = []
            results = reply.get("restored") or []
            for i, asked in enumerate(todo):
                r = results[i] if i < len(results) and isinstance(results[i], dict) else {"error": {"code": "internal"}}
                err = r.get("error")
                if not err:
                    info = LobbyInfo.from_wire(r)
                    self._remember(info, info.owner == self.you.id, addrs.get(asked["lobby"], ""),
                                   asked.get("password", ""), members(r.get("peers")), r)
                    if not quiet:
                        self._push(Event(kind=kind, lobby=info, peers=members(r.get("peers"))))
                elif isinstance(err, dict) and err.get("code") == errors.UNKNOWN_LOBBY and restarted and \
                        self._loop.time() < deadline:
                    retry.append(asked)  # its owner is not back yet
                else:
                    e = err if isinstance(err, dict) else {}
                    self._lost_lobby(asked, CoordinatorError(str(e.get("code") or "internal"), str(e.get("message") or "")))
            if not retry:
                return
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, 0.5)
            todo = retry
            try:
                reply = await self._call({"op": "restore", "lobbies": todo}, None)
            except errors.LobbyError as ex:
                for asked in todo:
                    self._lost_lobby(asked, ex)
                return  # the link itself is fine; what could not come back is reported

    async def _register_again(self) -> None:
        """After a coordinator restart: the registry lost our names; take
        them back (a name someone else took meanwhile is reported)."""
        for name, addr in list(self._names.items()):
            try:
                await self.register(name, addr)
            except errors.LobbyError as e:
                if self._err is not None:
                    return
                self._names.pop(name, None)
                self._push(Event(kind=NAME_LOST, name=name, reason=getattr(e, "code", "") or str(e), error=e))

    def _lost_lobby(self, asked: Dict[str, Any], why: Optional[BaseException] = None) -> None:
        """Report a lobby that could not be restored, and why (the
        coordinator's error, such as bad_credential)."""
        m = self._lobbies.pop(asked["lobby"], None)
        info = m.info if m is not None else LobbyInfo(id=asked["lobby"])
        info.state = "closed"
        self._push(Event(kind=CLOSED, lobby=info, reason=REASON_COORDINATOR_LOST, error=why))

    # ---- subscriptions (PROTOCOL.md, "Subscriptions") ---------------------------

    async def _subscribe_once(self, s: "Subscription", timeout: Optional[float] = None) -> None:
        """One attempt: the request, then the snapshot, within the timeout."""
        deadline = self._loop.time() + (self.timeout if timeout is None else timeout)
        done: asyncio.Future = self._loop.create_future()
        req: Dict[str, Any] = {"op": "subscribe"}
        if s.game:
            req["game"] = s.game
        fw = s.filter.to_wire() if s.filter is not None else None
        if fw:
            req["filter"] = fw

        def begin(msg: Dict[str, Any]) -> None:
            sid = msg.get("sub")
            if msg.get("ok") and isinstance(sid, int) and sid:
                # Before the snapshot is read.
                old = s._begin(sid, done)
                if old:
                    self._subs_by_id.pop(old, None)
                self._subs_by_id[sid] = s
        await self._call_until(req, deadline, begin)
        remaining = deadline - self._loop.time()
        if remaining > 0 and not done.done():
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait([done, lost], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
        if done.done() and done.result():
            return
        if self._err is not None:
            raise self._err
        if not s.active:
            raise errors.LobbyError("subscription closed")
        raise CallTimeout("no reply from coordinator in time (subscribe: the snapshot did not end)")

    def _sub_event(self, msg: Dict[str, Any]) -> None:
        sid, kind = msg["sub"], msg.get("event")
        s = self._subs_by_id.get(sid)
        if s is None:
            return  # ended, or replaced by a newer attempt
        if kind == UNSUBSCRIBED:
            self._subs_by_id.pop(sid, None)
            if not s._drop(sid) or not s.active:
                return
            self._push(Event(kind=UNSUBSCRIBED, reason=msg.get("reason") or "", subscription=s))
            self._resubscribe(s)
            return
        if kind not in (LOBBY_ADDED, LOBBY_UPDATED, LOBBY_REMOVED, SYNCED):
            return  # a subscription event this client does not know
        s._apply(sid, kind, LobbyInfo.from_wire(msg))

    def _resubscribe(self, s: "Subscription") -> None:
        """Subscribe s again in the background, with backoff, until it works,
        s ends or the client stops."""
        async def again() -> None:
            backoff = 0.05
            while s.active and self._err is None:
                try:
                    await self._subscribe_once(s)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pass
                await asyncio.sleep(backoff + random.uniform(0, backoff / 2))
                backoff = min(2 * backoff, 1.0)
        t = self._loop.create_task(again())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _resubscribe_all(self) -> None:
        self._subs_by_id.clear()
        for s in list(self._subs):
            s._drop()
            self._resubscribe(s)

    def _end_subscriptions(self) -> None:
        for s in list(self._subs):
            s._end()
        self._subs.clear()
        self._subs_by_id.clear()

    async def _unsubscribe(self, s: "Subscription") -> None:
        sid = s._end()
        if s in self._subs:
            self._subs.remove(s)
        if sid:
            self._subs_by_id.pop(sid, None)
            if self._err is None:
                try:
                    await self._call({"op": "unsubscribe", "sub": sid}, None)
                except errors.LobbyError:
                    pass  # the link's end drops it too


class Subscription:
    """A live, filtered view of a coordinator's lobbies (Client.subscribe):
    the coordinator pushes only the changes of the lobbies that match it.
    Its events come through the client's events (Event.subscription is this);
    lobbies() is the view. The client keeps it going by itself: after a link
    was resumed or restored, or when the coordinator ended it (unsubscribed),
    it subscribes again and tells only what changed meanwhile. close() ends
    it."""

    def __init__(self, client: Client, game: str, filter: Optional[Filter]) -> None:
        self.client = client
        self.game = game
        self.filter = filter
        #: The coordinator's id of the subscription now (0 while subscribing again).
        self.id = 0
        self._view: Dict[str, LobbyInfo] = {}
        self._snap: Optional[Dict[str, LobbyInfo]] = None
        self._synced: Optional[asyncio.Future] = None
        self._ended = False

    @property
    def active(self) -> bool:
        return not self._ended

    def lobbies(self) -> List[LobbyInfo]:
        """The lobbies that match now, as far as the client knows."""
        return [self._view[k] for k in sorted(self._view)]

    async def close(self) -> None:
        """End the subscription and tell the coordinator (errors ignored)."""
        await self.client._unsubscribe(self)

    def _begin(self, sid: int, done: asyncio.Future) -> int:
        old, self.id = self.id, sid
        self._snap, self._synced = {}, done
        return old

    def _drop(self, only: int = 0) -> int:
        old = self.id
        if only and old != only:
            return 0
        self.id, self._snap = 0, None
        return old

    def _end(self) -> int:
        old = self._drop()
        self._ended = True
        if self._synced is not None and not self._synced.done():
            self._synced.set_result(False)
        return old

    def _apply(self, sid: int, kind: str, info: LobbyInfo) -> None:
        if sid != self.id or self._ended:
            return
        push = self.client._push
        if self._snap is not None:
            if kind in (LOBBY_ADDED, LOBBY_UPDATED):
                self._snap[info.id] = info
            elif kind == LOBBY_REMOVED:
                self._snap.pop(info.id, None)
            elif kind == SYNCED:
                self._sync()
            return
        had = info.id in self._view
        if kind in (LOBBY_ADDED, LOBBY_UPDATED):
            self._view[info.id] = info
            push(Event(kind=LOBBY_UPDATED if had else LOBBY_ADDED, lobby=info, subscription=self))
        elif kind == LOBBY_REMOVED and had:
            del self._view[info.id]
            push(Event(kind=LOBBY_REMOVED, lobby=info, subscription=self))

    def _sync(self) -> None:
        """Install a complete snapshot, telling how it differs from the view
        (everything is new the first time), then SYNCED."""
        snap, self._snap = self._snap or {}, None
        push = self.client._push
        for lid in sorted(snap):
            old = self._view.get(lid)
            if old is None:
                push(Event(kind=LOBBY_ADDED, lobby=snap[lid], subscription=self))
            elif old != snap[lid]:
                push(Event(kind=LOBBY_UPDATED, lobby=snap[lid], subscription=self))
        for lid in sorted(self._view):
            if lid not in snap:
                push(Event(kind=LOBBY_REMOVED, lobby=self._view[lid], subscription=self))
        self._view = snap
        push(Event(kind=SYNCED, subscription=self))
        if self._synced is not None and not self._synced.done():
            self._synced.set_result(True)


def _next_peers(peers: List[Member], ev: Event, me: str) -> List[Member]:
    """The peer list after notice ev (me excluded), as the Go client keeps it."""
    if ev.kind == MEMBER_JOINED and ev.member is not None:
        if ev.member.id != me and all(p.id != ev.member.id for p in peers):
            return peers + [ev.member]
    elif ev.kind == MEMBER_LEFT and ev.member is not None:
        return [p for p in peers if p.id != ev.member.id]
    elif ev.kind == STARTED:
        return [p for p in ev.peers if p.id != me]
    return peers


def _member_reason(reason: str) -> str:
    """A link's close reason as the protocol's reasons name it."""
    return reason if reason in ("timeout", "protocol_error", "slow_consumer", "shutdown") else "disconnected"


def _entry_addr(e: Dict[str, Any], addr: str) -> None:
    """How a restore gives our game address: as recorded, unless it is a
    loopback one (we ran on the old coordinator's machine), which means
    nothing to another coordinator: then its port, paired with the address
    the new coordinator sees us at."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        loop = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loop = False
    if loop and port.isdigit():
        e["port"] = int(port)
    else:
        e["addr"] = addr


def _endpoint(req: Dict[str, Any], port: int, addr: str) -> None:
    if addr:
        req["addr"] = addr
    else:
        req["port"] = port


def _match(req: Dict[str, Any], filter: Optional[Filter], seats: int, party: Optional[List[str]]) -> None:
    """Add a join's filter and party seats."""
    if filter is not None:
        filter.validate()
        fw = filter.to_wire()
        if fw:
            req["filter"] = fw
    if seats > 1:
        req["seats"] = seats
    if party:
        req["party"] = list(party)
