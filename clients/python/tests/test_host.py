"""Hosting and LAN discovery on loopback (discovery pinned to
$LANLOBBY_INTERFACE, lo by default, on a beacon port of the test's own): a
coordinator child process (the real `lanlobby coordinator --host-mode`), a
daemon found by its beacon record, and quick-join / join by name."""
from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import unittest

import helpers
from helpers import wait_event, wait_for

import lanlobby
from lanlobby import model, netif


IFACE = os.environ.get("LANLOBBY_INTERFACE", "lo")


def beacon_port() -> int:
    return random.randint(20000, 60000)


def gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class HostTest(unittest.IsolatedAsyncioTestCase):
    async def test_host_at_child_process(self) -> None:
        # The real host mode: the lanlobby binary as a child, announcing the
        # lobby on the test's interface and beacon port.
        bport = beacon_port()
        h = await lanlobby.host("demo", "hosted ☕", 2, port=4000, player="Alice", daemon_wait=0,
                                binary=helpers.need_bin(), interfaces=[IFACE], beacon_port=bport)
        self.assertIsNotNone(h.process)
        self.assertTrue(h.process.listen_addr.endswith(f":{h.process.port}"), h.process.listen_addr)
        found = await lanlobby.list_lobbies("demo", interfaces=[IFACE], port=bport, timeout=3, quiet=0.5)
        self.assertEqual([(l.id, l.name, l.players, l.port) for l in found], [(h.lobby_id, "hosted ☕", 1, h.process.port)])
        # It announces its lobbies, not itself: no coordinator record.
        self.assertIsNone(await lanlobby.find_coordinator(0.3, interfaces=[IFACE], beacon_port=bport))
        bob = await lanlobby.Client.connect(h.coordinator, "Bob")
        self.addAsyncCleanup(bob.close)
        j = await bob.quick_join("demo", port=5000)
        self.assertEqual((j.lobby.id, [p.name for p in j.peers]), (h.lobby_id, ["Alice"]))
        await h.close()
        ev = await wait_event(bob, lambda e: e.kind == model.CLOSED)
        self.assertEqual(ev.reason, "owner_closed")
        self.assertEqual(h.process.proc.returncode, 0, "host mode exits cleanly when its stdin closes")
        self.assertFalse(accepting(h.process.port))

    async def test_host_mode_args(self) -> None:
        self.assertEqual(lanlobby.hostproc.host_mode_args(["lan0"], "k", beacon_port=9), [
            "coordinator", "--host-mode", "--json", "--beacon-port", "9", "--interface", "lan0", "--lan-key", "k"])

    async def test_child_stops_when_game_is_killed(self) -> None:
        game = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, sys
sys.path.insert(0, {os.path.join(os.path.dirname(__file__), '..', 'src')!r})
import lanlobby
async def main():
    h = await lanlobby.host("demo", "doomed", 2, port=4000, daemon_wait=0, binary={helpers.need_bin()!r},
                            interfaces=[{IFACE!r}], beacon_port={beacon_port()})
    print(h.process.port, h.process.proc.pid, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""], stdout=subprocess.PIPE, text=True)
        try:
            line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, game.stdout.readline), 10)
            port, pid = (int(x) for x in line.split())
            self.assertTrue(accepting(port))
            self.assertFalse(gone(pid))
            game.kill()  # kill -9: no clean-up code runs in the game
            game.wait()
            await wait_for(lambda: gone(pid), 5, "coordinator child exited after kill -9 of the game")
            self.assertFalse(accepting(port))
        finally:
            game.kill()
            game.wait()
            game.stdout.close()

    async def test_host_finds_daemon_and_lan_join(self) -> None:
        # Discovery runs on LANLOBBY_INTERFACE: the Go tests run this suite
        # inside a lab namespace (lan0), where nothing leaves the lab.
        iface = IFACE
        bport = beacon_port()
        daemon = await lanlobby.CoordinatorProcess.start(helpers.need_bin(), [
            "coordinator", "--listen", "127.0.0.1:0" if iface == "lo" else "0.0.0.0:0", "--interface", iface,
            "--no-mdns", "--beacon-port", str(bport), "--json"])
        self.addAsyncCleanup(daemon.kill)
        mine = netif.select([iface])[0].ipv4
        h = await lanlobby.host("demo", "Zoë's ☕ game", 3, port=4000, player="Alice", daemon_wait=2.0,
                                interfaces=[iface], beacon_port=bport, binary="/nonexistent")
        self.addAsyncCleanup(h.close)
        self.assertIsNone(h.process)
        self.assertIn(h.coordinator, [f"{a}:{daemon.port}" for a in mine])
        # The daemon announces the lobby: players find it by beacon.
        found = await lanlobby.list_lobbies("demo", interfaces=[iface], port=bport, timeout=3, quiet=1.0)
        self.assertEqual([(l.id, l.name, l.players, l.addr) for l in found],
                         [(h.lobby_id, "Zoë's ☕ game", 1, h.coordinator)])
        self.assertGreater(found[0].rtt, 0)
        bob = await lanlobby.quick_join("demo", port=5000, player="Bob", interfaces=[iface], beacon_port=bport,
                                        list_timeout=3, quiet=1.0)
        self.addAsyncCleanup(bob.client.close)
        self.assertEqual((bob.joined.lobby.id, [p.name for p in bob.joined.peers]), (h.lobby_id, ["Alice"]))
        carol = await lanlobby.join("Zoë's ☕ game", port=6000, player="Carol", interfaces=[iface],
                                    beacon_port=bport, list_timeout=3, quiet=1.0)
        self.addAsyncCleanup(carol.client.close)
        self.assertEqual([p.name for p in carol.joined.peers], ["Alice", "Bob"])
        with self.assertRaises(lanlobby.NotFound):
            await lanlobby.join("no such lobby", port=1, interfaces=[iface], beacon_port=bport, list_timeout=0.5)

if __name__ == "__main__":
    unittest.main()
