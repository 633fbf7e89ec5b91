"""Hosting and LAN discovery on loopback (discovery pinned to lo, on a beacon
port of the test's own): a coordinator child process (a stand-in for
`lanlobby coordinator --host-mode` until the CLI has it), a daemon found by
its beacon record, and quick-join / join by name of a lobby the Go CLI hosts."""
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


def standin_args() -> list:
    # Runs the coordinator and stops it when stdin reaches EOF, as the
    # host-mode contract says.
    return ["-c", f'"{helpers.need_bin()}" coordinator --listen 127.0.0.1:0 --announce=false --json & p=$!; '
                  'cat >/dev/null; kill $p; wait $p']


def beacon_port() -> int:
    return random.randint(20000, 60000)


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class HostTest(unittest.IsolatedAsyncioTestCase):
    async def test_host_at_child_process(self) -> None:
        h = await lanlobby.host("demo", "hosted", 2, port=4000, player="Alice", daemon_wait=0,
                                binary="/bin/sh", process_args=standin_args())
        self.assertIsNotNone(h.process)
        bob = await lanlobby.Client.connect(h.coordinator, "Bob")
        self.addAsyncCleanup(bob.close)
        j = await bob.quick_join("demo", port=5000)
        self.assertEqual((j.lobby.id, [p.name for p in j.peers]), (h.lobby_id, ["Alice"]))
        await h.close()
        ev = await wait_event(bob, lambda e: e.kind == model.CLOSED)
        self.assertEqual(ev.reason, "owner_closed")
        self.assertIsNotNone(h.process.proc.returncode)
        self.assertFalse(accepting(h.process.port))

    async def test_child_stops_when_game_is_killed(self) -> None:
        game = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, sys
sys.path.insert(0, {os.path.join(os.path.dirname(__file__), '..', 'src')!r})
import lanlobby
async def main():
    h = await lanlobby.host("demo", "doomed", 2, port=4000, daemon_wait=0, binary="/bin/sh",
                            process_args={standin_args()!r})
    print(h.process.port, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""], stdout=subprocess.PIPE, text=True)
        try:
            port = int(await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, game.stdout.readline), 10))
            self.assertTrue(accepting(port))
            game.kill()  # kill -9: no clean-up code runs in the game
            game.wait()
            await wait_for(lambda: not accepting(port), 5, "coordinator child gone after kill -9 of the game")
        finally:
            game.kill()
            game.wait()
            game.stdout.close()

    async def test_host_finds_daemon_and_lan_join(self) -> None:
        # Discovery runs on LANLOBBY_INTERFACE: the Go tests run this suite
        # inside a lab namespace (lan0), where nothing leaves the lab.
        iface = os.environ.get("LANLOBBY_INTERFACE", "lo")
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
