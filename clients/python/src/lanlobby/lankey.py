"""The LAN key (PROTOCOL.md, "Signed beacons"): a shared passphrase stretched
once with PBKDF2-HMAC-SHA256 (600,000 iterations), then one subkey per use.

Derivation is deliberately slow (about 0.3 s in CPython, which uses OpenSSL's
PBKDF2), so derived keys are cached per passphrase: in memory always, and on
disk in the user's cache directory when asked (``disk_cache=True``; the file
is readable by its owner only and holds the derived key, which is as good
as the passphrase for signing on the LAN).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sys
import threading
from typing import Dict, Optional

KDF_SALT = b"lanlobby LAN key v1"
KDF_ITERATIONS = 600_000
MAC_SIZE = 16

_cache: Dict[bytes, bytes] = {}
_cache_lock = threading.Lock()


def _cache_dir() -> str:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "lanlobby", "lan-keys")


def _slot(passphrase: bytes) -> str:
    # Names the cache file. It is a fast hash of the passphrase: whoever can
    # list the owner's cache directory can test guesses cheaply; that is why
    # the disk cache is opt-in.
    return hashlib.sha256(KDF_SALT + b"\x00cache\x00" + passphrase).hexdigest()[:32]


class LanKey:
    """A derived LAN key. Never prints the secret."""

    __slots__ = ("_master", "_subkeys")

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("LAN key master must be 32 bytes")
        self._master = master
        self._subkeys: Dict[str, bytes] = {}

    @classmethod
    def derive(cls, passphrase: str, *, cache: bool = True, disk_cache: bool = False,
               iterations: int = KDF_ITERATIONS) -> "LanKey":
        """Derive the key of a passphrase (any non-empty UTF-8 string)."""
        if not passphrase:
            raise ValueError("empty LAN key passphrase")
        pw = passphrase.encode("utf-8")
        ident = pw + b"\x00" + str(iterations).encode()
        if cache:
            with _cache_lock:
                m = _cache.get(ident)
            if m is not None:
                return cls(m)
        m = _read_disk(pw) if disk_cache and iterations == KDF_ITERATIONS else None
        if m is None:
            m = hashlib.pbkdf2_hmac("sha256", pw, KDF_SALT, iterations, 32)
            if disk_cache and iterations == KDF_ITERATIONS:
                _write_disk(pw, m)
        if cache:
            with _cache_lock:
                _cache[ident] = m
        return cls(m)

    @property
    def master(self) -> bytes:
        return self._master

    def subkey(self, label: str) -> bytes:
        """HKDF-Expand-SHA256(master, label, 32) = HMAC(master, label || 0x01)."""
        k = self._subkeys.get(label)
        if k is None:
            k = hmac.new(self._master, label.encode() + b"\x01", hashlib.sha256).digest()
            self._subkeys[label] = k
        return k

    def sign(self, label: str, msg: bytes) -> bytes:
        return hmac.new(self.subkey(label), msg, hashlib.sha256).digest()[:MAC_SIZE]

    def verify(self, label: str, msg: bytes, mac: bytes) -> bool:
        return len(mac) == MAC_SIZE and hmac.compare_digest(self.sign(label, msg), mac)

    def __repr__(self) -> str:
        return "LanKey(set)"


def _read_disk(pw: bytes) -> Optional[bytes]:
    try:
        with open(os.path.join(_cache_dir(), _slot(pw)), "rb") as f:
            data = f.read(64)
    except OSError:
        return None
    return data if len(data) == 32 else None


def _write_disk(pw: bytes, master: bytes) -> None:
    d = _cache_dir()
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        path = os.path.join(d, _slot(pw))
        tmp = path + ".tmp%d" % os.getpid()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(master)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written costs the derivation next time, nothing else
