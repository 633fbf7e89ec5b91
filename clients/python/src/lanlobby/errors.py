"""Errors of the lanlobby SDK.

Every failure is a LobbyError. Errors the coordinator sent carry its stable
``code`` (PROTOCOL.md, "Error codes"); match on the code, not the message.
"""
from __future__ import annotations

# Error codes of the coordinator protocol (PROTOCOL.md). Games branch on them.
BAD_REQUEST = "bad_request"
UNKNOWN_LOBBY = "unknown_lobby"
UNKNOWN_MEMBER = "unknown_member"
LOBBY_FULL = "lobby_full"
LOBBY_STARTED = "lobby_started"
NO_OPEN_LOBBY = "no_open_lobby"
ALREADY_MEMBER = "already_member"
NOT_MEMBER = "not_member"
NOT_OWNER = "not_owner"
BAD_PASSWORD = "bad_password"
RESUME_FAILED = "resume_failed"
TOO_MANY_LOBBIES = "too_many_lobbies"
RATE_LIMITED = "rate_limited"
UNSUPPORTED_VERSION = "unsupported_version"
INVALID_NAME = "invalid_name"
INVALID_GAME = "invalid_game"
INVALID_CAPACITY = "invalid_capacity"
INVALID_ADDRESS = "invalid_address"
INVALID_META = "invalid_meta"
INVALID_PASSWORD = "invalid_password"
# The name registry's codes.
NAME_TAKEN = "name_taken"
ADDR_TAKEN = "addr_taken"
UNKNOWN_NAME = "unknown_name"
TOO_MANY_NAMES = "too_many_names"
# Matchmaking: versions, filters, parties, bans, subscriptions.
INVALID_VERSION = "invalid_version"
INVALID_PLAYER_KEY = "invalid_player_key"
INVALID_FILTER = "invalid_filter"
FILTER_MISMATCH = "filter_mismatch"
BANNED = "banned"
UNKNOWN_RESERVATION = "unknown_reservation"
TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
UNKNOWN_SUBSCRIPTION = "unknown_subscription"
# Restore after a coordinator restart: a seat or ownership without its
# valid credential.
BAD_CREDENTIAL = "bad_credential"


class LobbyError(Exception):
    """Base class of every error the SDK raises."""


class CoordinatorError(LobbyError):
    """The coordinator refused a request: ``code`` says why."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class CallTimeout(LobbyError, TimeoutError):
    """No reply within the call's timeout (DEFAULT_TIMEOUT unless given)."""


class ConnectionLost(LobbyError):
    """The link to the coordinator ended and could not be repaired."""


class LinkDown(LobbyError):
    """The link dropped while a call was in flight; the call may or may not
    have been carried out. The client is reconnecting by itself."""


class Replaced(ConnectionLost):
    """Another connection resumed this client's member identity (it had the
    resume token) while this client's link was open: the coordinator sent
    ``replaced`` and closed the link. The client stops and does not resume in
    turn (the seat would go back and forth)."""


class ClientClosed(LobbyError):
    """The client was closed by its owner."""


class ProtocolError(LobbyError):
    """The peer broke the protocol (undecodable message, bad field)."""


class NotFound(LobbyError):
    """Nothing on the LAN matched (no lobby of that name or id, no open
    lobby of the game): ``code`` is unknown_lobby or no_open_lobby."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
