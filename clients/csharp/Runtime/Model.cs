// What the coordinator protocol carries (PROTOCOL.md): members, the lobby
// state block, join replies, notices; and the SDK's errors.
using System;
using System.Collections.Generic;

namespace LanLobby
{
    public sealed class Member
    {
        public string Id = "";
        public string Name = "";
        /// <summary>The member's game address, "ip:port", as the others see it.</summary>
        public string Addr = "";

        internal static Member From(Dictionary<string, object> d)
        {
            return new Member { Id = J.Str(d, "id"), Name = J.Str(d, "name"), Addr = J.Str(d, "addr") };
        }

        internal static List<Member> List(List<object> l)
        {
            var out_ = new List<Member>();
            if (l != null)
                foreach (var x in l)
                {
                    var d = x as Dictionary<string, object>;
                    if (d != null) out_.Add(From(d));
                }
            return out_;
        }

        public override string ToString() { return Name + "(" + Id + ")@" + Addr; }
    }

    /// <summary>The lobby state block every reply and notice carries.</summary>
    public sealed class LobbyInfo
    {
        public string Id = "", Game = "", Name = "", State = "", Owner = "", Successor = "";
        public int Players, Capacity;
        public Dictionary<string, string> Meta = new Dictionary<string, string>();
        public bool Private;
        /// <summary>It starts by itself when its last seat is taken.</summary>
        public bool AutoStart;
        /// <summary>The game version filters compare ("" for none).</summary>
        public string Version = "";
        /// <summary>Seats held for players yet to come (a party, invited players).</summary>
        public int Reserved;
        /// <summary>When the lobby was made, ms since 1970 UTC (0 when not told).</summary>
        public long CreatedMs;
        /// <summary>The metadata keys its host advertises on the LAN.</summary>
        public List<string> Filterable = new List<string>();
        /// <summary>How often the lobby changed coordinator (a takeover or a
        /// move): the higher term wins when two coordinators hold the same lobby.</summary>
        public long Term;
        /// <summary>Where the lobby's successor would serve it if the
        /// coordinator were lost (its standby address; "" when none): a member goes there.</summary>
        public string SuccessorAddr = "";

        /// <summary>Seats neither taken nor reserved.</summary>
        public int Free { get { return Capacity - Players - Reserved; } }

        internal static LobbyInfo From(Dictionary<string, object> d)
        {
            var l = new LobbyInfo
            {
                Id = J.Str(d, "lobby"), Game = J.Str(d, "game"), Name = J.Str(d, "name"), State = J.Str(d, "state"),
                Owner = J.Str(d, "owner"), Successor = J.Str(d, "successor"), Players = (int)J.Int(d, "players"),
                Capacity = (int)J.Int(d, "capacity"), Private = J.Bool(d, "private"), AutoStart = J.Bool(d, "auto_start"),
                Version = J.Str(d, "version"), Reserved = (int)J.Int(d, "reserved"), CreatedMs = J.Int(d, "created_ms"),
                Term = J.Int(d, "term"), SuccessorAddr = J.Str(d, "successor_addr"),
            };
            var m = J.Obj(d, "meta");
            if (m != null)
                foreach (var kv in m)
                    if (kv.Value is string) l.Meta[kv.Key] = (string)kv.Value;
            var f = J.Arr(d, "filterable");
            if (f != null)
                foreach (var x in f)
                    if (x is string) l.Filterable.Add((string)x);
            return l;
        }

        /// <summary>The lobby as matchmaking reads it (a coordinator's block carries all its metadata).</summary>
        public Candidate Candidate()
        {
            return new Candidate { Id = Id, Game = Game, Version = Version, Open = State == "open" && Free > 0, Free = Free,
                CreatedMs = CreatedMs, Meta = Meta };
        }

        internal bool Same(LobbyInfo o)
        {
            if (Id != o.Id || Game != o.Game || Name != o.Name || State != o.State || Owner != o.Owner || Successor != o.Successor ||
                Players != o.Players || Capacity != o.Capacity || Private != o.Private || AutoStart != o.AutoStart || Version != o.Version ||
                Reserved != o.Reserved || CreatedMs != o.CreatedMs || Term != o.Term || SuccessorAddr != o.SuccessorAddr || Meta.Count != o.Meta.Count || Filterable.Count != o.Filterable.Count)
                return false;
            foreach (var kv in Meta)
            {
                string v;
                if (!o.Meta.TryGetValue(kv.Key, out v) || v != kv.Value) return false;
            }
            for (int i = 0; i < Filterable.Count; i++)
                if (Filterable[i] != o.Filterable[i]) return false;
            return true;
        }
    }

    /// <summary>The answer to create, join and quick-join: every peer in one round trip.</summary>
    public sealed class Joined
    {
        public LobbyInfo Lobby;
        public Member You;
        /// <summary>The other members, longest present first.</summary>
        public List<Member> Peers;
        /// <summary>Invite code of a private lobby created without a password.</summary>
        public string Invite = "";
        /// <summary>The seats held for this player's party (a join with Seats
        /// > 1; null otherwise): hand Reservation.Token and the lobby id to the party.</summary>
        public Reservation Reservation;
    }

    /// <summary>Kinds of LobbyEvent: the coordinator's notices and the client's own events.</summary>
    public static class EventKind
    {
        public const string MemberJoined = "member_joined";
        public const string MemberLeft = "member_left";
        public const string MemberAway = "member_away";
        public const string MemberBack = "member_back";
        public const string OwnerChanged = "owner_changed";
        public const string Started = "started";
        public const string Closed = "closed";
        public const string LobbyUpdated = "lobby_updated";
        /// <summary>The link dropped and was resumed: seats kept, missed notices follow.</summary>
        public const string Resumed = "resumed";
        /// <summary>The coordinator restarted; the client restored this lobby on it.</summary>
        public const string CoordinatorRestarted = "coordinator_restarted";
        /// <summary>The link is lost for good (Error says why); the last event.</summary>
        public const string Error = "error";
        /// <summary>After a coordinator restart a registered name (Name) could not
        /// be registered again; Reason is the error code (e.g. name_taken).</summary>
        public const string NameLost = "name_lost";
        /// <summary>The link was down past the coordinator's resume grace (the
        /// others were told member_left); the same coordinator took the client
        /// back into this lobby as a new member (the others got member_joined).</summary>
        public const string Rejoined = "rejoined";
        /// <summary>Seats reserved in this lobby were released unclaimed
        /// (ReservationId, Released); the lobby block says what is free now.</summary>
        public const string ReservationExpired = "reservation_expired";
        /// <summary>A subscription's view (Subscription): a lobby began to match it
        /// (also each lobby of a snapshot), changed while matching (LobbyUpdated
        /// with Subscription set), or stopped matching (closed: State "closed").</summary>
        public const string LobbyAdded = "lobby_added";
        public const string LobbyRemoved = "lobby_removed";
        /// <summary>A subscription's snapshot is complete: its Lobbies are the coordinator's.</summary>
        public const string Synced = "synced";
        /// <summary>The coordinator ended a subscription (Reason slow_consumer);
        /// the client subscribes again by itself and tells what changed meanwhile.</summary>
        public const string Unsubscribed = "unsubscribed";
        /// <summary>Reason of a closed event for a lobby that could not be restored.</summary>
        public const string ReasonCoordinatorLost = "coordinator_lost";
        /// <summary>The link to the coordinator dropped, told at once (one per
        /// lobby; one without a lobby when the client is in none): Next says what
        /// the client does about it (NextKind), Reason why the link dropped.</summary>
        public const string CoordinatorLost = "coordinator_lost";
        /// <summary>Still reconnecting, about once a second: Attempt, Elapsed and
        /// the coordinator being tried (Addr).</summary>
        public const string Reconnecting = "reconnecting";
        /// <summary>The lobby's coordinator was lost and its successor took the
        /// lobby over: Member is the owner that departed (Reason why), Lobby the
        /// lobby now (its new owner and term), Peers the other members now. The
        /// client is on the successor's coordinator already.</summary>
        public const string TakenOver = "taken_over";
        /// <summary>The lobby lives on at another coordinator (Addr) under a
        /// higher term (its owner moved it to a daemon, or another coordinator
        /// took it over); the client follows it there by itself, keeping its
        /// seat. Nothing else is told.</summary>
        public const string CoordinatorMoved = "coordinator_moved";
    }

    /// <summary>What the client does after losing its coordinator (LobbyEvent.Next of CoordinatorLost).</summary>
    public static class NextKind
    {
        /// <summary>It reconnects to the same coordinator (resume, or restore after a restart).</summary>
        public const string Resuming = "resuming";
        /// <summary>It moves to the coordinator of the lobby's successor, which takes it over.</summary>
        public const string FailingOver = "failing_over";
        /// <summary>It is the lobby's successor and runs a coordinator for it (the
        /// Go client only: an SDK client registers no standby port, so it is never this).</summary>
        public const string TakingOver = "taking_over";
        /// <summary>It follows its lobby to another coordinator (CoordinatorMoved).</summary>
        public const string Moving = "moving";
        /// <summary>It cannot get its lobbies back; an Error event follows.</summary>
        public const string GivingUp = "giving_up";
    }

    public sealed class LobbyEvent
    {
        public string Kind = "";
        public LobbyInfo Lobby;
        public Member Member;
        public string Reason = "";
        public List<Member> Peers = new List<Member>();
        public Exception Error;
        /// <summary>NameLost: the registered name.</summary>
        public string Name = "";
        /// <summary>MemberLeft: a kick that banned the member.</summary>
        public bool Banned;
        /// <summary>ReservationExpired: the reservation and how many of its seats went back unclaimed.</summary>
        public string ReservationId = "";
        public int Released;
        /// <summary>CoordinatorLost: what the client does next (NextKind).</summary>
        public string Next = "";
        /// <summary>CoordinatorMoved: where the lobby is now; Reconnecting: the coordinator being tried.</summary>
        public string Addr = "";
        /// <summary>Reconnecting: attempts so far, and the time since the link dropped.</summary>
        public int Attempt;
        public TimeSpan Elapsed;
        /// <summary>Subscription events (LobbyAdded, LobbyUpdated, LobbyRemoved,
        /// Synced, Unsubscribed): the subscription; null for lobby notices.</summary>
        public Subscription Subscription;

        public override string ToString()
        {
            return Kind + (Lobby != null ? " " + Lobby.Id : "") + (Member != null ? " " + Member : "") +
                   (Reason != "" ? " (" + Reason + ")" : "");
        }
    }

    /// <summary>Base of every error the SDK throws.</summary>
    public class LobbyException : Exception
    {
        public LobbyException(string message) : base(message) { }
    }

    /// <summary>The coordinator refused a request: Code is its stable error code.</summary>
    public sealed class CoordinatorException : LobbyException
    {
        public readonly string Code;
        public CoordinatorException(string code, string message) : base(code + (message != "" ? ": " + message : "")) { Code = code; }
    }

    /// <summary>No reply within the call's timeout.</summary>
    public sealed class CallTimeoutException : LobbyException
    {
        public CallTimeoutException(string message) : base(message) { }
    }

    /// <summary>The link to the coordinator ended and could not be repaired.</summary>
    public sealed class ConnectionLostException : LobbyException
    {
        public ConnectionLostException(string message) : base(message) { }
    }

    /// <summary>The link dropped during the call; the client is reconnecting.</summary>
    public sealed class LinkDownException : LobbyException
    {
        public LinkDownException(string message) : base(message) { }
    }

    /// <summary>Another connection resumed this client's member identity (it had
    /// the resume token) while this client's link was open: the coordinator sent
    /// replaced and closed the link. The client stops and does not resume in
    /// turn (the seat would go back and forth).</summary>
    public sealed class ReplacedException : LobbyException
    {
        public ReplacedException(string message) : base(message) { }
    }

    public sealed class ClientClosedException : LobbyException
    {
        public ClientClosedException() : base("client closed") { }
    }

    /// <summary>Nothing on the LAN matched: Code is unknown_lobby or no_open_lobby.</summary>
    public sealed class NotFoundException : LobbyException
    {
        public readonly string Code;
        public NotFoundException(string code, string message) : base(message + " (" + code + ")") { Code = code; }
    }

    /// <summary>The coordinator's error codes a game branches on (PROTOCOL.md).
    /// Codes are strings: a code added later arrives as is.</summary>
    public static class ErrorCode
    {
        public const string UnknownLobby = "unknown_lobby", LobbyFull = "lobby_full", LobbyStarted = "lobby_started",
            NoOpenLobby = "no_open_lobby", NotOwner = "not_owner", BadPassword = "bad_password",
            ResumeFailed = "resume_failed", AlreadyMember = "already_member", NotMember = "not_member",
            UnknownMember = "unknown_member", BadRequest = "bad_request", RateLimited = "rate_limited",
            InvalidName = "invalid_name", InvalidGame = "invalid_game", InvalidCapacity = "invalid_capacity",
            InvalidAddress = "invalid_address", InvalidMeta = "invalid_meta", InvalidPassword = "invalid_password",
            TooManyLobbies = "too_many_lobbies",
            // The name registry.
            NameTaken = "name_taken", AddrTaken = "addr_taken", UnknownName = "unknown_name", TooManyNames = "too_many_names",
            // Matchmaking: versions, filters, parties, bans, subscriptions.
            InvalidVersion = "invalid_version", InvalidPlayerKey = "invalid_player_key", InvalidFilter = "invalid_filter",
            FilterMismatch = "filter_mismatch", Banned = "banned", UnknownReservation = "unknown_reservation",
            TooManySubscriptions = "too_many_subscriptions", UnknownSubscription = "unknown_subscription",
            // Restore after a coordinator restart: a seat or ownership without its valid credential.
            BadCredential = "bad_credential";
    }
}
