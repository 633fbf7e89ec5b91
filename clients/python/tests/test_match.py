"""Matchmaking (issue 14) and the coordinator's hardening as the SDK sees it
(issue 9): filters and versions, list paging, parties and reservations, bans
and the player key, live subscriptions, restore with the owner's roster and
credentials, the same coordinator taking a member back past its grace; the
LAN side of filters (beacon attributes, mDNS TXT keys, undecided lobbies
last)."""
from __future__ import annotations

import json
import math
import os
import random
import stat
import tempfile
import unittest

import helpers
from helpers import CoordinatorCase, Proxy, coordinator, wait_event

import lanlobby
from lanlobby import beacon, errors, match, mdns, model
from lanlobby.browser import Table
from lanlobby.errors import CoordinatorError
from lanlobby.match import (COMPATIBLE, EXACT, MATCHES, MAYBE, NO_MATCH, Candidate, Filter, Range, at_least, at_most,
                            between, compare_key, new_player_key, parse_number, version_matches)

IFACE = os.environ.get("LANLOBBY_INTERFACE", "lo")
# PROTOCOL.md: announce, seq 0x01020304, ttl 6, lobby ab/q/Zoë 1 of 4, started, port 7600.
EXAMPLE = bytes.fromhex("4c4c4f42010100010102030400060f0261620171045a6fc3ab0104031db0")
# PROTOCOL.md, "Lobby attributes": the example's 40 bytes after the port.
ATTRS = "01 08 000001972b5cee00 02 05 312e342e32 03 09 03 6d6170 64756e6573 03 08 04 6d6f6465 637466 04 00"


def with_tail(tail: str) -> bytes:
    t = bytes.fromhex(tail)
    b = bytearray(EXAMPLE)
    b[14] += len(t)
    return bytes(b) + t


def desc(lb: beacon.Lobby) -> str:
    return f"{lb.version} {lb.created_ms or ''} {' '.join(f'{k}={v}' for k, v in lb.meta)}{' partial' if lb.partial else ''}"


class RulesTest(unittest.TestCase):
    def test_filter_rules(self) -> None:
        # PROTOCOL.md, "Filters": the compatible rule's examples.
        for v in ("1.4", "1.4.0", "1.4.7", "1.04.2-rc1", "1.4+linux"):
            self.assertTrue(version_matches("1.4", v, COMPATIBLE), v)
        for v in ("1.5", "2.4", "", "1"):
            self.assertFalse(version_matches("1.4", v, COMPATIBLE), v)
        self.assertTrue(version_matches("1", "1.0.3", COMPATIBLE))
        self.assertFalse(version_matches("1.4", "1.4.0", EXACT))
        for s in ("12", " 12 ", "-1.5", "1e3", ".5", "+7"):
            self.assertIsNotNone(parse_number(s), s)
        for s in ("", "abc", "1,5", "inf", "NaN", "1e400", "0x10", "1e"):
            self.assertIsNone(parse_number(s), s)
        c = Candidate(id="l", game="demo", version="1.4.2", open=True, free=2, created_ms=5,
                      meta={"map": "dunes", "level": " 12 "})
        self.assertEqual(Filter().match(c), MATCHES)
        self.assertEqual(Filter(version="1.4", version_rule=COMPATIBLE, meta={"map": "dunes"},
                                ranges=[between("level", 10, 20)], free=2).match(c), MATCHES)
        for f in (Filter(version="1.4"), Filter(meta={"map": "Dunes"}), Filter(ranges=[at_least("level", 13)]),
                  Filter(ranges=[at_most("map", 1)]), Filter(free=3), Filter(meta={"mode": "ctf"})):
            self.assertEqual(f.match(c), NO_MATCH, f)
        c.partial = True
        self.assertEqual(Filter(meta={"mode": "ctf"}).match(c), MAYBE)
        self.assertEqual(Filter(ranges=[at_least("ping", 1)]).match(c), MAYBE)
        self.assertEqual(Filter(meta={"mode": "ctf", "map": "forest"}).match(c), NO_MATCH)
        c.open = False
        self.assertEqual(Filter(free=1).match(c), NO_MATCH)
        self.assertEqual(Filter(version="1.4.2").match(c), MATCHES)
        order = [Candidate("c", free=1), Candidate("b", free=1, created_ms=20), Candidate("a", free=2, created_ms=1),
                 Candidate("d", free=1, created_ms=10)]
        self.assertEqual([x.id for x in sorted(order, key=compare_key)], ["d", "b", "c", "a"])
        for bad in (Filter(version_rule="newest"), Filter(version="1.4 beta"), Filter(ranges=[between("level", 2, 1)]),
                    Filter(free=65), Filter(meta={"": "x"}), Filter(ranges=[Range("level", math.nan)]),
                    Filter(meta={f"k{i}": "v" for i in range(9)})):
            with self.assertRaises(CoordinatorError) as cm:
                bad.validate()
            self.assertEqual(cm.exception.code, errors.INVALID_FILTER)
        w = Filter(version="1.4", version_rule=COMPATIBLE, meta={"map": "dunes"},
                   ranges=[at_least("level", 10), between("ping", 0, 80.5)], free=2).to_wire()
        self.assertEqual(json.dumps(w, separators=(",", ":")),
                         '{"version":"1.4","version_rule":"compatible","meta":{"map":"dunes"},'
                         '"ranges":[{"key":"level","min":10},{"key":"ping","min":0,"max":80.5}],"free":2}')
        self.assertIsNone(Filter().to_wire())
        back = Filter.from_wire(w)
        self.assertEqual((back.version, back.ranges[0].min, back.ranges[0].max, back.ranges[1].max, back.free),
                         ("1.4", 10.0, None, 80.5, 2))

    def test_beacon_attributes(self) -> None:
        pkt = with_tail(ATTRS)
        p, _ = beacon.decode(pkt)
        self.assertEqual(desc(p.lobbies[0]), "1.4.2 1748779200000 map=dunes mode=ctf partial")
        self.assertEqual(beacon.encode(p), pkt, "encoded back byte for byte")
        info = Table().observe(0, p, "198.18.0.1")[0].lobby
        self.assertEqual((info.version, info.created_ms, info.meta, info.meta_partial),
                         ("1.4.2", 1748779200000, {"map": "dunes", "mode": "ctf"}, True))
        self.assertEqual(Filter(version="1.4", version_rule=COMPATIBLE, meta={"lang": "en"}).match(info.candidate()), MAYBE)
        for tail, want in (("09 02 abcd 02 03 312e34 02 03 322e30", "1.4  "),
                           ("03 05 03 4d6170 78", "   partial"),
                           ("03 04 03 6d6170 02 03 312e34", "  map="),
                           ("02 03 312e34 03 09 03 6d6170", "1.4  "),
                           ("01 07 00000000000001 02 03 312e34", "1.4  "),
                           ("02 03 312e", "  ")):
            lb = beacon.decode(with_tail(tail))[0].lobbies[0]
            self.assertEqual(desc(lb), want, tail)
        big = beacon.Lobby("x", "g", "n", 0, 2, "open", 1, meta=[(f"k{i}", "v") for i in range(5)])
        with self.assertRaises(beacon.BeaconError):
            beacon.encode(beacon.Packet(kind=beacon.KIND_ANNOUNCE, ttl=6, lobbies=[big]))

    def test_mdns_txt_attributes(self) -> None:
        def txt(*ss):
            return mdns.lobby_from_txt([s.encode() for s in ss], "inst")
        lb = txt("v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open", "gv=1.4.2", "ct=1748779200000", "m.map=dunes",
                 "M.Mode=ctf", "mp=1")
        self.assertEqual((lb["version"], lb["created_ms"], lb["meta"], lb["meta_partial"]),
                         ("1.4.2", 1748779200000, {"map": "dunes", "mode": "ctf"}, True))
        lb = txt("v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open", "gv=1.4 beta", "gv=1.5", "ct=-5", "m.Bad Key=x",
                 "m.map=dunes")
        self.assertEqual((lb["version"], lb["created_ms"], lb["meta"], lb["meta_partial"]), ("", 0, {"map": "dunes"}, True))
        lb = txt("v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open")
        self.assertEqual((lb["meta"], lb["created_ms"], lb["meta_partial"]), ({}, 0, False))

    def test_player_keys(self) -> None:
        k = new_player_key()
        self.assertTrue(len(k) == 32 and match.valid_player_key(k) and k != new_player_key())
        self.assertEqual(match.process_player_key(), match.process_player_key())
        for bad in ("", "with space", "k" * 65, "é"):
            self.assertFalse(match.valid_player_key(bad), bad)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "lanlobby", "player-key")
            k = match.stored_player_key(path)
            self.assertTrue(match.valid_player_key(k) and k != match.process_player_key())
            self.assertEqual(match.stored_player_key(path), k)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path, "w") as f:
                f.write("not a key\n")
            self.assertNotEqual(match.stored_player_key(path), "not a key")


class MatchTest(CoordinatorCase):

    async def code(self, coro) -> str:
        with self.assertRaises(CoordinatorError) as cm:
            await coro
        return cm.exception.code

    async def test_filters_versions_and_paging(self) -> None:
        alice, dan, bob = await self.connect("Alice"), await self.connect("Dan"), await self.connect("Bob")
        l1 = (await alice.create("demo", "one", 4, port=4000, version="1.4.2", meta={"map": "dunes", "level": "10"},
                                 filterable=["map", "level"])).lobby
        self.assertEqual((l1.version, l1.filterable), ("1.4.2", ["map", "level"]))
        self.assertGreater(l1.created_ms, 1700000000000)
        # A decoy first in the quick-join order (one free seat) that fails the filter.
        l0 = (await dan.create("demo", "decoy", 2, port=4001, version="1.3", meta={"map": "dunes", "level": "3"})).lobby
        f = Filter(version="1.4", version_rule=COMPATIBLE, meta={"map": "dunes"}, ranges=[at_least("level", 5)])
        self.assertEqual([l.id for l in await bob.list("demo", filter=f)], [l1.id])
        self.assertEqual(len(await bob.list("demo")), 2)
        self.assertEqual((await bob.quick_join("demo", port=5000, filter=f)).lobby.id, l1.id)
        self.assertEqual(await self.code(bob.join(l0.id, port=5000, filter=Filter(version="1.4"))), errors.FILTER_MISMATCH)
        self.assertEqual(await self.code(bob.quick_join("demo", port=5000, filter=Filter(version="2.0"))),
                         errors.NO_OPEN_LOBBY)
        self.assertEqual(await self.code(bob.list("demo", filter=Filter(version_rule="newest"))), errors.INVALID_FILTER)
        self.assertEqual(await self.code(bob.create("demo", "v", 2, port=1, version="1.4 beta")), errors.INVALID_VERSION)
        self.assertEqual(await self.code(bob.create("demo", "v", 2, port=1, filterable=["Bad Key"])), errors.INVALID_META)
        # Paging: pages of two, then every lobby however many pages.
        ids = [l1.id, l0.id] + [(await dan.create("paged", f"p{i}", 2, port=4002)).lobby.id for i in range(3)]
        page, nxt = await bob.list_page(limit=2)
        self.assertEqual((len(page), nxt != ""), (2, True))
        page2, _ = await bob.list_page(after=nxt, limit=2)
        self.assertEqual(page2[0].id, ids[2])
        self.assertEqual([l.id for l in await bob.list()], ids)
        page, nxt = await bob.list_page()
        self.assertEqual((len(page), nxt), (len(ids), ""))

    async def test_parties_and_reservations(self) -> None:
        alice, bob, carol, dave, erin = [await self.connect(n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin")]
        lid = (await alice.create("party", "four", 4, port=4000)).lobby.id
        # Bob quick-joins for three: his seat, one named for Carol, one for a token holder.
        j = await bob.quick_join("party", port=5000, seats=3, party=[carol.player_key])
        self.assertEqual((j.lobby.id, j.lobby.players, j.lobby.reserved, j.lobby.state), (lid, 2, 2, "full"))
        res = j.reservation
        self.assertTrue(res and res.token and res.seats == 2 and res.party == [carol.player_key] and res.expires_in_ms > 0)
        ev = await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED)
        self.assertEqual((ev.member.name, ev.lobby.players, ev.lobby.reserved), ("Bob", 2, 2))
        self.assertEqual(await self.code(erin.join(lid, port=6000)), errors.LOBBY_FULL)
        self.assertEqual(await self.code(erin.join(lid, port=6000, reservation="bogus")), errors.UNKNOWN_RESERVATION)
        j = await dave.join(lid, port=6001, reservation=res.token)
        self.assertEqual((j.lobby.players, j.lobby.reserved), (3, 1))
        self.assertEqual(await self.code(erin.join(lid, port=6000, reservation=res.token)), errors.LOBBY_FULL)
        j = await carol.join(lid, port=6002)
        self.assertEqual((j.lobby.players, j.lobby.reserved, j.lobby.state), (4, 0, "full"))
        # The owner holds a seat for a guest; unclaimed, it is released.
        lid2 = (await alice.create("party", "two", 3, port=4000)).lobby.id
        await erin.join(lid2, port=6000)
        self.assertEqual(await self.code(erin.reserve(lid2, 1)), errors.NOT_OWNER)
        r2 = await alice.reserve(lid2, 1, window=0.3)
        self.assertTrue(r2.token and r2.seats == 1 and r2.lobby == lid2)
        for c in (alice, erin):
            ev = await wait_event(c, lambda e: e.kind == model.LOBBY_UPDATED and e.lobby.id == lid2)
            self.assertEqual((ev.lobby.reserved, ev.lobby.state), (1, "full"))
            ev = await wait_event(c, lambda e: e.kind == model.RESERVATION_EXPIRED)
            self.assertEqual((ev.lobby.id, ev.reservation, ev.released, ev.lobby.reserved, ev.lobby.state),
                             (lid2, r2.id, 1, 0, "open"))
        self.assertEqual(await self.code(dave.join(lid2, port=6001, reservation=r2.token)), errors.UNKNOWN_RESERVATION)

    async def test_bans(self) -> None:
        alice, carol = await self.connect("Alice"), await self.connect("Carol")
        grief_key = new_player_key()
        lid = (await alice.create("bans", "no griefers", 4, port=4000)).lobby.id
        grief = await self.connect("Grief", player_key=grief_key)
        await grief.join(lid, port=5000)
        await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED)
        await alice.kick_ban(lid, grief.member_id, 600)
        ev = await wait_event(grief, lambda e: e.kind == model.MEMBER_LEFT)
        self.assertEqual((ev.member.id, ev.reason, ev.banned), (grief.member_id, "kicked", True))
        ev = await wait_event(alice, lambda e: e.kind == model.MEMBER_LEFT)
        self.assertTrue(ev.banned)
        self.assertEqual(await self.code(grief.join(lid, port=5000)), errors.BANNED)
        await grief.close()
        # Back as a new client with the same key: still banned, and its
        # quick-join passes the lobby by.
        again = await self.connect("Grief", player_key=grief_key)
        self.assertEqual(await self.code(again.join(lid, port=5000)), errors.BANNED)
        self.assertEqual(await self.code(again.quick_join("bans", port=5000)), errors.NO_OPEN_LOBBY)
        # A party naming the banned key is not seated there; another player is.
        self.assertEqual(await self.code(carol.quick_join("bans", port=6000, seats=2, party=[grief_key])),
                         errors.NO_OPEN_LOBBY)
        self.assertEqual((await carol.quick_join("bans", port=6000)).lobby.id, lid)
        dan = await self.connect("Dan")
        await dan.join(lid, port=7000)
        await alice.kick_ban(lid, dan.member_id)  # until the lobby closes
        self.assertEqual(await self.code(dan.join(lid, port=7000)), errors.BANNED)

    async def test_subscriptions(self) -> None:
        alice, carol = await self.connect("Alice"), await self.connect("Carol")
        before = (await alice.create("subs", "before", 4, port=4000, version="1.4")).lobby.id
        await alice.create("subs", "other version", 4, port=4000, version="2.0")
        sub = await carol.subscribe("subs", Filter(version="1.4", version_rule=COMPATIBLE))
        self.assertTrue(sub.id > 0 and sub.active)
        self.assertEqual([l.id for l in sub.lobbies()], [before])
        self.assertEqual([(e.kind, e.subscription is sub, e.lobby.id if e.lobby else "") for e in carol.drain_events()],
                         [(model.LOBBY_ADDED, True, before), (model.SYNCED, True, "")])
        lid = (await alice.create("subs", "live", 4, port=4000, version="1.4.1")).lobby.id
        ev = await wait_event(carol, lambda e: e.subscription is sub)
        self.assertEqual((ev.kind, ev.lobby.id, ev.lobby.players), (model.LOBBY_ADDED, lid, 1))
        await alice.set_meta(lid, {"map": "isle"})
        ev = await wait_event(carol, lambda e: e.subscription is sub)
        self.assertEqual((ev.kind, ev.lobby.id, ev.lobby.meta), (model.LOBBY_UPDATED, lid, {"map": "isle"}))
        await alice.close_lobby(lid)
        ev = await wait_event(carol, lambda e: e.subscription is sub)
        self.assertEqual((ev.kind, ev.lobby.id, ev.lobby.state), (model.LOBBY_REMOVED, lid, "closed"))
        self.assertEqual([l.id for l in sub.lobbies()], [before])
        # Nothing about lobbies the filter refuses, nor after the end.
        await alice.create("subs", "refused", 4, port=4000, version="2.1")
        await sub.close()
        self.assertFalse(sub.active)
        await alice.create("subs", "after", 4, port=4000, version="1.4")
        await carol.list("subs")  # the coordinator's pushes before this reply are in
        self.assertEqual(carol.drain_events(), [])
        many = [await carol.subscribe(f"g{i}") for i in range(8)]
        self.assertEqual(await self.code(carol.subscribe("g9")), errors.TOO_MANY_SUBSCRIPTIONS)
        for s in many:
            await s.close()

    async def test_restore_with_roster_and_credentials(self) -> None:
        proxy = await Proxy(self.coord.port).start()
        self.addCleanup(proxy.close)
        alice, dave = await self.connect("Alice"), await self.connect("Dave")
        bob = await self.connect("Bob", proxy.addr)
        lid = (await alice.create("demo", "roster", 3, port=4000, version="1.4", meta={"map": "dunes"},
                                  filterable=["map"])).lobby.id
        await bob.join(lid, port=5000)
        await dave.join(lid, port=6000)
        # The owner's roster is what its notices told: wait for them.
        await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED and e.member.name == "Dave")
        await wait_event(bob, lambda e: e.kind == model.MEMBER_JOINED and e.member.name == "Dave")
        a, b = alice._lobbies[lid], bob._lobbies[lid]
        self.assertEqual((len(a.credential), len(a.owner_credential), len(a.lobby_secret)), (32, 32, 64))
        self.assertTrue(len(b.credential) == 32 and b.owner_credential == "" and b.lobby_secret == a.lobby_secret
                        and b.credential != a.credential)
        dave._lobbies[lid].credential = "0" * 32
        # The coordinator restarts; Bob's way back hangs for a while.
        proxy.hold()
        port = self.coord.port
        await self.coord.kill()
        self.coord = await coordinator(port)
        ev = await wait_event(alice, lambda e: e.kind == model.COORDINATOR_RESTARTED, timeout=10)
        self.assertEqual((ev.lobby.id, ev.lobby.version, ev.lobby.filterable), (lid, "1.4", ["map"]))
        ev = await wait_event(dave, lambda e: e.kind == model.CLOSED, timeout=10)
        self.assertEqual((ev.reason, ev.error.code), (model.REASON_COORDINATOR_LOST, errors.BAD_CREDENTIAL))
        carol = await self.connect("Carol")
        ls = await carol.list("demo")
        self.assertEqual([(l.id, l.players, l.capacity) for l in ls], [(lid, 3, 3)], "the held seats are taken")
        self.assertEqual(await self.code(carol.join(lid, port=7000)), errors.LOBBY_FULL)
        proxy.release()
        ev = await wait_event(bob, lambda e: e.kind == model.COORDINATOR_RESTARTED, timeout=10)
        self.assertEqual([p.name for p in ev.peers], ["Alice", "Dave"])
        self.assertTrue(alice.instance and alice.instance == bob.instance)

    async def test_rejoined_after_the_grace(self) -> None:
        await self.coord.kill()
        self.coord = await coordinator(grace="500ms")
        proxy = await Proxy(self.coord.port).start()
        self.addCleanup(proxy.close)
        alice = await self.connect("Alice")
        bob = await self.connect("Bob", proxy.addr, dead_link_slack=1.5)  # notices the silence after the coordinator
        lid = (await alice.create("demo", "grace", 3, port=4000)).lobby.id
        await bob.join(lid, port=5000)
        me, inst = bob.member_id, bob.instance
        await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED)
        proxy.hold()
        proxy.freeze()
        left = await wait_event(alice, lambda e: e.kind == model.MEMBER_LEFT, timeout=10)
        self.assertEqual((left.member.id, left.reason), (me, "timeout"))
        self.assertEqual(alice.peers(lid), [])
        proxy.release()
        ev = await wait_event(bob, lambda e: e.kind in (model.REJOINED, model.COORDINATOR_RESTARTED, model.ERROR),
                              timeout=10)
        self.assertEqual((ev.kind, ev.lobby.id, [p.name for p in ev.peers]), (model.REJOINED, lid, ["Alice"]))
        self.assertEqual((bob.member_id, bob.instance), (me, inst))
        ev = await wait_event(alice, lambda e: e.kind == model.MEMBER_JOINED, timeout=10)
        self.assertEqual(ev.member.id, me)
        self.assertEqual([p.name for p in alice.peers(lid)], ["Bob"])


class LanMatchTest(unittest.IsolatedAsyncioTestCase):
    async def test_lan_filtered_quick_join_and_party(self) -> None:
        bport = random.randint(20000, 60000)
        lan = {"interfaces": [IFACE], "beacon_port": bport, "mdns": False, "quiet": 0.4, "list_timeout": 3}
        h = await lanlobby.host("match", "right", 4, port=4000, player="Alice", daemon_wait=0, binary=helpers.need_bin(),
                                interfaces=[IFACE], beacon_port=bport, version="1.4.2",
                                meta={"map": "dunes", "level": "10"}, filterable=["map", "level"],
                                player_key=new_player_key())
        self.addAsyncCleanup(h.close)
        clients = []

        async def connect(name: str) -> lanlobby.Client:
            c = await lanlobby.Client.connect(h.coordinator, name, player_key=new_player_key())
            clients.append(c)
            return c

        async def close_all() -> None:
            for c in clients:
                await c.close()
        self.addAsyncCleanup(close_all)
        dan, erin = await connect("Dan"), await connect("Erin")
        decoy = (await dan.create("match", "decoy", 2, port=4001, version="1.3", meta={"map": "dunes", "level": "3"},
                                  filterable=["map", "level"])).lobby.id
        hidden = (await erin.create("match", "hidden", 3, port=4002, version="1.4.0",
                                    meta={"map": "dunes", "secret": "x"})).lobby.id
        f = Filter(version="1.4", version_rule=COMPATIBLE, meta={"map": "dunes"}, ranges=[at_least("level", 5)])
        found = {l.id: l for l in await lanlobby.list_lobbies("match", interfaces=[IFACE], port=bport, mdns=False,
                                                              quiet=0.4, timeout=3)}
        self.assertEqual(set(found), {h.lobby_id, decoy, hidden})
        right = found[h.lobby_id]
        self.assertEqual((right.version, right.meta, right.meta_partial), ("1.4.2", {"map": "dunes", "level": "10"}, False))
        self.assertGreater(right.created_ms, 1700000000000)
        self.assertEqual(found[decoy].version, "1.3")
        self.assertTrue(found[hidden].meta_partial, "metadata not marked filterable: partial")
        listed = await lanlobby.list_lobbies("match", interfaces=[IFACE], port=bport, mdns=False, quiet=0.4, timeout=3,
                                             filter=f)
        self.assertEqual([l.id for l in listed], [h.lobby_id])
        # Quick-join for two with the filter: the lobby that passes, not the
        # decoy closest to starting nor the undecided one.
        bob = await lanlobby.quick_join("match", port=5000, player="Bob", filter=f, seats=2, player_key=new_player_key(),
                                        **lan)
        clients.append(bob.client)
        self.assertEqual((bob.joined.lobby.id, bob.joined.lobby.reserved), (h.lobby_id, 1))
        self.assertTrue(bob.joined.reservation and bob.joined.reservation.token)
        carol = await connect("Carol")
        j = await carol.join(h.lobby_id, port=6000, reservation=bob.joined.reservation.token)
        self.assertEqual((j.lobby.players, j.lobby.reserved), (3, 0))
        # Undecided lobbies are tried when none is known to pass, and their
        # coordinator decides.
        fay = await lanlobby.quick_join("match", port=7000, player="Fay", filter=Filter(meta={"secret": "x"}),
                                        player_key=new_player_key(), **lan)
        clients.append(fay.client)
        self.assertEqual(fay.joined.lobby.id, hidden)
        with self.assertRaises(CoordinatorError) as cm:
            await lanlobby.quick_join("match", port=7001, player="Gil", filter=Filter(meta={"secret": "y"}),
                                      player_key=new_player_key(), **lan)
        self.assertEqual(cm.exception.code, errors.FILTER_MISMATCH)
        with self.assertRaises(lanlobby.NotFound) as nf:
            await lanlobby.quick_join("match", port=7001, player="Gil", filter=Filter(version="9"),
                                      player_key=new_player_key(), **lan)
        self.assertEqual(nf.exception.code, errors.NO_OPEN_LOBBY)


if __name__ == "__main__":
    unittest.main()
