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
import json
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import errors
from .errors import CallTimeout, ClientClosed, ConnectionLost, CoordinatorError, LinkDown, Replaced
from .model import (CLOSED, COORDINATOR_RESTARTED, ERROR, MEMBER_JOINED, MEMBER_LEFT, NAME_LOST,
                    REASON_COORDINATOR_LOST, RESUMED, STARTED, Event, Joined, LobbyInfo, Member, members)

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
    #: The other members, in join order, as the replies and notices told.
    peers: List[Member] = field(default_factory=list)


class _Link:
    """One TCP connection of a Client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: float) -> None:
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
                 max_pending_events: int) -> None:
        self.addr = addr
        self.player = player
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
                      max_pending_events: int = MAX_PENDING_EVENTS) -> "Client":
        """Connect to the coordinator at addr ("host:port"; port 7600 when
        omitted) and complete hello, within timeout seconds."""
        c = cls(addr, player, timeout, dead_link_slack, max_pending_events)
        deadline = c._loop.time() + timeout
        try:
            link = await c._dial(timeout)
            c._link = link
            reply = await c._call_on(link, {"op": "hello", "v": PROTOCOL_VERSION, "client": CLIENT_NAME,
                                            "player": player}, deadline)
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
                     auto_start: bool = False, timeout: Optional[float] = None) -> Joined:
        """Create a lobby with this client as owner and first member. Give the
        game's port (the coordinator pairs it with the address it sees) or a
        full addr "ip:port". With auto_start the lobby starts by itself when
        its last seat (capacity) is taken; without, the owner starts it."""
        req: Dict[str, Any] = {"op": "create", "game": game, "name": name, "capacity": capacity}
        if auto_start:
            req["auto_start"] = True
        _endpoint(req, port, addr)
        if meta:
            req["meta"] = dict(meta)
        if password:
            req["password"] = password
        if private:
            req["private"] = True
        return await self._join(req, timeout)

    async def join(self, lobby: str, *, port: int = 0, addr: str = "", password: str = "",
                   timeout: Optional[float] = None) -> Joined:
        """Join the lobby with that id (password or invite code for a private one)."""
        req: Dict[str, Any] = {"op": "join", "lobby": lobby}
        _endpoint(req, port, addr)
        if password:
            req["password"] = password
        return await self._join(req, timeout)

    async def quick_join(self, game: str, *, port: int = 0, addr: str = "",
                         timeout: Optional[float] = None) -> Joined:
        """Join the open lobby of game closest to starting."""
        req: Dict[str, Any] = {"op": "quick_join", "game": game}
        _endpoint(req, port, addr)
        return await self._join(req, timeout)

    async def leave(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        def forget(msg: Dict[str, Any]) -> None:
            if msg.get("ok"):
                self._lobbies.pop(lobby, None)
        await self._call({"op": "leave", "lobby": lobby}, timeout, forget)

    async def kick(self, lobby: str, member: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "kick", "lobby": lobby, "member": member}, timeout)

    async def start(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "start", "lobby": lobby}, timeout)

    async def close_lobby(self, lobby: str, *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "close", "lobby": lobby}, timeout)

    async def set_meta(self, lobby: str, meta: Dict[str, str], *, timeout: Optional[float] = None) -> None:
        await self._call({"op": "set_meta", "lobby": lobby, "meta": dict(meta)}, timeout)

    async def list(self, game: str = "", *, timeout: Optional[float] = None) -> List[LobbyInfo]:
        req: Dict[str, Any] = {"op": "list"}
        if game:
            req["game"] = game
        msg = await self._call(req, timeout)
        return [LobbyInfo.from_wire(x) for x in msg.get("lobbies") or [] if isinstance(x, dict)]

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
                      peers=members(msg.get("peers")), invite=msg.get("invite") or "")

    def _remember(self, info: LobbyInfo, owner: bool, addr: str, password: str, peers: List[Member],
                  creds: Dict[str, Any]) -> None:
        old = self._lobbies.get(info.id)
        if not password and old is not None:
            password = old.password
        cred, owner_cred = creds.get("credential") or "", creds.get("owner_credential") or ""
        if not cred and old is not None:
            cred, owner_cred = old.credential, old.owner_credential
        self._lobbies[info.id] = _Membership(owner=owner or info.owner == self.you.id, info=info,
                                             addr=addr, password=password, peers=list(peers), credential=cred,
                                             owner_credential=owner_cred)

    async def _call(self, req: Dict[str, Any], timeout: Optional[float],
                    on_reply: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Wait for a usable link (the client may be reconnecting), send req
        and wait for its reply, all within the timeout."""
        deadline = self._loop.time() + (self.timeout if timeout is None else timeout)
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

    async def _dial(self, timeout: float) -> _Link:
        host, port = split_addr(self.addr)
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
        link = _Link(reader, writer, idle=self.timeout + self._slack)
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
        ev = Event(kind=msg["event"], lobby=info, reason=msg.get("reason") or "", peers=members(msg.get("peers")))
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
        if link is not self._link or self._err is not None:
            return
        if self.grace <= 0 or not self._token or not (self._lobbies or self._names):
            self._fail(ConnectionLost(f"connection to coordinator lost ({reason})"))
            return
        self._ready.clear()
        budget = self.grace + self.heartbeat * (self.misses + 1)
        self._reconnect_task = self._loop.create_task(self._reconnect(budget))

    def _fail(self, err: errors.LobbyError) -> None:
        if self._err is None:
            self._err = err
        self._lost.set()
        self._push(Event(kind=ERROR, error=self._err))

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
            try:
                await self._reattach(deadline)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # dial refused, timeout, resume refused: try again
                last = e
        self._fail(ConnectionLost(f"connection to coordinator lost (gave up reconnecting: {last})"))

    async def _reattach(self, deadline: float) -> None:
        remaining = deadline - self._loop.time()
        link = await self._dial(max(0.01, min(self.timeout, RECONNECT_DIAL_TIMEOUT, remaining)))

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
        self._link = link
        self._ready.set()

    async def _restore(self, link: _Link, deadline: float) -> None:
        owned, joined = [], []
        for lid, m in self._lobbies.items():
            e: Dict[str, Any] = {"lobby": lid, "addr": m.addr, "credential": m.credential}
            if m.password:
                e["password"] = m.password
            if m.owner:
                e.update(owner=True, game=m.info.game, name=m.info.name, capacity=m.info.capacity,
                         owner_credential=m.owner_credential)
                if m.info.meta:
                    e["meta"] = m.info.meta
                if m.info.state == "started":
                    e["started"] = True
                if m.info.auto_start:
                    e["auto_start"] = True
                owned.append(e)
            else:
                joined.append(e)
        todo = owned + joined  # owners first
        try:
            reply = await self._call_on(link, {"op": "restore", "v": PROTOCOL_VERSION, "client": CLIENT_NAME,
                                               "player": self.you.name, "member": self.you.id,
                                               "token": self._token, "lobbies": todo}, deadline)
        except BaseException:
            link.abort()
            raise
        self._install(link, reply)
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
                    self._remember(info, info.owner == self.you.id, asked.get("addr", ""), asked.get("password", ""),
                                   members(r.get("peers")), r)
                    self._push(Event(kind=COORDINATOR_RESTARTED, lobby=info, peers=members(r.get("peers"))))
                elif err.get("code") == errors.UNKNOWN_LOBBY and self._loop.time() < deadline:
                    retry.append(asked)  # its owner is not back yet
                else:
                    self._lost_lobby(asked)
            if not retry:
                return
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, 0.5)
            todo = retry
            try:
                reply = await self._call({"op": "restore", "lobbies": todo}, None)
            except errors.LobbyError:
                for asked in todo:
                    self._lost_lobby(asked)
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

    def _lost_lobby(self, asked: Dict[str, Any]) -> None:
        m = self._lobbies.pop(asked["lobby"], None)
        info = m.info if m is not None else LobbyInfo(id=asked["lobby"])
        info.state = "closed"
        self._push(Event(kind=CLOSED, lobby=info, reason=REASON_COORDINATOR_LOST))


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


def _endpoint(req: Dict[str, Any], port: int, addr: str) -> None:
    if addr:
        req["addr"] = addr
    else:
        req["port"] = port
