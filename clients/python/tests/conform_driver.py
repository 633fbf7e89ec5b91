"""The Python SDK's driver for the conformance run (clients/conformance/README.md).

It reads one command a line on stdin, carries it out with the SDK (Client;
lanlobby.host and lanlobby.quick_join when no coordinator is given), and
prints each reply and every event as one JSON line on stdout. The Go and C#
clients have the same driver, so the three follow exactly the same steps. It
exits when stdin ends.

    python3 conform_driver.py
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import lanlobby  # noqa: E402
from lanlobby import model  # noqa: E402
from lanlobby.client import CLIENT_NAME  # noqa: E402


def out(m: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(m, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def state_of(l: Optional[model.LobbyInfo]) -> Dict[str, Any]:
    l = l or model.LobbyInfo(id="")
    return {"lobby": l.id, "game": l.game, "name": l.name, "players": l.players, "capacity": l.capacity,
            "state": l.state, "owner": l.owner, "successor": l.successor, "meta": dict(l.meta),
            "auto_start": l.auto_start, "version": l.version, "reserved": l.reserved, "term": l.term}


def member_of(m: model.Member) -> Dict[str, Any]:
    return {"id": m.id, "name": m.name, "addr": m.addr}


def reservation_of(r: Optional[lanlobby.Reservation]) -> Optional[Dict[str, Any]]:
    if r is None:
        return None
    return {"id": r.id, "token": r.token, "lobby": r.lobby, "seats": r.seats, "party": list(r.party)}


def joined_of(j: model.Joined) -> Dict[str, Any]:
    return {"lobby": state_of(j.lobby), "you": member_of(j.you), "peers": [member_of(p) for p in j.peers],
            "invite": j.invite, "reservation": reservation_of(j.reservation)}


def filter_of(c: Dict[str, Any]) -> Optional[lanlobby.Filter]:
    return lanlobby.Filter.from_wire(c["filter"]) if isinstance(c.get("filter"), dict) else None


class Driver:
    def __init__(self) -> None:
        self.client: Optional[lanlobby.Client] = None
        self.pump: Optional[asyncio.Task] = None
        self.coordinator = ""
        #: Subscriptions in the order of their handles (1, 2, ...).
        self.subs: List[lanlobby.Subscription] = []

    def lan(self, c: Dict[str, Any]) -> Dict[str, Any]:
        return {"interfaces": [c.get("interface", "")], "beacon_port": c.get("beacon_port"), "player": c.get("player", "")}

    def endpoint(self, c: Dict[str, Any]) -> Dict[str, Any]:
        return {"port": c.get("port", 0), "addr": c.get("addr", "")}

    def handle(self, s: lanlobby.Subscription) -> int:
        """The handle of s: given when first seen, by the command's reply or
        by an event that came first."""
        for i, x in enumerate(self.subs):
            if x is s:
                return i + 1
        self.subs.append(s)
        return len(self.subs)

    def match(self, c: Dict[str, Any]) -> Dict[str, Any]:
        return {"filter": filter_of(c), "seats": c.get("seats", 0), "party": c.get("party")}

    async def do(self, c: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        op = c.get("do")
        coord = c.get("coordinator", "")
        if self.client is None and op not in ("host", "quick_join", "quit"):
            raise lanlobby.LobbyError("no client yet: host or quick_join first")
        cl = self.client
        if op == "quick_join" and cl is not None:
            # A client that has its link quick-joins at its coordinator.
            j = await cl.quick_join(c["game"], **self.endpoint(c), **self.match(c))
            return {"joined": joined_of(j), "coordinator": self.coordinator}
        if op in ("host", "quick_join"):
            wait = c.get("wait_ms", 0) / 1000
            if op == "host":
                if coord:
                    cl = await lanlobby.Client.connect(coord, c.get("player", ""))
                    j = await cl.create(c["game"], c["name"], c["capacity"], meta=c.get("meta"),
                                        auto_start=c.get("auto_start", False), version=c.get("version", ""),
                                        filterable=c.get("filterable"), **self.endpoint(c))
                else:
                    h = await lanlobby.host(c["game"], c["name"], c["capacity"], meta=c.get("meta"), daemon_wait=wait,
                                            auto_start=c.get("auto_start", False), version=c.get("version", ""),
                                            filterable=c.get("filterable"), **self.lan(c), **self.endpoint(c))
                    cl, j, coord = h.client, h.joined, h.coordinator
            else:
                if coord:
                    cl = await lanlobby.Client.connect(coord, c.get("player", ""))
                    j = await cl.quick_join(c["game"], **self.endpoint(c), **self.match(c))
                else:
                    lj = await lanlobby.quick_join(c["game"], quiet=0.3, list_timeout=wait, **self.lan(c),
                                                   **self.endpoint(c), **self.match(c))
                    cl, j, coord = lj.client, lj.joined, lj.lobby.addr
            self.client, self.coordinator = cl, coord
            self.pump = asyncio.get_running_loop().create_task(self.events())
            return {"joined": joined_of(j), "coordinator": coord}
        assert cl is not None or op == "quit"
        if op == "join":
            return {"joined": joined_of(await cl.join(c["lobby"], **self.endpoint(c), **self.match(c),
                                                      reservation=c.get("reservation", "")))}
        if op == "create":
            return {"joined": joined_of(await cl.create(c["game"], c["name"], c["capacity"], meta=c.get("meta"),
                                                        auto_start=c.get("auto_start", False),
                                                        version=c.get("version", ""), filterable=c.get("filterable"),
                                                        **self.endpoint(c)))}
        if op == "reserve":
            r = await cl.reserve(c["lobby"], c["seats"], c.get("party"), c.get("window_ms", 0) / 1000)
            return {"reservation": reservation_of(r)}
        if op == "subscribe":
            return {"sub": self.handle(await cl.subscribe(c.get("game", ""), filter_of(c)))}
        if op == "unsubscribe":
            h = c.get("sub", 0)
            if not 1 <= h <= len(self.subs):
                raise lanlobby.LobbyError(f"no subscription {h}")
            await self.subs[h - 1].close()
            return None
        if op == "leave":
            await cl.leave(c["lobby"])
        elif op == "kick":
            if c.get("ban"):
                await cl.kick_ban(c["lobby"], c["member"], c.get("ban_ms", 0) / 1000)
            else:
                await cl.kick(c["lobby"], c["member"])
        elif op == "start":
            await cl.start(c["lobby"])
        elif op == "close":
            await cl.close_lobby(c["lobby"])
        elif op == "set_meta":
            await cl.set_meta(c["lobby"], c["meta"])
        elif op == "list":
            return {"lobbies": [state_of(l) for l in await cl.list(c.get("game", ""), filter=filter_of(c))]}
        elif op == "ping":
            await cl.ping()
        elif op == "peers":
            return {"peers": [member_of(p) for p in cl.peers(c["lobby"])]}
        elif op == "whoami":
            return {"member": cl.member_id}
        elif op == "where":
            return {"coordinator": cl.addr}
        elif op == "register":
            await cl.register(c["name"], c["addr"])
        elif op == "deregister":
            await cl.deregister(c["name"])
        elif op == "lookup":
            return {"addr": await cl.lookup(c["name"])}
        elif op != "quit":
            raise lanlobby.LobbyError(f"unknown command {op!r}")
        return None

    async def events(self) -> None:
        assert self.client is not None
        while True:
            ev = await self.client.next_event(1.0)
            if ev is None:
                if self.client.error is not None:
                    return  # next_event took every event there was
                continue
            if ev.kind in (model.SYNCED, model.UNSUBSCRIBED):
                continue  # the SDK's own, not in the script
            e: Dict[str, Any] = {"event": ev.kind, "lobby": state_of(ev.lobby)}
            if ev.subscription is not None:
                e["sub"] = self.handle(ev.subscription)
            if ev.banned:
                e["banned"] = True
            if ev.kind == model.RESERVATION_EXPIRED:
                e["reservation"], e["released"] = ev.reservation, ev.released
            if ev.member is not None:
                e["member"] = member_of(ev.member)
            if ev.reason:
                e["reason"] = ev.reason
            if ev.kind == model.COORDINATOR_LOST:
                e["next"] = ev.next
            if ev.kind == model.RECONNECTING:
                e["attempt"] = ev.attempt
            if ev.kind == model.COORDINATOR_MOVED:
                e["addr"] = ev.addr
            if ev.kind in (model.STARTED, model.COORDINATOR_RESTARTED, model.TAKEN_OVER):
                e["peers"] = [member_of(p) for p in ev.peers]
            if ev.name:
                e["name"] = ev.name
            if ev.error is not None:
                e["error"] = str(ev.error)
            out(e)


def code_of(e: BaseException) -> str:
    if isinstance(e, (lanlobby.CoordinatorError, lanlobby.NotFound)):
        return e.code
    if isinstance(e, lanlobby.CallTimeout):
        return "timeout"
    if isinstance(e, (lanlobby.ConnectionLost, lanlobby.LinkDown)):
        return "lost"
    return "error"


async def main() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    d = Driver()
    out({"ready": True, "lang": "python", "sdk": CLIENT_NAME})
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            c = json.loads(line)
        except ValueError as e:
            out({"seq": 0, "ok": False, "code": "bad_command", "error": str(e)})
            continue
        try:
            res = await d.do(c) or {}
            res["ok"] = True
        except Exception as e:  # every failure is reported, the driver goes on
            res = {"ok": False, "code": code_of(e), "error": f"{type(e).__name__}: {e}"}
        res["seq"] = c.get("seq", 0)
        out(res)
        if c.get("do") == "quit":
            break
    if d.client is not None:
        await d.client.close()
    if d.pump is not None:
        try:
            await asyncio.wait_for(d.pump, 2)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
