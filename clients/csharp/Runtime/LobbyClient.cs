// The coordinator client (PROTOCOL.md, "The coordinator protocol").
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    public sealed class ClientOptions
    {
        /// <summary>This player's display name (at most 64 bytes of UTF-8).</summary>
        public string Player = "";
        /// <summary>Every call gives up after this (default LobbyClient.DefaultTimeout, 5 s).</summary>
        public TimeSpan Timeout = LobbyClient.DefaultTimeout;
        /// <summary>Added to heartbeat x (misses + 1) before a silent coordinator counts as gone.</summary>
        public TimeSpan DeadLinkSlack = TimeSpan.FromMilliseconds(LobbyClient.DeadLinkSlackMs);
        /// <summary>Events kept for a game that does not drain them; past it the oldest go.</summary>
        public int MaxPendingEvents = LobbyClient.DefaultMaxPendingEvents;
        /// <summary>This player's stable key, sent in hello (null: PlayerKey.Process,
        /// one per process; "": none): lets an owner's ban and a party leader's
        /// named seats know the player again (PROTOCOL.md, "Bans"). Keep one with
        /// the game's settings (or PlayerKey.Stored()) to be known after a restart.</summary>
        public string PlayerKey;

        internal string Key { get { return PlayerKey ?? LanLobby.PlayerKey.Process; } }
    }

    /// <summary>Where this player's game listens: Port (paired with the address
    /// the coordinator sees) or a full Addr "ip:port"; Password for a private lobby.</summary>
    public class JoinOptions
    {
        public int Port;
        public string Addr = "";
        public string Password = "";
        /// <summary>What the lobby must pass: a quick-join picks among the
        /// lobbies that do; a join of one that does not gets filter_mismatch.</summary>
        public Filter Filter;
        /// <summary>Seats to take (0 or 1: this player's): Seats-1 more are reserved
        /// in the same lobby for this player's party, all at once or none
        /// (Joined.Reservation). At most Matchmaking.MaxPartySeats.</summary>
        public int Seats;
        /// <summary>Player keys of party members the reserved seats are held for:
        /// they get in by joining, without the token.</summary>
        public List<string> Party;
        /// <summary>Claims a seat reserved for this player with the token its
        /// party's leader (or the lobby's owner) handed out.</summary>
        public string Reservation = "";
    }

    public sealed class CreateOptions : JoinOptions
    {
        public string Game = "";
        public string Name = "";
        /// <summary>Players needed to start, 2-64.</summary>
        public int Capacity;
        public Dictionary<string, string> Meta;
        /// <summary>Joinable by id and password only; without a Password the
        /// coordinator makes an invite code (Joined.Invite).</summary>
        public bool Private;
        /// <summary>Start by itself when its last seat (Capacity) is taken;
        /// without, the owner starts it.</summary>
        public bool AutoStart;
        /// <summary>The game version players' filters compare ("" for none).</summary>
        public string Version = "";
        /// <summary>The keys of Meta to advertise on the LAN, most important first,
        /// so that LAN filters see them (at most 8 of a-z 0-9 - _ .; the beacon
        /// and mDNS carry the first 4 that fit in 72 bytes).</summary>
        public List<string> Filterable;
    }

    /// <summary>
    /// A member's connection to a coordinator. Calls are async with a timeout
    /// each; heartbeats are answered on the SDK's own thread; notices queue up
    /// in Events for the game to drain on its main thread (DrainEvents once a
    /// frame): no callback ever runs on a socket thread. When the link drops
    /// the client reconnects by itself: it resumes its seats after a blip, or
    /// restores its lobbies on a restarted coordinator.
    /// </summary>
    public sealed partial class LobbyClient : IDisposable
    {
        public const int DefaultTimeoutMs = 5000;
        /// <summary>Every call gives up after this unless told otherwise.</summary>
        public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(DefaultTimeoutMs);
        public const int DefaultPort = 7600;
        public const int ProtocolVersion = 1;
        public const string ClientName = "lanlobby-cs/0.1";
        /// <summary>Longest line accepted from the coordinator.</summary>
        public const int MaxLine = 65536;
        public const int DefaultMaxPendingEvents = 4096;
        public const int DeadLinkSlackMs = 250;
        /// <summary>Longest one reconnect dial may take.</summary>
        public const int ReconnectDialTimeoutMs = 2000;
        /// <summary>A write blocked this long breaks the link.</summary>
        public const int WriteTimeoutMs = 2000;
        /// <summary>Reads that may give up early in a row before the link counts as broken.</summary>
        const int MaxEarlyTimeouts = 1000;
        /// <summary>The most lobbies ListAsync gathers: a coordinator could otherwise feed pages for ever.</summary>
        public const int MaxListed = 200000;

        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        readonly object mu = new object();
        // The coordinator this client talks to now: the one it connected to,
        // or the one it followed its lobby to (a takeover, a move); under mu.
        string addr;
        readonly ClientOptions opt;
        readonly Dictionary<long, Pending> pending = new Dictionary<long, Pending>();
        readonly Dictionary<string, Membership> lobbies = new Dictionary<string, Membership>();
        // Names this client holds in the name registry (name -> room address),
        // registered again after a coordinator restart.
        readonly Dictionary<string, string> names = new Dictionary<string, string>();
        readonly CancellationTokenSource quit = new CancellationTokenSource();
        readonly TaskCompletionSource<bool> lost = NewTcs<bool>();
        TaskCompletionSource<bool> ready = NewTcs<bool>();
        Link link;
        long nextId;
        Member you = new Member();
        string token = "";
        TimeSpan heartbeat, grace;
        int misses;
        string server = "";
        // The coordinator's instance identity (hello, resume, restore): a new
        // one after a restart.
        string instance = "";
        Exception err;
        // Live subscriptions, and the coordinator's ids routed to them.
        readonly List<Subscription> subs = new List<Subscription>();
        readonly Dictionary<long, Subscription> subsById = new Dictionary<long, Subscription>();

        /// <summary>Notices and the client's own events, for the game to drain.</summary>
        public readonly EventQueue<LobbyEvent> Events;

        sealed class Pending
        {
            public TaskCompletionSource<Dictionary<string, object>> Tcs;
            public Link Link;
            public Action<Dictionary<string, object>> OnReply;
        }

        sealed class Membership
        {
            public bool Owner;
            public LobbyInfo Info;
            public string Addr = "", Password = "";
            // Credential proves the seat to a restarted coordinator;
            // OwnerCredential the ownership, while we own the lobby;
            // LobbySecret checks the members' seat credentials (PROTOCOL.md,
            // "Credentials").
            public string Credential = "", OwnerCredential = "", LobbySecret = "";
            // The other members in join order, as the replies and notices told.
            public List<Member> Peers = new List<Member>();
        }

        sealed class Link
        {
            public TcpClient Tcp;
            public NetworkStream Stream;
            // The coordinator it was dialled to.
            public string Addr = "";
            public readonly TaskCompletionSource<bool> Down = NewTcs<bool>();
            readonly object wmu = new object();

            public void Send(Dictionary<string, object> msg)
            {
                byte[] b = Utf8.GetBytes(Json.Serialize(msg) + "\n");
                lock (wmu)
                {
                    if (Down.Task.IsCompleted) throw new LinkDownException("link to coordinator is down");
                    try { Stream.Write(b, 0, b.Length); }
                    catch (Exception e)
                    {
                        Abort();
                        throw new LinkDownException("cannot write to coordinator: " + e.Message);
                    }
                }
            }

            // The silence after which the link counts as dead, and since when
            // it has been silent.
            public long IdleMs;
            public readonly System.Diagnostics.Stopwatch Silent = System.Diagnostics.Stopwatch.StartNew();

            public void SetIdle(TimeSpan t)
            {
                IdleMs = (long)Math.Max(1, t.TotalMilliseconds);
                try { Tcp.Client.ReceiveTimeout = (int)IdleMs; } catch (Exception) { }
            }

            public void Abort()
            {
                try { Tcp.Close(); } catch (Exception) { }
            }
        }

        static TaskCompletionSource<T> NewTcs<T>() { return new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously); }

        LobbyClient(string addr, ClientOptions opt)
        {
            this.addr = addr;
            this.opt = opt;
            Events = new EventQueue<LobbyEvent>(opt.MaxPendingEvents);
            you.Name = opt.Player ?? "";
        }

        /// <summary>Connects to the coordinator at addr ("host:port"; port 7600
        /// when omitted) and completes hello, within options.Timeout.</summary>
        public static async Task<LobbyClient> ConnectAsync(string addr, ClientOptions options = null,
            CancellationToken ct = default(CancellationToken))
        {
            var c = new LobbyClient(addr, options ?? new ClientOptions());
            var deadline = Clock.Now + c.opt.Timeout;
            try
            {
                var l = await c.DialAsync(c.opt.Timeout, ct).ConfigureAwait(false);
                lock (c.mu) c.link = l;
                var hello = Req("hello", "v", ProtocolVersion, "client", ClientName, "player", c.opt.Player ?? "");
                if (c.opt.Key != "") hello["key"] = c.opt.Key;
                var reply = await c.CallOnAsync(l, hello, deadline, null, ct).ConfigureAwait(false);
                c.Adopt(l, reply);
            }
            catch
            {
                c.Dispose();
                throw;
            }
            c.ready.TrySetResult(true);
            return c;
        }

        public string MemberId { get { lock (mu) return you.Id; } }
        /// <summary>The resume token (a secret: the tests take a seat over with it).</summary>
        internal string ResumeToken { get { lock (mu) return token; } }
        public Member You { get { lock (mu) return you; } }
        public TimeSpan Heartbeat { get { lock (mu) return heartbeat; } }
        public int Misses { get { lock (mu) return misses; } }
        public string Server { get { lock (mu) return server; } }
        /// <summary>The coordinator's instance identity: another one after it restarted.</summary>
        public string Instance { get { lock (mu) return instance; } }
        /// <summary>The player key this client sent in hello ("" for none).</summary>
        public string PlayerKey { get { return opt.Key; } }
        /// <summary>Null while the client works (also while reconnecting), then why it stopped.</summary>
        public Exception Error { get { lock (mu) return err; } }
        public bool IsConnected { get { lock (mu) return err == null && ready.Task.IsCompleted; } }

        /// <summary>Ids of the lobbies this client is in.</summary>
        public List<string> Lobbies { get { lock (mu) return new List<string>(lobbies.Keys); } }

        /// <summary>The other members of a lobby this client is in, in join
        /// order, as the join reply and the notices since told (empty when not
        /// in it). A game that does not follow the events reads the current
        /// peer list here.</summary>
        public List<Member> Peers(string lobbyId)
        {
            lock (mu)
            {
                Membership m;
                return lobbies.TryGetValue(lobbyId, out m) ? new List<Member>(m.Peers) : new List<Member>();
            }
        }

        /// <summary>The names this client holds in the name registry (name → room address).</summary>
        public Dictionary<string, string> Names { get { lock (mu) return new Dictionary<string, string>(names); } }

        /// <summary>Hands the waiting events to handler on the caller's thread
        /// (a game's main thread, once a frame). Returns how many.</summary>
        public int DrainEvents(Action<LobbyEvent> handler, int max = int.MaxValue) { return Events.Drain(handler, max); }

        /// <summary>The next event within timeout, or null.</summary>
        public Task<LobbyEvent> NextEventAsync(TimeSpan timeout, CancellationToken ct = default(CancellationToken))
        {
            return Events.NextAsync(timeout, ct);
        }

        // ---- calls -------------------------------------------------------------

        public Task<Joined> CreateAsync(CreateOptions o, CancellationToken ct = default(CancellationToken))
        {
            var req = Req("create", "game", o.Game, "name", o.Name, "capacity", o.Capacity);
            Endpoint(req, o);
            if (o.Meta != null && o.Meta.Count > 0) req["meta"] = new Dictionary<string, string>(o.Meta);
            if (o.Private) req["private"] = true;
            if (o.AutoStart) req["auto_start"] = true;
            if (!string.IsNullOrEmpty(o.Version)) req["version"] = o.Version;
            if (o.Filterable != null && o.Filterable.Count > 0) req["filterable"] = new List<object>(o.Filterable.ToArray());
            return JoinCallAsync(req, o.Password ?? "", ct);
        }

        public Task<Joined> JoinAsync(string lobbyId, JoinOptions o, CancellationToken ct = default(CancellationToken))
        {
            var req = Req("join", "lobby", lobbyId);
            Endpoint(req, o);
            Match(req, o);
            if (!string.IsNullOrEmpty(o.Reservation)) req["reservation"] = o.Reservation;
            return JoinCallAsync(req, o.Password ?? "", ct);
        }

        public Task<Joined> QuickJoinAsync(string game, JoinOptions o, CancellationToken ct = default(CancellationToken))
        {
            var req = Req("quick_join", "game", game);
            Endpoint(req, o);
            req.Remove("password"); // a private lobby is joined by id
            Match(req, o);
            return JoinCallAsync(req, "", ct);
        }

        public Task LeaveAsync(string lobbyId, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("leave", "lobby", lobbyId), d => { if (J.Bool(d, "ok")) lock (mu) lobbies.Remove(lobbyId); }, ct);
        }

        public Task KickAsync(string lobbyId, string memberId, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("kick", "lobby", lobbyId, "member", memberId), null, ct);
        }

        /// <summary>Kicks a member of a lobby this client owns and bans it, by
        /// its player key, for duration (TimeSpan.Zero: until the lobby closes;
        /// at most a day): its joins get banned and quick-join passes the lobby
        /// by for it. The member_left notice carries Banned.</summary>
        public Task KickBanAsync(string lobbyId, string memberId, TimeSpan duration, CancellationToken ct = default(CancellationToken))
        {
            var req = Req("kick", "lobby", lobbyId, "member", memberId, "ban", true);
            if (duration > TimeSpan.Zero) req["ban_ms"] = (long)Math.Ceiling(duration.TotalMilliseconds);
            return CallAsync(req, null, ct);
        }

        /// <summary>Holds seats of a lobby this client owns for invited players
        /// for window (TimeSpan.Zero: the coordinator's 10 s; at most 10 min):
        /// players whose keys are in party claim theirs by joining, the others
        /// with the returned Reservation.Token (JoinOptions.Reservation). Seats
        /// not claimed in time are released (a reservation_expired event).</summary>
        public async Task<Reservation> ReserveAsync(string lobbyId, int seats, IList<string> party, TimeSpan window,
            CancellationToken ct = default(CancellationToken))
        {
            var req = Req("reserve", "lobby", lobbyId, "seats", seats);
            if (party != null && party.Count > 0) req["party"] = Strings(party);
            if (window > TimeSpan.Zero) req["window_ms"] = (long)Math.Ceiling(window.TotalMilliseconds);
            var msg = await CallAsync(req, null, ct).ConfigureAwait(false);
            var r = Reservation.From(J.Obj(msg, "reservation"));
            if (r == null) throw new LobbyException("reserve reply without a reservation");
            return r;
        }

        public Task StartAsync(string lobbyId, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("start", "lobby", lobbyId), null, ct);
        }

        public Task CloseLobbyAsync(string lobbyId, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("close", "lobby", lobbyId), null, ct);
        }

        public Task SetMetaAsync(string lobbyId, Dictionary<string, string> meta, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("set_meta", "lobby", lobbyId, "meta", new Dictionary<string, string>(meta)), null, ct);
        }

        /// <summary>The coordinator's lobbies of game ("" for all), oldest first.</summary>
        public Task<List<LobbyInfo>> ListAsync(string game = "", CancellationToken ct = default(CancellationToken))
        {
            return ListAsync(game, null, ct);
        }

        /// <summary>The coordinator's lobbies of game ("" for all) that pass
        /// filter (null: all), oldest first: page after page (each reply fits
        /// one line; PROTOCOL.md, "list") until the last, within one timeout
        /// for all, and at most MaxListed lobbies.</summary>
        public async Task<List<LobbyInfo>> ListAsync(string game, Filter filter, CancellationToken ct = default(CancellationToken))
        {
            if (filter != null) filter.Validate();
            var deadline = Clock.Now + opt.Timeout;
            var out_ = new List<LobbyInfo>();
            string after = "";
            while (true)
            {
                var page = await ListPageAsync(game, filter, after, 0, deadline, ct).ConfigureAwait(false);
                out_.AddRange(page.Lobbies);
                if (page.Next == "") return out_;
                if (page.Next == after || out_.Count > MaxListed)
                    throw new LobbyException("list: the coordinator's pages do not end (cursor " + page.Next + ", " + out_.Count + " lobbies)");
                after = page.Next;
            }
        }

        /// <summary>One page of the coordinator's lobbies: those after the cursor
        /// after ("" for the first page), at most limit (0: as many as fit one
        /// line, up to 500). ListPage.Next is the next page's cursor, "" at the end.</summary>
        public Task<ListPage> ListPageAsync(string game, Filter filter, string after, int limit = 0, CancellationToken ct = default(CancellationToken))
        {
            if (filter != null) filter.Validate();
            return ListPageAsync(game, filter, after, limit, Clock.Now + opt.Timeout, ct);
        }

        async Task<ListPage> ListPageAsync(string game, Filter filter, string after, int limit, DateTime deadline, CancellationToken ct)
        {
            var req = Req("list");
            if (!string.IsNullOrEmpty(game)) req["game"] = game;
            var fw = filter != null ? filter.ToWire() : null;
            if (fw != null) req["filter"] = fw;
            if (!string.IsNullOrEmpty(after)) req["after"] = after;
            if (limit > 0) req["limit"] = limit;
            var msg = await CallUntilAsync(req, deadline, null, ct).ConfigureAwait(false);
            var page = new ListPage { Next = J.Str(msg, "next") };
            var arr = J.Arr(msg, "lobbies");
            if (arr != null)
                foreach (var x in arr)
                    if (x is Dictionary<string, object>) page.Lobbies.Add(LobbyInfo.From((Dictionary<string, object>)x));
            return page;
        }

        /// <summary>Starts a live view of the lobbies of game ("" for every game)
        /// that pass filter (null: all), and returns once the coordinator's
        /// snapshot is in (Subscription.Lobbies). Its events come through
        /// Events with this Subscription: a LobbyAdded for every lobby of the
        /// snapshot and a Synced, then LobbyAdded, LobbyUpdated and LobbyRemoved
        /// as lobbies start to match, change and stop matching. The client
        /// subscribes again by itself after a blip, a restart or an
        /// unsubscribed push, and tells only what changed meanwhile. At most 8
        /// per client (too_many_subscriptions).</summary>
        public async Task<Subscription> SubscribeAsync(string game = "", Filter filter = null, CancellationToken ct = default(CancellationToken))
        {
            if (filter != null) filter.Validate();
            var s = new Subscription(this, game ?? "", filter);
            lock (mu)
            {
                if (err != null) throw err;
                subs.Add(s);
            }
            try { await SubscribeOnceAsync(s, ct).ConfigureAwait(false); }
            catch
            {
                // The coordinator may have made it (the snapshot did not end in
                // time): it is dropped there too.
                long id = Forget(s);
                if (id != 0) Observe(UnsubscribeAsync(id));
                throw;
            }
            return s;
        }

        // ---- the name registry (PROTOCOL.md, "register, deregister, lookup") ----

        /// <summary>Gives name to the room address addr ("room://host:port") in
        /// the coordinator's name registry, for as long as this client lives (a
        /// blip is resumed; after a coordinator restart the client registers it
        /// again, or queues a name_lost event). Names and addresses are unique:
        /// CoordinatorException with Code name_taken, addr_taken,
        /// too_many_names, invalid_name or invalid_address. Registering a name
        /// this client holds again moves it.</summary>
        public Task RegisterAsync(string name, string addr, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("register", "name", name, "addr", addr), d => { if (J.Bool(d, "ok")) lock (mu) names[name] = addr; }, ct);
        }

        /// <summary>Removes a name this client registered (unknown_name, not_owner).</summary>
        public Task DeregisterAsync(string name, CancellationToken ct = default(CancellationToken))
        {
            return CallAsync(Req("deregister", "name", name), d =>
            {
                if (J.Bool(d, "ok") || J.Str(J.Obj(d, "error"), "code") == ErrorCode.UnknownName) lock (mu) names.Remove(name);
            }, ct);
        }

        /// <summary>The room address registered for name (CoordinatorException
        /// unknown_name when nobody holds it).</summary>
        public async Task<string> LookupAsync(string name, CancellationToken ct = default(CancellationToken))
        {
            var msg = await CallAsync(Req("lookup", "name", name), null, ct).ConfigureAwait(false);
            object a;
            if (!msg.TryGetValue("addr", out a) || !(a is string)) throw new LobbyException("lookup reply without an addr");
            return (string)a;
        }

        /// <summary>One request round trip to the coordinator.</summary>
        public async Task<TimeSpan> PingAsync(CancellationToken ct = default(CancellationToken))
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            await CallAsync(Req("ping"), null, ct).ConfigureAwait(false);
            return sw.Elapsed;
        }

        // ---- internals: calls -------------------------------------------------

        static Dictionary<string, object> Req(string op, params object[] kv)
        {
            var d = new Dictionary<string, object> { { "op", op } };
            for (int i = 0; i + 1 < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
            return d;
        }

        static void Endpoint(Dictionary<string, object> req, JoinOptions o)
        {
            if (!string.IsNullOrEmpty(o.Addr)) req["addr"] = o.Addr;
            else req["port"] = o.Port;
            if (!string.IsNullOrEmpty(o.Password)) req["password"] = o.Password;
        }

        /// <summary>Adds a join's filter and party seats.</summary>
        static void Match(Dictionary<string, object> req, JoinOptions o)
        {
            if (o.Filter != null)
            {
                o.Filter.Validate();
                var fw = o.Filter.ToWire();
                if (fw != null) req["filter"] = fw;
            }
            if (o.Seats > 1) req["seats"] = o.Seats;
            if (o.Party != null && o.Party.Count > 0) req["party"] = Strings(o.Party);
        }

        static List<object> Strings(IEnumerable<string> l)
        {
            var out_ = new List<object>();
            foreach (var x in l) out_.Add(x);
            return out_;
        }

        async Task<Joined> JoinCallAsync(Dictionary<string, object> req, string password, CancellationToken ct)
        {
            bool create = (string)req["op"] == "create";
            var msg = await CallAsync(req, d =>
            {
                var y = J.Obj(d, "you");
                if (!J.Bool(d, "ok") || y == null) return;
                string pw = J.Str(d, "invite");
                Remember(LobbyInfo.From(d), create, J.Str(y, "addr"), pw != "" ? pw : password, Member.List(J.Arr(d, "peers")), d);
            }, ct).ConfigureAwait(false);
            return new Joined
            {
                Lobby = LobbyInfo.From(msg), You = Member.From(J.Obj(msg, "you")), Peers = Member.List(J.Arr(msg, "peers")),
                Invite = J.Str(msg, "invite"), Reservation = Reservation.From(J.Obj(msg, "reservation")),
            };
        }

        void Remember(LobbyInfo info, bool owner, string gameAddr, string password, List<Member> peers, Dictionary<string, object> creds)
        {
            lock (mu)
            {
                Membership old;
                lobbies.TryGetValue(info.Id, out old);
                if (password == "" && old != null) password = old.Password;
                string cred = J.Str(creds, "credential"), ownerCred = J.Str(creds, "owner_credential"), secret = J.Str(creds, "lobby_secret");
                if (cred == "" && old != null) { cred = old.Credential; ownerCred = old.OwnerCredential; }
                if (secret == "" && old != null) secret = old.LobbySecret;
                lobbies[info.Id] = new Membership { Owner = owner || info.Owner == you.Id, Info = info, Addr = gameAddr, Password = password,
                    Peers = peers, Credential = cred, OwnerCredential = ownerCred, LobbySecret = secret };
            }
        }

        /// <summary>The peer list after notice ev (me excluded), as the Go client keeps it.</summary>
        static List<Member> NextPeers(List<Member> peers, LobbyEvent ev, string me)
        {
            if (ev.Kind == EventKind.MemberJoined && ev.Member != null)
            {
                if (ev.Member.Id != me && !peers.Exists(p => p.Id == ev.Member.Id)) peers.Add(ev.Member);
            }
            else if (ev.Kind == EventKind.MemberLeft && ev.Member != null)
                peers.RemoveAll(p => p.Id == ev.Member.Id);
            else if (ev.Kind == EventKind.Started)
                return ev.Peers.FindAll(p => p.Id != me);
            return peers;
        }

        Task<Dictionary<string, object>> CallAsync(Dictionary<string, object> req, Action<Dictionary<string, object>> onReply, CancellationToken ct)
        {
            return CallUntilAsync(req, Clock.Now + opt.Timeout, onReply, ct);
        }

        async Task<Dictionary<string, object>> CallUntilAsync(Dictionary<string, object> req, DateTime deadline,
            Action<Dictionary<string, object>> onReply, CancellationToken ct)
        {
            Task<bool> readyT;
            lock (mu)
            {
                if (err != null) throw err;
                readyT = ready.Task;
            }
            if (!readyT.IsCompleted)
            {
                var left = deadline - Clock.Now;
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    if (left > TimeSpan.Zero)
                        await Task.WhenAny(readyT, lost.Task, Task.Delay(left, cts.Token)).ConfigureAwait(false);
                    cts.Cancel();
                }
                ct.ThrowIfCancellationRequested();
                lock (mu) if (err != null) throw err;
                if (!readyT.IsCompleted) throw new CallTimeoutException("no reply from coordinator in time (" + req["op"] + ": still reconnecting)");
            }
            Link l;
            lock (mu) l = link;
            return await CallOnAsync(l, req, deadline, onReply, ct).ConfigureAwait(false);
        }

        async Task<Dictionary<string, object>> CallOnAsync(Link l, Dictionary<string, object> req, DateTime deadline,
            Action<Dictionary<string, object>> onReply, CancellationToken ct)
        {
            var p = new Pending { Tcs = NewTcs<Dictionary<string, object>>(), Link = l, OnReply = onReply };
            long id;
            lock (mu)
            {
                id = ++nextId;
                pending[id] = p;
            }
            req["id"] = id;
            string op = (string)req["op"];
            Dictionary<string, object> msg;
            try
            {
                l.Send(req);
                var left = deadline - Clock.Now;
                if (left > TimeSpan.Zero)
                    using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
                    {
                        await Task.WhenAny(p.Tcs.Task, l.Down.Task, Task.Delay(left, cts.Token)).ConfigureAwait(false);
                        cts.Cancel();
                    }
                if (!p.Tcs.Task.IsCompleted)
                {
                    ct.ThrowIfCancellationRequested();
                    // Past the deadline it is a timeout, whatever else happened
                    // meanwhile (on a loaded machine the link's own idle timer
                    // may have fired first).
                    if (l.Down.Task.IsCompleted && Clock.Now < deadline)
                    {
                        lock (mu) if (err != null) throw err;
                        throw new LinkDownException("link to coordinator dropped during the call (" + op + ")");
                    }
                    throw new CallTimeoutException("no reply from coordinator in time (" + op + ")");
                }
                msg = p.Tcs.Task.Result;
            }
            finally
            {
                lock (mu) pending.Remove(id);
            }
            if (!J.Bool(msg, "ok"))
            {
                var e = J.Obj(msg, "error");
                string code = J.Str(e, "code");
                throw new CoordinatorException(code != "" ? code : "internal", J.Str(e, "message"));
            }
            return msg;
        }

        // ---- internals: links -------------------------------------------------

        internal static void SplitAddr(string a, int defPort, out string host, out int port)
        {
            port = defPort;
            if (a.StartsWith("["))
            {
                int end = a.IndexOf(']');
                host = a.Substring(1, end - 1);
                if (end + 1 < a.Length && a[end + 1] == ':') port = int.Parse(a.Substring(end + 2));
                return;
            }
            int colon = a.IndexOf(':');
            if (colon >= 0 && colon == a.LastIndexOf(':'))
            {
                host = a.Substring(0, colon);
                port = int.Parse(a.Substring(colon + 1));
                return;
            }
            host = a;
        }

        Task<Link> DialAsync(TimeSpan timeout, CancellationToken ct)
        {
            return DialAsync(CurrentAddr, timeout, ct);
        }

        async Task<Link> DialAsync(string addr, TimeSpan timeout, CancellationToken ct)
        {
            string host;
            int port;
            SplitAddr(addr, DefaultPort, out host, out port);
            IPAddress ip;
            if (!IPAddress.TryParse(host, out ip))
            {
                var ips = await Dns.GetHostAddressesAsync(host).ConfigureAwait(false);
                if (ips.Length == 0) throw new LobbyException("cannot resolve " + host);
                ip = Array.Find(ips, x => x.AddressFamily == AddressFamily.InterNetwork) ?? ips[0];
            }
            var tcp = new TcpClient(ip.AddressFamily);
            try
            {
                var connect = tcp.ConnectAsync(ip, port);
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    var done = await Task.WhenAny(connect, Task.Delay(timeout, cts.Token)).ConfigureAwait(false);
                    cts.Cancel();
                    if (done != connect)
                    {
                        tcp.Close();
                        Observe(connect);
                        ct.ThrowIfCancellationRequested();
                        throw new CallTimeoutException("no answer from coordinator " + addr + " in time (dial)");
                    }
                }
                await connect.ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                tcp.Close();
                throw new LobbyException("dial coordinator " + addr + ": " + e.Message);
            }
            tcp.NoDelay = true;
            tcp.Client.SendTimeout = WriteTimeoutMs;
            var l = new Link { Tcp = tcp, Stream = tcp.GetStream(), Addr = addr };
            // Until hello tells the heartbeat, silence longer than a call's
            // timeout means nobody is there (the slack lets the call's own
            // timeout, the clearer error, come first).
            l.SetIdle(opt.Timeout + opt.DeadLinkSlack);
            var th = new Thread(() => ReadLoop(l)) { IsBackground = true, Name = "lanlobby-link" };
            th.Start();
            return l;
        }

        // Observe keeps an abandoned task's exception from going unobserved.
        static void Observe(Task t)
        {
            t.ContinueWith(x => { var ignored = x.Exception; }, TaskContinuationOptions.OnlyOnFaulted);
        }

        void Adopt(Link l, Dictionary<string, object> msg)
        {
            var y = J.Obj(msg, "you");
            if (J.Int(msg, "v") != ProtocolVersion || y == null)
            {
                l.Abort();
                throw new LobbyException("coordinator answered with protocol version " + J.Int(msg, "v") + ", want " + ProtocolVersion);
            }
            TimeSpan idle = TimeSpan.Zero;
            lock (mu)
            {
                you = Member.From(y);
                token = J.Str(msg, "resume");
                server = J.Str(msg, "server");
                heartbeat = TimeSpan.FromMilliseconds(J.Int(msg, "heartbeat_ms"));
                misses = (int)J.Int(msg, "misses");
                grace = TimeSpan.FromMilliseconds(J.Int(msg, "resume_grace_ms"));
                instance = J.Str(msg, "instance");
                takeover = J.Bool(msg, "takeover");
                // The coordinator pings every heartbeat: hearing nothing for one
                // interval more than it tolerates from us means it is gone.
                if (heartbeat > TimeSpan.Zero && misses > 0)
                    idle = TimeSpan.FromTicks(heartbeat.Ticks * (misses + 1)) + opt.DeadLinkSlack;
            }
            if (idle > TimeSpan.Zero) l.SetIdle(idle);
        }

        void ReadLoop(Link l)
        {
            string reason = "closed";
            var buf = new byte[4096];
            var line = new MemoryStream();
            int early = 0;
            try
            {
                while (true)
                {
                    int n;
                    try { n = l.Stream.Read(buf, 0, buf.Length); }
                    catch (IOException e)
                    {
                        var se = e.InnerException as SocketException;
                        bool timedOut = se != null && (se.SocketErrorCode == SocketError.TimedOut || se.SocketErrorCode == SocketError.WouldBlock);
                        // A read that gives up before the link was silent that
                        // long (a socket left non-blocking by an async connect,
                        // seen on Mono under load) is not a dead link.
                        long left = l.IdleMs - l.Silent.ElapsedMilliseconds;
                        if (timedOut && left > l.IdleMs / 10 && early++ < MaxEarlyTimeouts)
                        {
                            try
                            {
                                l.Tcp.Client.Blocking = true;
                                l.Tcp.Client.ReceiveTimeout = (int)left; // the rest of the silence allowed
                            }
                            catch (Exception) { }
                            Thread.Sleep(1);
                            continue;
                        }
                        reason = timedOut ? "timeout" : "disconnected";
                        break;
                    }
                    catch (ObjectDisposedException) { reason = "closed"; break; }
                    if (n == 0) { reason = "disconnected"; break; }
                    l.Silent.Restart();
                    if (early > 0)
                    {
                        early = 0;
                        l.SetIdle(TimeSpan.FromMilliseconds(l.IdleMs));
                    }
                    int start = 0;
                    while (start < n)
                    {
                        int nl = Array.IndexOf(buf, (byte)'\n', start, n - start);
                        int end = nl < 0 ? n : nl;
                        if (line.Length + (end - start) > MaxLine + 1) throw new LobbyException("line too long");
                        line.Write(buf, start, end - start);
                        if (nl < 0) break;
                        HandleLine(l, line.GetBuffer(), (int)line.Length);
                        line.SetLength(0);
                        start = nl + 1;
                    }
                }
            }
            catch (Exception e) { reason = "protocol_error: " + e.Message; }
            finally
            {
                l.Abort();
                l.Down.TrySetResult(true);
                LinkClosed(l, reason);
            }
        }

        void HandleLine(Link l, byte[] b, int n)
        {
            if (n > 0 && b[n - 1] == '\r') n--;
            if (n == 0) return;
            var msg = Json.ParseObject(Utf8.GetString(b, 0, n));
            string ev = J.Str(msg, "event");
            if (ev == "replaced")
            {
                // Another connection took this member over: stop, never resume
                // in turn (PROTOCOL.md, "Connection life cycle" 9).
                string why = J.Str(msg, "reason");
                Fail(new ReplacedException("another connection took this member's seat over (" + (why != "" ? why : "replaced") + ")"));
                l.Abort();
                return;
            }
            if (ev == "ping")
            {
                try { l.Send(new Dictionary<string, object> { { "op", "pong" }, { "seq", J.Int(msg, "seq") } }); }
                catch (LinkDownException) { }
                return;
            }
            if (ev != "" && J.Int(msg, "sub") != 0)
            {
                SubEvent(msg, ev);
                return;
            }
            if (ev == EventKind.TakenOver || ev == EventKind.CoordinatorMoved || ev == "standby")
            {
                MovePush(l, msg, ev);
                return;
            }
            if (ev != "")
            {
                Notice(msg, ev);
                return;
            }
            object idv;
            if (!msg.TryGetValue("id", out idv) || !(idv is long)) return; // id null: the call times out
            Pending p;
            lock (mu) pending.TryGetValue((long)idv, out p);
            if (p == null || p.Link != l || p.Tcs.Task.IsCompleted) return;
            if (p.OnReply != null) p.OnReply(msg); // before later lines: state in place for the next notice
            p.Tcs.TrySetResult(msg);
        }

        void Notice(Dictionary<string, object> msg, string kind)
        {
            var ev = new LobbyEvent { Kind = kind, Lobby = LobbyInfo.From(msg), Reason = J.Str(msg, "reason"), Peers = Member.List(J.Arr(msg, "peers")),
                Banned = J.Bool(msg, "banned") };
            var res = J.Obj(msg, "reservation");
            if (res != null)
            {
                ev.ReservationId = J.Str(res, "id");
                ev.Released = (int)J.Int(res, "released");
            }
            var m = J.Obj(msg, "member");
            if (m != null) ev.Member = Member.From(m);
            lock (mu)
            {
                Membership ms;
                if (lobbies.TryGetValue(ev.Lobby.Id, out ms))
                {
                    if (kind == EventKind.Closed || (kind == EventKind.MemberLeft && ev.Member != null && ev.Member.Id == you.Id))
                        lobbies.Remove(ev.Lobby.Id);
                    else
                    {
                        ms.Info = ev.Lobby;
                        ms.Owner = ev.Lobby.Owner == you.Id;
                        ms.Peers = NextPeers(ms.Peers, ev, you.Id);
                        string oc = J.Str(msg, "owner_credential");
                        if (oc != "") ms.OwnerCredential = oc; // we own the lobby now
                    }
                }
            }
            Events.Push(ev);
        }

        void LinkClosed(Link l, string reason)
        {
            TimeSpan budget;
            string plan;
            lock (mu)
            {
                if (l != link || err != null || switching) return;
                if (grace <= TimeSpan.Zero || token == "" || (lobbies.Count == 0 && names.Count == 0))
                {
                    budget = TimeSpan.Zero;
                    plan = NextKind.GivingUp;
                }
                else
                {
                    ready = NewTcs<bool>();
                    budget = grace + TimeSpan.FromTicks(heartbeat.Ticks * (misses + 1));
                    plan = PlanLocked();
                }
            }
            TellLost(plan, reason);
            if (budget == TimeSpan.Zero)
            {
                Fail(new ConnectionLostException("connection to coordinator lost (" + reason + ")"));
                return;
            }
            if (plan == NextKind.Resuming) Task.Run(() => ReconnectAsync(budget));
            else Task.Run(() => FailoverAsync(plan, reason, budget, ""));
        }

        void Fail(Exception e)
        {
            lock (mu) if (err == null) err = e;
            lost.TrySetResult(true);
            Events.Push(new LobbyEvent { Kind = EventKind.Error, Error = e });
            Events.Complete();
            EndSubscriptions();
        }

        async Task ReconnectAsync(TimeSpan budget)
        {
            var deadline = Clock.Now + budget;
            var rnd = new Random();
            int backoff = 20;
            Exception last = null;
            for (int attempt = 0; Clock.Now < deadline; attempt++)
            {
                if (quit.IsCancellationRequested) return;
                if (attempt > 0)
                {
                    try { await Task.Delay(backoff + rnd.Next(backoff / 2 + 1), quit.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { return; }
                    backoff = Math.Min(2 * backoff, 1000);
                }
                Progress(attempt, deadline - budget, CurrentAddr);
                try
                {
                    await ReattachAsync(deadline).ConfigureAwait(false);
                    ResubscribeAll(); // the new link has no subscriptions
                    return;
                }
                catch (Exception e) { last = e; }
            }
            Fail(new ConnectionLostException("connection to coordinator lost (gave up reconnecting: " + (last != null ? last.Message : "no attempt") + ")"));
        }

        Task ReattachAsync(DateTime deadline)
        {
            return ReattachAtAsync(CurrentAddr, deadline, Math.Min(opt.Timeout.TotalMilliseconds, ReconnectDialTimeoutMs), false, false);
        }

        /// <summary>One attempt to get the client's lobbies back on the
        /// coordinator at addr: dial (within dialMs), then resume, or restore
        /// (at once with restoreOnly: a coordinator that never knew this
        /// client). quiet: no CoordinatorRestarted or Rejoined events (the game
        /// was told of the takeover or move), and lobbies not there yet are retried.</summary>
        async Task ReattachAtAsync(string addr, DateTime deadline, double dialMs, bool restoreOnly, bool quiet)
        {
            var left = deadline - Clock.Now;
            var dial = TimeSpan.FromMilliseconds(Math.Max(10, Math.Min(dialMs, left.TotalMilliseconds)));
            var l = await DialAsync(addr, dial, quit.Token).ConfigureAwait(false);
            if (restoreOnly)
            {
                await RestoreAsync(l, deadline, quiet).ConfigureAwait(false);
                return;
            }
            string me, tok;
            lock (mu)
            {
                me = you.Id;
                tok = token;
            }
            Dictionary<string, object> reply;
            try
            {
                reply = await CallOnAsync(l, Req("resume", "v", ProtocolVersion, "member", me, "token", tok), deadline, d =>
                {
                    var r = J.Obj(d, "resumed");
                    var ls = J.Arr(r, "lobbies");
                    if (!J.Bool(d, "ok") || ls == null) return;
                    // Before the missed notices, which follow this reply.
                    foreach (var x in ls)
                        if (x is Dictionary<string, object>)
                            Events.Push(new LobbyEvent { Kind = EventKind.Resumed, Lobby = LobbyInfo.From((Dictionary<string, object>)x) });
                }, quit.Token).ConfigureAwait(false);
            }
            catch (CoordinatorException e)
            {
                if (e.Code == ErrorCode.ResumeFailed)
                {
                    await RestoreAsync(l, deadline).ConfigureAwait(false);
                    return;
                }
                l.Abort();
                throw;
            }
            catch
            {
                l.Abort();
                throw;
            }
            Install(l, reply);
        }

        void Install(Link l, Dictionary<string, object> reply)
        {
            Adopt(l, reply);
            Link old;
            lock (mu)
            {
                if (err != null)
                {
                    l.Abort();
                    throw err;
                }
                if (l.Down.Task.IsCompleted) throw new LinkDownException("new link dropped");
                old = link;
                link = l;
                if (l.Addr != "") addr = l.Addr;
                switching = false;
            }
            ready.TrySetResult(true);
            if (old != null && old != l) old.Abort(); // a moved lobby's old link: closed once the new one serves
        }

        /// <summary>Re-creates (as owner, with the members it knew, whose seats
        /// are then held for them) and re-joins (as member) every lobby on a
        /// coordinator that lost them, under the same member id, with the
        /// credentials it issued. Members whose owner is not back yet retry
        /// until the deadline; lobbies that never come back are reported closed
        /// (coordinator_lost, Error the coordinator's). When the coordinator is
        /// the same instance (the link was down past its grace) the lobbies are
        /// taken back as a new member (Rejoined) and nothing is retried.</summary>
        async Task RestoreAsync(Link l, DateTime deadline, bool quiet = false)
        {
            var addrs = new Dictionary<string, string>(); // our game address in each lobby, as recorded
            var todo = new List<Dictionary<string, object>>();
            var members = new List<Dictionary<string, object>>();
            string me, tok, name, before;
            lock (mu)
            {
                me = you.Id;
                tok = token;
                name = you.Name;
                before = instance;
                foreach (var kv in lobbies)
                {
                    var m = kv.Value;
                    addrs[kv.Key] = m.Addr;
                    var e = new Dictionary<string, object> { { "lobby", kv.Key }, { "credential", m.Credential } };
                    EntryAddr(e, m.Addr);
                    if (m.Password != "") e["password"] = m.Password;
                    if (m.Owner)
                    {
                        e["owner"] = true;
                        e["owner_credential"] = m.OwnerCredential;
                        e["game"] = m.Info.Game;
                        e["name"] = m.Info.Name;
                        e["capacity"] = m.Info.Capacity;
                        if (m.Info.Meta.Count > 0) e["meta"] = new Dictionary<string, string>(m.Info.Meta);
                        if (m.Info.State == "started") e["started"] = true;
                        if (m.Info.AutoStart) e["auto_start"] = true;
                        if (m.Info.Version != "") e["version"] = m.Info.Version;
                        if (m.Info.Filterable.Count > 0) e["filterable"] = Strings(m.Info.Filterable);
                        // A lobby adopted on a daemon that restarted needs its
                        // secret back, and its term.
                        if (m.LobbySecret != "") e["lobby_secret"] = m.LobbySecret;
                        if (m.Info.Term > 0) e["term"] = m.Info.Term;
                        if (m.Info.CreatedMs > 0) e["created_ms"] = m.Info.CreatedMs;
                        // The lobby as it knew it, in join order, itself first.
                        var roster = new List<object> { new Dictionary<string, object> { { "id", me }, { "name", name }, { "addr", m.Addr } } };
                        foreach (var p in m.Peers) roster.Add(new Dictionary<string, object> { { "id", p.Id }, { "name", p.Name }, { "addr", p.Addr } });
                        e["members"] = roster;
                        todo.Add(e);
                    }
                    else members.Add(e);
                }
            }
            todo.AddRange(members); // owners first
            Dictionary<string, object> reply;
            try
            {
                var req = Req("restore", "v", ProtocolVersion, "client", ClientName, "player", name, "member", me, "token", tok, "lobbies", todo);
                if (opt.Key != "") req["key"] = opt.Key;
                reply = await CallOnAsync(l, req, deadline, null, quit.Token).ConfigureAwait(false);
            }
            catch
            {
                l.Abort();
                throw;
            }
            Install(l, reply);
            string now = J.Str(reply, "instance");
            bool restarted = now == "" || now != before || quiet;
            string kind = restarted ? EventKind.CoordinatorRestarted : EventKind.Rejoined;
            bool held;
            lock (mu) held = names.Count > 0;
            if (held) Observe(Task.Run(RegisterAgainAsync));
            int backoff = 25;
            while (true)
            {
                var retry = new List<Dictionary<string, object>>();
                var results = J.Arr(reply, "restored") ?? new List<object>();
                for (int i = 0; i < todo.Count; i++)
                {
                    var r = i < results.Count ? results[i] as Dictionary<string, object> : null;
                    var e = r == null ? new Dictionary<string, object> { { "code", "internal" } } : J.Obj(r, "error");
                    if (e == null)
                    {
                        var info = LobbyInfo.From(r);
                        string gameAddr;
                        addrs.TryGetValue(J.Str(todo[i], "lobby"), out gameAddr);
                        Remember(info, info.Owner == MemberId, gameAddr ?? "", J.Str(todo[i], "password"), Member.List(J.Arr(r, "peers")), r);
                        if (!quiet) Events.Push(new LobbyEvent { Kind = kind, Lobby = info, Peers = Member.List(J.Arr(r, "peers")) });
                    }
                    else if (J.Str(e, "code") == ErrorCode.UnknownLobby && restarted && Clock.Now < deadline)
                        retry.Add(todo[i]); // its owner is not back yet
                    else
                    {
                        string code = J.Str(e, "code");
                        LostLobby(todo[i], new CoordinatorException(code != "" ? code : "internal", J.Str(e, "message")));
                    }
                }
                if (retry.Count == 0) return;
                try { await Task.Delay(backoff, quit.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                backoff = Math.Min(2 * backoff, 500);
                todo = retry;
                try { reply = await CallAsync(Req("restore", "lobbies", todo), null, quit.Token).ConfigureAwait(false); }
                catch (Exception ex)
                {
                    foreach (var t in todo) LostLobby(t, ex);
                    return; // the link itself is fine; what could not come back is reported
                }
            }
        }

        /// <summary>After a coordinator restart: the registry lost our names;
        /// take them back (a name someone else took meanwhile is reported).</summary>
        async Task RegisterAgainAsync()
        {
            List<KeyValuePair<string, string>> held;
            lock (mu) held = new List<KeyValuePair<string, string>>(names);
            foreach (var kv in held)
            {
                try { await RegisterAsync(kv.Key, kv.Value, quit.Token).ConfigureAwait(false); }
                catch (Exception e)
                {
                    lock (mu)
                    {
                        if (err != null) return;
                        names.Remove(kv.Key);
                    }
                    var ce = e as CoordinatorException;
                    Events.Push(new LobbyEvent { Kind = EventKind.NameLost, Name = kv.Key, Reason = ce != null ? ce.Code : e.Message, Error = e });
                }
            }
        }

        /// <summary>Reports a lobby that could not be restored, and why (the
        /// coordinator's error, such as bad_credential).</summary>
        void LostLobby(Dictionary<string, object> asked, Exception why)
        {
            string id = J.Str(asked, "lobby");
            LobbyInfo info;
            lock (mu)
            {
                Membership m;
                info = lobbies.TryGetValue(id, out m) ? m.Info : new LobbyInfo { Id = id };
                lobbies.Remove(id);
            }
            info.State = "closed";
            Events.Push(new LobbyEvent { Kind = EventKind.Closed, Lobby = info, Reason = EventKind.ReasonCoordinatorLost, Error = why });
        }

        /// <summary>Leaves every lobby (the coordinator tells the others at
        /// once) and releases the client. Idempotent.</summary>
        public void Dispose()
        {
            Link l;
            lock (mu)
            {
                if (err == null) err = new ClientClosedException();
                l = link;
            }
            quit.Cancel();
            if (l != null) l.Abort();
            lost.TrySetResult(true);
            Events.Complete();
            EndSubscriptions();
        }
    }
}
