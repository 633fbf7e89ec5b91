"""Zero-configuration LAN play: list the lobbies on the LAN, quick-join the
one closest to starting, join one by name or id, and host a lobby (at a
coordinator daemon found on the LAN, else at a coordinator child process)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from . import errors
from .browser import ADDED, REMOVED, UPDATED, Browser, LanCoordinator, LanLobby, host_rank
from .client import DEFAULT_TIMEOUT, Client
from .errors import CoordinatorError, LobbyError, NotFound
from . import mdns as mdns_
from .hostproc import CoordinatorProcess, host_mode_args
from .lankey import LanKey
from .match import MATCHES, MAYBE, Filter, compare_key
from .model import Joined

#: A listing ends this long after the last answer (or the query).
DEFAULT_QUIET = 0.1
#: A listing never takes longer than this.
DEFAULT_LIST_TIMEOUT = 1.0
#: How long host() looks for a coordinator daemon before starting its own.
DEFAULT_DAEMON_WAIT = 0.1
#: How long a search that found its lobby waits for a better (IPv4) address.
SETTLE_TIME = 0.005

KeyArg = Union[LanKey, str, None]


@dataclass
class LanJoin:
    """A joined LAN lobby: the client (keep it for the notices) and the reply."""

    client: Client
    joined: Joined
    lobby: LanLobby


async def list_lobbies(game: str = "", *, interfaces: Optional[Sequence[str]] = None, lan_key: KeyArg = None,
                       quiet: float = DEFAULT_QUIET, timeout: float = DEFAULT_LIST_TIMEOUT,
                       port: Optional[int] = None, want: Optional[str] = None, mdns: bool = True,
                       filter: Optional[Filter] = None) -> List[LanLobby]:
    """The lobbies visible on the LAN, by beacon and (unless mdns=False) by
    mDNS/DNS-SD, merged by id (the beacon's entry first): returns once
    nobody answered the beacon query for quiet seconds (counted from the
    query, then from each answer), at timeout, or soon after a lobby whose id
    or name is want turned up. With filter, only the lobbies known to pass it
    (PROTOCOL.md, "Filters": a lobby whose announcement left out a key the
    filter needs is not listed; quick_join still tries it, last)."""
    if filter is not None:
        filter.validate()
    found, _ = await _look(game, interfaces, lan_key, quiet, timeout, port, want, mdns)
    if filter is None or filter.is_zero():
        return found
    return [lb for lb in found if filter.match(lb.candidate()) == MATCHES]


async def _look(game: str, interfaces: Optional[Sequence[str]], lan_key: KeyArg, quiet: float, timeout: float,
                port: Optional[int], want: Optional[str], mdns: bool) -> Tuple[List[LanLobby], List[LanCoordinator]]:
    kw = {} if port is None else {"port": port}
    key = LanKey.derive(lan_key) if isinstance(lan_key, str) else lan_key
    q = await mdns_.Query(game, interfaces=interfaces, lan_key=key).start() if mdns else None
    try:
        return await _list(game, interfaces, key, quiet, timeout, kw, want, q)
    finally:
        if q is not None:
            q.close()


async def _list(game: str, interfaces: Optional[Sequence[str]], lan_key: Optional[LanKey], quiet: float,
                timeout: float, kw: dict, want: Optional[str],
                q: "Optional[mdns_.Query]") -> Tuple[List[LanLobby], List[LanCoordinator]]:
    async with Browser(game, interfaces=interfaces, lan_key=lan_key, **kw) as b:
        seen: Dict[str, LanLobby] = {}
        gone: Set[str] = set()  # said goodbye meanwhile: an mDNS answer does not bring it back
        start = time.monotonic()
        end = start + timeout
        idle_until = start + quiet
        while True:
            now = time.monotonic()
            wait = min(end, idle_until) - now
            if wait <= 0:
                break
            ev = await b.next_event(wait)
            if ev is None:
                continue
            if ev.type in (ADDED, UPDATED):
                seen[ev.lobby.id] = ev.lobby
                if want is not None and want in (ev.lobby.id, ev.lobby.name):
                    quiet = min(quiet, SETTLE_TIME)
            elif ev.type == REMOVED:
                seen.pop(ev.lobby.id, None)
                gone.add(ev.lobby.id)
            idle_until = time.monotonic() + quiet
        # The browser's current view: a host's round trip measured by a reply
        # that changed nothing (a copy of an announcement heard first) is in
        # it, not in the events.
        for lb in b.lobbies():
            if lb.id in seen:
                seen[lb.id] = lb
        if q is not None:
            for lb in q.lobbies():
                # The beacon's entry first, unless mDNS heard of a higher
                # term (the coordinator that holds the lobby now).
                if lb.id not in gone and (lb.id not in seen or lb.term > seen[lb.id].term):
                    seen[lb.id] = lb
        return sorted(seen.values(), key=lambda l: l.id), b.coordinators()


def quick_join_order(lobbies: Sequence[LanLobby], game: str = "", seats: int = 1,
                     filter: Optional[Filter] = None) -> List[LanLobby]:
    """The open lobbies of game ("" for any) with at least seats free seats
    (and the filter's free) that may pass filter, in the order quick-join
    tries them: those known to pass, then those the LAN could not tell (a key
    the filter needs not carried), each in the quick-join order (fewest free
    seats, then the oldest, then by id: the order of the coordinator and of
    the Go package, the same for every player)."""
    game = game.lower()
    need = max(seats, filter.free if filter is not None else 0, 1)
    sure, maybe = [], []
    for lb in lobbies:
        if not lb.joinable or lb.capacity - lb.players < need or (game and lb.game != game):
            continue
        v = MATCHES if filter is None else filter.match(lb.candidate())
        if v == MATCHES:
            sure.append(lb)
        elif v == MAYBE:
            maybe.append(lb)
    return sorted(sure, key=lambda l: compare_key(l.candidate())) + sorted(maybe, key=lambda l: compare_key(l.candidate()))


#: Refusals that mean "try the next lobby": it filled, started, closed,
#: changed past the filter, or bans the player.
_GONE = (errors.LOBBY_FULL, errors.LOBBY_STARTED, errors.UNKNOWN_LOBBY, errors.FILTER_MISMATCH, errors.BANNED)


async def _join_first(candidates: Sequence[LanLobby], player: str, timeout: float, quick_game: Optional[str] = None,
                      daemons: Sequence[LanCoordinator] = (), player_key: Optional[str] = None,
                      **join: Any) -> LanJoin:
    """Join the first candidate that takes the player, each at its own
    coordinator. With quick_game, a lobby on a coordinator daemon (one of
    daemons) is quick-joined by the daemon's own rule, exact among all its
    lobbies."""
    last: LobbyError = NotFound(errors.NO_OPEN_LOBBY, "no open lobby visible on the LAN")
    daemon_addrs = {d.addr for d in daemons}
    for lb in candidates:
        try:
            c = await Client.connect(lb.addr, player, timeout=timeout, player_key=player_key)
        except (OSError, asyncio.TimeoutError, LobbyError) as e:
            last = e if isinstance(e, LobbyError) else LobbyError(f"coordinator {lb.addr} unreachable: {e}")
            continue
        try:
            if quick_game is not None and lb.addr in daemon_addrs:
                qj = {k: v for k, v in join.items() if k in ("port", "addr", "filter", "seats", "party")}
                j = await c.quick_join(quick_game, **qj)
            else:
                j = await c.join(lb.id, **join)
        except CoordinatorError as e:
            await c.close()
            last = e
            if e.code in _GONE:
                continue  # filled, vanished, changed or banned meanwhile: the next one
            raise
        except BaseException:
            await c.close()
            raise
        return LanJoin(c, j, lb)
    raise last


async def quick_join(game: str, *, port: int = 0, addr: str = "", player: str = "",
                     interfaces: Optional[Sequence[str]] = None, lan_key: KeyArg = None,
                     quiet: float = DEFAULT_QUIET, list_timeout: float = DEFAULT_LIST_TIMEOUT,
                     timeout: float = DEFAULT_TIMEOUT, beacon_port: Optional[int] = None, mdns: bool = True,
                     filter: Optional[Filter] = None, seats: int = 0, party: Optional[List[str]] = None,
                     player_key: Optional[str] = None) -> LanJoin:
    """Join the open lobby of game on the LAN closest to starting among those
    with seats free seats that pass filter (the ones the LAN could not tell
    last: each is joined with the filter, so that its coordinator decides),
    at its own coordinator; the next one when it filled, changed past the
    filter or bans the player meanwhile. With seats > 1 the party's seats are
    reserved in the same lobby (Joined.reservation)."""
    if filter is not None:
        filter.validate()
    found, daemons = await _look(game, interfaces, lan_key, quiet, list_timeout, beacon_port, None, mdns)
    order = quick_join_order(found, game, seats, filter)
    if not order:
        raise NotFound(errors.NO_OPEN_LOBBY, f"no open lobby of game {game!r} with {max(seats, 1)} free seats "
                                             "that passes the filter visible on the LAN")
    return await _join_first(order, player, timeout, game.lower(), daemons, player_key, port=port, addr=addr,
                             filter=filter, seats=seats, party=party)


async def join(name_or_id: str, *, port: int = 0, addr: str = "", player: str = "", password: str = "",
               interfaces: Optional[Sequence[str]] = None, lan_key: KeyArg = None,
               quiet: float = DEFAULT_QUIET, list_timeout: float = DEFAULT_LIST_TIMEOUT,
               timeout: float = DEFAULT_TIMEOUT, beacon_port: Optional[int] = None, mdns: bool = True,
               filter: Optional[Filter] = None, reservation: str = "", player_key: Optional[str] = None) -> LanJoin:
    """Join the LAN lobby with that id, or else that name."""
    found = await list_lobbies("", interfaces=interfaces, lan_key=lan_key, quiet=quiet, timeout=list_timeout,
                               port=beacon_port, want=name_or_id, mdns=mdns)
    cands = [l for l in found if l.id == name_or_id] or \
        [l for l in quick_join_order(found) if l.name == name_or_id]
    if not cands:
        raise NotFound(errors.UNKNOWN_LOBBY, f"no lobby {name_or_id!r} visible on the LAN")
    return await _join_first(cands, player, timeout, None, (), player_key, port=port, addr=addr, password=password,
                             filter=filter, reservation=reservation)


async def find_coordinator(wait: float = DEFAULT_DAEMON_WAIT, *, interfaces: Optional[Sequence[str]] = None,
                           lan_key: KeyArg = None, beacon_port: Optional[int] = None) -> Optional[LanCoordinator]:
    """A coordinator daemon on the LAN (the beacon's coordinator record), or
    None when none answered within wait seconds."""
    kw = {} if beacon_port is None else {"port": beacon_port}
    async with Browser("", interfaces=interfaces, lan_key=lan_key, **kw) as b:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            cs = b.coordinators()
            if cs:
                if host_rank(cs[0].host) > 0:  # its IPv4 answer may be a moment behind
                    await asyncio.sleep(SETTLE_TIME)
                    cs = b.coordinators()
                return cs[0]
            await b.next_event(min(0.01, max(0.0, deadline - time.monotonic())))
    return None


class HostedLobby:
    """A lobby this game hosts: ``client`` (owner), ``joined`` and, when no
    daemon was found, ``process`` (the coordinator child). close() ends it."""

    def __init__(self, client: Client, joined: Joined, process: Optional[CoordinatorProcess],
                 coordinator: str) -> None:
        self.client = client
        self.joined = joined
        self.process = process
        self.coordinator = coordinator

    @property
    def lobby_id(self) -> str:
        return self.joined.lobby.id

    async def close(self) -> None:
        """Close the lobby (everyone gets closed) and stop the child, if any."""
        try:
            await self.client.close_lobby(self.lobby_id)
        except LobbyError:
            pass
        await self.client.close()
        if self.process is not None:
            await self.process.stop()


async def host(game: str, name: str, capacity: int, *, port: int = 0, addr: str = "", player: str = "",
               meta: Optional[Dict[str, str]] = None, auto_start: bool = False, interfaces: Optional[Sequence[str]] = None,
               lan_key: Optional[str] = None, daemon_wait: float = DEFAULT_DAEMON_WAIT,
               binary: Optional[str] = None, process_args: Optional[Sequence[str]] = None,
               timeout: float = DEFAULT_TIMEOUT, beacon_port: Optional[int] = None, version: str = "",
               filterable: Optional[List[str]] = None, player_key: Optional[str] = None) -> HostedLobby:
    """Host a lobby on the LAN with no set-up: at a coordinator daemon found
    on the LAN, else at a coordinator child process (the lanlobby binary
    shipped beside the game, in host mode), which announces it."""
    daemon = None
    if daemon_wait > 0:
        daemon = await find_coordinator(daemon_wait, interfaces=interfaces, lan_key=lan_key,
                                        beacon_port=beacon_port)
    proc = None
    if daemon is not None:
        target = daemon.addr
    else:
        args = process_args if process_args is not None else host_mode_args(interfaces or (), lan_key or "",
                                                                           beacon_port=beacon_port)
        proc = await CoordinatorProcess.start(binary, args)
        target = proc.addr
    try:
        c = await Client.connect(target, player, timeout=timeout, player_key=player_key)
        try:
            j = await c.create(game, name, capacity, port=port, addr=addr, meta=meta, auto_start=auto_start,
                               version=version, filterable=filterable)
        except BaseException:
            await c.close()
            raise
    except BaseException:
        if proc is not None:
            await proc.kill()
        raise
    return HostedLobby(c, j, proc, target)

