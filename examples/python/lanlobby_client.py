#!/usr/bin/env python3
"""A minimal lanlobby client in plain Python 3 (standard library only),
written from PROTOCOL.md alone: it shows that the wire protocol needs no Go.
It stays the doc-only reference (lobby/python_test.go runs it); games use
the SDK instead: `pip install ./clients/python`, then `import lanlobby`.

Usage: lanlobby_client.py HOST:PORT GAME GAMEPORT [PLAYER]
Quick-joins GAME (or creates a 2-player lobby when none is open), prints
one JSON line per event as it arrives, answers pings, and exits after the
first member_joined / member_left notice or after 10 seconds.
"""
import json
import queue
import socket
import sys
import threading

TIMEOUT = 5.0  # every call has a timeout: nothing waits forever


class Client:
    def __init__(self, addr, player):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.sock.settimeout(None)
        self.reader = self.sock.makefile("rb")
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting = {}
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.you = self.call({"op": "hello", "v": 1, "player": player, "client": "py-example/1"})["you"]

    def _send(self, msg):
        data = (json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        with self.lock:
            self.sock.sendall(data)

    def _read(self):
        for line in self.reader:
            msg = json.loads(line)
            if msg.get("event") == "ping":
                self._send({"op": "pong", "seq": msg["seq"]})
            elif "event" in msg:
                self.events.put(msg)
            else:
                q = self.waiting.pop(msg.get("id"), None)
                if q is not None:
                    q.put(msg)
        self.events.put({"event": "error", "error": "connection lost"})

    def call(self, req):
        with self.lock:
            self.next_id += 1
            req["id"] = self.next_id
        q = queue.Queue(1)
        self.waiting[req["id"]] = q
        self._send(req)
        reply = q.get(timeout=TIMEOUT)
        if not reply["ok"]:
            raise RuntimeError(reply["error"]["code"] + ": " + reply["error"]["message"])
        return reply


def main():
    addr, game, game_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    player = sys.argv[4] if len(sys.argv) > 4 else "py"
    c = Client(addr, player)
    try:
        r = c.call({"op": "quick_join", "game": game, "port": game_port})
        kind = "joined"
    except RuntimeError as e:
        if not str(e).startswith("no_open_lobby"):
            raise
        r = c.call({"op": "create", "game": game, "name": player + "'s lobby", "capacity": 2, "port": game_port})
        kind = "created"
    print(json.dumps({"event": kind, "lobby": r["lobby"], "you": r["you"], "peers": r["peers"]}), flush=True)
    while True:
        ev = c.events.get(timeout=10)
        print(json.dumps(ev), flush=True)
        if ev["event"] in ("member_joined", "member_left", "error"):
            return


if __name__ == "__main__":
    main()
