"""Beacon codec, LAN key and browser table, against PROTOCOL.md's vectors."""
from __future__ import annotations

import os
import stat
import tempfile
import time
import unittest
from unittest import mock

import helpers  # noqa: F401  (puts src on the path)

from lanlobby import beacon, lankey
from lanlobby.beacon import BeaconError, NotBeacon
from lanlobby.browser import ADDED, REMOVED, UPDATED, LanLobby, Table
from lanlobby.lan import quick_join_order
from lanlobby.lankey import LanKey
from lanlobby.match import Filter

PASS = "correct horse battery staple"
MASTER = "b16fb80a73a27c3aab012896555958a4875668b79477a99d0dcf66abb5bd21eb"
# PROTOCOL.md: announce, seq 0x01020304, ttl 6, lobby ab/q/Zoë 1 of 4, started, port 7600.
EXAMPLE = bytes.fromhex("4c4c4f42010100010102030400060f0261620171045a6fc3ab0104031db0")


class CodecTest(unittest.TestCase):
    def test_protocol_example(self) -> None:
        p, tail = beacon.decode(EXAMPLE)
        self.assertEqual(tail, len(EXAMPLE))
        self.assertEqual((p.kind, p.seq, p.ttl), (beacon.KIND_ANNOUNCE, 0x01020304, 6))
        self.assertEqual(p.lobbies, [beacon.Lobby("ab", "q", "Zoë", 1, 4, "started", 7600)])
        self.assertEqual(beacon.encode(p), EXAMPLE)

    def test_extensions_are_skipped(self) -> None:
        # A record tail (one byte more inside the record) and a packet-tail TLV.
        b = bytearray(EXAMPLE)
        b[14] += 1
        b[29:29] = b"\xee"
        b += b"\x09\x02xy"
        p, tail = beacon.decode(bytes(b))
        self.assertEqual(p.lobbies[0].name, "Zoë")
        self.assertEqual(tail, len(b) - 4)

    def test_rejects(self) -> None:
        with self.assertRaises(NotBeacon):
            beacon.decode(b"XLOB" + EXAMPLE[4:])
        with self.assertRaises(NotBeacon):
            beacon.decode(EXAMPLE[:4] + b"\x02" + EXAMPLE[5:])
        bad = {
            "truncated": EXAMPLE[:-1],
            "tlv past end": EXAMPLE + b"\x01\x05ab",
            "state 9": EXAMPLE[:-3] + b"\x09" + EXAMPLE[-2:],
            "players over capacity": EXAMPLE[:-5] + b"\x05\x04" + EXAMPLE[-3:],
            "goodbye with ttl": EXAMPLE[:5] + b"\x02" + EXAMPLE[6:],
            "too long": EXAMPLE + b"\x01\xff" + b"x" * 255 + b"\x01\xff" + b"x" * 255 * 4,
            "space in id": EXAMPLE[:16] + b" " + EXAMPLE[17:],
            "control in name": EXAMPLE[:21] + b"\x1b" + EXAMPLE[22:],
        }
        for what, b in bad.items():
            with self.subTest(what), self.assertRaises(BeaconError):
                beacon.decode(b)

    def test_coordinator_and_query_roundtrip(self) -> None:
        for p in (beacon.Packet(kind=beacon.KIND_COORDINATOR, seq=9, ttl=6,
                                coordinator=beacon.Coordinator("c1", "daemon", 7600)),
                  beacon.Packet(kind=beacon.KIND_QUERY, seq=7, game="q")):
            q, _ = beacon.decode(beacon.encode(p))
            self.assertEqual(q, p)


class KeyTest(unittest.TestCase):
    def test_master_vector_and_cost(self) -> None:
        lankey._cache.clear()
        t0 = time.perf_counter()
        k = LanKey.derive(PASS)
        cold = time.perf_counter() - t0
        self.assertEqual(k.master.hex(), MASTER)
        t0 = time.perf_counter()
        self.assertEqual(LanKey.derive(PASS).master.hex(), MASTER)
        warm = time.perf_counter() - t0
        print(f"\nKDF: cold {cold * 1000:.0f} ms, cached {warm * 1e6:.0f} µs", flush=True)
        self.assertLess(warm, cold / 10)

    def test_signed_query_vector(self) -> None:
        k = LanKey.derive(PASS)
        q = beacon.encode(beacon.Packet(kind=beacon.KIND_QUERY, seq=7, game="q"))
        signed = beacon.sign_packet(k, q, 1748779200000)
        self.assertEqual(signed.hex(), "4c4c4f42010300000000000700000171" "0108000001972b5cee00"
                         "0210ac58f4d505578e28280f7a28bd2101b4")
        p, tail = beacon.decode(signed)
        beacon.verify_packet(k, signed, tail, now=1748779200.0 + 30)  # the window's edge is accepted
        with self.assertRaises(beacon.BadTimestamp):
            beacon.verify_packet(k, signed, tail, now=1748779200.0 + 30.002)
        with self.assertRaises(beacon.Unsigned):
            beacon.verify_packet(k, q, len(q))
        other = LanKey.derive("another passphrase", iterations=10)
        with self.assertRaises(beacon.BadSignature):
            beacon.verify_packet(other, signed, tail, now=1748779200.0)
        tampered = bytearray(signed)
        tampered[15] ^= 1
        p, tail = beacon.decode(bytes(tampered))
        with self.assertRaises(beacon.BadSignature):
            beacon.verify_packet(k, bytes(tampered), tail, now=1748779200.0)

    def test_txt_vector(self) -> None:
        k = LanKey.derive(PASS)
        strings = [s.encode() for s in ("v=1", "id=zoe1", "g=demo", "p=1", "c=4", "s=open", "n=Zoë's game",
                                        "t=1748779200000", "h=j0qY4Qc0hzls4Ygpx-RuiA")]
        beacon.verify_txt(k, "Zoë's game", 7600, strings, now=1748779200.0)
        with self.assertRaises(beacon.BadSignature):
            beacon.verify_txt(k, "Zoë's game (2)", 7600, strings, now=1748779200.0)
        with self.assertRaises(beacon.BadTimestamp):
            beacon.verify_txt(k, "Zoë's game", 7600, strings, now=1748779200.0 + 91)

    def test_disk_cache_is_owner_only(self) -> None:
        with tempfile.TemporaryDirectory() as d, mock.patch.dict(os.environ, {"XDG_CACHE_HOME": d}):
            lankey._cache.clear()
            k = LanKey.derive(PASS, disk_cache=True)
            files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
            self.assertEqual(len(files), 1)
            self.assertEqual(stat.S_IMODE(os.stat(files[0]).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(files[0])).st_mode), 0o700)
            lankey._cache.clear()
            t0 = time.perf_counter()
            self.assertEqual(LanKey.derive(PASS, disk_cache=True).master, k.master)
            self.assertLess(time.perf_counter() - t0, 0.05)


def announce(seq, lid="l1", players=1, state="open", ttl=6, kind=beacon.KIND_ANNOUNCE, flags=0, term=0):
    return beacon.Packet(kind=kind, flags=flags, seq=seq, ttl=ttl if kind == beacon.KIND_ANNOUNCE else 0,
                         lobbies=[beacon.Lobby(lid, "demo", "L", players, 4, state, 7600, term=term)])


class TableTest(unittest.TestCase):
    def test_lifecycle(self) -> None:
        t = Table()
        evs = t.observe(0, announce(10), "fe80::1%lan0")
        self.assertEqual([(e.type, e.lobby.host) for e in evs], [(ADDED, "fe80::1%lan0")])
        # The same packet over IPv4 moves it to the better address.
        evs = t.observe(0.001, announce(10), "198.18.0.1")
        self.assertEqual([(e.type, e.lobby.addr) for e in evs], [(UPDATED, "198.18.0.1:7600")])
        self.assertEqual(t.observe(0.002, announce(10), "198.18.0.1"), [])  # duplicate
        self.assertEqual(t.observe(0.003, announce(9, players=3), "198.18.0.1"), [])  # stale
        evs = t.observe(1, announce(11, players=2), "198.18.0.1")
        self.assertEqual([(e.type, e.lobby.players) for e in evs], [(UPDATED, 2)])
        self.assertEqual(t.expire(6.9), [])
        evs = t.expire(7.0)
        self.assertEqual([e.type for e in evs], [REMOVED])
        self.assertEqual(t.snapshot(), [])
        # Goodbye removes at once; late copies do not bring it back.
        t.observe(8, announce(20, lid="l2"), "198.18.0.2")
        evs = t.observe(8.1, announce(21, lid="l2", kind=beacon.KIND_GOODBYE), "198.18.0.2")
        self.assertEqual([e.type for e in evs], [REMOVED])
        self.assertEqual(t.observe(8.2, announce(20, lid="l2"), "198.18.0.3"), [])

    def test_terms(self) -> None:
        """The higher term is the lobby: the first packet of a higher term moves
        it to its sender whatever the seq; the old host's announcements and
        goodbye, of a lower term, change nothing."""
        t = Table()
        t.observe(0, announce(100, players=4), "198.18.0.1")
        self.assertEqual(beacon.decode(beacon.encode(announce(1, term=7)))[0].lobbies[0].term, 7)  # the attribute
        evs = t.observe(0.1, announce(1, players=3, term=1), "198.18.0.2")  # the successor, its own seq
        self.assertEqual([(e.type, e.lobby.addr, e.lobby.term, e.lobby.players) for e in evs],
                         [(UPDATED, "198.18.0.2:7600", 1, 3)])
        self.assertEqual(t.observe(0.2, announce(101, players=4), "198.18.0.1"), [])  # the cut-off host: term 0
        self.assertEqual(t.observe(0.3, announce(102, kind=beacon.KIND_GOODBYE), "198.18.0.1"), [])
        self.assertEqual([(l.addr, l.term) for l in t.snapshot()], [("198.18.0.2:7600", 1)])
        evs = t.observe(0.4, announce(2, players=2, term=1), "198.18.0.2")
        self.assertEqual([(e.type, e.lobby.players) for e in evs], [(UPDATED, 2)])
        evs = t.observe(0.5, announce(3, term=1, kind=beacon.KIND_GOODBYE), "198.18.0.2")
        self.assertEqual([e.type for e in evs], [REMOVED])

    def test_query_reply_gives_rtt_and_coordinators(self) -> None:
        t = Table()
        t.queried(1.0)
        evs = t.observe(1.002, announce(1, flags=beacon.FLAG_REPLY), "198.18.0.1")
        self.assertAlmostEqual(evs[0].lobby.rtt, 0.002)
        t.observe(1.003, beacon.Packet(kind=beacon.KIND_COORDINATOR, seq=5, ttl=6,
                                       coordinator=beacon.Coordinator("c1", "d", 7600)), "198.18.0.9")
        self.assertEqual([c.addr for c in t.coordinators()], ["198.18.0.9:7600"])
        t.observe(1.004, beacon.Packet(kind=beacon.KIND_COORDINATOR, seq=6, ttl=0,
                                       coordinator=beacon.Coordinator("c1", "d", 7600)), "198.18.0.9")
        self.assertEqual(t.coordinators(), [])

    def test_quick_join_order(self) -> None:
        def lb(i, players, cap, rtt=0.0, state="open", game="demo"):
            return LanLobby(i, game, i, players, cap, state, "198.18.0.1", 7600, rtt=rtt)
        ls = [lb("a", 1, 4), lb("b", 3, 4, rtt=0.002), lb("c", 3, 4, rtt=0.001), lb("d", 4, 4, state="full"),
              lb("e", 1, 2, state="started"), lb("f", 1, 2, game="other")]
        # Fewest free seats, then the oldest (unknown last), then by id: the
        # same for every player (a host's round trip does not count).
        self.assertEqual([l.id for l in quick_join_order(ls, "demo")], ["b", "c", "a"])
        ls[2].created_ms = 1000
        self.assertEqual([l.id for l in quick_join_order(ls, "demo")], ["c", "b", "a"])
        ls[1].created_ms = 999
        self.assertEqual([l.id for l in quick_join_order(ls, "demo")], ["b", "c", "a"])
        self.assertEqual([l.id for l in quick_join_order(ls, "demo", 2)], ["a"])
        # Filters: those known to pass, then the undecided (a partial
        # announcement without the key), each in the quick-join order.
        ls[0].meta["map"] = "dunes"
        ls[1].meta["map"] = "forest"
        ls[2].meta_partial = True
        f = Filter(meta={"map": "dunes"})
        self.assertEqual([l.id for l in quick_join_order(ls, "demo", 1, f)], ["a", "c"])
        f.free = 3
        self.assertEqual([l.id for l in quick_join_order(ls, "demo", 1, f)], ["a"])


if __name__ == "__main__":
    unittest.main()
