"""The Python SDK against a real coordinator on loopback: every call, every
notice, heartbeats, a blip and resume, restore after a restart, timeouts."""
from __future__ import annotations

import asyncio
import json
import time
import unittest

import helpers
from helpers import CoordinatorCase, Proxy, coordinator, wait_event

import lanlobby
from lanlobby import errors, model
from lanlobby.errors import CallTimeout, ConnectionLost, CoordinatorError
from lanlobby.match import new_player_key


async def lookup_soon(c: lanlobby.Client, name: str, timeout: float = 10.0) -> str:
    """Look name up until it is registered (unknown_name meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await c.lookup(name)
        except CoordinatorError as e:
            if e.code != errors.UNKNOWN_NAME or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


class CoordinatorTest(CoordinatorCase):

    async def test_every_call_and_notice(self) -> None:
        alice = await self.connect("Alice")
        self.assertEqual(alice.heartbeat, helpers.HEARTBEAT_MS / 1000)
        created = await alice.create("Demo", "Zoë's ☕ game", 3, port=4000, meta={"map": "dunes"})
        lid = created.lobby.id
        self.assertEqual((created.lobby.game, created.lobby.players, created.lobby.owner, created.peers),
                         ("demo", 1, alice.member_id, []))
        self.assertEqual(created.you.addr, "127.0.0.1:4000")
        self.assertEqual(created.lobby.meta, {"map": "dunes"})

        bob = await self.connect("Bob")
        j = await bob.quick_join("demo", port=5000)
        self.assertEqual(j.lobby.id, lid)
        self.assertEqual([(p.name, p.addr) for p in j.peers], [("Alice", "127.0.0.1:4000")])
        ev = await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED)
        self.assertEqual((ev.member.name, ev.member.addr, ev.lobby.players), ("Bob", "127.0.0.1:5000", 2))

        carol = await self.connect("Carol")
        j = await carol.join(lid, addr="127.0.0.1:6000")
        self.assertEqual([p.name for p in j.peers], ["Alice", "Bob"])
        for c in (alice, bob):
            ev = await wait_event(c, lambda e: e.kind == model.MEMBER_JOINED and e.member.name == "Carol")
            self.assertEqual(ev.lobby.state, "full")

        # Every client keeps its peer list current from the notices.
        for c, want in ((alice, ["Bob", "Carol"]), (bob, ["Alice", "Carol"]), (carol, ["Alice", "Bob"])):
            self.assertEqual([p.name for p in c.peers(lid)], want)

        await alice.set_meta(lid, {"map": "forest"})
        for c in (alice, bob, carol):
            ev = await wait_event(c, lambda e: e.kind == model.LOBBY_UPDATED)
            self.assertEqual(ev.lobby.meta, {"map": "forest"})

        ls = await bob.list("demo")
        self.assertEqual([(l.id, l.players) for l in ls], [(lid, 3)])

        # Errors carry the coordinator's codes.
        with self.assertRaises(CoordinatorError) as cm:
            await bob.start(lid)
        self.assertEqual(cm.exception.code, "not_owner")
        with self.assertRaises(CoordinatorError) as cm:
            await bob.join("nosuchlobby", port=1)
        self.assertEqual(cm.exception.code, "unknown_lobby")
        with self.assertRaises(CoordinatorError) as cm:
            await bob.quick_join("nogame", port=1)
        self.assertEqual(cm.exception.code, "no_open_lobby")

        await alice.kick(lid, carol.member_id)
        ev = await wait_event(carol, lambda e: e.kind == model.MEMBER_LEFT)
        self.assertEqual((ev.member.id, ev.reason), (carol.member_id, "kicked"))
        self.assertNotIn(lid, carol.lobbies())
        ev = await wait_event(bob, lambda e: e.kind == model.MEMBER_LEFT)
        self.assertEqual((ev.member.name, ev.reason, ev.lobby.players), ("Carol", "kicked", 2))
        self.assertEqual([p.name for p in bob.peers(lid)], ["Alice"])
        self.assertEqual(carol.peers(lid), [])

        await alice.start(lid)
        for c in (alice, bob):
            ev = await wait_event(c, lambda e: e.kind == model.STARTED)
            self.assertEqual([p.name for p in ev.peers], ["Alice", "Bob"])
            self.assertEqual(ev.lobby.state, "started")

        self.assertEqual(bob._lobbies[lid].owner_credential, "", "a member holds no owner credential")
        await alice.leave(lid)
        self.assertEqual(alice.lobbies(), [])
        ev = await wait_event(bob, lambda e: e.kind == model.MEMBER_LEFT)
        self.assertEqual((ev.member.name, ev.reason), ("Alice", "left"))
        ev = await wait_event(bob, lambda e: e.kind == model.OWNER_CHANGED)
        self.assertEqual(ev.lobby.owner, bob.member_id)
        self.assertEqual(len(bob._lobbies[lid].owner_credential), 32, "the new owner keeps its owner credential")

        await bob.close_lobby(lid)
        ev = await wait_event(bob, lambda e: e.kind == model.CLOSED)
        self.assertEqual(ev.reason, "owner_closed")
        self.assertEqual(bob.lobbies(), [])
        self.assertGreater(await bob.ping(), 0)

    async def test_private_lobby_invite(self) -> None:
        alice = await self.connect("Alice")
        created = await alice.create("demo", "secret", 2, port=4000, private=True)
        self.assertTrue(created.invite)
        bob = await self.connect("Bob")
        with self.assertRaises(CoordinatorError) as cm:
            await bob.join(created.lobby.id, port=5000)
        self.assertEqual(cm.exception.code, "bad_password")
        j = await bob.join(created.lobby.id, port=5000, password=created.invite)
        self.assertTrue(j.lobby.private)

    async def test_heartbeats_over_many_intervals(self) -> None:
        alice = await self.connect("Alice")
        bob = await self.connect("Bob")
        lid = (await alice.create("demo", "hb", 2, port=4000)).lobby.id
        await bob.join(lid, port=5000)
        # More heartbeat intervals than MISSES without a call: members that
        # did not answer pings would be dropped.
        await asyncio.sleep((helpers.MISSES + 5) * helpers.HEARTBEAT_MS / 1000)
        self.assertEqual((await alice.list("demo"))[0].players, 2)
        left = [e for e in alice.drain_events() if e.kind == model.MEMBER_LEFT]
        self.assertEqual(left, [])

    async def test_blip_resumes_seat(self) -> None:
        proxy = await Proxy(self.coord.port).start()
        self.addCleanup(proxy.close)
        alice = await self.connect("Alice")
        lid = (await alice.create("demo", "blip", 3, port=4000)).lobby.id
        # Bob notices a silent coordinator well after the coordinator
        # notices him, so the others see him away, then back.
        bob = await self.connect("Bob", proxy.addr, dead_link_slack=1.0)
        await bob.join(lid, port=5000)
        me = bob.member_id
        await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED)
        sub = await bob.subscribe("demo")
        self.assertEqual([e.kind for e in bob.drain_events()], [model.LOBBY_ADDED, model.SYNCED])
        proxy.freeze()
        away = await wait_event(alice, lambda e: e.kind == model.MEMBER_AWAY, timeout=10)
        self.assertEqual((away.member.id, away.reason), (me, "timeout"))
        back = await wait_event(alice, lambda e: e.kind == model.MEMBER_BACK, timeout=10)
        self.assertEqual(back.member.id, me)
        ev = await wait_event(bob, lambda e: e.kind == model.RESUMED, timeout=10)
        self.assertEqual(ev.lobby.id, lid)
        self.assertEqual(bob.member_id, me)
        # The subscription follows the new link: subscribed again, and
        # nothing reported that did not change (the lobby was there).
        seen = []
        ev = await wait_event(bob, lambda e: e.subscription is not None and (seen.append(e.kind) or e.kind == model.SYNCED),
                              timeout=10)
        self.assertEqual((ev.subscription, seen), (sub, [model.SYNCED]))
        self.assertTrue(sub.active and sub.id > 0)
        # The resumed link carries notices and calls.
        await alice.set_meta(lid, {"k": "v"})
        ev = await wait_event(bob, lambda e: e.kind == model.LOBBY_UPDATED and e.subscription is None)
        self.assertEqual(ev.lobby.meta, {"k": "v"})
        ev = await wait_event(bob, lambda e: e.kind == model.LOBBY_UPDATED and e.subscription is sub)
        self.assertEqual(ev.lobby.meta, {"k": "v"})
        self.assertEqual((await bob.list("demo"))[0].players, 2)

    async def test_restore_after_coordinator_restart(self) -> None:
        alice = await self.connect("Alice")
        created = await alice.create("demo", "restart", 3, port=4000, meta={"m": "1"})
        lid = created.lobby.id
        bob = await self.connect("Bob")
        await bob.join(lid, port=5000)
        port = self.coord.port
        await self.coord.kill()
        self.coord = await coordinator(port)
        for c in (alice, bob):
            ev = await wait_event(c, lambda e: e.kind == model.COORDINATOR_RESTARTED, timeout=10)
            self.assertEqual(ev.lobby.id, lid)
        self.assertEqual(alice.member_id, created.you.id)
        ls = await bob.list("demo")
        self.assertEqual([(l.id, l.players, l.owner, l.meta) for l in ls], [(lid, 2, alice.member_id, {"m": "1"})])

    async def test_coordinator_lost_told_at_once_then_progress(self) -> None:
        """The link drops: COORDINATOR_LOST at once (next: resuming, on a daemon),
        RECONNECTING about once a second while it is down, then the lobby back."""
        alice = await self.connect("Alice")
        lid = (await alice.create("demo", "lost", 3, port=4000)).lobby.id
        self.assertFalse(alice.takeover)  # a daemon keeps its lobbies: no takeover
        port = self.coord.port
        await self.coord.kill()
        killed = time.monotonic()
        seen: list = []
        ev = await wait_event(alice, lambda e: e.kind == model.COORDINATOR_LOST, timeout=5, seen=seen)
        self.assertLess(time.monotonic() - killed, 1.0)
        self.assertEqual((ev.next, ev.reason, ev.lobby.id), (model.NEXT_RESUMING, "disconnected", lid))
        self.assertEqual(len(seen), 1, [e.kind for e in seen])
        ev = await wait_event(alice, lambda e: True, timeout=5)
        self.assertEqual(ev.kind, model.RECONNECTING)
        self.assertGreaterEqual(ev.elapsed, 1.0)
        self.assertGreaterEqual(ev.attempt, 1)
        self.assertEqual((ev.addr, ev.lobby.id), (alice.addr, lid))
        self.coord = await coordinator(port)
        ev = await wait_event(alice, lambda e: e.kind != model.RECONNECTING, timeout=10)
        self.assertEqual((ev.kind, ev.lobby.id), (model.COORDINATOR_RESTARTED, lid))

    async def test_auto_start(self) -> None:
        alice = await self.connect("Alice")
        created = await alice.create("demo", "auto", 2, port=4000, auto_start=True)
        self.assertTrue(created.lobby.auto_start)
        bob = await self.connect("Bob")
        j = await bob.join(created.lobby.id, port=5000)
        self.assertEqual((j.lobby.state, j.lobby.players), ("started", 2))
        for c in (alice, bob):
            ev = await wait_event(c, lambda e: e.kind == model.STARTED)
            self.assertEqual([p.name for p in ev.peers], ["Alice", "Bob"])

    async def test_replaced_by_a_resume_elsewhere(self) -> None:
        alice = await self.connect("Alice")
        lid = (await alice.create("demo", "taken", 3, port=4000)).lobby.id
        # Another connection resumes Alice's member with her token while her
        # link is open: she is replaced and must not resume in turn.
        r, w = await asyncio.open_connection("127.0.0.1", self.coord.port)
        self.addCleanup(w.close)
        w.write(json.dumps({"op": "resume", "id": 1, "v": 1, "member": alice.member_id,
                            "token": alice._token}).encode() + b"\n")
        while True:
            reply = json.loads(await asyncio.wait_for(r.readline(), 5))
            if "ok" in reply:
                break
        self.assertTrue(reply["ok"], reply)
        ev = await wait_event(alice, lambda e: e.kind == model.ERROR)
        self.assertIsInstance(ev.error, lanlobby.Replaced)
        with self.assertRaises(lanlobby.Replaced):
            await alice.list()
        # The connection that resumed keeps the seat: nothing takes it back.
        end = asyncio.get_running_loop().time() + 0.5
        while (left := end - asyncio.get_running_loop().time()) > 0:
            try:
                line = await asyncio.wait_for(r.readline(), left)
            except asyncio.TimeoutError:
                break
            self.assertTrue(line, "the connection that resumed was closed")
            self.assertNotEqual(json.loads(line).get("event"), "replaced", "Alice resumed in turn")
        bob = await self.connect("Bob")
        self.assertEqual([(l.id, l.players) for l in await bob.list("demo")], [(lid, 1)])

    async def test_registry(self) -> None:
        alice = await self.connect("Alice")
        bob = await self.connect("Bob")
        await alice.register("hall", "room://10.0.0.5:7000")
        self.assertEqual(alice.names(), {"hall": "room://10.0.0.5:7000"})
        self.assertEqual(await bob.lookup("hall"), "room://10.0.0.5:7000")
        for call, code in ((bob.register("hall", "room://10.0.0.6:7000"), errors.NAME_TAKEN),
                           (bob.register("lobby", "room://10.0.0.5:7000"), errors.ADDR_TAKEN),
                           (bob.lookup("nobody"), errors.UNKNOWN_NAME),
                           (bob.deregister("hall"), errors.NOT_OWNER),
                           (bob.register(" hall", "room://10.0.0.7:7000"), errors.INVALID_NAME),
                           (bob.register("web", "http://10.0.0.7:80"), errors.INVALID_ADDRESS)):
            with self.assertRaises(CoordinatorError) as cm:
                await call
            self.assertEqual(cm.exception.code, code)
        self.assertEqual(bob.names(), {})
        # Registering a held name again moves it.
        await alice.register("hall", "room://10.0.0.8:7000")
        self.assertEqual(await bob.lookup("hall"), "room://10.0.0.8:7000")
        await alice.deregister("hall")
        self.assertEqual(alice.names(), {})
        with self.assertRaises(CoordinatorError) as cm:
            await bob.lookup("hall")
        self.assertEqual(cm.exception.code, errors.UNKNOWN_NAME)
        # 64 names per member.
        for i in range(64):
            await bob.register(f"room-{i}", f"room://10.1.0.{i}:7000")
        with self.assertRaises(CoordinatorError) as cm:
            await bob.register("room-64", "room://10.1.1.1:7000")
        self.assertEqual(cm.exception.code, errors.TOO_MANY_NAMES)
        # A name goes with its member's link (once the coordinator noticed).
        await bob.close()

        async def gone() -> bool:
            try:
                await alice.lookup("room-0")
                return False
            except CoordinatorError as e:
                self.assertEqual(e.code, errors.UNKNOWN_NAME)
                return True
        deadline = time.monotonic() + 5
        while not await gone():
            self.assertLess(time.monotonic(), deadline, "names still there after their member left")
            await asyncio.sleep(0.02)

    async def test_registered_name_survives_blip_and_restart(self) -> None:
        proxy = await Proxy(self.coord.port).start()
        self.addCleanup(proxy.close)
        # A room server: a name and no lobby. It resumes after a blip...
        room = await self.connect("room", proxy.addr)
        await room.register("hall", "room://10.0.0.5:7000")
        # (The coordinator keeps no seat for a member in no lobby, so its
        # names go with the link: the client takes them back by restore and
        # register.)
        me = room.member_id
        player = await self.connect("player")
        proxy.freeze()
        await helpers.wait_for(lambda: len(proxy.links) == 2, 10, "the room server reconnected")
        self.assertEqual(await lookup_soon(player, "hall"), "room://10.0.0.5:7000")
        self.assertEqual((room.member_id, room.error), (me, None), "the same member, no error")
        # ... and registers again on a restarted coordinator.
        port = self.coord.port
        await self.coord.kill()
        self.coord = await coordinator(port)
        looker = await self.connect("looker")
        self.assertEqual(await lookup_soon(looker, "hall"), "room://10.0.0.5:7000")
        self.assertIsNone(room.error)
        self.assertEqual(room.names(), {"hall": "room://10.0.0.5:7000"})

    async def test_lost_for_good_without_lobbies(self) -> None:
        alice = await self.connect("Alice")
        await self.coord.kill()
        ev = await wait_event(alice, lambda e: True)
        self.assertEqual((ev.kind, ev.next, ev.lobby), (model.COORDINATOR_LOST, model.NEXT_GIVING_UP, None))
        ev = await wait_event(alice, lambda e: True)
        self.assertEqual(ev.kind, model.ERROR)
        self.assertIsInstance(ev.error, ConnectionLost)
        with self.assertRaises(ConnectionLost):
            await alice.list()


class TimeoutTest(unittest.IsolatedAsyncioTestCase):
    async def test_default_timeout_is_five_seconds(self) -> None:
        self.assertEqual(lanlobby.DEFAULT_TIMEOUT, 5.0)

    async def test_silent_server_times_out(self) -> None:
        async def mute(r, w):
            await r.read()  # never answers

        srv = await asyncio.start_server(mute, "127.0.0.1", 0)
        self.addCleanup(srv.close)
        addr = "127.0.0.1:%d" % srv.sockets[0].getsockname()[1]
        t0 = time.monotonic()
        with self.assertRaises(CallTimeout):
            await lanlobby.Client.connect(addr, "x", timeout=0.3)
        self.assertLess(time.monotonic() - t0, 3)

    async def test_call_without_reply_times_out(self) -> None:
        async def hello_only(r, w):
            line = await r.readline()
            w.write(b'{"id":1,"ok":true,"v":1,"you":{"id":"m1"},"heartbeat_ms":0,"misses":0}\n')
            await r.read()

        srv = await asyncio.start_server(hello_only, "127.0.0.1", 0)
        self.addCleanup(srv.close)
        # (The slack keeps the silent link itself up meanwhile, however
        # slowly a loaded machine runs the test.)
        c = await lanlobby.Client.connect("127.0.0.1:%d" % srv.sockets[0].getsockname()[1], "x", timeout=0.3,
                                          dead_link_slack=5.0)
        self.addAsyncCleanup(c.close)
        t0 = time.monotonic()
        with self.assertRaises(CallTimeout):
            await c.create("demo", "n", 2, port=1)
        self.assertLess(time.monotonic() - t0, 3)
        # Each call's own timeout (the link itself stays up for 5 s of silence).
        c = await lanlobby.Client.connect("127.0.0.1:%d" % srv.sockets[0].getsockname()[1], "x", timeout=5)
        self.addAsyncCleanup(c.close)
        for call in (c.register("hall", "room://10.0.0.5:7000", timeout=0.3), c.lookup("hall", timeout=0.3),
                     c.deregister("hall", timeout=0.3)):
            t0 = time.monotonic()
            with self.assertRaises(CallTimeout):
                await call
            self.assertLess(time.monotonic() - t0, 3)


class SyncWrapperTest(unittest.TestCase):
    def test_sync_client(self) -> None:
        from lanlobby import sync
        coord = sync.run(coordinator(), 10)
        try:
            a = sync.Client.connect(coord.addr, "Alice", player_key=new_player_key())
            b = sync.Client.connect(coord.addr, "Bob", player_key=new_player_key())
            sub = b.subscribe("demo")
            lid = a.create("demo", "sync", 2, port=4000, version="1.4").lobby.id
            f = lanlobby.Filter(version="1.4")
            self.assertEqual([l.id for l in b.list("demo", f)], [lid])
            j = b.quick_join("demo", port=5000, filter=f)
            self.assertEqual(j.lobby.id, lid)
            sub.close()
            self.assertEqual([e.kind for e in b.drain_events() if e.subscription is not None][:2],
                             [model.SYNCED, model.LOBBY_ADDED])
            deadline = time.monotonic() + 5
            got = []
            while not any(e.kind == model.MEMBER_JOINED for e in got) and time.monotonic() < deadline:
                got += a.drain_events()  # a game's frame loop
                time.sleep(0.01)
            self.assertTrue(any(e.kind == model.MEMBER_JOINED and e.member.name == "Bob" for e in got), got)
            a.close()
            b.close()
        finally:
            sync.run(coord.kill(), 5)


if __name__ == "__main__":
    unittest.main()
