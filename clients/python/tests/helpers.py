"""Test helpers: a real coordinator (the lanlobby binary, $LANLOBBY_BIN) on
loopback, a TCP proxy whose links can be frozen (a blip), and polling."""
from __future__ import annotations

import asyncio
import os
import sys
import time
import unittest
from typing import Callable, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import lanlobby  # noqa: E402
from lanlobby import CoordinatorProcess, Event  # noqa: E402
from lanlobby.match import new_player_key  # noqa: E402

BIN = os.environ.get("LANLOBBY_BIN", "")
# Short heartbeats so tests see several intervals in little time; ten
# misses (1 s) so a loaded machine's pauses drop nobody.
HEARTBEAT_MS = 100
MISSES = 10


def need_bin() -> str:
    if not BIN or not os.path.exists(BIN):
        raise RuntimeError("LANLOBBY_BIN must name a built lanlobby binary (go build -o X ./cmd/lanlobby)")
    return BIN


async def coordinator(port: int = 0, grace: str = "5s") -> CoordinatorProcess:
    """A coordinator on 127.0.0.1 that announces nothing (loopback rules)."""
    return await CoordinatorProcess.start(need_bin(), [
        "coordinator", "--listen", f"127.0.0.1:{port}", "--announce=false", "--json",
        "--heartbeat", f"{HEARTBEAT_MS}ms", "--misses", str(MISSES), "--resume-grace", grace])


async def wait_event(client, pred: Callable[[Event], bool], timeout: float = 5.0,
                     seen: Optional[List[Event]] = None) -> Event:
    """The first event of client matching pred, within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching event within {timeout}s; saw {[e.kind for e in (seen or [])]}")
        ev = await client.next_event(left)
        if ev is None:
            continue
        if seen is not None:
            seen.append(ev)
        if pred(ev):
            return ev


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)


class Proxy:
    """Forwards TCP to target. freeze() makes every existing link silent in
    both directions (a Wi-Fi blip: nothing arrives, nothing is closed); new
    links are forwarded normally."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.links: List[dict] = []
        self.server: Optional[asyncio.AbstractServer] = None
        self.port = 0
        # While cleared, new links wait before they are forwarded (hold).
        self._open: Optional[asyncio.Event] = None

    async def start(self) -> "Proxy":
        self._open = asyncio.Event()
        self._open.set()
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _accept(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        assert self._open is not None
        await self._open.wait()
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.close()
            return
        link = {"frozen": False, "writers": (w, uw)}
        self.links.append(link)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if not link["frozen"]:
                        dst.write(data)
            except OSError:
                pass
            finally:
                if not link["frozen"]:
                    dst.close()

        await asyncio.gather(pump(r, uw), pump(ur, w))

    def freeze(self) -> None:
        for link in self.links:
            link["frozen"] = True

    def hold(self) -> None:
        """New links wait (the client's reconnect hangs, as over a dead
        network) until release()."""
        assert self._open is not None
        self._open.clear()

    def release(self) -> None:
        assert self._open is not None
        self._open.set()

    def close(self) -> None:
        if self._open is not None:
            self._open.set()
        if self.server is not None:
            self.server.close()
        for link in self.links:
            for wr in link["writers"]:
                wr.close()


class CoordinatorCase(unittest.IsolatedAsyncioTestCase):
    """A test with a coordinator of its own (self.coord) and the clients it
    connects, all closed at the end."""

    async def asyncSetUp(self) -> None:
        self.coord = await coordinator()
        self.clients: List[lanlobby.Client] = []

    async def asyncTearDown(self) -> None:
        for c in self.clients:
            await c.close()
        await self.coord.kill()

    async def connect(self, player: str, addr: str = "", **kw) -> lanlobby.Client:
        # Every test client is its own player (its own key): clients of one
        # process would otherwise share the process key, and a ban of one
        # would ban them all.
        kw.setdefault("player_key", new_player_key())
        c = await lanlobby.Client.connect(addr or self.coord.addr, player, **kw)
        self.clients.append(c)
        return c
