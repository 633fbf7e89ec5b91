"""``python -m lanlobby list``: the lobbies on the LAN (by beacon), or a
coordinator's (``--coordinator ADDR``). A smoke test of the SDK."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import List, Optional

from . import lan
from .client import DEFAULT_TIMEOUT, Client
from .errors import LobbyError
from .match import Filter


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lanlobby", description="lanlobby SDK for Python")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="the lobbies on the LAN, or a coordinator's")
    ls.add_argument("--game", default="", help="only this game")
    ls.add_argument("--coordinator", "-c", default="", help="ask this coordinator (host:port) instead of the LAN")
    ls.add_argument("--interface", "-i", action="append", default=[], help="interface(s) to browse on")
    ls.add_argument("--lan-key", default="", help="shared LAN passphrase (signed beacons and TXT records only)")
    ls.add_argument("--no-mdns", action="store_true", help="the beacon alone (no mDNS/DNS-SD query)")
    ls.add_argument("--timeout", type=float, default=lan.DEFAULT_LIST_TIMEOUT, help="longest wait, seconds")
    ls.add_argument("--json", action="store_true", help="one JSON object per lobby")
    ls.add_argument("--filter", "-f", action="append", default=[], metavar="KEY=VALUE",
                    help="only lobbies with this metadata (repeatable)")
    ls.add_argument("--game-version", default="", help="only lobbies of this game version")
    ls.add_argument("--version-rule", default="exact", choices=("exact", "compatible"),
                    help="how --game-version compares: exact, or compatible (same major.minor)")
    a = ap.parse_args(argv)
    try:
        a.match = Filter(version=a.game_version, version_rule=a.version_rule if a.game_version else "",
                         meta=dict(kv.split("=", 1) for kv in a.filter))
    except ValueError:
        print("lanlobby: --filter takes KEY=VALUE", file=sys.stderr)
        return 2
    try:
        rows = asyncio.run(_list(a))
    except (LobbyError, OSError) as e:
        print(f"lanlobby: {e}", file=sys.stderr)
        return 1
    for r in rows:
        if a.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            print(f"{r['id']:<12} {r['game']:<12} {r['players']}/{r['capacity']} {r['state']:<8} "
                  f"{r.get('addr', ''):<22} {r['version'] or '-':<8} {r['name']}")
    return 0


async def _list(a: argparse.Namespace) -> List[dict]:
    if a.coordinator:
        c = await Client.connect(a.coordinator, timeout=min(a.timeout, DEFAULT_TIMEOUT) if a.timeout > 0 else DEFAULT_TIMEOUT)
        try:
            return [{"id": l.id, "game": l.game, "name": l.name, "players": l.players, "capacity": l.capacity,
                     "state": l.state, "addr": a.coordinator, "version": l.version, "meta": l.meta}
                    for l in await c.list(a.game, filter=a.match)]
        finally:
            await c.close()
    found = await lan.list_lobbies(a.game, interfaces=a.interface, lan_key=a.lan_key or None, timeout=a.timeout,
                                   mdns=not a.no_mdns, filter=a.match)
    return [{"id": l.id, "game": l.game, "name": l.name, "players": l.players, "capacity": l.capacity,
             "state": l.state, "addr": l.addr, "rtt_ms": round(l.rtt * 1000, 3), "source": l.source,
             "version": l.version, "meta": l.meta} for l in found]


if __name__ == "__main__":
    sys.exit(main())
