"""Lab agent for the Go lab tests: quick-join on the LAN by beacon (discovery
on $LANLOBBY_INTERFACE), print the join as one JSON line, then each event,
until killed (at most LIFETIME seconds).

    python3 lab_agent.py quickjoin GAME PORT [LANKEY]
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import lanlobby  # noqa: E402

LIFETIME = 30.0


def out(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


async def main(argv):
    game, port = argv[2], int(argv[3])
    key = argv[4] if len(argv) > 4 else None
    try:
        j = await lanlobby.quick_join(game, port=port, player="py", lan_key=key, quiet=0.3, list_timeout=3)
    except lanlobby.LobbyError as e:
        out(event="error", error=str(e))
        return 1
    out(event="joined", lobby=j.joined.lobby.id, coordinator=j.lobby.addr, peers=[p.addr for p in j.joined.peers],
        you=j.joined.you.addr)
    end = asyncio.get_running_loop().time() + LIFETIME
    while asyncio.get_running_loop().time() < end:
        ev = await j.client.next_event(0.1)
        if ev is not None:
            out(event=ev.kind, member=ev.member.addr if ev.member else "", players=ev.lobby.players if ev.lobby else 0)
    await j.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
