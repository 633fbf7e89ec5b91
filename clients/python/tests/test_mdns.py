"""mDNS/DNS-SD browsing: the record decoder and the TXT rules on PROTOCOL.md's
signed TXT vector, and live queries answered by the Go responder (`lanlobby
host --no-beacon`, discovery on $LANLOBBY_INTERFACE, lo by default)."""
from __future__ import annotations

import asyncio
import os
import random
import struct
import subprocess
import unittest

import helpers

import lanlobby
from lanlobby import mdns
from lanlobby.lankey import LanKey

IFACE = os.environ.get("LANLOBBY_INTERFACE", "lo")
#: A game of this run's own: other lanlobby processes on lo (by hand) answer too.
GAME = f"mdns-{random.randrange(1 << 30):x}"
PASS = "correct horse battery staple"
VECTOR = [b"v=1", b"id=zoe1", b"g=demo", b"p=1", b"c=4", b"s=open", "n=Zoë's game".encode(), b"t=1748779200000",
          b"h=j0qY4Qc0hzls4Ygpx-RuiA"]


def labels(*ls: bytes) -> bytes:
    return b"".join(bytes([len(l)]) + l for l in ls) + b"\x00"


def rr(owner: bytes, typ: int, rdata: bytes, ttl: int = 120) -> bytes:
    return owner + struct.pack(">HHIH", typ, 1, ttl, len(rdata)) + rdata


def response(instance: bytes, port: int, txt: list, ip: bytes = bytes([198, 18, 1, 1]),
             game: bytes = b"") -> bytes:
    """An answer as our responder gives it: the PTR, then SRV, TXT and A as
    additional records; later names compressed against the first."""
    qname = (bytes([len(b"_" + game)]) + b"_" + game + b"\x04_sub" if game else b"") + labels(b"_lanlobby", b"_tcp", b"local")
    head = struct.pack(">HHHHHH", 7, 0x8400, 0, 1, 0, 3)
    svc_off = 12 + (len(b"_" + game) + 1 + 5 if game else 0)  # where _lanlobby starts
    ptr_owner = qname
    inst = bytes([len(instance)]) + instance + struct.pack(">H", 0xC000 | svc_off)
    host = labels(b"lanlobby-0a1b2c3d", b"local")
    msg = head + rr(ptr_owner, mdns.T_PTR, inst)
    inst_off = len(msg) - len(inst)
    inst_ptr = struct.pack(">H", 0xC000 | inst_off)
    msg += rr(inst_ptr, mdns.T_SRV, struct.pack(">HHH", 0, 0, port) + host)
    msg += rr(inst_ptr, mdns.T_TXT, b"".join(bytes([len(s)]) + s for s in txt))
    msg += rr(host, mdns.T_A, ip)
    return msg


class RecordTest(unittest.TestCase):
    def test_signed_vector(self) -> None:
        pkt = response("Zoë's game".encode(), 7600, VECTOR)
        key = LanKey.derive(PASS)
        got = mdns.assemble([(pkt, "198.18.1.9", 1.0)], key=key, now=1748779200.0)
        self.assertEqual([(l.id, l.name, l.game, l.players, l.capacity, l.state, l.addr, l.source) for l in got],
                         [("zoe1", "Zoë's game", "demo", 1, 4, "open", "198.18.1.1:7600", "mdns")])
        # Without a key the signature is an unknown key, ignored.
        self.assertEqual([l.id for l in mdns.assemble([(pkt, "x", 1.0)])], ["zoe1"])
        # Under another instance name, another port, outside the window, with another key: refused.
        for p, k, now, want in ((response("Zoë's game (2)".encode(), 7600, VECTOR), key, 1748779200.0, "BadSignature"),
                                (response("Zoë's game".encode(), 7601, VECTOR), key, 1748779200.0, "BadSignature"),
                                (pkt, key, 1748779200.0 + 91, "BadTimestamp"),
                                (pkt, LanKey(bytes(32)), 1748779200.0, "BadSignature"),
                                (response(b"plain", 7600, VECTOR[:7]), key, 1748779200.0, "Unsigned")):
            counters: dict = {}
            self.assertEqual(mdns.assemble([(p, "x", 1.0)], key=k, now=now, counters=counters), [])
            self.assertEqual(counters, {want: 1})

    def test_txt_rules(self) -> None:
        ok = [b"v=1", b"id=a1", b"G=Demo", b"p=2", b"c=4", b"s=full", b"x=ignored", b"id=second"]
        self.assertEqual(mdns.lobby_from_txt(ok, "inst"), {"id": "a1", "game": "demo", "name": "inst", "players": 2,
                                                           "capacity": 4, "state": "full", "version": "",
                                                           "created_ms": 0, "meta": {}, "meta_partial": False,
                                                           "term": 0})
        self.assertEqual(mdns.lobby_from_txt(ok[:-1] + [b"tm=3", b"tm=4"], "inst")["term"], 3)  # a taken-over lobby
        for bad in ([b"v=2"] + ok[1:], ok[:1] + ok[2:-1], [b"v=1", b"id=a b", b"g=d", b"p=1", b"c=4", b"s=open"],
                    [b"v=1", b"id=a", b"g=-d", b"p=1", b"c=4", b"s=open"],
                    [b"v=1", b"id=a", b"g=d", b"p=5", b"c=4", b"s=open"],
                    [b"v=1", b"id=a", b"g=d", b"p=1", b"c=65", b"s=open"],
                    [b"v=1", b"id=a", b"g=d", b"p=1", b"c=4", b"s=gone"],
                    [b"v=1", b"id=a", b"g=d", b"p=1", b"c=4", b"s=open", "n=a\u202eb".encode()]):
            self.assertIsNone(mdns.lobby_from_txt(bad, "inst"), bad)

    def test_subtype_answer_and_hostile_input(self) -> None:
        pkt = response(b"sub", 7600, VECTOR[:7], game=b"demo")
        self.assertEqual([l.id for l in mdns.assemble([(pkt, "x", 1.0)], game="demo")], ["zoe1"])
        self.assertEqual(mdns.assemble([(pkt, "x", 1.0)], game="other"), [])
        rnd = random.Random(1)
        counters: dict = {}
        for _ in range(2000):  # truncated and mangled answers never raise
            b = bytearray(pkt[:rnd.randrange(len(pkt) + 1)])
            for _ in range(3):
                if b:
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
            mdns.assemble([(bytes(b), "x", 1.0)], counters=counters)
        loop = struct.pack(">HHHHHH", 1, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c"  # a pointer to itself
        self.assertEqual(mdns.assemble([(loop, "x", 1.0)], counters=counters), [])
        self.assertGreater(counters["malformed"], 0)


class LiveTest(unittest.IsolatedAsyncioTestCase):
    async def host(self, *extra: str) -> str:
        """A lobby the Go CLI hosts, announced by mDNS alone; its id."""
        p = subprocess.Popen([helpers.need_bin(), "host", "--game", GAME, "--name", "Zoë's mDNS ☕", "--players", "3",
                              "--port", "7777", "--no-beacon", "--interface", IFACE, "--json", *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (p.kill(), p.wait(), p.stdout.close()))
        line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, p.stdout.readline), 10)
        import json
        return json.loads(line)["lobby"]

    async def find(self, game: str = "", key=None, want: str = "", counters=None) -> list:
        """Queries until want shows (a responder announces after probing), 5 s at most."""
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            q = await mdns.Query(game, interfaces=[IFACE], lan_key=key).start()
            await asyncio.sleep(0.3)
            got = q.lobbies()
            if counters is not None:
                counters.update(q.counters)
            q.close()
            if not want or any(l.id == want for l in got) or asyncio.get_running_loop().time() > deadline:
                return got

    async def test_query_finds_go_responder(self) -> None:
        lid = await self.host()
        got = await self.find("", want=lid)
        mine = [l for l in got if l.id == lid]
        self.assertEqual([(l.name, l.game, l.players, l.capacity, l.source) for l in mine],
                         [("Zoë's mDNS ☕", GAME, 1, 3, "mdns")])
        self.assertGreater(mine[0].port, 0)
        self.assertGreater(mine[0].rtt, 0)
        # The game's subtype, and another game's.
        self.assertIn(lid, [l.id for l in await self.find(GAME, want=lid)])
        self.assertEqual(await self.find(GAME + "-other"), [])
        # A listing merges it in (no beacon on this port), and a player joins it.
        found = await lanlobby.list_lobbies(GAME, interfaces=[IFACE], port=helpers_port(), timeout=1, quiet=0.3)
        self.assertEqual([(l.id, l.source) for l in found], [(lid, "mdns")])
        self.assertEqual(await lanlobby.list_lobbies(GAME, interfaces=[IFACE], port=helpers_port(), timeout=0.5,
                                                     quiet=0.3, mdns=False), [])
        j = await lanlobby.quick_join(GAME, port=5000, player="Bob", interfaces=[IFACE], beacon_port=helpers_port(),
                                      quiet=0.3, list_timeout=1)
        self.addAsyncCleanup(j.client.close)
        self.assertEqual((j.joined.lobby.id, j.lobby.source), (lid, "mdns"))

    async def test_signed_txt(self) -> None:
        lid = await self.host("--lan-key", "lab passphrase")
        self.assertIn(lid, [l.id for l in await self.find(GAME, key="lab passphrase", want=lid)])
        counters: dict = {}
        self.assertNotIn(lid, [l.id for l in await self.find(GAME, key="another passphrase", counters=counters)])
        self.assertGreater(counters.get("BadSignature", 0), 0)


def helpers_port() -> int:
    return random.randint(20000, 60000)


if __name__ == "__main__":
    unittest.main()
