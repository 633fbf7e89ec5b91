"""Hosting without a daemon: run the ``lanlobby`` binary shipped beside the
game as a child process, in host mode:

    lanlobby coordinator --host-mode --json [--interface IF ...] [--lan-key K]

It runs a coordinator for this game's own lobbies on a free port (every
address, IPv4 and IPv6), announces its lobbies on the LAN (beacon and mDNS)
but not itself, closes them when it exits, prints
``{"event":"listening","addr":"[::]:41234","port":41234,...}`` when ready,
and exits when its standard input reaches end of file (the game closed the
pipe, or died: the kernel closes it then, also after kill -9) or, on Linux,
when its parent process dies. The SDK keeps the pipe open for the game's
life.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from typing import List, Optional, Sequence

from .client import split_addr
from .errors import LobbyError

#: How long the child may take to print its listening line.
READY_TIMEOUT = 5.0
#: Name of the binary shipped beside the game.
BINARY_NAME = "lanlobby.exe" if sys.platform == "win32" else "lanlobby"
#: Environment variable naming the binary explicitly.
ENV_BINARY = "LANLOBBY_BIN"


def find_binary(explicit: Optional[str] = None) -> str:
    """The lanlobby binary: explicit, $LANLOBBY_BIN, beside the game's main
    script or executable, or on PATH."""
    for cand in (explicit, os.environ.get(ENV_BINARY)):
        if cand:
            return cand
    dirs = [os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else "",
            os.path.dirname(os.path.abspath(sys.executable))]
    for d in dirs:
        p = os.path.join(d, BINARY_NAME)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    p = shutil.which(BINARY_NAME)
    if p:
        return p
    raise LobbyError(f"no {BINARY_NAME} binary beside the game, in ${ENV_BINARY} or on PATH")


def host_mode_args(interfaces: Sequence[str] = (), lan_key: str = "", listen: str = "",
                   beacon_port: Optional[int] = None) -> List[str]:
    """The child's command line: host mode, JSON output; listen ("" for any
    free port on every address) and the LAN settings of the game."""
    args = ["coordinator", "--host-mode", "--json"]
    if listen:
        args += ["--listen", listen]
    if beacon_port is not None:
        args += ["--beacon-port", str(beacon_port)]
    for i in interfaces:
        args += ["--interface", i]
    if lan_key:
        args += ["--lan-key", lan_key]
    return args


class CoordinatorProcess:
    """A coordinator child process. ``addr`` is where to dial it (loopback)."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, listen_addr: str) -> None:
        self.proc = proc
        self.port = port
        self.listen_addr = listen_addr
        self.addr = f"127.0.0.1:{port}"

    @classmethod
    async def start(cls, binary: Optional[str] = None, args: Optional[Sequence[str]] = None, *,
                    ready_timeout: float = READY_TIMEOUT, env: Optional[dict] = None) -> "CoordinatorProcess":
        exe = find_binary(binary)
        argv = list(args) if args is not None else host_mode_args()
        proc = await asyncio.create_subprocess_exec(exe, *argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL, env=env)
        try:
            port, addr = await asyncio.wait_for(cls._listening(proc), ready_timeout)
        except asyncio.TimeoutError:
            await _kill(proc)
            raise LobbyError(f"{exe} printed no listening line within {ready_timeout}s") from None
        except BaseException:
            await _kill(proc)
            raise
        c = cls(proc, port, addr)
        # Keep reading stdout so the child never blocks on a full pipe.
        c._drain = asyncio.get_running_loop().create_task(c._discard())
        return c

    @staticmethod
    async def _listening(proc: asyncio.subprocess.Process):
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise LobbyError(f"coordinator exited before listening (status {await proc.wait()})")
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if isinstance(m, dict) and m.get("event") == "listening":
                port = m.get("port")
                addr = str(m.get("addr") or "")
                if not isinstance(port, int) or isinstance(port, bool):
                    port = split_addr(addr)[1]
                return port, addr

    async def _discard(self) -> None:
        assert self.proc.stdout is not None
        try:
            while await self.proc.stdout.read(4096):
                pass
        except Exception:
            pass

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def stop(self, timeout: float = 5.0) -> Optional[int]:
        """Close its stdin (it ends its lobbies and exits), kill it if it has
        not exited within timeout. Returns its exit status."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            await _kill(self.proc)
        return self.proc.returncode

    async def kill(self) -> None:
        await _kill(self.proc)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    await proc.wait()
