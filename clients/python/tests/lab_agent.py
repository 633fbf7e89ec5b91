"""Lab agent for the Go lab tests (discovery on $LANLOBBY_INTERFACE), until
killed (at most LIFETIME seconds):

    python3 lab_agent.py quickjoin GAME PORT [LANKEY]
        quick-join on the LAN by beacon, print the join as one JSON line, then
        each event;
    python3 lab_agent.py host GAME NAME PORT
        host with no set-up (a daemon on the LAN, else the lanlobby binary as a
        child: $LANLOBBY_BIN, beside this script, PATH), print the lobby and
        the child as one JSON line, then each event.
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


async def events(client) -> None:
    end = asyncio.get_running_loop().time() + LIFETIME
    while asyncio.get_running_loop().time() < end:
        ev = await client.next_event(0.1)
        if ev is not None:
            out(event=ev.kind, member=ev.member.addr if ev.member else "", players=ev.lobby.players if ev.lobby else 0)


async def host(argv):
    game, name, port = argv[2], argv[3], int(argv[4])
    try:
        h = await lanlobby.host(game, name, 4, port=port, player="py-host")
    except lanlobby.LobbyError as e:
        out(event="error", error=str(e))
        return 1
    out(event="hosted", lobby=h.lobby_id, coordinator=h.coordinator, you=h.joined.you.addr,
        child_pid=h.process.proc.pid if h.process else 0, listen=h.process.listen_addr if h.process else "")
    await events(h.client)
    await h.close()
    return 0


async def main(argv):
    if argv[1] == "host":
        return await host(argv)
    game, port = argv[2], int(argv[3])
    key = argv[4] if len(argv) > 4 else None
    try:
        j = await lanlobby.quick_join(game, port=port, player="py", lan_key=key, quiet=0.3, list_timeout=3)
    except lanlobby.LobbyError as e:
        out(event="error", error=str(e))
        return 1
    out(event="joined", lobby=j.joined.lobby.id, coordinator=j.lobby.addr, peers=[p.addr for p in j.joined.peers],
        you=j.joined.you.addr)
    await events(j.client)
    await j.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
